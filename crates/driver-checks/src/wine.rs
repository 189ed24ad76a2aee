//! Smoke loads of WDM drivers in Wine: a fresh prefix, the driver registered as a kernel
//! service with `sc create`, started with `sc start`; the load passes when DriverEntry's log line
//! appears and the service reaches RUNNING, and it must then stop cleanly with `sc stop`.
//!
//! Wine runs kernel drivers in user mode inside `winedevice.exe` with its own ntoskrnl.exe; it
//! has no storport.sys, so StorPort miniports cannot be loaded this way.
//!
//! [`WinePrefix::pnp_install_and_remove`] drives a driver through Wine's PnP manager instead:
//! the fixture program `tests/wine-pnp/pnp-fixture.c` (built by [`build_pnp_fixture`]) creates a
//! root-enumerated device with a hardware ID, installs the driver's INF for it (Wine loads the
//! driver, calls AddDevice with the root PDO and sends IRP_MN_START_DEVICE without resources),
//! waits, and removes the device (Wine 8.0 sends IRP_MN_SURPRISE_REMOVAL, then
//! IRP_MN_REMOVE_DEVICE).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a service may take to reach a state.
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);
/// How long the PnP fixture may run beyond the time it holds the device.
const FIXTURE_TIMEOUT: Duration = Duration::from_secs(90);
/// Marks the fixture program's own lines in the log.
pub const FIXTURE_PREFIX: &str = "pnp-fixture: ";

/// A Wine prefix created for the smoke tests; its wineserver is stopped on drop.
pub struct WinePrefix {
    dir: PathBuf,
}

/// What a successful smoke load saw.
#[derive(Debug, Clone)]
pub struct SmokeReport {
    /// The DriverEntry line found in Wine's debug output.
    pub driver_entry_line: String,
    /// Seconds from `sc start` to RUNNING.
    pub start_seconds: f64,
    /// Whether the service reached STOPPED after `sc stop`.
    pub stopped: bool,
    /// The first line containing `DriverUnload` after the stop, if one appeared.
    pub unload_line: Option<String>,
}

