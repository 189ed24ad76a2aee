//! One cross build: Debian's cargo and rustc (`RUSTC_BOOTSTRAP=1` for `-Z`), `build-std`, and
//! the linker configuration passed with `--config`, so the workspace's `.cargo/config.toml` and
//! the host toolchain are not involved.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::Layout;
use crate::util::workspace_root;

/// The Windows target.
pub const TARGET: &str = "x86_64-pc-windows-msvc";
/// Debian's rustc-web compiler and cargo (1.96, with the std source for build-std).
const RUSTC: &str = "/usr/bin/rustc";
const CARGO: &str = "/usr/bin/cargo";

/// Linker flags of a kernel driver: native subsystem (6.1 = Windows 7 and later), entry point
/// DriverEntry, no CRT, checksum (/RELEASE), no incremental linking, and the hypercall page's
/// section (`nt_kernel::hypercall_section`, emitted as writable data) made read + execute and
/// not writable; in an image without that section the argument changes nothing.
const LINK_ARGS: [&str; 8] = [
    "/DRIVER",
    "/SUBSYSTEM:NATIVE,6.01",
    "/ENTRY:DriverEntry",
    "/NODEFAULTLIB",
    "/RELEASE",
    "/INCREMENTAL:NO",
    "/MERGE:.edata=.rdata",
    "/SECTION:.hcall,RE",
];

/// The `--config` value of the target's rustflags.
fn rustflags() -> String {
    let mut flags = vec!["-C".to_string(), "linker-flavor=lld-link".to_string()];
    for arg in LINK_ARGS {
        flags.push("-C".into());
        flags.push(format!("link-arg={arg}"));
    }
    let quoted: Vec<String> = flags.iter().map(|f| format!("\"{f}\"")).collect();
    format!("target.{TARGET}.rustflags=[{}]", quoted.join(","))
}

/// Compiles the version resource script `rc` of `package` with llvm-rc; returns the `.res`.
fn version_resource(package: &str, rc: &str, layout: &Layout) -> Result<PathBuf, String> {
    let dir = layout.cross.join("resources");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let rc_path = dir.join(format!("{package}.rc"));
    let res_path = dir.join(format!("{package}.res"));
    std::fs::write(&rc_path, rc).map_err(|e| format!("{}: {e}", rc_path.display()))?;
    let tool = ["llvm-rc", "llvm-rc-14"]
        .into_iter()
        .find(|t| Command::new(t).arg("/?").output().is_ok())
        .ok_or("llvm-rc not found (Debian package llvm-14)")?;
    // llvm-rc reads every argument that starts with '/' as an option, so an absolute path such
    // as `/check/...` would parse as `/C heck/...` (a code page). It runs in the resource folder
    // and gets bare file names.
    let output = Command::new(tool)
        .current_dir(&dir)
        .args(rc_arguments(package))
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{tool} failed on {}: {}",
            rc_path.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(res_path)
}

/// llvm-rc's arguments for `package`: output and input as bare names relative to the resource
/// folder, never starting with '/'.
fn rc_arguments(package: &str) -> [String; 3] {
    [
        "/FO".to_string(),
        format!("{package}.res"),
        format!("{package}.rc"),
    ]
}

/// Builds `package`'s bin of the same name, with the version resource script `rc` linked in
/// when given; returns the linked image (`.exe` as cargo names it).
pub fn cross_build(package: &str, layout: &Layout, rc: Option<&str>) -> Result<PathBuf, String> {
    std::fs::create_dir_all(&layout.maps).map_err(|e| e.to_string())?;
    let map = layout.maps.join(format!("{package}.map"));
    let resource = rc
        .map(|rc| version_resource(package, rc, layout))
        .transpose()?;
    let mut command = Command::new(CARGO);
    command
        .current_dir(workspace_root())
        .args([
            "rustc",
            "--release",
            "-p",
            package,
            "--bin",
            package,
            "--target",
            TARGET,
        ])
        .arg("--target-dir")
        .arg(&layout.cross)
        .args([
            "-Zbuild-std=core,alloc",
            "-Zbuild-std-features=compiler-builtins-mem",
        ])
        .args(["--config", &format!("target.{TARGET}.linker=\"rust-lld\"")])
        .args(["--config", &rustflags()])
        .arg("--")
        .arg("-C")
        .arg(format!("link-arg=/MAP:{}", map.display()))
        .args(
            resource
                .iter()
                .flat_map(|res| ["-C".to_string(), format!("link-arg={}", res.display())]),
        )
        .env("RUSTC", RUSTC)
        .env("RUSTC_BOOTSTRAP", "1")
        .stdin(Stdio::null());
    // Nothing of the host toolchain's or the outer cargo's configuration may leak in.
    for var in [
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTDOC",
        "RUSTUP_TOOLCHAIN",
        "CARGO",
    ] {
        command.env_remove(var);
    }
    eprintln!("+ RUSTC={RUSTC} RUSTC_BOOTSTRAP=1 {CARGO} rustc --release -p {package} --target {TARGET} -Zbuild-std=core,alloc ...");
    let output = command
        .output()
        .map_err(|e| format!("cannot start {CARGO}: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprint!(
        "{}",
        stderr
            .lines()
            .filter(|l| !l.trim_start().starts_with("Compiling"))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    );
    if !output.status.success() {
        return Err(format!("cross build of {package} failed"));
    }
    // Host clippy runs with -D warnings; the cross-only code (cfg windows) must be as clean.
    // Compiler warnings end in cargo's "warning: `crate` (...) generated N warning(s)" summary;
    // cargo's own notes about the workspace are not the driver's fault and do not count.
    if stderr
        .lines()
        .any(|l| l.starts_with("warning: `") && l.contains(" generated "))
    {
        return Err(format!("cross build of {package} has warnings (see above)"));
    }
    let image = layout
        .cross
        .join(TARGET)
        .join("release")
        .join(format!("{package}.exe"));
    if !image.is_file() {
        return Err(format!("{} was not produced", image.display()));
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::rc_arguments;

    #[test]
    fn llvm_rc_gets_no_path_it_could_read_as_an_option() {
        let args = rc_arguments("xenpci");
        assert_eq!(args[0], "/FO");
        assert_eq!(args[1], "xenpci.res");
        assert_eq!(args[2], "xenpci.rc");
        assert!(args[1..]
            .iter()
            .all(|a| !a.starts_with('/') && !a.starts_with('-')));
    }
}
