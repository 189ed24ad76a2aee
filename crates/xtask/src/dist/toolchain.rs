//! The Debian packages the cross build and the Wine checks need, installed with apt when missing.

use std::process::Command;

/// Debian's Rust 1.96 with std source (build-std), lld 22 behind rust-lld (LLD 22 writes the PE
/// checksum), llvm-dlltool, and mingw-w64's compiler and DDK headers for the layout probe.
pub const CROSS_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "libstd-rust-web-dev",
    "rust-web-llvm",
    "lld-22",
    "llvm-14",
    "gcc-mingw-w64-x86-64",
    "mingw-w64-x86-64-dev",
];

/// Wine 8 (64-bit) for the smoke loads.
pub const WINE_PACKAGES: &[&str] = &["wine", "wine64"];

/// Whether dpkg reports `package` as installed.
fn installed(package: &str) -> Result<bool, String> {
    let output = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .map_err(|e| format!("cannot run dpkg-query (a Debian system is required): {e}"))?;
    Ok(output.status.success()
        && String::from_utf8_lossy(&output.stdout).contains("install ok installed"))
}

/// Installs whichever of `packages` are missing (apt-get, through sudo when not root).
pub fn ensure(packages: &[&str]) -> Result<(), String> {
    let mut missing = Vec::new();
    for package in packages {
        if !installed(package)? {
            missing.push(*package);
        }
    }
    if !missing.is_empty() {
        println!(
            "dist: the Windows cross build needs Debian packages that are missing: {}; installing them with apt-get",
            missing.join(" ")
        );
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let apt = |args: &[&str]| -> Result<(), String> {
            let mut command = if root {
                Command::new("apt-get")
            } else {
                Command::new("sudo")
            };
            if !root {
                command.arg("apt-get");
            }
            command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            crate::util::run(&mut command)
        };
        apt(&["update", "-qq"])?;
        let mut args = vec!["install", "-y", "-qq"];
        args.extend(missing.iter().copied());
        apt(&args).map_err(|e| {
            format!(
                "{e}\ninstall by hand: apt-get install {}",
                missing.join(" ")
            )
        })?;
    }
    // rust-lld links to lld-22: a dangling link means lld-22 is missing or broken.
    if packages.contains(&"rust-web-llvm") {
        let lld = Command::new("rust-lld")
            .arg("-flavor")
            .arg("link")
            .arg("/?")
            .output();
        if lld.is_err() {
            return Err(
                "rust-lld cannot be started (it links to lld-22: apt-get install lld-22)".into(),
            );
        }
    }
    Ok(())
}
