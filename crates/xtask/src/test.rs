//! `cargo xtask test`: the README's test command. Every step must pass.

use crate::util::{cargo, run as exec};

pub fn run(_args: &[String]) -> Result<(), String> {
    exec(cargo().args(["fmt", "--all", "--", "--check"]))?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--all-features",
        "--",
        "-D",
        "warnings",
    ]))?;
    exec(cargo().args(["test", "--workspace", "--all-features"]))?;
    crate::dist::check()?;
    crate::fuzz::check()?;
    if std::env::var_os("XTASK_SKIP_TESTBED").is_some() {
        println!("testbed: SKIPPED (XTASK_SKIP_TESTBED is set)");
    } else {
        crate::testbed::check()?;
    }
    Ok(())
}
