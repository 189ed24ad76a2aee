//! `xen-bench WORKLOAD COUNT`: runs one hot-path workload COUNT times and prints its counters
//! and its time per operation, for `cargo xtask bench` to set beside the C baseline
//! (`c/bench.c`) that prints the same counters for the same work.
//!
//! Output: `counters name=value ...` then `ns_per_op X`. Built with `--release` for figures;
//! `cargo xtask bench --short` runs it in the dev profile only to compare counters.
#![forbid(unsafe_code)]

mod workloads;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(name), Some(count)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: xen-bench WORKLOAD COUNT\nworkloads: {}",
            workloads::names()
        );
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("xen-bench: COUNT must be a number, not `{count}`");
        return ExitCode::from(2);
    };
    let Some(workload) = workloads::find(name) else {
        eprintln!(
            "xen-bench: unknown workload `{name}`; known: {}",
            workloads::names()
        );
        return ExitCode::from(2);
    };
    match workload(count) {
        Ok(report) => {
            println!("{}", report.counters_line());
            println!("ns_per_op {:.4}", report.ns_per_op);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("xen-bench {name}: {message}");
            ExitCode::FAILURE
        }
    }
}
