//! Time: the TSC, calibrated once against channel 2 of the PIT.

use xen_hal::{Clock, Instant, PortIo};

use crate::platform;

/// PIT input clock in Hz.
const PIT_HZ: u64 = 1_193_182;
/// Calibration interval: 50 ms of PIT ticks (fits the 16-bit counter).
const CALIBRATION_TICKS: u16 = 59_659;
/// Polls of the PIT output before calibration gives up (bounds the loop if no PIT answers).
const MAX_POLLS: u64 = 50_000_000;

/// The calibrated TSC as a [`Clock`].
#[derive(Clone, Copy, Debug)]
pub struct TscClock {
    hz: u64,
    origin: u64,
}

/// Why calibration failed.
#[derive(Clone, Copy, Debug)]
pub enum CalibrationError {
    /// The PIT's channel 2 output never went high.
    NoPit,
    /// The TSC did not move.
    NoTsc,
}

impl TscClock {
    /// Measures the TSC frequency over 50 ms of PIT channel 2 (mode 0, gate through port 0x61).
    pub fn calibrate(io: &impl PortIo) -> Result<TscClock, CalibrationError> {
        let gate = io.read_u8(0x61);
        io.write_u8(0x61, (gate & !0x02) | 0x01); // gate on, speaker off
        io.write_u8(0x43, 0xb0); // channel 2, low then high byte, mode 0, binary
        let [low, high] = CALIBRATION_TICKS.to_le_bytes();
        io.write_u8(0x42, low);
        io.write_u8(0x42, high);
        let start = platform::rdtsc();
        let mut polls = 0u64;
        while io.read_u8(0x61) & 0x20 == 0 {
            polls += 1;
            if polls >= MAX_POLLS {
                io.write_u8(0x61, gate);
                return Err(CalibrationError::NoPit);
            }
        }
        let end = platform::rdtsc();
        io.write_u8(0x61, gate);
        let cycles = end.wrapping_sub(start);
        if cycles == 0 {
            return Err(CalibrationError::NoTsc);
        }
        let hz = u128::from(cycles) * u128::from(PIT_HZ) / u128::from(CALIBRATION_TICKS);
        Ok(TscClock {
            hz: u64::try_from(hz).unwrap_or(u64::MAX).max(1),
            origin: end,
        })
    }

    /// A clock assuming `hz` (used when calibration fails).
    pub fn assume(hz: u64) -> TscClock {
        TscClock {
            hz: hz.max(1),
            origin: platform::rdtsc(),
        }
    }

    /// The TSC frequency in Hz.
    pub fn hz(&self) -> u64 {
        self.hz
    }
}

impl Clock for TscClock {
    fn now(&self) -> Instant {
        let cycles = platform::rdtsc().wrapping_sub(self.origin);
        let ns = u128::from(cycles) * 1_000_000_000 / u128::from(self.hz);
        Instant(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    fn stall_us(&self, us: u32) {
        let deadline = self.now().after_ns(u64::from(us) * 1000);
        while self.now() < deadline {
            platform::relax();
        }
    }
}
