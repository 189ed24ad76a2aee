//! Monotonic time, for bounding every wait on a peer.

/// A point on the OS's monotonic clock, in nanoseconds since an arbitrary origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// This instant plus `ns` nanoseconds (saturating).
    pub fn after_ns(self, ns: u64) -> Instant {
        Instant(self.0.saturating_add(ns))
    }

    /// This instant plus `ms` milliseconds (saturating).
    pub fn after_ms(self, ms: u64) -> Instant {
        self.after_ns(ms.saturating_mul(1_000_000))
    }
}

/// The OS clock, plus a way to wait briefly (for polling loops that must not spin hot).
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
    /// Waits about `us` microseconds (busy-wait or sleep, as the caller's IRQL allows).
    fn stall_us(&self, us: u32);
}
