//! The outer QEMU running Xen and dom0: started with the CPU flags the reference proved, its
//! serial console read line by line with timeouts, killed when dropped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// Emulated CPU. Each removed flag fixes a crash seen under QEMU 7.2's TCG: `monitor` (MWAIT
/// faults Xen's idle loop), `smap`/`smep` (PV dom0 faults in `create_bounce_frame`), `rdtscp`
/// (reported as RDTSC, `Insn mismatch`), `xsave`/`avx`/`avx2` (corrupted user-space state).
pub const CPU: &str = "EPYC,+svm,+npt,-monitor,-smap,-smep,-rdtscp,-xsave,-avx,-avx2";

/// What the bed boots.
pub struct Boot<'a> {
    /// Uncompressed Xen ELF (QEMU's multiboot loader cannot take the gzip).
    pub xen: &'a Path,
    /// dom0 kernel.
    pub kernel: &'a Path,
    /// dom0 initramfs.
    pub initramfs: &'a Path,
    /// Scenarios for dom0 (`testbed=a+b` on its command line).
    pub scenarios: &'a [String],
    /// Rounds of the scenarios (`testbed-repeat=N` on dom0's command line).
    pub rounds: u32,
    /// Outer QEMU's stderr goes here.
    pub qemu_log: &'a Path,
    /// Every console line is written here, after wall-clock seconds since the start.
    pub serial_log: &'a Path,
    /// QEMU is ended after this long even if this process dies without cleaning up.
    pub limit: Duration,
}

/// A running bed.
pub struct Machine {
    child: Child,
    lines: Receiver<String>,
}

/// What [`Machine::next_line`] got.
pub enum Line {
    /// A console line.
    Text(String),
    /// Nothing before the deadline.
    Timeout,
    /// The console closed: QEMU exited.
    Closed,
}

impl Machine {
    /// Starts QEMU. Memory stays below 4 GiB (guest memory above it made faults come sooner).
    pub fn start(boot: &Boot<'_>) -> Result<Machine, String> {
        for word in boot.scenarios {
            if word.contains([',', ' ']) {
                return Err(format!("bad scenario name `{word}`"));
            }
        }
        let xen_cmdline = "console=com1 com1=115200,8n1 dom0_mem=1024M,max:1024M loglvl=all \
                           guest_loglvl=all noreboot conring_size=1m";
        // A comma separates multiboot modules here, so module arguments must not contain one.
        let modules = format!(
            "{} console=hvc0 earlyprintk=xen loglevel=4 testbed={} testbed-repeat={},{}",
            boot.kernel.display(),
            boot.scenarios.join("+"),
            boot.rounds.max(1),
            boot.initramfs.display()
        );
        let qemu_log = File::create(boot.qemu_log)
            .map_err(|e| format!("cannot create {}: {e}", boot.qemu_log.display()))?;
        // Under `timeout`, so that QEMU ends even if xtask is killed before it can end it.
        let mut child = Command::new("timeout")
            .arg("--kill-after=10")
            .arg(boot.limit.as_secs().max(1).to_string())
            .arg("qemu-system-x86_64")
            .args(["-accel", "tcg,thread=multi", "-cpu", CPU])
            .args(["-m", "3072", "-smp", "2"])
            .args(["-display", "none", "-no-reboot", "-monitor", "none"])
            .args(["-serial", "stdio"])
            .arg("-kernel")
            .arg(boot.xen)
            .args(["-append", xen_cmdline, "-initrd", &modules])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(qemu_log)
            .spawn()
            .map_err(|e| format!("cannot start qemu-system-x86_64: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "qemu has no stdout".to_owned())?;
        let mut serial = File::create(boot.serial_log)
            .map_err(|e| format!("cannot create {}: {e}", boot.serial_log.display()))?;
        let (sender, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buffer = Vec::new();
            let started = Instant::now();
            loop {
                buffer.clear();
                match reader.read_until(b'\n', &mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        // The log gets wall-clock seconds since QEMU started before each line.
                        let stamp = format!("[{:8.2}] ", started.elapsed().as_secs_f64());
                        let _ = serial.write_all(stamp.as_bytes());
                        let _ = serial.write_all(&buffer);
                        let line = String::from_utf8_lossy(&buffer)
                            .trim_end_matches(['\r', '\n'])
                            .to_owned();
                        if sender.send(line).is_err() {
                            break;
                        }
                    }
                }
            }
        });
        Ok(Machine { child, lines })
    }

    /// The next console line, waiting at most until `deadline`.
    pub fn next_line(&self, deadline: Instant) -> Line {
        let wait = deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(wait) {
            Ok(line) => Line::Text(line),
            Err(RecvTimeoutError::Timeout) => Line::Timeout,
            Err(RecvTimeoutError::Disconnected) => Line::Closed,
        }
    }

    /// Waits up to `grace` for QEMU to exit by itself (dom0 powers the machine off), then kills it.
    pub fn finish(mut self, grace: Duration) {
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(200));
        }
        // Drop kills it.
    }
}

impl Drop for Machine {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGTERM to `timeout`, which passes it on to QEMU (a SIGKILL would orphan QEMU).
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(self.child.id().to_string())
                .status();
            let end = Instant::now() + Duration::from_secs(15);
            while Instant::now() < end {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(200));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
