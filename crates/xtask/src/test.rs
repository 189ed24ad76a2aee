//! `cargo xtask test`: the README's test command. Every step must pass.

use crate::util::{cargo, run as exec};

/// Manifests of the workspaces the root workspace excludes.
const SEPARATE_WORKSPACES: &[&str] = &["fuzz/Cargo.toml", "tests/testbed/guest/Cargo.toml"];

pub fn run(_args: &[String]) -> Result<(), String> {
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    // The fuzz targets and the testbed guest are workspaces of their own.
    for manifest in SEPARATE_WORKSPACES {
        exec(cargo().args(["fmt", "--manifest-path", manifest, "--", "--check"]))?;
    }
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The fuzz targets build for the host, so clippy checks them like the workspace (the guest
    // is a bare-metal kernel for its own target, compiled by the testbed step).
    let fuzz_clippy_dir = crate::util::workspace_root().join("target/fuzz-clippy");
    exec(
        cargo()
            .args([
                "clippy",
                "--manifest-path",
                "fuzz/Cargo.toml",
                "--all-targets",
            ])
            .arg("--target-dir")
            .arg(&fuzz_clippy_dir)
            .args(["--", "-D", "warnings"]),
    )?;
    exec(cargo().args(["test", "--workspace", "--all-features"]))?;
    // The benchmark's workloads run and match their C baselines (no timing).
    crate::bench::run(&["--short".to_string()])?;
    crate::dist::check()?;
    crate::fuzz::check()?;
    if std::env::var_os("XTASK_SKIP_TESTBED").is_some() {
        println!("testbed: SKIPPED (XTASK_SKIP_TESTBED is set)");
    } else {
        crate::testbed::check()?;
    }
    Ok(())
}
