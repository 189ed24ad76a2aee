//! `cargo xtask bench [--short]`: the hot paths beside their baselines, in one run.
//!
//! The Rust side is `crates/xen-bench` (built with `cargo build --release`; xtask itself is a
//! debug build), the C side `crates/xen-bench/c/bench.c`, built here with `gcc -O2` against
//! Xen's `io/ring.h` and `io/blkif.h` from Debian's libxen-dev. Each row with a baseline runs
//! both programs alternately, several rounds, and compares medians; both print the same
//! counters, which must be equal (same work) or the command fails. The last line,
//! `bench: ring X× C, copy Y× memcpy`, is for scripts (X: Rust time over C time, lower is
//! better; Y: Rust bandwidth over memcpy's, higher is better).
//!
//! `--short` (run by `cargo xtask test`) builds in the dev profile, runs every row once with
//! small counts and checks only that everything runs and the counters match: no timing.
//!
//! Adding a row: a workload function in `crates/xen-bench/src/workloads.rs` (and, for a
//! baseline, a mode of `bench.c`), and one line in [`ROWS`].

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{cargo, workspace_root};

/// How a row's figure is shown.
#[derive(Clone, Copy, PartialEq)]
enum Unit {
    /// Nanoseconds per operation; the ratio is Rust over baseline (lower is better).
    Nanoseconds(&'static str),
    /// Bytes per operation, shown as GB/s; the ratio is Rust over baseline (higher is better).
    Bandwidth(u64),
}

/// One row: a `xen-bench` workload, optionally a `bench-c` mode doing the same work.
struct Row {
    label: &'static str,
    rust: &'static str,
    baseline: Option<(&'static str, &'static str)>,
    unit: Unit,
    /// Operations per run in full and in short mode.
    count: u64,
    short_count: u64,
}

const PAGE: u64 = 4096;

const ROWS: &[Row] = &[
    Row {
        label: "ring loop, 1-page blkif ring",
        rust: "ring",
        baseline: Some(("ring", "C io/ring.h")),
        unit: Unit::Nanoseconds("ns/request"),
        count: 5_000_000,
        short_count: 20_000,
    },
    Row {
        label: "ring loop, ids through IdTable",
        rust: "ring-ids",
        baseline: Some(("ring-ids", "C freelist")),
        unit: Unit::Nanoseconds("ns/request"),
        count: 5_000_000,
        short_count: 20_000,
    },
    Row {
        label: "page copy out (read_bytes)",
        rust: "copy-read",
        baseline: Some(("copy", "memcpy")),
        unit: Unit::Bandwidth(PAGE),
        count: 4_000_000,
        short_count: 10_000,
    },
    Row {
        label: "page copy in (write_bytes)",
        rust: "copy-write",
        baseline: Some(("copy", "memcpy")),
        unit: Unit::Bandwidth(PAGE),
        count: 4_000_000,
        short_count: 10_000,
    },
    Row {
        label: "grant refs, batches of 11",
        rust: "grant-11",
        baseline: None,
        unit: Unit::Nanoseconds("ns/ref alloc+free"),
        count: 20_000_000,
        short_count: 1_000,
    },
    Row {
        label: "grant refs, batches of 256",
        rust: "grant-256",
        baseline: None,
        unit: Unit::Nanoseconds("ns/ref alloc+free"),
        count: 20_000_000,
        short_count: 1_000,
    },
    Row {
        label: "evtchn upcall, 1 port pending",
        rust: "evtchn-1",
        baseline: None,
        unit: Unit::Nanoseconds("ns/upcall"),
        count: 5_000_000,
        short_count: 1_000,
    },
    Row {
        label: "evtchn upcall, 64 ports pending",
        rust: "evtchn-64",
        baseline: None,
        unit: Unit::Nanoseconds("ns/upcall"),
        count: 500_000,
        short_count: 100,
    },
    Row {
        label: "evtchn upcall, 4096 ports pending",
        rust: "evtchn-4096",
        baseline: None,
        unit: Unit::Nanoseconds("ns/upcall"),
        count: 10_000,
        short_count: 10,
    },
];

/// Rounds per row in full mode: each round runs Rust and the baseline back to back (the order
/// alternating), and the row's ratio is the median of the rounds' ratios, so that load from
/// other jobs, which drifts slowly, cancels out within a round.
const ROUNDS: usize = 7;

pub fn run(args: &[String]) -> Result<(), String> {
    let short = match args {
        [] => false,
        [flag] if flag == "--short" => true,
        _ => return Err("usage: cargo xtask bench [--short]".into()),
    };
    let root = workspace_root();
    let out = target_dir(&root).join("xtask-bench");
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    ensure_c_toolchain()?;
    let c_bench = build_c(&root, &out)?;
    let rust_bench = build_rust(&root, short)?;
    let rounds = if short { 1 } else { ROUNDS };

    println!(
        "{:<36} {:>24} {:>30} {:>18}",
        "row", "rust (median)", "baseline (median)", "ratio"
    );
    let mut ring_ratio = None;
    let mut copy_ratio: Option<f64> = None;
    for row in ROWS {
        let count = if short { row.short_count } else { row.count };
        let mut rust_times = Vec::new();
        let mut base_times = Vec::new();
        for round in 0..rounds {
            // Alternate which side goes first, so that a drift in machine load hits both.
            let rust_first = round % 2 == 0;
            let rust_run = || run_bench(&rust_bench, row.rust, count);
            let rust = if rust_first { Some(rust_run()?) } else { None };
            if let Some((mode, name)) = row.baseline {
                let base = run_bench(&c_bench, mode, count)?;
                let rust = match rust.as_ref() {
                    Some(r) => r.clone(),
                    None => rust_run()?,
                };
                if base.counters != rust.counters {
                    return Err(format!(
                        "{}: the Rust and {name} workloads differ\n  rust: {}\n  c:    {}",
                        row.label, rust.counters, base.counters
                    ));
                }
                base_times.push(base.ns_per_op);
                rust_times.push(rust.ns_per_op);
            } else {
                let rust = match rust {
                    Some(r) => r,
                    None => rust_run()?,
                };
                rust_times.push(rust.ns_per_op);
            }
        }
        let rust = Stats::of(&rust_times);
        let base = (!base_times.is_empty()).then(|| Stats::of(&base_times));
        let paired: Vec<f64> = rust_times
            .iter()
            .zip(&base_times)
            .map(|(r, b)| match row.unit {
                Unit::Nanoseconds(_) => r / b,
                Unit::Bandwidth(_) => b / r,
            })
            .collect();
        let ratios = (!paired.is_empty()).then(|| Stats::of(&paired));
        let ratio = ratios.as_ref().map(|r| r.median);
        println!(
            "{:<36} {:>24} {:>30} {:>18}",
            row.label,
            show(row.unit, &rust, short),
            match (&base, row.baseline) {
                (Some(b), Some((_, name))) => format!("{name} {}", show(row.unit, b, short)),
                _ => "-".into(),
            },
            match &ratios {
                Some(r) if !short => format!("{:.2}× [{:.2}-{:.2}]", r.median, r.min, r.max),
                Some(_) => "(short)".into(),
                None => "".into(),
            }
        );
        match (row.rust, ratio) {
            ("ring", Some(r)) => ring_ratio = Some(r),
            ("copy-read" | "copy-write", Some(r)) => {
                copy_ratio = Some(copy_ratio.map_or(r, |c: f64| c.min(r)))
            }
            _ => {}
        }
    }
    if short {
        println!("bench: short mode: every workload ran, Rust and C counters equal (no timing)");
    } else {
        println!(
            "({ROUNDS} rounds, Rust and baseline back to back, order alternating: medians, ± the \
             spread (max-min)/median; ratio = median of the rounds' ratios [lowest-highest])"
        );
        println!(
            "bench: ring {:.2}× C, copy {:.2}× memcpy",
            ring_ratio.unwrap_or(f64::NAN),
            copy_ratio.unwrap_or(f64::NAN)
        );
    }
    Ok(())
}

/// Median and relative spread of a row's runs.
struct Stats {
    median: f64,
    spread: f64,
    min: f64,
    max: f64,
}

impl Stats {
    fn of(values: &[f64]) -> Stats {
        let mut sorted = values.to_vec();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN);
        let min = sorted.first().copied().unwrap_or(f64::NAN);
        let max = sorted.last().copied().unwrap_or(f64::NAN);
        let spread = if median > 0.0 {
            (max - min) / median
        } else {
            0.0
        };
        Stats {
            median,
            spread,
            min,
            max,
        }
    }
}

