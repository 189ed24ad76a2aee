//! Event dispatch in two phases, for OS glue that calls handlers with no lock held: scan
//! vCPU 0's 2-level pending bitmaps of `shared_info` and take the pending, unmasked ports
//! ([`collect_pending`], lock-free: only atomic operations on shared memory), then look each
//! port's handler up in the event-channel table under the OS's lock and call it after
//! releasing the lock. A handler may then call back into the table (notify, unbind) without
//! deadlocking on that lock. Semantics match `xen_evtchn::EventChannels::handle_upcall`:
//! `evtchn_upcall_pending` cleared, the selector taken, each pending bit cleared before its
//! handler runs (an event arriving meanwhile raises it again).

use core::mem::offset_of;
use core::sync::atomic::Ordering;

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
}
