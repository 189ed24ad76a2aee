//! `cargo xtask fuzz`: builds (and optionally runs) the fuzz targets. (Lands with the fuzz targets.)

pub fn run(_args: &[String]) -> Result<(), String> {
    Err("no fuzz targets yet".into())
}

/// The fuzz build run by `cargo xtask test`.
pub fn check() -> Result<(), String> {
    println!("fuzz build: NOT RUN (no fuzz targets yet)");
    Ok(())
}
