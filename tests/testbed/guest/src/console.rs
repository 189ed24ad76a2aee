//! Output: COM1 (0x3F8, 115200 8N1) mirrored to the debug port 0xE9, one line per message,
//! each prefixed `TESTBED-GUEST: `.

use core::fmt::{self, Write};

#[cfg(test)]
extern crate std;
use core::sync::atomic::{AtomicU32, Ordering};

use xen_hal::PortIo;

use crate::platform::{Lock, Ports};
use crate::pvconsole::PvConsole;

const COM1: u16 = 0x3f8;
const DEBUG_PORT: u16 = 0xe9;
/// Line status register: transmitter holding register empty.
const LSR_THRE: u8 = 0x20;
/// Polls of the line status register before a byte is sent regardless.
const THRE_POLLS: u32 = 100_000;
/// Transmit FIFO depth of a 16550A: once THRE says the FIFO is empty, this many bytes fit.
const FIFO_DEPTH: u32 = 16;

/// Bytes that still fit in the transmit FIFO without asking the UART (each port access is a
/// round trip to the device model under Xen, so the status is read once per FIFO load).
static FIFO_CREDIT: AtomicU32 = AtomicU32::new(0);

/// Programs COM1 for 115200 baud, 8 data bits, no parity, one stop bit, FIFOs on.
pub fn init() {
    let io = Ports;
    io.write_u8(COM1 + 1, 0x00); // no interrupts
    io.write_u8(COM1 + 3, 0x80); // DLAB
    io.write_u8(COM1, 0x01); // divisor 1 = 115200
    io.write_u8(COM1 + 1, 0x00);
    io.write_u8(COM1 + 3, 0x03); // 8N1
    io.write_u8(COM1 + 2, 0xc7); // FIFO on, cleared
    io.write_u8(COM1 + 4, 0x03); // DTR, RTS
}

/// The console as a `fmt::Write` sink (no prefix, no newline).
pub struct Console;

impl Console {
    fn byte(&self, byte: u8) {
        let io = Ports;
        let credit = FIFO_CREDIT.load(Ordering::Relaxed);
        if credit == 0 {
            for _ in 0..THRE_POLLS {
                if io.read_u8(COM1 + 5) & LSR_THRE != 0 {
                    break;
                }
            }
            FIFO_CREDIT.store(FIFO_DEPTH - 1, Ordering::Relaxed);
        } else {
            FIFO_CREDIT.store(credit - 1, Ordering::Relaxed);
        }
        io.write_u8(COM1, byte);
        io.write_u8(DEBUG_PORT, byte);
    }
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for byte in s.bytes() {
            self.byte(byte);
        }
        Ok(())
    }
}

/// A writer that turns line breaks into spaces (for messages that must stay on one line).
pub struct OneLine<W: Write>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for part in s.split_inclusive(['\n', '\r']) {
            match part.strip_suffix(['\n', '\r']) {
                Some(text) => {
                    self.0.write_str(text)?;
                    self.0.write_str(" ")?;
                }
                None => self.0.write_str(part)?,
            }
        }
        Ok(())
    }
}

/// Longest line kept for the PV console (longer lines are cut there, not on COM1).
const LINE_MAX: usize = 512;
/// Lines printed before the PV console is up, replayed to it once it is (bytes).
const EARLY_MAX: usize = 2048;

/// A line being built, cut at `LINE_MAX` bytes.
pub struct LineBuffer {
    bytes: [u8; LINE_MAX],
    len: usize,
}

impl LineBuffer {
    /// An empty line.
    pub const fn new() -> Self {
        LineBuffer {
            bytes: [0; LINE_MAX],
            len: 0,
        }
    }

    /// Ends the line with a newline, cutting the text if the buffer is full.
    pub fn finish(&mut self) {
        if self.len == LINE_MAX {
            self.len -= 1;
        }
        let _ = self.write_str("\n");
    }

    /// The bytes so far.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

impl Default for LineBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl Write for LineBuffer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &byte in s.as_bytes() {
            if let Some(slot) = self.bytes.get_mut(self.len) {
                *slot = byte;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// The PV console once Xen is set up, and the lines printed before that.
static PV: Lock<Option<PvConsole>> = Lock::new(None);
static EARLY: Lock<([u8; EARLY_MAX], usize)> = Lock::new(([0; EARLY_MAX], 0));

/// Mirrors output to the PV console from now on, starting with the lines printed so far.
pub fn attach_pv_console(mut pv: PvConsole) {
    let _ = EARLY.with(|(bytes, len)| {
        pv.write(bytes.get(..*len).unwrap_or(&[]));
        *len = 0;
    });
    PV.with(|slot| *slot = Some(pv));
}

/// Sends a finished line (with its newline) to COM1, port 0xE9 and the PV console (or the
/// early buffer).
pub fn emit(line: &LineBuffer) {
    let console = Console;
    for &byte in line.as_bytes() {
        console.byte(byte);
    }
    let sent = PV
        .with(|slot| match slot {
            Some(pv) => {
                pv.write(line.as_bytes());
                true
            }
            None => false,
        })
        .unwrap_or(true);
    if !sent {
        let _ = EARLY.with(|(bytes, len)| {
            for &byte in line.as_bytes() {
                if let Some(slot) = bytes.get_mut(*len) {
                    *slot = byte;
                    *len += 1;
                }
            }
        });
    }
}

/// Prints one protocol line: `TESTBED-GUEST: <args>\n`.
pub fn line(args: fmt::Arguments<'_>) {
    let mut buffer = LineBuffer::new();
    let _ = buffer.write_str("TESTBED-GUEST: ");
    let _ = OneLine(&mut buffer).write_fmt(args);
    buffer.finish();
    emit(&buffer);
}

/// Prints `TESTBED-GUEST: <format>`.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::console::line(format_args!($($arg)*))
    };
}

/// Prints `TESTBED-GUEST: fact <key>=<value>`.
#[macro_export]
macro_rules! fact {
    ($key:expr, $($arg:tt)*) => {
        $crate::console::line(format_args!("fact {}={}", $key, format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::String;

    #[test]
    fn long_lines_are_cut_but_keep_their_newline() {
        let mut line = LineBuffer::new();
        for _ in 0..100 {
            line.write_str("0123456789").unwrap();
        }
        line.finish();
        assert_eq!(line.as_bytes().len(), LINE_MAX);
        assert_eq!(line.as_bytes().last(), Some(&b'\n'));
        let mut short = LineBuffer::new();
        short.write_str("PASS x").unwrap();
        short.finish();
        assert_eq!(short.as_bytes(), b"PASS x\n");
    }

    #[test]
    fn one_line_turns_breaks_into_spaces() {
        let mut out = String::new();
        write!(OneLine(&mut out), "panicked at x:\nmessage\r\nend {}", 1).unwrap();
        assert_eq!(out, "panicked at x: message  end 1");
    }
}
