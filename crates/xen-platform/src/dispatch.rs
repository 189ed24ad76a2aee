//! Event dispatch in two phases, for OS glue that calls handlers with no lock held: scan
//! vCPU 0's 2-level pending bitmaps of `shared_info` and take the pending, unmasked ports
//! ([`collect_pending`], lock-free: only atomic operations on shared memory), then look each
//! port's handler up in the event-channel table under the OS's lock and call it after
//! releasing the lock. A handler may then call back into the table (notify, unbind) without
//! deadlocking on that lock. Semantics match `xen_evtchn::EventChannels::handle_upcall`:
//! `evtchn_upcall_pending` cleared, the selector taken, each pending bit cleared before its
//! handler runs (an event arriving meanwhile raises it again).
//!
//! [`service_upcall`] is both phases in one step for a service routine that dispatches at
//! interrupt time (the testbed guest): acknowledge, then collect and call handlers, bounded.

use core::mem::offset_of;
use core::sync::atomic::Ordering;

use xen_evtchn::HandlerBinding;
use xen_hal::{EventChannelPort, OutOfBounds, SharedMemory};
use xen_public_headers::xen::{shared_info, vcpu_info};

const PENDING: usize = offset_of!(shared_info, evtchn_pending);
const MASK: usize = offset_of!(shared_info, evtchn_mask);
const UPCALL_PENDING: usize = offset_of!(vcpu_info, evtchn_upcall_pending);
const PENDING_SEL: usize = offset_of!(vcpu_info, evtchn_pending_sel);
const BITS_PER_WORD: usize = 64;

/// What one [`collect_pending`] call found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Ports written to the output (pending bits already cleared).
    pub count: usize,
    /// Pending ports were left for another call (the output was full, or Xen raised more
    /// after the scan): run again.
    pub more: bool,
}

/// Takes up to `out.len()` pending, unmasked ports of vCPU 0 (see the module documentation).
/// Words of the selector that could not be scanned for lack of room are put back, so no event
/// is lost.
pub fn collect_pending(
    shared: SharedMemory,
    out: &mut [EventChannelPort],
) -> Result<Collected, OutOfBounds> {
    let mut collected = Collected::default();
    shared.swap_u8(UPCALL_PENDING, 0)?;
    let mut selector = shared.swap_u64(PENDING_SEL, 0)?;
    while selector != 0 {
        let word = selector.trailing_zeros() as usize;
        selector &= selector - 1;
        let offset = word * 8;
        let pending = shared.load_u64(PENDING + offset, Ordering::SeqCst)?;
        let mask = shared.load_u64(MASK + offset, Ordering::SeqCst)?;
        let mut ready = pending & !mask;
        while ready != 0 {
            if collected.count >= out.len() {
                // No room: give this word (and the rest of the selector) back to the next run.
                shared.fetch_or_u64(PENDING_SEL, (1u64 << word) | selector)?;
                collected.more = true;
                return Ok(collected);
            }
            let bit = ready.trailing_zeros() as usize;
            ready &= ready - 1;
            let flag = 1u64 << bit;
            let before = shared.fetch_and_u64(PENDING + offset, !flag)?;
            if before & flag == 0 {
                // Taken by another vCPU meanwhile.
                continue;
            }
            if let Some(slot) = out.get_mut(collected.count) {
                *slot = EventChannelPort((word * BITS_PER_WORD + bit) as u32);
                collected.count += 1;
            }
        }
    }
    collected.more = shared.read_u8(UPCALL_PENDING)? != 0
        || shared.load_u64(PENDING_SEL, Ordering::SeqCst)? != 0;
    Ok(collected)
}

/// Most [`collect_pending`] rounds one [`service_upcall`] runs before it leaves the rest for the
/// next interrupt (Xen raises the line again while events stay pending).
pub const MAX_SERVICE_ROUNDS: u32 = 16;

/// What one [`service_upcall`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// vCPU 0's `evtchn_upcall_pending` was set (the interrupt was ours); when clear nothing
    /// was scanned (a spurious interrupt, as a Windows ISR returning FALSE).
    pub acknowledged: bool,
    /// Collect rounds run.
    pub rounds: u32,
    /// Handlers called.
    pub dispatched: u32,
    /// Pending, unmasked ports `lookup` had no handler for (cleared and counted).
    pub unbound: u32,
    /// The last such port.
    pub last_unbound: Option<EventChannelPort>,
    /// Events were still pending after [`MAX_SERVICE_ROUNDS`] rounds (the upcall flag is then
    /// set again, so the line stays raised and the routine runs again after its EOI).
    pub more: bool,
}

