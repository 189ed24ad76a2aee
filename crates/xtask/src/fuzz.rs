//! `cargo xtask fuzz`: builds (and optionally runs) the libFuzzer targets in `fuzz/`.
//!
//! The targets are built the way cargo-fuzz builds them, without cargo-fuzz and without a
//! nightly toolchain: `-Cpasses=sancov-module` with libFuzzer's coverage options (inline 8-bit
//! counters, PC table, compare tracing, stack depth), `--cfg fuzzing`, debug assertions and
//! overflow checks, for an explicit `--target` so that build scripts stay uninstrumented.
//!
//! AddressSanitizer (cargo-fuzz's default) needs the unstable `-Zsanitizer=address`, which the
//! stable compiler accepts with `RUSTC_BOOTSTRAP=1`, and the sanitizer runtime
//! `librustc-*_rt.asan.a`, which rustup's standard library ships but Debian's rustc does not.
//! So ASan is used when the compiler's sysroot has the runtime and left out (with a message)
//! otherwise; `XTASK_FUZZ_SANITIZER=none` leaves it out on purpose. Without it, the portable
//! crates (which forbid `unsafe`) still turn memory errors into panics; ASan adds checking of
//! the `unsafe` accessors of `xen-hal`'s shared memory that the targets go through.
//!
//! `libfuzzer-sys` compiles libFuzzer from C++ source, so a C++ compiler is needed; if none is
//! found, `g++` is installed with apt-get. Nothing else is installed.
//!
//! Corpora are kept in `fuzz/corpus/<target>` (not committed), crashes are written to
//! `fuzz/artifacts/<target>/`. Every crash is turned into a named regression test in the unit
//! tests of the crate it hit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{run as exec, workspace_root};

/// Seconds each target runs in `cargo xtask test` (override with `XTASK_FUZZ_SECONDS`).
const CHECK_SECONDS: u64 = 20;

/// The coverage instrumentation cargo-fuzz uses for libFuzzer, with stable `-C` flags only.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// The host triple the targets are built for, named explicitly so that build scripts are not
/// instrumented (cargo applies RUSTFLAGS to build scripts only without `--target`).
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc)
        .arg("-vV")
        .output()
        .ok()
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .find_map(|line| line.strip_prefix("host: ").map(str::to_owned))
        })
        .unwrap_or_else(|| "x86_64-unknown-linux-gnu".into())
}

const USAGE: &str = "usage: cargo xtask fuzz                      build every target
       cargo xtask fuzz run SECONDS [TARGET...]  build, then run each target for SECONDS";

pub fn run(args: &[String]) -> Result<(), String> {
    match args {
        [] => build().map(|targets| println!("fuzz: built {}", targets.join(", "))),
        [command, seconds, names @ ..] if command == "run" => {
            let seconds: u64 = seconds
                .parse()
                .map_err(|_| format!("SECONDS must be a number, not `{seconds}`\n{USAGE}"))?;
            let known = targets()?;
            if let Some(name) = names.iter().find(|name| !known.contains(name)) {
                return Err(format!(
                    "no fuzz target `{name}` (targets: {})",
                    known.join(", ")
                ));
            }
            let targets = build()?;
            let chosen = targets
                .iter()
                .filter(|target| names.is_empty() || names.contains(target));
            for target in chosen {
                run_target(target, seconds)?;
            }
            Ok(())
        }
        _ => Err(USAGE.into()),
    }
}

/// The fuzz step of `cargo xtask test`: builds every target and runs each briefly on its kept
/// corpus; a crash fails the step.
pub fn check() -> Result<(), String> {
    let seconds = match std::env::var("XTASK_FUZZ_SECONDS") {
        Ok(value) => value
            .parse()
            .map_err(|_| format!("XTASK_FUZZ_SECONDS must be a number, not `{value}`"))?,
        Err(_) => CHECK_SECONDS,
    };
    let started = Instant::now();
    let targets = build()?;
    for target in &targets {
        run_target(target, seconds)?;
    }
    println!(
        "fuzz: {} targets built and run {seconds} s each without a crash ({} s in all)",
        targets.len(),
        started.elapsed().as_secs()
    );
    Ok(())
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// Where the instrumented build goes: beside the normal one, never mixed with it.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("fuzz"),
        None => workspace_root().join("target").join("fuzz"),
    }
}

/// The targets: one `fuzz_targets/<name>.rs` each (with a `[[bin]]` of that name).
fn targets() -> Result<Vec<String>, String> {
    let dir = fuzz_dir().join("fuzz_targets");
    let entries = std::fs::read_dir(&dir).map_err(|e| format!("cannot list {dir:?}: {e}"))?;
    let mut names = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("cannot list {dir:?}: {e}"))?
            .path();
        if path.extension().is_some_and(|ext| ext == "rs") {
            if let Some(stem) = path.file_stem().and_then(|s| s.to_str()) {
                names.push(stem.to_owned());
            }
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(format!("no fuzz targets in {dir:?}"));
    }
    Ok(names)
}