impl WinePrefix {
    /// Creates a fresh prefix in `dir` (which must not exist yet) with `wineboot -i`.
    pub fn create(dir: &Path) -> Result<Self, String> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| format!("remove old prefix {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(dir.parent().unwrap_or(dir)).map_err(|e| e.to_string())?;
        let prefix = WinePrefix {
            dir: dir.to_path_buf(),
        };
        let output = prefix
            .wine_command("wineboot")
            .arg("-i")
            .output()
            .map_err(|e| format!("cannot run wineboot: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "wineboot -i failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(prefix)
    }

    fn wine_command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env("WINEPREFIX", &self.dir)
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=")
            .env("WINEDEBUG", "-all")
            .env_remove("DISPLAY")
            .stdin(Stdio::null());
        command
    }

    fn sc(&self, args: &[&str]) -> Result<(bool, String), String> {
        let output = self
            .wine_command("wine")
            .arg("sc")
            .args(args)
            .output()
            .map_err(|e| format!("cannot run wine sc: {e}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok((output.status.success(), text))
    }

    /// The `STATE` number of `sc query` (1 STOPPED, 2 START_PENDING, 4 RUNNING, ...).
    fn state(&self, service: &str) -> Result<(u32, String), String> {
        let (_, text) = self.sc(&["query", service])?;
        let state = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("STATE"))
            .and_then(|rest| {
                rest.trim_start_matches([' ', ':'])
                    .split_whitespace()
                    .next()
                    .map(str::to_string)
            })
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no STATE in `sc query {service}`: {text}"))?;
        Ok((state, text))
    }

    fn stop_server(&self) {
        let _ = self.wine_command("wineserver").arg("-k").status();
        let _ = self.wine_command("wineserver").arg("-w").status();
    }

    /// Registers `sys` as kernel service `service`, starts it, and waits for `expected_line` in
    /// the debug output and state RUNNING; then stops it. `Err` says what went wrong (the
    /// service's state and exit code, and whether DriverEntry's line was seen).
    pub fn smoke_load(
        &self,
        service: &str,
        sys: &Path,
        expected_line: &str,
        log: &Path,
    ) -> Result<SmokeReport, String> {
        let drivers = self.dir.join("drive_c/windows/system32/drivers");
        std::fs::create_dir_all(&drivers).map_err(|e| e.to_string())?;
        std::fs::copy(sys, drivers.join(format!("{service}.sys")))
            .map_err(|e| format!("copy {}: {e}", sys.display()))?;
        let bin_path = format!("C:\\windows\\system32\\drivers\\{service}.sys");
        let (created, text) = self.sc(&[
            "create", service, "type=", "kernel", "start=", "demand", "binPath=", &bin_path,
        ])?;
        if !created {
            return Err(format!("sc create {service} failed: {text}"));
        }
        // A fresh wineserver, so that winedevice.exe inherits the debug channels and the log file.
        self.stop_server();
        let log_file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let status = self
            .wine_command("wine")
            .env("WINEDEBUG", "+debugstr,err")
            .args(["sc", "start", service])
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .status()
            .map_err(|e| format!("cannot run wine sc start: {e}"))?;

        let mut last = String::new();
        let mut seen_line = None;
        let deadline = started + STATE_TIMEOUT;
        let mut running_at = None;
        while Instant::now() < deadline {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            if seen_line.is_none() {
                seen_line = text
                    .lines()
                    .find(|l| l.contains(expected_line))
                    .map(str::to_string);
            }
            let (state, query) = self.state(service)?;
            last = query;
            if state == 4 && running_at.is_none() {
                running_at = Some(started.elapsed().as_secs_f64());
            }
            if state == 1 && seen_line.is_some() {
                break;
            }
            if running_at.is_some() && seen_line.is_some() {
                break;
            }
            std::thread::sleep(POLL);
        }
        let Some(driver_entry_line) = seen_line else {
            return Err(format!(
                "DriverEntry's line `{expected_line}` never appeared (sc start {status}); last query: {}",
                last.trim()
            ));
        };
        let Some(start_seconds) = running_at else {
            return Err(format!(
                "service {service} did not reach RUNNING (DriverEntry ran: `{}`; sc start {status}); last query: {}",
                driver_entry_line.trim(),
                last.trim()
            ));
        };

        self.stop_service(service)?;
        // DriverUnload runs as the service stops; give the log a moment to catch up.
        let mut unload_line = None;
        for _ in 0..10 {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            unload_line = text
                .lines()
                .find(|l| l.contains("DriverUnload"))
                .map(str::to_string);
            if unload_line.is_some() {
                break;
            }
            std::thread::sleep(POLL);
        }
        let _ = self.sc(&["delete", service]);
        Ok(SmokeReport {
            driver_entry_line,
            start_seconds,
            stopped: true,
            unload_line,
        })
    }
}

impl WinePrefix {
    /// The `STATE` number of `sc query service` (4 RUNNING: its winedevice.exe is alive).
    pub fn service_state(&self, service: &str) -> Result<u32, String> {
        Ok(self.state(service)?.0)
    }

    /// `sc stop service`, then waits (bounded) for STOPPED; `Err` when it never stops.
    pub fn stop_service(&self, service: &str) -> Result<(), String> {
        let (_, stop_text) = self.sc(&["stop", service])?;
        let deadline = Instant::now() + STATE_TIMEOUT;
        while Instant::now() < deadline {
            if self.state(service)?.0 == 1 {
                return Ok(());
            }
            std::thread::sleep(POLL);
        }
        Err(format!(
            "service {service} did not stop: {}",
            stop_text.trim()
        ))
    }

    /// Runs the PnP fixture in this prefix: a root device `ROOT\XENPNPTEST\NNNN` with
    /// `hardware_id`, the INF `media[0]` installed for it (the other `media` files, the `.sys`,
    /// sit beside it as the INF's source disk), `hold` with the driver running, then the device
    /// removed. Everything Wine and the driver print goes to `log`, with `debug` as
    /// `WINEDEBUG`. The whole run is bounded; `Err` only when the fixture could not be run or
    /// hung (its own step failures are in [`PnpRun::steps`] and its exit code).
    pub fn pnp_install_and_remove(
        &self,
        fixture: &Path,
        media: &[&Path],
        hardware_id: &str,
        hold: Duration,
        debug: &str,
        log: &Path,
    ) -> Result<PnpRun, String> {
        let Some(inf) = media.first() else {
            return Err("no INF given".into());
        };
        let inf_name = inf
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("bad INF path {}", inf.display()))?
            .to_string();
        let dir = self.dir.join("drive_c/pnp");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for file in media.iter().chain(std::iter::once(&fixture)) {
            let name = file
                .file_name()
                .ok_or_else(|| format!("bad path {}", file.display()))?;
            std::fs::copy(file, dir.join(name))
                .map_err(|e| format!("copy {}: {e}", file.display()))?;
        }
        let exe = fixture
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("bad fixture path {}", fixture.display()))?;
        // A fresh wineserver, so that services.exe and winedevice.exe inherit the debug channels
        // and the log file.
        self.stop_server();
        let log_file = File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
        let started = Instant::now();
        let mut child = self
            .wine_command("wine")
            .env("WINEDEBUG", debug)
            .arg(format!("C:\\pnp\\{exe}"))
            .arg(hardware_id)
            .arg(format!("C:\\pnp\\{inf_name}"))
            .arg(hold.as_millis().to_string())
            .stdout(Stdio::from(log_file))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|e| format!("cannot run wine {exe}: {e}"))?;
        let deadline = started + hold + FIXTURE_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL),
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "the PnP fixture did not finish within {:?} (log: {})",
                        hold + FIXTURE_TIMEOUT,
                        log.display()
                    ));
                }
                Err(e) => return Err(format!("waiting for the PnP fixture: {e}")),
            }
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        Ok(PnpRun {
            exit_code: status.code(),
            steps: fixture_steps(&text),
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// What the PnP fixture reported.
#[derive(Debug, Clone)]
pub struct PnpRun {
    /// The fixture's exit code (0: every step succeeded).
    pub exit_code: Option<i32>,
    /// The fixture's own lines, without [`FIXTURE_PREFIX`], in order.
    pub steps: Vec<String>,
    /// Seconds the fixture ran.
    pub seconds: f64,
}

/// The fixture program's lines in a log, without [`FIXTURE_PREFIX`].
pub fn fixture_steps(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.strip_prefix(FIXTURE_PREFIX))
        .map(str::to_string)
        .collect()
}

/// Compiles `tests/wine-pnp/pnp-fixture.c` with `x86_64-w64-mingw32-gcc` into
/// `out_dir/pnp-fixture.exe` (a build product of the test, never committed).
pub fn build_pnp_fixture(out_dir: &Path) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/wine-pnp/pnp-fixture.c");
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let exe = out_dir.join("pnp-fixture.exe");
    let output = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-municode", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(&source)
        .args(["-lsetupapi", "-lnewdev"])
        .output()
        .map_err(|e| format!("cannot run x86_64-w64-mingw32-gcc: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building {} failed: {}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(exe)
}

/// The index of the first line at or after `from` that contains `needle`.
pub fn line_index(log: &str, from: usize, needle: &str) -> Option<usize> {
    log.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.contains(needle))
        .map(|(i, _)| i)
}

/// Lines that show a crash or a failure inside Wine's kernel emulation: an unhandled exception
/// or page fault, a bug check, an `err:` from the exception, PnP or ntoskrnl channels.
pub fn crash_lines(log: &str) -> Vec<&str> {
    const MARKERS: [&str; 7] = [
        "Unhandled exception",
        "Unhandled page fault",
        "KeBugCheckEx",
        ":err:seh:",
        ":err:plugplay:",
        ":err:ntoskrnl:",
        "wine: Unhandled",
    ];
    log.lines()
        .filter(|l| MARKERS.iter().any(|m| l.contains(m)))
        .collect()
}

/// Polls `log` (bounded by `timeout`) until a line at or after line `from` contains `needle`;
/// returns that line's index and the text read.
pub fn wait_for_line(
    log: &Path,
    from: usize,
    needle: &str,
    timeout: Duration,
) -> (Option<usize>, String) {
    let deadline = Instant::now() + timeout;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let found = line_index(&text, from, needle);
        if found.is_some() || Instant::now() >= deadline {
            return (found, text);
        }
        std::thread::sleep(POLL);
    }
}

