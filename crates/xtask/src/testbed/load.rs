//! `--load K`: K busy-loop processes on the host while the bed runs, so that a contended machine
//! is simulated on purpose. Each runs under `timeout` and checks that xtask is still alive on
//! every turn, so it ends by itself at the bound or when xtask dies; dropping the [`Load`] ends
//! them at once.

use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The running busy loops.
pub struct Load {
    children: Vec<Child>,
}

impl Load {
    /// Starts `count` busy loops, each ended after `limit` at the latest.
    pub fn start(count: u32, limit: Duration) -> Result<Load, String> {
        let mut load = Load {
            children: Vec::new(),
        };
        for _ in 0..count {
            let child = Command::new("timeout")
                .arg("--kill-after=5")
                .arg(limit.as_secs().max(1).to_string())
                // Also ends when xtask is gone (killed without running this guard's drop).
                .args([
                    "sh",
                    "-c",
                    &format!(
                        "while kill -0 {} 2>/dev/null; do :; done",
                        std::process::id()
                    ),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start a busy loop for --load: {e}"))?;
            // On an error above, `load` is dropped and the loops started so far are ended.
            load.children.push(child);
        }
        Ok(load)
    }

    /// How many busy loops are still running.
    #[cfg(test)]
    fn running(&mut self) -> usize {
        let mut running = 0;
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                running += 1;
            }
        }
        running
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        for child in &self.children {
            // SIGTERM to `timeout`, which passes it on to the loop.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
        let end = Instant::now() + Duration::from_secs(10);
        for child in &mut self.children {
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Load;
    use std::time::Duration;

    #[test]
    fn busy_loops_run_until_dropped() {
        let mut load = Load::start(2, Duration::from_secs(60)).unwrap();
        assert_eq!(load.running(), 2);
        let ids: Vec<u32> = load.children.iter().map(|c| c.id()).collect();
        drop(load);
        for id in ids {
            assert!(
                !std::path::Path::new(&format!("/proc/{id}")).exists(),
                "busy loop {id} still exists after drop"
            );
        }
    }

    #[test]
    fn no_load_starts_nothing() {
        let mut load = Load::start(0, Duration::from_secs(1)).unwrap();
        assert_eq!(load.running(), 0);
    }
}
