//! `cargo xtask testbed [SCENARIO...]`: the real-Xen integration bed.
//!
//! Xen 4.17 and a Linux PV dom0 (Debian packages, fetched with `apt-get download` into
//! `target/testbed/`) boot inside QEMU (TCG); dom0 runs the scenarios of
//! `tests/testbed/dom0/scenarios.sh` against HVM guests (the project's test guest from
//! `tests/testbed/guest/build.sh`, and a Linux reference guest) and reports on the serial console.
//! This module fetches, builds, boots, bounds every wait, parses the results, retries a bed that
//! did not come up, and prints one line per scenario and `N passed, M failed`.

mod console;
mod load;
mod machine;
mod packages;
mod report;

use std::collections::VecDeque;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use console::Event;
use machine::{Boot, Line, Machine};
use report::{Outcome, Report};

/// Every scenario, in the order of the default run.
pub const SCENARIOS: &[&str] = &[
    "xen-detect",
    "unplug",
    "xenstore",
    "evtchn",
    "grant",
    "xenbus-hotplug",
    "shutdown",
    "linux-reference",
];

/// Scenarios outside the default run: `retry-check` crashes its first guest on purpose to show
/// that an emulator fault is retried and reported.
pub const EXTRA_SCENARIOS: &[&str] = &["retry-check"];

/// Scenarios that run the Linux reference guest instead of the project's test guest.
const LINUX_ONLY: &[&str] = &["linux-reference"];

/// dom0 must reach `READY` this long after QEMU starts.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
/// One scenario attempt must end this long after its `BEGIN` (dom0 bounds its own waits lower),
/// on a quiet machine; stretched by the slowness seen at boot (see [`slowness`]).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(420);
/// dom0 is ready about this long after QEMU starts on a quiet 2-core machine.
const NOMINAL_BOOT: Duration = Duration::from_secs(20);
/// The whole boot-and-run must end within this (`TESTBED_TIMEOUT` seconds overrides it).
const RUN_TIMEOUT: Duration = Duration::from_secs(1500);
/// Times the bed is booted when dom0 does not come up (emulator faults hit dom0 too).
const BOOT_ATTEMPTS: u32 = 2;
/// Upper bound for building the test guest.
const GUEST_BUILD_TIMEOUT_SECS: u32 = 1200;
/// Console lines kept for failure reports.
const TAIL_LINES: usize = 60;

/// Why the bed cannot run on this machine: reported as SKIPPED, never as a pass.
struct Skip(String);

/// What to run: scenarios, rounds, host load.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Options {
    scenarios: Vec<String>,
    /// Rounds of the scenarios in one bed boot (`--repeat N`).
    rounds: u32,
    /// Busy-loop processes on the host meanwhile (`--load K`).
    load: u32,
}

const USAGE: &str = "usage: cargo xtask testbed [--repeat N] [--load K] [SCENARIO...]";

/// `cargo xtask testbed [--repeat N] [--load K] [SCENARIO...]`: runs the given scenarios (all
/// when none is given), N rounds in one bed boot, with K busy-loop processes on the host.
pub fn run(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!(
            "{USAGE}\nscenarios: {} (default), {}\n\
             --repeat N   run the scenarios N rounds in one boot of the bed; a summary per \
             scenario follows (passed/rounds, min/median/max time, emulator-fault retries)\n\
             --load K     keep K busy-loop processes running on the host meanwhile (a contended \
             machine on purpose; bounded by the run's deadline, killed at the end)\n\
             environment: TESTBED_TIMEOUT=<secs> bounds the whole run, TESTBED_VERBOSE=1 echoes \
             the serial console",
            SCENARIOS.join(" "),
            EXTRA_SCENARIOS.join(" ")
        );
        return Ok(());
    }
    let options = parse_options(args)?;
    match run_bed(&options) {
        Ok(()) => Ok(()),
        Err(Failure::Skip(Skip(reason))) => {
            println!("testbed: SKIPPED ({reason})");
            Err(format!("the testbed cannot run here: {reason}"))
        }
        Err(Failure::Error(e)) => Err(e),
    }
}

