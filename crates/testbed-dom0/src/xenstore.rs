//! xenstore access through the `xenstore-read` / `xenstore-write` tools of dom0.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// Reads `path`; `None` when it does not exist (or cannot be read).
pub fn read(path: &str) -> Option<String> {
    let out = Command::new("xenstore-read").arg(path).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
}

/// Writes `value` at `path`.
pub fn write(path: &str, value: &str) -> Result<(), String> {
    let status = Command::new("xenstore-write")
        .args([path, value])
        .status()
        .map_err(|e| format!("cannot run xenstore-write: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("xenstore-write {path} failed ({status})"))
    }
}

/// Waits up to `limit` for `path` to exist; returns its value.
pub fn wait(path: &str, limit: Duration) -> Result<String, String> {
    let end = Instant::now() + limit;
    loop {
        if let Some(value) = read(path) {
            return Ok(value);
        }
        if Instant::now() >= end {
            return Err(format!("{path} did not appear within {}s", limit.as_secs()));
        }
        thread::sleep(Duration::from_millis(500));
    }
}
