//! Levelled logging to `DbgPrintEx` (component `DPFLTR_IHVDRIVER_ID`) and, when running on Xen
//! in kernel mode, to Xen's debug I/O port (the line appears in `xl dmesg` as `(dN) ...`).
//!
//! Use the macros: `nt_kernel::info!("started {}", n)`. Each line is formatted into a fixed
//! stack buffer (truncated past [`LINE_CAPACITY`]), so logging never allocates.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

/// Log levels, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Something failed.
    Error = 0,
    /// Something unexpected that the driver recovered from.
    Warn = 1,
    /// Lifecycle events.
    Info = 2,
    /// Detail for debugging.
    Trace = 3,
}

impl Level {
    /// The tag printed in each line.
    pub const fn tag(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Trace => "TRACE",
        }
    }

    /// The `DPFLTR_*_LEVEL` used with `DbgPrintEx` (Windows shows only `ERROR` by default;
    /// the `Debug Print Filter\IHVDRIVER` registry value opens the rest).
    pub const fn dpfltr_level(self) -> u32 {
        match self {
            Level::Error => crate::wdm::DPFLTR_ERROR_LEVEL,
            Level::Warn => crate::wdm::DPFLTR_WARNING_LEVEL,
            Level::Info => crate::wdm::DPFLTR_TRACE_LEVEL,
            Level::Trace => crate::wdm::DPFLTR_INFO_LEVEL,
        }
    }
}

/// Longest line, terminator included; longer lines are cut and end in `...`.
pub const LINE_CAPACITY: usize = 256;

static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static DEFAULT_NAME: &str = "xen";
static NAME: AtomicPtr<&'static str> = AtomicPtr::new(core::ptr::null_mut());

/// Sets the driver name printed at the start of every line (call first thing in `DriverEntry`).
pub fn set_driver_name(name: &'static &'static str) {
    NAME.store(core::ptr::from_ref(name).cast_mut(), Ordering::Release);
}

/// Lines above this level are dropped (default [`Level::Info`]).
pub fn set_max_level(level: Level) {
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
}

fn driver_name() -> &'static str {
    let name = NAME.load(Ordering::Acquire);
    if name.is_null() {
        DEFAULT_NAME
    } else {
        // SAFETY: only `set_driver_name` stores here, from a `&'static &'static str`.
        unsafe { *name }
    }
}

/// A fixed-capacity, always NUL-terminated line.
pub struct Line {
    bytes: [u8; LINE_CAPACITY],
    len: usize,
    truncated: bool,
}

impl Default for Line {
    fn default() -> Self {
        Self {
            bytes: [0; LINE_CAPACITY],
            len: 0,
            truncated: false,
        }
    }
}

impl Line {
    /// The text without the terminator.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The text with its NUL terminator, for `%s`.
    pub fn as_c_bytes(&self) -> &[u8] {
        &self.bytes[..=self.len]
    }

    fn finish(&mut self) {
        // Room is always kept for "...\n" and the terminator.
        if self.truncated {
            for &b in b"..." {
                self.bytes[self.len] = b;
                self.len += 1;
            }
        }
        self.bytes[self.len] = b'\n';
        self.len += 1;
        self.bytes[self.len] = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Keep 5 bytes for "...", '\n' and NUL.
        let limit = LINE_CAPACITY - 5;
        for &b in s.as_bytes() {
            if self.len >= limit {
                self.truncated = true;
                break;
            }
            // '%' is harmless (the text goes through "%s") but NUL would cut the line.
            self.bytes[self.len] = if b == 0 { b'?' } else { b };
            self.len += 1;
        }
        Ok(())
    }
}

/// Formats `<name>: <LEVEL>: <message>\n` into a [`Line`].
pub fn format_line(name: &str, level: Level, args: fmt::Arguments<'_>) -> Line {
    let mut line = Line::default();
    // `Line::write_str` never fails; a formatting error of a Display impl only cuts the line.
    let _ = write!(line, "{name}: {}: {args}", level.tag());
    line.finish();
    line
}

/// Whether a line of `level` would be written.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Writes one line at `level` (what the macros call).
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let line = format_line(driver_name(), level, args);
    emit(level, &line);
}

#[cfg(target_os = "windows")]
fn emit(level: Level, line: &Line) {
    // SAFETY: both strings are NUL-terminated and live for the call; "%s" consumes one pointer.
    unsafe {
        crate::wdm::DbgPrintEx(
            crate::wdm::DPFLTR_IHVDRIVER_ID,
            level.dpfltr_level(),
            c"%s".as_ptr().cast(),
            line.as_c_bytes().as_ptr(),
        )
    };
    crate::xen_debug::write(line.as_bytes());
}

#[cfg(not(target_os = "windows"))]
fn emit(_level: Level, _line: &Line) {
    // Host builds only test the formatting; nothing to print to.
}

/// Logs at [`Level::Error`].
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) };
}
/// Logs at [`Level::Warn`].
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) };
}
/// Logs at [`Level::Info`].
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) };
}
/// Logs at [`Level::Trace`].
#[macro_export]
macro_rules! trace {
    ($($arg:tt)*) => { $crate::log::write($crate::log::Level::Trace, format_args!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_has_name_level_text_newline_and_terminator() {
        let line = format_line("xenstub", Level::Info, format_args!("DriverEntry {}", 7));
        assert_eq!(line.as_bytes(), b"xenstub: INFO: DriverEntry 7\n");
        assert_eq!(line.as_c_bytes().last(), Some(&0));
    }

    #[test]
    fn long_line_is_cut_with_an_ellipsis_and_stays_terminated() {
        let long = [b'a'; 1000];
        let text = core::str::from_utf8(&long).unwrap();
        let line = format_line("x", Level::Error, format_args!("{text}"));
        let bytes = line.as_bytes();
        assert_eq!(bytes.len(), LINE_CAPACITY - 1);
        assert!(bytes.ends_with(b"aaa...\n"));
        assert_eq!(line.as_c_bytes()[LINE_CAPACITY - 1], 0);
    }

    #[test]
    fn embedded_nul_does_not_cut_the_line() {
        let line = format_line("x", Level::Warn, format_args!("a\0b"));
        assert_eq!(line.as_bytes(), b"x: WARN: a?b\n");
    }

    #[test]
    fn levels_filter_by_severity() {
        set_max_level(Level::Warn);
        assert!(enabled(Level::Error) && enabled(Level::Warn));
        assert!(!enabled(Level::Info) && !enabled(Level::Trace));
        set_max_level(Level::Info);
        assert!(enabled(Level::Info) && !enabled(Level::Trace));
    }

    #[test]
    fn driver_name_defaults_then_follows_the_setting() {
        static NAME_FOR_TEST: &str = "xenpci";
        set_driver_name(&NAME_FOR_TEST);
        assert_eq!(driver_name(), "xenpci");
    }
}