/// The testbed run by `cargo xtask test`: the default scenario set. SKIPPED (and `Ok`) where
/// QEMU or the packages cannot be had; `Err` on any failed scenario.
pub fn check() -> Result<(), String> {
    let options = Options {
        scenarios: select(&[])?,
        rounds: 1,
        load: 0,
    };
    match run_bed(&options) {
        Ok(()) => Ok(()),
        Err(Failure::Skip(Skip(reason))) => {
            println!("testbed: SKIPPED ({reason})");
            Ok(())
        }
        Err(Failure::Error(e)) => Err(e),
    }
}

enum Failure {
    Skip(Skip),
    Error(String),
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Error(e)
    }
}

/// `--repeat N`, `--load K` (also `--repeat=N`, `--load=K`) and scenario names.
fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut rounds = 1;
    let mut load = 0;
    let mut names = Vec::new();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_owned())),
            _ => (arg.as_str(), None),
        };
        let target = match flag {
            "--repeat" => &mut rounds,
            "--load" => &mut load,
            other if other.starts_with('-') => {
                return Err(format!("unknown option `{other}`\n{USAGE}"));
            }
            _ => {
                names.push(arg.clone());
                continue;
            }
        };
        let value = match inline {
            Some(value) => value,
            None => rest
                .next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))?,
        };
        *target = value
            .parse::<u32>()
            .map_err(|_| format!("{flag} takes a whole number, not `{value}`"))?;
    }
    if !(1..=100).contains(&rounds) {
        return Err(format!("--repeat takes 1 to 100 rounds, not {rounds}"));
    }
    if load > 64 {
        return Err(format!("--load takes 0 to 64 processes, not {load}"));
    }
    Ok(Options {
        scenarios: select(&names)?,
        rounds,
        load,
    })
}

/// The scenarios named on the command line, checked; all of them when none is named.
fn select(args: &[String]) -> Result<Vec<String>, String> {
    if args.is_empty() {
        return Ok(SCENARIOS.iter().map(|s| (*s).to_owned()).collect());
    }
    let mut chosen = Vec::new();
    for arg in args {
        if !SCENARIOS.contains(&arg.as_str()) && !EXTRA_SCENARIOS.contains(&arg.as_str()) {
            return Err(format!(
                "unknown scenario `{arg}` (known: {} {})",
                SCENARIOS.join(" "),
                EXTRA_SCENARIOS.join(" ")
            ));
        }
        if !chosen.contains(arg) {
            chosen.push(arg.clone());
        }
    }
    Ok(chosen)
}

