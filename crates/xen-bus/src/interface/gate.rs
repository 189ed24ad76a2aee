//! [`DispatchGate`]: one dispatcher at a time for a kind of callback (event handlers, watch
//! callbacks), and the key whose callback it is calling, so an unbinder can wait for that call
//! to return.
//!
//! The dispatcher protocol:
//! 1. [`DispatchGate::try_enter`]; if another dispatcher is running, it is asked for one more
//!    pass (which takes whatever the caller would have taken) and the caller leaves.
//! 2. Per callback: look the binding up under the table's lock and, still under that lock,
//!    [`DispatchGate::begin_call`]; call it with no lock held; [`DispatchGate::end_call`].
//! 3. [`DispatchGate::finish_pass`]: another pass if one was asked for, else the gate is free.
//!    A dispatcher out of budget calls [`DispatchGate::leave`] and schedules another run.
//!
//! The unbinder removes the binding under the same lock, then waits while
//! [`DispatchGate::must_wait`]: a call that began before the removal is running, on another
//! thread or CPU. No call begins after the removal (the lookup finds nothing). A callback that
//! unbinds its own key is not waited for (it is the call), so that does not deadlock.

use core::sync::atomic::{AtomicU32, AtomicU8, AtomicUsize, Ordering};

/// A dispatcher holds the gate.
const RUNNING: u8 = 1;
/// Someone asked the dispatcher for another pass.
const AGAIN: u8 = 2;

/// See the module documentation.
#[derive(Debug, Default)]
pub struct DispatchGate {
    state: AtomicU8,
    /// The key whose callback is running (0: none; ports and watch handles are never 0).
    calling: AtomicU32,
    /// The context (thread) that runs it.
    caller: AtomicUsize,
}

impl DispatchGate {
    /// A free gate.
    pub const fn new() -> Self {
        DispatchGate {
            state: AtomicU8::new(0),
            calling: AtomicU32::new(0),
            caller: AtomicUsize::new(0),
        }
    }

    /// Takes the gate; `false` if another dispatcher holds it (it is asked for another pass).
    pub fn try_enter(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (next, entered) = if state & RUNNING == 0 {
                (RUNNING, true)
            } else {
                (RUNNING | AGAIN, false)
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return entered,
                Err(now) => state = now,
            }
        }
    }

    /// Ends a pass: `true` if another was asked for (the caller still holds the gate and runs
    /// it), `false` if the gate is free again.
    pub fn finish_pass(&self) -> bool {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (next, again) = if state & AGAIN != 0 {
                (RUNNING, true)
            } else {
                (0, false)
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return again,
                Err(now) => state = now,
            }
        }
    }

    /// Frees the gate whatever was asked (a dispatcher out of budget, which schedules another
    /// run itself).
    pub fn leave(&self) {
        self.state.store(0, Ordering::Release);
    }

    /// The dispatcher, under the table's lock, right after finding `key`'s binding: its call
    /// begins, in the context `caller` ([`super::shared::PlatformAccess::context_id`]).
    pub fn begin_call(&self, key: u32, caller: usize) {
        self.caller.store(caller, Ordering::Relaxed);
        self.calling.store(key, Ordering::SeqCst);
    }

    /// The dispatcher: the call has returned.
    pub fn end_call(&self) {
        self.calling.store(0, Ordering::SeqCst);
    }

    /// The unbinder of `key`, after removing the binding under the table's lock: whether it
    /// must still wait, i.e. `key`'s callback is running in a context other than `me`.
    pub fn must_wait(&self, key: u32, me: usize) -> bool {
        key != 0
            && self.calling.load(Ordering::SeqCst) == key
            && self.caller.load(Ordering::Relaxed) != me
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_dispatcher_and_asked_passes_are_run() {
        let gate = DispatchGate::new();
        assert!(gate.try_enter());
        // A second dispatcher is turned away and asks for a pass.
        assert!(!gate.try_enter());
        assert!(!gate.try_enter());
        assert!(gate.finish_pass());
        assert!(!gate.finish_pass());
        assert!(gate.try_enter());
        assert!(!gate.try_enter());
        gate.leave();
        assert!(gate.try_enter());
    }

    #[test]
    fn unbinders_wait_only_for_the_call_of_their_key_elsewhere() {
        let gate = DispatchGate::new();
        assert!(!gate.must_wait(5, 1));
        gate.begin_call(5, 1);
        assert!(gate.must_wait(5, 2));
        // The callback itself unbinding: not waited for.
        assert!(!gate.must_wait(5, 1));
        assert!(!gate.must_wait(6, 2));
        gate.end_call();
        assert!(!gate.must_wait(5, 2));
    }
}
