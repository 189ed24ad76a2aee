//! Output: COM1 (0x3F8, 115200 8N1) mirrored to the debug port 0xE9, one line per message,
//! each prefixed `TESTBED-GUEST: `.

use core::fmt::{self, Write};

#[cfg(test)]
extern crate std;
use core::sync::atomic::{AtomicU32, Ordering};

use xen_hal::PortIo;

use crate::platform::Ports;

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

/// Prints one protocol line: `TESTBED-GUEST: <args>\n`.
pub fn line(args: fmt::Arguments<'_>) {
    let mut console = Console;
    let _ = console.write_str("TESTBED-GUEST: ");
    let _ = OneLine(&mut console).write_fmt(args);
    let _ = console.write_str("\n");
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
    fn one_line_turns_breaks_into_spaces() {
        let mut out = String::new();
        write!(OneLine(&mut out), "panicked at x:\nmessage\r\nend {}", 1).unwrap();
        assert_eq!(out, "panicked at x: message  end 1");
    }
}