fn run_bed(options: &Options) -> Result<(), Failure> {
    let scenarios = &options.scenarios;
    let rounds = options.rounds;
    let started = Instant::now();
    let root = crate::util::workspace_root();
    let cache = root.join("target").join("testbed");
    let work = cache.join("run");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;

    ensure_qemu().map_err(Failure::Skip)?;
    let unpacked = packages::fetch_and_unpack(&cache).map_err(|e| Failure::Skip(Skip(e)))?;

    let mut report = Report::default();
    let needs_guest = scenarios.iter().any(|s| !LINUX_ONLY.contains(&s.as_str()));
    let guest = if needs_guest {
        match build_guest(&root, &work) {
            Ok(path) => Some(path),
            Err(reason) => {
                println!("testbed: test guest not available: {reason}");
                for s in scenarios
                    .iter()
                    .filter(|s| !LINUX_ONLY.contains(&s.as_str()))
                {
                    for round in 1..=rounds {
                        report.set(
                            round,
                            s,
                            Outcome::NotRun(format!("test guest not available ({reason})")),
                            None,
                        );
                    }
                }
                None
            }
        }
    } else {
        None
    };
    let helper = if scenarios.iter().any(|s| s == "evtchn" || s == "grant") {
        build_helper(&root)?
    } else {
        None
    };

    let to_run: Vec<String> = scenarios
        .iter()
        .filter(|s| !report.has(1, s))
        .cloned()
        .collect();
    if !to_run.is_empty() {
        let xen = work.join("xen-4.17-amd64");
        unpack_xen(&unpacked.root, &xen)?;
        build_dom0(&root, &unpacked, &work, guest.as_deref(), helper.as_deref())?;
        let kernel = unpacked
            .root
            .join("boot")
            .join(format!("vmlinuz-{}", unpacked.kernel_release));
        let budget = std::env::var("TESTBED_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or_else(|| default_budget(rounds, options.load));
        let deadline = started + budget;
        // The host load lives as long as the bed (dropped, and so killed, at the end of this
        // block), and never longer than the run's deadline.
        let _load = load::Load::start(options.load, budget + Duration::from_secs(60))?;
        if options.load > 0 {
            println!(
                "testbed: {} busy-loop process(es) running on the host's {} core(s)",
                options.load,
                std::thread::available_parallelism().map_or(0, |n| n.get())
            );
        }
        let mut attempt = 1;
        loop {
            let boot = Boot {
                xen: &xen,
                kernel: &kernel,
                initramfs: &work.join("dom0.cpio.gz"),
                scenarios: &to_run,
                rounds,
                qemu_log: &work.join("qemu.log"),
                serial_log: &work.join("serial.log"),
                limit: deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(60),
            };
            match drive(&boot, &mut report, deadline)? {
                BedEnd::Finished => break,
                BedEnd::NoBoot(why) if attempt < BOOT_ATTEMPTS && Instant::now() < deadline => {
                    report
                        .boot_retries
                        .push(format!("bed boot attempt {attempt}: {why}"));
                    println!("testbed: RETRY bed boot attempt {attempt}: {why}");
                    attempt += 1;
                }
                BedEnd::NoBoot(why) => {
                    for round in 1..=rounds {
                        for s in &to_run {
                            if !report.has(round, s) {
                                report.set(
                                    round,
                                    s,
                                    Outcome::Fail(format!("the bed did not boot: {why}")),
                                    None,
                                );
                            }
                        }
                    }
                    break;
                }
            }
        }
    }
    report
        .finish(scenarios, rounds, started.elapsed())
        .map_err(Failure::Error)
}

/// The whole run's bound: [`RUN_TIMEOUT`] per round, doubled under host load.
fn default_budget(rounds: u32, load: u32) -> Duration {
    let per_round = if load > 0 {
        RUN_TIMEOUT * 2
    } else {
        RUN_TIMEOUT
    };
    per_round * rounds.max(1)
}

/// QEMU on the host; installed with apt-get when missing and this user may.
fn ensure_qemu() -> Result<(), Skip> {
    let have = || crate::util::runs("qemu-system-x86_64");
    if crate::util::ensure_installed("testbed: qemu-system-x86_64", &["qemu-system-x86"], have) {
        Ok(())
    } else {
        Err(Skip(
            "qemu-system-x86_64 is not installed and `apt-get install qemu-system-x86` failed"
                .into(),
        ))
    }
}

/// The project's test guest from `tests/testbed/guest/build.sh OUT`, or why it is not there.
fn build_guest(root: &Path, work: &Path) -> Result<PathBuf, String> {
    let script = root.join("tests/testbed/guest/build.sh");
    if !script.is_file() {
        return Err("tests/testbed/guest/build.sh does not exist".into());
    }
    let out = work.join("guest.bin");
    let _ = fs::remove_file(&out);
    println!("testbed: building the test guest (tests/testbed/guest/build.sh)");
    let mut command = Command::new("timeout");
    // The guest builds with Debian's toolchain in its own target dir: none of the variables
    // that `cargo xtask` put in the environment for the workspace's toolchain apply to it.
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if (key_text.starts_with("CARGO_") && key_text != "CARGO_HOME")
            || [
                "CARGO",
                "RUSTC",
                "RUSTC_WRAPPER",
                "RUSTDOC",
                "RUSTFLAGS",
                "RUSTUP_TOOLCHAIN",
            ]
            .contains(&key_text.as_ref())
        {
            command.env_remove(&key);
        }
    }
    let result = command
        .arg(GUEST_BUILD_TIMEOUT_SECS.to_string())
        .arg("bash")
        .arg(&script)
        .arg(&out)
        .current_dir(root)
        .output()
        .map_err(|e| format!("cannot run build.sh: {e}"))?;
    if !result.status.success() {
        let stderr = String::from_utf8_lossy(&result.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(format!(
            "build.sh failed ({}): {}",
            result.status,
            last.trim()
        ));
    }
    if !out.is_file() {
        return Err("build.sh succeeded but wrote no image".into());
    }
    Ok(out)
}

/// The dom0 helper binary (`crates/testbed-dom0`), built for the host (dom0 runs the same libc).
fn build_helper(root: &Path) -> Result<Option<PathBuf>, String> {
    if !root.join("crates/testbed-dom0/Cargo.toml").is_file() {
        return Ok(None);
    }
    println!("testbed: building the dom0 helper (crates/testbed-dom0)");
    crate::util::run(crate::util::cargo().args(["build", "--quiet", "-p", "testbed-dom0"]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_absolute() { p } else { root.join(p) })
        .unwrap_or_else(|| root.join("target"));
    let binary = target.join("debug").join("testbed-dom0");
    if binary.is_file() {
        Ok(Some(binary))
    } else {
        Err(format!(
            "the helper was built but {} is missing",
            binary.display()
        ))
    }
}

/// QEMU's multiboot loader needs the uncompressed Xen ELF.
fn unpack_xen(root: &Path, out: &Path) -> Result<(), String> {
    let gz = root.join("boot/xen-4.17-amd64.gz");
    let data = Command::new("gzip")
        .arg("-dc")
        .arg(&gz)
        .output()
        .map_err(|e| format!("cannot run gzip: {e}"))?;
    if !data.status.success() || data.stdout.is_empty() {
        return Err(format!("cannot decompress {}", gz.display()));
    }
    fs::write(out, &data.stdout).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

fn build_dom0(
    root: &Path,
    unpacked: &packages::Unpacked,
    work: &Path,
    guest: Option<&Path>,
    helper: Option<&Path>,
) -> Result<(), String> {
    let mut command = Command::new("bash");
    command
        .arg(root.join("tests/testbed/build-dom0.sh"))
        .env("ROOT", &unpacked.root)
        .env("KVER", &unpacked.kernel_release)
        .env("OUT", work)
        .env(
            "GUEST_IMAGE",
            guest.map(Path::as_os_str).unwrap_or_default(),
        )
        .env("HELPER", helper.map(Path::as_os_str).unwrap_or_default());
    crate::util::run(&mut command)
}

/// How one boot of the bed ended.
enum BedEnd {
    /// dom0 ran its scenarios (or the bed stopped after it came up; missing results are FAILs).
    Finished,
    /// dom0 never reached READY.
    NoBoot(String),
}

/// Boots the bed and follows its console until dom0 is done, QEMU exits or a deadline passes.
fn drive(boot: &Boot<'_>, report: &mut Report, run_deadline: Instant) -> Result<BedEnd, String> {
    let verbose = std::env::var_os("TESTBED_VERBOSE").is_some();
    println!(
        "testbed: booting Xen + dom0 in QEMU for: {}",
        boot.scenarios.join(" ")
    );
    let machine = Machine::start(boot)?;
    let booted_at = Instant::now();
    let mut phase_deadline = booted_at + BOOT_TIMEOUT;
    let mut ready = false;
    let mut current: Option<String> = None;
    // Round of a repeated run, and when the current scenario's first attempt began.
    let mut round: u32 = 1;
    let mut began = Instant::now();
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut in_dump = false;
    let mut attempt_timeout = ATTEMPT_TIMEOUT;
    let stop_reason: Option<String> = loop {
        let deadline = phase_deadline.min(run_deadline);
        let line = match machine.next_line(deadline) {
            Line::Text(line) => line,
            Line::Timeout => {
                let what = match (&current, ready) {
                    (_, false) => "dom0 to come up".to_owned(),
                    (Some(name), true) => format!("a result of {name}"),
                    (None, true) => "the next scenario".to_owned(),
                };
                break Some(format!(
                    "timed out after {:.0}s waiting for {what}",
                    booted_at.elapsed().as_secs_f64()
                ));
            }
            Line::Closed => break Some("QEMU exited".to_owned()),
        };
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line.clone());
        if console::is_emulator_fault(&line) {
            report.emulator_faults += 1;
            println!(
                "testbed: emulator fault on the Xen console: {}",
                line.trim()
            );
        }
        let event = console::parse(&line);
        if verbose || in_dump {
            if event.is_none() {
                println!("  | {line}");
            }
        } else if line.contains("testbed[") {
            println!("  {}", line.trim());
        }
        let Some(event) = event else { continue };
        match event {
            Event::Boot => println!(
                "testbed: dom0 userspace up after {:.0}s",
                booted_at.elapsed().as_secs_f64()
            ),
            Event::Ready => {
                ready = true;
                attempt_timeout = ATTEMPT_TIMEOUT * slowness(booted_at.elapsed());
                phase_deadline = Instant::now() + attempt_timeout;
                println!(
                    "testbed: toolstack ready after {:.0}s",
                    booted_at.elapsed().as_secs_f64()
                );
            }
            Event::BootFailed(why) => break Some(format!("dom0 start-up failed: {why}")),
            Event::Round { round: r } => {
                println!("testbed: round {r} of {}", boot.rounds);
                round = r;
            }
            Event::Begin { name, attempt } => {
                println!("testbed: {name} (attempt {attempt})");
                if attempt <= 1 || current.as_deref() != Some(name.as_str()) {
                    began = Instant::now();
                }
                current = Some(name);
                phase_deadline = Instant::now() + attempt_timeout;
            }
            Event::Retry { name, detail } => {
                println!("testbed: RETRY {name} {detail}");
                report.retry(round, &name, &detail);
            }
            Event::Pass { name, detail } => {
                println!("testbed: PASS {name} {detail}");
                report.set(round, &name, Outcome::Pass(detail), Some(began.elapsed()));
                current = None;
                phase_deadline = Instant::now() + attempt_timeout;
            }
            Event::Fail { name, reason } => {
                println!("testbed: FAIL {name}: {reason}");
                report.set(round, &name, Outcome::Fail(reason), Some(began.elapsed()));
                current = None;
                phase_deadline = Instant::now() + attempt_timeout;
            }
            Event::NotRun { name, reason } => {
                println!("testbed: NOT RUN {name}: {reason}");
                report.set(round, &name, Outcome::NotRun(reason), None);
                current = None;
                phase_deadline = Instant::now() + attempt_timeout;
            }
            Event::DumpBegin(name) => {
                println!("testbed: ---- failure dump of {name} (from dom0) ----");
                in_dump = true;
            }
            Event::DumpEnd => {
                println!("testbed: ---- end of dump ----");
                in_dump = false;
            }
            Event::Done => break None,
        }
    };
    let serial_tail: Vec<String> = tail.into_iter().collect();
    match stop_reason {
        None => {
            machine.finish(Duration::from_secs(20));
            for r in 1..=boot.rounds {
                for s in boot.scenarios {
                    if !report.has(r, s) {
                        report.set(
                            r,
                            s,
                            Outcome::Fail("dom0 finished without a result".into()),
                            None,
                        );
                    }
                }
            }
            Ok(BedEnd::Finished)
        }
        Some(why) => {
            drop(machine);
            print_failure_context(&serial_tail, boot.qemu_log, boot.serial_log);
            if !ready {
                return Ok(BedEnd::NoBoot(why));
            }
            for r in 1..=boot.rounds {
                for s in boot.scenarios {
                    if !report.has(r, s) {
                        let reason = if r == round && current.as_deref() == Some(s.as_str()) {
                            why.clone()
                        } else {
                            format!("not reached: {why}")
                        };
                        report.set(r, s, Outcome::Fail(reason), None);
                    }
                }
            }
            Ok(BedEnd::Finished)
        }
    }
}

/// How many times slower than a quiet machine the bed runs (1 to 5), from its boot time: other
/// work on the host's cores slows the emulation down as a whole.
fn slowness(boot: Duration) -> u32 {
    let factor = boot.as_secs() / NOMINAL_BOOT.as_secs().max(1);
    u32::try_from(factor).unwrap_or(5).clamp(1, 5)
}

/// On a bed that stopped early: the console's last lines and the outer QEMU's log.
fn print_failure_context(tail: &[String], qemu_log: &Path, serial_log: &Path) {
    println!(
        "testbed: ---- last {} serial console lines (all: {}) ----",
        tail.len(),
        serial_log.display()
    );
    for line in tail {
        println!("  | {line}");
    }
    let qemu = fs::read_to_string(qemu_log).unwrap_or_default();
    let lines: Vec<&str> = qemu.lines().collect();
    println!("testbed: ---- outer QEMU log ({}) ----", qemu_log.display());
    // QEMU warns about every CPUID flag TCG cannot emulate: noise here.
    let lines: Vec<&str> = lines
        .into_iter()
        .filter(|l| !l.contains("TCG doesn't support requested feature"))
        .collect();
    for line in lines.iter().skip(lines.len().saturating_sub(20)) {
        println!("  | {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::{default_budget, parse_options, select, RUN_TIMEOUT, SCENARIOS};
    use std::time::Duration;

    #[test]
    fn slowness_is_bounded() {
        assert_eq!(super::slowness(Duration::from_secs(5)), 1);
        assert_eq!(super::slowness(Duration::from_secs(65)), 3);
        assert_eq!(super::slowness(Duration::from_secs(10_000)), 5);
    }

    #[test]
    fn default_selection_is_every_scenario() {
        assert_eq!(select(&[]).unwrap().len(), SCENARIOS.len());
    }

    #[test]
    fn unknown_scenario_is_refused() {
        assert!(select(&["nope".into()]).is_err());
        assert_eq!(
            select(&["grant".into(), "grant".into()]).unwrap(),
            vec!["grant".to_owned()]
        );
    }

    #[test]
    fn options_parse_repeat_load_and_names() {
        let args = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = parse_options(&args(&["--repeat", "5", "--load=2", "grant"])).unwrap();
        assert_eq!((o.rounds, o.load), (5, 2));
        assert_eq!(o.scenarios, vec!["grant".to_owned()]);
        let o = parse_options(&args(&[])).unwrap();
        assert_eq!(
            (o.rounds, o.load, o.scenarios.len()),
            (1, 0, SCENARIOS.len())
        );
        assert!(parse_options(&args(&["--repeat"])).is_err());
        assert!(parse_options(&args(&["--repeat", "0"])).is_err());
        assert!(parse_options(&args(&["--load", "x"])).is_err());
        assert!(parse_options(&args(&["--fast"])).is_err());
        assert!(parse_options(&args(&["--repeat=2", "nope"])).is_err());
    }

    #[test]
    fn budget_grows_with_rounds_and_load() {
        assert_eq!(default_budget(1, 0), RUN_TIMEOUT);
        assert_eq!(default_budget(5, 0), RUN_TIMEOUT * 5);
        assert_eq!(default_budget(5, 2), RUN_TIMEOUT * 10);
    }
}
