//! `cargo xtask dist`: cross-builds every driver crate that has real content for
//! `x86_64-pc-windows-msvc` into `target/dist/x64/<driver>.sys` with its stamped `.inf` (and
//! `.pdb`), using Debian's rustc-web with `-Zbuild-std=core,alloc`, rust-lld as lld-link, and the
//! import libraries nt-kernel generates from its `.def` files.
//!
//! A driver crate "has real content" when it has `src/main.rs` (the driver image, `DriverEntry`
//! under `cfg(target_os = "windows")`) and `<crate>/<crate>.inx` (the INF template).
//! `check()` (run by `cargo xtask test`) builds the same, plus the Wine test fixture, and runs
//! the PE, INF and Wine checks of `crates/driver-checks/tests/dist.rs`.

mod build;
mod stamp;
mod toolchain;

use std::path::PathBuf;
use std::time::Instant;

use crate::util::{cargo, run as exec, workspace_root};

/// Driver crates, in build order. Only those with real content are built.
pub const DRIVER_CRATES: [&str; 5] = ["xenpci", "xenhide", "xenvbd", "xennet", "xenstub"];

/// Test fixtures built by `check()` only, never shipped.
const FIXTURE_CRATES: [&str; 1] = ["wine-fixture-driver"];

/// Output directories under the workspace root.
pub struct Layout {
    /// `target/cross`: cargo's target dir for the cross build.
    pub cross: PathBuf,
    /// `target/cross/maps`: linker maps (DriverEntry's address for the PE check).
    pub maps: PathBuf,
    /// `target/cross/fixtures`: test-only driver images.
    pub fixtures: PathBuf,
    /// `target/dist/x64`: the shipped files.
    pub dist: PathBuf,
}

impl Layout {
    fn new() -> Self {
        let target = workspace_root().join("target");
        let cross = target.join("cross");
        Layout {
            maps: cross.join("maps"),
            fixtures: cross.join("fixtures"),
            cross,
            dist: target.join("dist").join("x64"),
        }
    }
}

/// Driver crates with `src/main.rs` and `<crate>.inx`; a crate with one but not the other is an
/// error (half a driver).
fn drivers_with_content() -> Result<Vec<&'static str>, String> {
    let root = workspace_root();
    let mut drivers = Vec::new();
    for name in DRIVER_CRATES {
        let main = root.join(name).join("src/main.rs").is_file();
        let inx = root.join(name).join(format!("{name}.inx")).is_file();
        match (main, inx) {
            (true, true) => drivers.push(name),
            (false, false) => {}
            (true, false) => {
                return Err(format!("{name} has src/main.rs but no {name}/{name}.inx"))
            }
            (false, true) => return Err(format!("{name} has {name}.inx but no src/main.rs")),
        }
    }
    if drivers.is_empty() {
        return Err("no driver crate has content".into());
    }
    Ok(drivers)
}

/// Builds the drivers into `target/dist/x64`; returns their names.
fn dist(layout: &Layout) -> Result<Vec<&'static str>, String> {
    let drivers = drivers_with_content()?;
    let version = stamp::driver_version(env!("CARGO_PKG_VERSION"))?;
    let date = stamp::build_date();
    std::fs::create_dir_all(&layout.dist).map_err(|e| format!("{}: {e}", layout.dist.display()))?;
    for driver in &drivers {
        let description =
            stamp::crate_description(&workspace_root().join(driver).join("Cargo.toml"));
        let rc = stamp::version_rc(driver, &version, &description)?;
        let image = build::cross_build(driver, layout, Some(&rc))?;
        let sys = layout.dist.join(format!("{driver}.sys"));
        std::fs::copy(&image, &sys)
            .map_err(|e| format!("copy {} -> {}: {e}", image.display(), sys.display()))?;
        let pdb = image.with_extension("pdb");
        if pdb.is_file() {
            let _ = std::fs::copy(&pdb, layout.dist.join(format!("{driver}.pdb")));
        }
        let inx = workspace_root().join(driver).join(format!("{driver}.inx"));
        let inf = layout.dist.join(format!("{driver}.inf"));
        stamp::stamp_inf(&inx, &inf, &version, &date)?;
        println!("dist: {} and {}", sys.display(), inf.display());
    }
    Ok(drivers)
}

/// `cargo xtask dist` builds; `cargo xtask dist --check` also runs the Windows build checks
/// (what `cargo xtask test` runs after the host tests).
pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None => {}
        Some("--check") if args.len() == 1 => return check(),
        Some(arg) => {
            return Err(format!(
                "unexpected argument `{arg}` (usage: cargo xtask dist [--check])"
            ))
        }
    }
    let started = Instant::now();
    toolchain::ensure(toolchain::CROSS_PACKAGES)?;
    let layout = Layout::new();
    let drivers = dist(&layout)?;
    println!(
        "dist: built {} in {:.1} s",
        drivers.join(", "),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The Windows build checks run by `cargo xtask test`: the dist build, the test fixture, and
/// the PE, INF and Wine smoke checks (`cargo test -p driver-checks --test dist -- --ignored`).
pub fn check() -> Result<(), String> {
    let started = Instant::now();
    let mut packages = toolchain::CROSS_PACKAGES.to_vec();
    packages.extend_from_slice(toolchain::WINE_PACKAGES);
    toolchain::ensure(&packages)?;
    let layout = Layout::new();
    let drivers = dist(&layout)?;
    std::fs::create_dir_all(&layout.fixtures).map_err(|e| e.to_string())?;
    for fixture in FIXTURE_CRATES {
        let image = build::cross_build(fixture, &layout, None)?;
        let sys = layout.fixtures.join(format!("{fixture}.sys"));
        std::fs::copy(&image, &sys).map_err(|e| format!("copy {}: {e}", image.display()))?;
    }
    let built = started.elapsed().as_secs_f64();
    let version = stamp::driver_version(env!("CARGO_PKG_VERSION"))?;
    let work = layout.cross.join("checks");
    exec(
        cargo()
            .args([
                "test",
                "-p",
                "driver-checks",
                "--test",
                "dist",
                "--",
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("XEN_WIN_PV_DIST_DIR", &layout.dist)
            .env("XEN_WIN_PV_MAP_DIR", &layout.maps)
            .env("XEN_WIN_PV_FIXTURE_DIR", &layout.fixtures)
            .env("XEN_WIN_PV_WORK_DIR", &work)
            .env("XEN_WIN_PV_DRIVERS", drivers.join(","))
            .env("XEN_WIN_PV_VERSION", &version),
    )?;
    println!(
        "windows build checks: dist + fixtures {built:.1} s, total {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