impl Drop for WinePrefix {
    fn drop(&mut self) {
        self.stop_server();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
0110:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000004: xenstub: INFO: AddDevice: attached
pnp-fixture: install driver: ok
0110:trace:plugplay:send_remove_device_irp Removing device 000000000034E6A0, code 17.
pnp-fixture: remove device: ok
0110:warn:debugstr:vDbgPrintExWithPrefix 0000004d:00000004: xenstub: INFO: DriverUnload
";

    #[test]
    fn fixture_steps_are_the_prefixed_lines_in_order() {
        assert_eq!(
            fixture_steps(LOG),
            vec![
                "install driver: ok".to_string(),
                "remove device: ok".to_string()
            ]
        );
    }

    #[test]
    fn line_index_searches_from_a_line_on() {
        assert_eq!(line_index(LOG, 0, "pnp-fixture:"), Some(1));
        assert_eq!(line_index(LOG, 2, "pnp-fixture:"), Some(3));
        assert_eq!(line_index(LOG, 4, "pnp-fixture:"), None);
        assert_eq!(line_index(LOG, 0, "REMOVE_DEVICE"), None);
    }

    #[test]
    fn crash_lines_finds_exceptions_and_kernel_errors_only() {
        assert!(crash_lines(LOG).is_empty());
        let bad = format!(
            "{LOG}wine: Unhandled page fault on read access to 0000000000000000 at address 0000000001A9F810\n\
             0024:err:setupapi:SetupCopyOEMInfW Could not add catalog\n\
             0110:err:plugplay:load_function_driver AddDevice failed for driver L\"xenpci\", status 0xc0000001.\n"
        );
        let lines = crash_lines(&bad);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("page fault"));
        assert!(lines[1].contains("AddDevice failed"));
    }
}
