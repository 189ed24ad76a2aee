//! Helpers shared by the commands: running processes, finding the workspace.

use std::path::PathBuf;
use std::process::Command;

/// The workspace root (two levels above this crate's manifest).
pub fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .map(PathBuf::from)
        .unwrap_or(manifest)
}

/// Runs `command`, echoing it first; an unsuccessful exit is an error naming the command.
pub fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("+ {command:?}");
    let status = command
        .status()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed with {status}"))
    }
}

/// A `cargo` command run from the workspace root with the cargo that runs xtask.
pub fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// Whether `program --version` runs successfully.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `have()`, or else `apt-get install -y -q PACKAGES` (announced with `who`) and `have()` again.
pub fn ensure_installed(who: &str, packages: &[&str], have: impl Fn() -> bool) -> bool {
    if have() {
        return true;
    }
    println!(
        "{who}: missing; trying apt-get install {}",
        packages.join(" ")
    );
    let installed = Command::new("apt-get")
        .args(["install", "-y", "-q"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .is_ok_and(|s| s.success());
    installed && have()
}
