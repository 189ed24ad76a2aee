//! Simulated time: a clock shared by the world and the guest's crates, which moves only when
//! a guest waits (so deadlines in the crates under test expire deterministically).

use std::cell::Cell;
use std::rc::Rc;

use xen_hal::{Clock, Instant};

/// A clock handle; clones share the same time.
#[derive(Clone, Default)]
pub struct SimClock {
    now: Rc<Cell<u64>>,
}

impl SimClock {
    /// A clock at time zero.
    pub fn new() -> SimClock {
        SimClock::default()
    }

    /// Moves time forward by `ns`.
    pub fn advance_ns(&self, ns: u64) {
        self.now.set(self.now.get().saturating_add(ns));
    }
}

impl Clock for SimClock {
    fn now(&self) -> Instant {
        Instant(self.now.get())
    }

    fn stall_us(&self, us: u32) {
        self.advance_ns(u64::from(us) * 1000);
    }
}
