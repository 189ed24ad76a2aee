//! `cargo xtask <command>`: the project's commands, so that CI and developers run the same steps.
//!
//! Each command lives in its own module; `main` only dispatches.

mod bench;
mod dist;
mod fuzz;
mod test;
mod testbed;
mod util;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  test       fmt check (also fuzz/ and the testbed guest), clippy -D warnings (also fuzz/), every
             host test, bench --short, the Windows build checks, fuzz build,
             and the real-Xen testbed (set XTASK_SKIP_TESTBED=1 to leave the testbed out)
  dist       cross-build the Windows drivers into target/dist/x64
  testbed    boot Xen in QEMU and run the integration scenarios: testbed [SCENARIO...]
  fuzz       build the fuzz targets (fuzz run SECONDS: also run each for SECONDS)
  bench      hot paths against C baselines (io/ring.h, memcpy) and per-op figures;
             bench --short: run once, check the workloads match, no timing";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match command.as_str() {
        "test" => test::run(rest),
        "dist" => dist::run(rest),
        "testbed" => testbed::run(rest),
        "fuzz" => fuzz::run(rest),
        "bench" => bench::run(rest),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {command}: {message}");
            ExitCode::FAILURE
        }
    }
}
