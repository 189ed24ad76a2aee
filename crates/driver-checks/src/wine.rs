//! Smoke loads of WDM drivers in Wine: a fresh prefix, the driver registered as a kernel
//! service with `sc create`, started with `sc start`; the load passes when DriverEntry's log line
//! appears and the service reaches RUNNING, and it must then stop cleanly with `sc stop`.
//!
//! Wine runs kernel drivers in user mode inside `winedevice.exe` with its own ntoskrnl.exe; it
//! has no storport.sys, so StorPort miniports cannot be loaded this way.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a service may take to reach a state.
const STATE_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(500);

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

        let (_, stop_text) = self.sc(&["stop", service])?;
        let stop_deadline = Instant::now() + STATE_TIMEOUT;
        let mut stopped = false;
        while Instant::now() < stop_deadline {
            if self.state(service)?.0 == 1 {
                stopped = true;
                break;
            }
            std::thread::sleep(POLL);
        }
        if !stopped {
            return Err(format!(
                "service {service} ran but did not stop: {}",
                stop_text.trim()
            ));
        }
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
            stopped,
            unload_line,
        })
    }
}

impl Drop for WinePrefix {
    fn drop(&mut self) {
        self.stop_server();
    }
}