fn show(unit: Unit, stats: &Stats, short: bool) -> String {
    let spread = if short {
        String::new()
    } else {
        format!(" ±{:.0}%", stats.spread * 100.0)
    };
    match unit {
        Unit::Nanoseconds(what) => format!("{:.1} {what}{spread}", stats.median),
        Unit::Bandwidth(bytes) => {
            format!("{:.1} GB/s{spread}", bytes as f64 / stats.median)
        }
    }
}

/// What one run of either program printed.
#[derive(Clone)]
struct Output {
    counters: String,
    ns_per_op: f64,
}

fn run_bench(program: &Path, workload: &str, count: u64) -> Result<Output, String> {
    let output = Command::new(program)
        .arg(workload)
        .arg(count.to_string())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "{} {workload} {count} failed ({}):\n{stdout}{}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let counters = stdout
        .lines()
        .find_map(|l| l.strip_prefix("counters "))
        .ok_or_else(|| format!("{} {workload}: no counters line", program.display()))?;
    let ns_per_op = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ns_per_op "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("{} {workload}: no ns_per_op line", program.display()))?;
    Ok(Output {
        counters: counters.trim().to_string(),
        ns_per_op,
    })
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root.join(dir)
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

const RING_H: &str = "/usr/include/xen/io/ring.h";

/// gcc and Xen's public headers (libxen-dev): present, or installed with apt-get as the
/// testbed installs QEMU, or a clear error.
fn ensure_c_toolchain() -> Result<(), String> {
    let have = || Path::new(RING_H).is_file() && crate::util::runs("gcc");
    if crate::util::ensure_installed("bench: gcc or Xen's headers", &["libxen-dev", "gcc"], have) {
        Ok(())
    } else {
        Err(format!(
            "the C baselines need gcc and Xen's public headers ({RING_H}): \
             `apt-get install -y libxen-dev gcc` failed"
        ))
    }
}

fn build_c(root: &Path, out: &Path) -> Result<PathBuf, String> {
    let source = root.join("crates/xen-bench/c/bench.c");
    let binary = out.join("bench-c");
    crate::util::run(
        Command::new("gcc")
            .args(["-O2", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&binary)
            .arg(&source),
    )?;
    Ok(binary)
}

fn build_rust(root: &Path, short: bool) -> Result<PathBuf, String> {
    let mut command = cargo();
    command.args(["build", "-q", "-p", "xen-bench"]);
    if !short {
        command.arg("--release");
    }
    crate::util::run(&mut command)?;
    let profile = if short { "debug" } else { "release" };
    let binary = target_dir(root).join(profile).join("xen-bench");
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(format!("{} was not built", binary.display()))
    }
}