/// The interrupt service routine of the callback interrupt in one step: acknowledges vCPU 0's
/// upcall ([`crate::acknowledge_upcall`]; the line drops once the routine signals end of
/// interrupt), then collects pending ports in batches of `batch.len()` ([`collect_pending`])
/// and calls each port's handler, looked up by `lookup` (which takes and releases the OS's
/// lock on the handler table; no lock is held while a handler runs). Bounded by
/// [`MAX_SERVICE_ROUNDS`]; an empty `batch` collects nothing.
pub fn service_upcall(
    shared_info: SharedMemory,
    batch: &mut [EventChannelPort],
    mut lookup: impl FnMut(EventChannelPort) -> Option<HandlerBinding>,
) -> Result<ServiceStats, OutOfBounds> {
    let mut stats = ServiceStats {
        acknowledged: crate::acknowledge_upcall(shared_info),
        ..ServiceStats::default()
    };
    if !stats.acknowledged || batch.is_empty() {
        return Ok(stats);
    }
    loop {
        let collected = collect_pending(shared_info, batch)?;
        stats.rounds += 1;
        for port in batch.iter().take(collected.count).copied() {
            match lookup(port) {
                Some(binding) => {
                    (binding.handler)(binding.context, port.0);
                    stats.dispatched = stats.dispatched.saturating_add(1);
                }
                None => {
                    stats.unbound = stats.unbound.saturating_add(1);
                    stats.last_unbound = Some(port);
                }
            }
        }
        if !collected.more {
            return Ok(stats);
        }
        if stats.rounds >= MAX_SERVICE_ROUNDS {
            // Raise the upcall flag again: Xen keeps the line asserted (the routine runs
            // again after its EOI), and a later scan takes the selector bits put back. With
            // the flag clear those bits would stay set, and Xen raises no upcall for a word
            // whose selector bit is already set: the rest would wait for an unrelated event.
            shared_info.write_u8(UPCALL_PENDING, 1)?;
            stats.more = true;
            return Ok(stats);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_hal::fake::HeapPages;

    fn raise(shared: SharedMemory, port: usize) {
        let word = port / 64;
        shared
            .fetch_or_u64(PENDING + word * 8, 1 << (port % 64))
            .unwrap();
        shared.fetch_or_u64(PENDING_SEL, 1 << word).unwrap();
        shared.write_u8(UPCALL_PENDING, 1).unwrap();
    }

    #[test]
    fn collects_unmasked_pending_ports_and_clears_them() {
        let pages = HeapPages::new(1).unwrap();
        let shared = pages.memory();
        for port in [3, 64, 130] {
            raise(shared, port);
        }
        // Port 64 masked: stays pending, not collected.
        shared.fetch_or_u64(MASK + 8, 1).unwrap();
        let mut out = [EventChannelPort(0); 8];
        let got = collect_pending(shared, &mut out).unwrap();
        assert_eq!(got.count, 2);
        assert!(!got.more);
        assert_eq!(&out[..2], &[EventChannelPort(3), EventChannelPort(130)]);
        assert_eq!(shared.load_u64(PENDING, Ordering::SeqCst), Ok(0));
        assert_eq!(shared.load_u64(PENDING + 8, Ordering::SeqCst), Ok(1));
        assert_eq!(shared.read_u8(UPCALL_PENDING), Ok(0));
        // Nothing new: nothing collected.
        assert_eq!(collect_pending(shared, &mut out).unwrap().count, 0);
    }

    #[test]
    fn a_full_output_puts_the_rest_back() {
        let pages = HeapPages::new(1).unwrap();
        let shared = pages.memory();
        for port in [1, 2, 3, 200] {
            raise(shared, port);
        }
        let mut out = [EventChannelPort(0); 2];
        let first = collect_pending(shared, &mut out).unwrap();
        assert_eq!(
            first,
            Collected {
                count: 2,
                more: true
            }
        );
        assert_eq!(out, [EventChannelPort(1), EventChannelPort(2)]);
        let second = collect_pending(shared, &mut out).unwrap();
        assert_eq!(second.count, 2);
        assert_eq!(out, [EventChannelPort(3), EventChannelPort(200)]);
        assert_eq!(collect_pending(shared, &mut out).unwrap().count, 0);
    }
    use core::sync::atomic::AtomicU32;

    /// Adds `port + 1` to the counter the context names (each test has its own counter, so
    /// tests running in parallel do not disturb each other).
    extern "C" fn record(context: usize, port: u32) {
        let seen = COUNTERS.get(context).expect("context indexes COUNTERS");
        seen.fetch_add(port + 1, Ordering::SeqCst);
    }

    static COUNTERS: [AtomicU32; 4] = [
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
        AtomicU32::new(0),
    ];

    fn binding(context: usize) -> HandlerBinding {
        HandlerBinding {
            handler: record,
            context,
        }
    }

    #[test]
    fn service_without_upcall_flag_scans_nothing() {
        let pages = HeapPages::new(1).unwrap();
        let shared = pages.memory();
        raise(shared, 5);
        shared.write_u8(UPCALL_PENDING, 0).unwrap();
        let mut batch = [EventChannelPort(0); 4];
        let stats = service_upcall(shared, &mut batch, |_| Some(binding(0))).unwrap();
        assert!(!stats.acknowledged);
        assert_eq!(stats.dispatched, 0);
        assert_eq!(COUNTERS[0].load(Ordering::SeqCst), 0);
        // The event stays pending for the interrupt Xen raises for it.
        assert_eq!(shared.load_u64(PENDING, Ordering::SeqCst), Ok(1 << 5));
    }

    #[test]
    fn service_acknowledges_and_dispatches_in_batches() {
        let pages = HeapPages::new(1).unwrap();
        let shared = pages.memory();
        for port in [1, 7, 70] {
            raise(shared, port);
        }
        // A batch of one: three rounds, each handler looked up and called once.
        let mut batch = [EventChannelPort(0); 1];
        let mut looked_up = alloc::vec::Vec::new();
        let stats = service_upcall(shared, &mut batch, |port| {
            looked_up.push(port.0);
            (port.0 != 7).then(|| binding(1))
        })
        .unwrap();
        assert!(stats.acknowledged);
        assert_eq!(looked_up, [1, 7, 70]);
        assert_eq!(stats.dispatched, 2);
        assert_eq!(stats.unbound, 1);
        assert_eq!(stats.last_unbound, Some(EventChannelPort(7)));
        assert_eq!(stats.rounds, 3);
        assert!(!stats.more);
        assert_eq!(COUNTERS[1].load(Ordering::SeqCst), (1 + 1) + (70 + 1));
        assert_eq!(shared.read_u8(UPCALL_PENDING), Ok(0));
        assert_eq!(shared.load_u64(PENDING, Ordering::SeqCst), Ok(0));
        assert_eq!(shared.load_u64(PENDING + 8, Ordering::SeqCst), Ok(0));
    }

    #[test]
    fn service_is_bounded_and_leaves_the_rest_pending() {
        let pages = HeapPages::new(1).unwrap();
        let shared = pages.memory();
        let ports = MAX_SERVICE_ROUNDS as usize + 3;
        for port in 0..ports {
            raise(shared, port);
        }
        let mut batch = [EventChannelPort(0); 1];
        let stats = service_upcall(shared, &mut batch, |_| Some(binding(2))).unwrap();
        assert_eq!(stats.rounds, MAX_SERVICE_ROUNDS);
        assert_eq!(stats.dispatched, MAX_SERVICE_ROUNDS);
        assert!(stats.more);
        // Nothing lost: the rest is still pending and selected, and the upcall flag is raised
        // again so the next interrupt (and its acknowledgement) comes.
        let rest = shared.load_u64(PENDING, Ordering::SeqCst).unwrap();
        assert_eq!(rest.count_ones(), 3);
        assert_ne!(shared.load_u64(PENDING_SEL, Ordering::SeqCst), Ok(0));
        assert_eq!(shared.read_u8(UPCALL_PENDING), Ok(1));
        let mut batch = [EventChannelPort(0); 8];
        let next = service_upcall(shared, &mut batch, |_| Some(binding(2))).unwrap();
        assert!(next.acknowledged);
        assert_eq!(next.dispatched, 3);
        assert!(!next.more);
        assert_eq!(shared.read_u8(UPCALL_PENDING), Ok(0));
    }
}