fn has_command(name: &str) -> bool {
    Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// libfuzzer-sys builds libFuzzer's C++ sources: make sure a C++ compiler is there.
fn ensure_cxx() -> Result<(), String> {
    if has_command("c++") || has_command("g++") || has_command("clang++") {
        return Ok(());
    }
    println!(
        "fuzz: no C++ compiler (libfuzzer-sys compiles libFuzzer); installing g++ with apt-get"
    );
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
    let apt = |args: &[&str]| {
        let mut command = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        exec(&mut command)
    };
    apt(&["update", "-qq"])?;
    apt(&["install", "-y", "-qq", "g++"])
}

/// Builds every target; returns their names.
/// Whether the compiler's sysroot holds the AddressSanitizer runtime for `triple`.
fn has_asan_runtime(triple: &str) -> bool {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "sysroot"]).output() else {
        return false;
    };
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let lib = sysroot.join("lib/rustlib").join(triple).join("lib");
    std::fs::read_dir(lib).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("librustc-") && name.ends_with("_rt.asan.a")
        })
    })
}

/// Whether to build with AddressSanitizer (see the module documentation).
fn use_asan(triple: &str) -> Result<bool, String> {
    match std::env::var("XTASK_FUZZ_SANITIZER").as_deref() {
        Ok("none") => Ok(false),
        Ok("address") => {
            if has_asan_runtime(triple) {
                Ok(true)
            } else {
                Err("XTASK_FUZZ_SANITIZER=address, but the compiler ships no ASan runtime".into())
            }
        }
        Ok(other) => Err(format!(
            "XTASK_FUZZ_SANITIZER must be `address` or `none`, not `{other}`"
        )),
        Err(_) => {
            let asan = has_asan_runtime(triple);
            if !asan {
                println!(
                    "fuzz: the compiler's sysroot has no AddressSanitizer runtime: fuzzing without ASan"
                );
            }
            Ok(asan)
        }
    }
}

fn build() -> Result<Vec<String>, String> {
    let targets = targets()?;
    ensure_cxx()?;
    let triple = host_triple();
    let asan = use_asan(&triple)?;
    let mut rustflags = RUSTFLAGS.join(" ");
    if asan {
        rustflags.push_str(" -Zsanitizer=address");
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(fuzz_dir())
        .args(["build", "--release", "--bins", "--target"])
        .arg(&triple)
        .arg("--target-dir")
        .arg(target_dir())
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER");
    let started = Instant::now();
    if asan {
        // The unstable sanitizer flag on the stable compiler, as cargo-fuzz needs nightly for.
        command.env("RUSTC_BOOTSTRAP", "1");
    }
    exec(&mut command)?;
    println!(
        "fuzz: build of {} ({}) took {} s",
        targets.join(", "),
        if asan { "with ASan" } else { "without ASan" },
        started.elapsed().as_secs()
    );
    for target in &targets {
        let binary = binary(target);
        if !binary.is_file() {
            return Err(format!(
                "fuzz target `{target}` has no binary at {binary:?}: is its [[bin]] in fuzz/Cargo.toml?"
            ));
        }
    }
    Ok(targets)
}

fn binary(target: &str) -> PathBuf {
    target_dir()
        .join(host_triple())
        .join("release")
        .join(target)
}

fn ensure_dir(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create {path:?}: {e}"))
}

/// Runs one target for `seconds` on its kept corpus (plus committed seeds, if any).
fn run_target(target: &str, seconds: u64) -> Result<(), String> {
    let fuzz = fuzz_dir();
    let corpus = fuzz.join("corpus").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    ensure_dir(&corpus)?;
    ensure_dir(&artifacts)?;
    let mut prefix = artifacts.clone().into_os_string();
    prefix.push("/");
    let mut command = Command::new(binary(target));
    command
        .arg(format!("-max_total_time={seconds}"))
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg({
            let mut arg = std::ffi::OsString::from("-artifact_prefix=");
            arg.push(&prefix);
            arg
        })
        .arg(&corpus);
    let seeds = fuzz.join("seeds").join(target);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    println!("fuzz: running {target} for {seconds} s");
    exec(&mut command).map_err(|e| {
        format!(
            "{e}\nfuzz target `{target}` found a crash: the input is in {artifacts:?}; \
             reproduce with `{} <file>` and keep it as a named regression test",
            binary(target).display()
        )
    })
}
