//! Tests: the test plays Xen on a heap `shared_info` page.

use core::cell::RefCell;
use core::mem::{offset_of, size_of};
use core::sync::atomic::Ordering;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use xen_hal::fake::HeapPages;
use xen_hal::fake_hypervisor::{HypervisorCall, RecordingHypervisor};
use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor, Pfn, SharedMemory,
    VcpuId, XenError, XenVersion,
};
use xen_public_headers::xen::{shared_info, vcpu_info};

use crate::{EventChannels, EvtchnError, UpcallStats, MAX_UPCALL_ROUNDS};

const PENDING: usize = offset_of!(shared_info, evtchn_pending);
const MASK: usize = offset_of!(shared_info, evtchn_mask);

fn vcpu_base(vcpu: u32) -> usize {
    offset_of!(shared_info, vcpu_info) + vcpu as usize * size_of::<vcpu_info>()
}

/// Xen's side of the 2-level ABI on the page.
struct Xen {
    shared: SharedMemory,
}

impl Xen {
    fn word_bit(port: u32) -> (usize, u64) {
        ((port as usize / 64) * 8, 1 << (port % 64))
    }

    /// `evtchn_2l_set_pending`: pending bit; if newly pending and unmasked, selector and upcall.
    fn raise(&self, vcpu: u32, port: u32) {
        let (word, bit) = Self::word_bit(port);
        let was = self.shared.fetch_or_u64(PENDING + word, bit).unwrap();
        if was & bit != 0 {
            return;
        }
        self.mark(vcpu, port);
    }

    fn mark(&self, vcpu: u32, port: u32) {
        let (word, _) = Self::word_bit(port);
        if self.masked(port) {
            return;
        }
        let sel = 1u64 << (word / 8);
        let was = self
            .shared
            .fetch_or_u64(
                vcpu_base(vcpu) + offset_of!(vcpu_info, evtchn_pending_sel),
                sel,
            )
            .unwrap();
        if was & sel == 0 {
            self.shared
                .write_u8(
                    vcpu_base(vcpu) + offset_of!(vcpu_info, evtchn_upcall_pending),
                    1,
                )
                .unwrap();
        }
    }

    fn masked(&self, port: u32) -> bool {
        let (word, bit) = Self::word_bit(port);
        self.shared.load_u64(MASK + word, Ordering::SeqCst).unwrap() & bit != 0
    }

    fn pending(&self, port: u32) -> bool {
        let (word, bit) = Self::word_bit(port);
        self.shared
            .load_u64(PENDING + word, Ordering::SeqCst)
            .unwrap()
            & bit
            != 0
    }

    fn set_mask(&self, port: u32) {
        let (word, bit) = Self::word_bit(port);
        self.shared.fetch_or_u64(MASK + word, bit).unwrap();
    }

    /// `evtchn_2l_unmask`: clear the mask; if pending, re-raise on vCPU 0.
    fn unmask(&self, port: u32) {
        let (word, bit) = Self::word_bit(port);
        let was = self.shared.fetch_and_u64(MASK + word, !bit).unwrap();
        if was & bit != 0 && self.pending(port) {
            self.mark(0, port);
        }
    }

    fn upcall_pending(&self, vcpu: u32) -> u8 {
        self.shared
            .read_u8(vcpu_base(vcpu) + offset_of!(vcpu_info, evtchn_upcall_pending))
            .unwrap()
    }

    fn selector(&self, vcpu: u32) -> u64 {
        self.shared
            .load_u64(
                vcpu_base(vcpu) + offset_of!(vcpu_info, evtchn_pending_sel),
                Ordering::SeqCst,
            )
            .unwrap()
    }
}

/// The recording fake plus Xen's effect of `EVTCHNOP_unmask` on the page.
struct Hv {
    record: RecordingHypervisor,
    xen: Xen,
}

impl Hypervisor for Hv {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        self.record.xen_version()
    }
    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        self.record.hvm_get_param(index)
    }
    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        self.record.hvm_set_param(index, value)
    }
    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        self.record.add_to_physmap(space, idx, gpfn)
    }
    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        self.record.grant_table_query_size()
    }
    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        self.record.evtchn_alloc_unbound(remote)
    }
    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        self.record.evtchn_bind_interdomain(remote, remote_port)
    }
    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record.evtchn_send(port)
    }
    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record.evtchn_close(port)
    }
    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record.evtchn_unmask(port)?;
        self.xen.unmask(port.0);
        Ok(())
    }
    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        self.record.evtchn_bind_vcpu(port, vcpu)
    }
    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        self.record.evtchn_status(port)
    }
    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        self.record.sched_shutdown(reason)
    }
    fn sched_yield(&self) -> Result<(), XenError> {
        self.record.sched_yield()
    }
    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError> {
        self.record.sched_poll(ports, timeout_ns)
    }
}

std::thread_local! {
    /// (context, port) of every handler call on this test thread.
    static CALLS: RefCell<Vec<(usize, u32)>> = const { RefCell::new(Vec::new()) };
    /// Page a re-raising handler raises its port on again, and how often.
    static RERAISE: RefCell<Option<(SharedMemory, u32)>> = const { RefCell::new(None) };
}

extern "C" fn record(context: usize, port: u32) {
    CALLS.with(|c| c.borrow_mut().push((context, port)));
}

extern "C" fn reraise(context: usize, port: u32) {
    record(context, port);
    RERAISE.with(|r| {
        if let Some((shared, left)) = r.borrow_mut().as_mut() {
            if *left > 0 {
                *left -= 1;
                Xen { shared: *shared }.raise(0, port);
            }
        }
    });
}

fn take_calls() -> Vec<(usize, u32)> {
    CALLS.with(|c| core::mem::take(&mut *c.borrow_mut()))
}

struct Fixture {
    _page: HeapPages,
    hv: Hv,
    channels: EventChannels,
}

fn fixture(capacity: usize) -> Fixture {
    let page = HeapPages::new(1).unwrap();
    let shared = page.memory();
    let hv = Hv {
        record: RecordingHypervisor::new(),
        xen: Xen { shared },
    };
    let channels = EventChannels::new(shared, capacity).unwrap();
    take_calls();
    Fixture {
        _page: page,
        hv,
        channels,
    }
}

#[test]
fn alloc_unbound_returns_xens_port_masked() {
    let mut f = fixture(64);
    f.hv.record.set_next_port(17);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    assert_eq!(port, EventChannelPort(17));
    assert!(f.channels.is_open(port));
    assert_eq!(f.channels.is_masked(port), Ok(true));
    let peer = f
        .channels
        .bind_interdomain(&f.hv, DomainId(3), EventChannelPort(40))
        .unwrap();
    assert_eq!(peer, EventChannelPort(18));
    assert_eq!(
        f.hv.record.take_calls(),
        vec![
            HypervisorCall::EvtchnAllocUnbound {
                remote: DomainId(0)
            },
            HypervisorCall::EvtchnBindInterdomain {
                remote: DomainId(3),
                remote_port: EventChannelPort(40)
            },
        ]
    );
}

#[test]
fn events_dispatch_to_their_handler_once() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels
        .bind_handler(&f.hv, port, record, 0xC0FFEE)
        .unwrap();
    assert_eq!(f.channels.is_masked(port), Ok(false));
    f.hv.xen.raise(0, port.0);
    assert_eq!(f.hv.xen.upcall_pending(0), 1);
    let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(
        stats,
        UpcallStats {
            dispatched: 1,
            spurious: 0,
            last_spurious: None,
            rounds: 1,
            more_pending: false
        }
    );
    assert_eq!(take_calls(), vec![(0xC0FFEE, port.0)]);
    assert!(!f.hv.xen.pending(port.0));
    assert_eq!(f.hv.xen.upcall_pending(0), 0);
    assert_eq!(f.hv.xen.selector(0), 0);
    // Nothing signalled: nothing happens.
    assert_eq!(
        f.channels.handle_upcall(VcpuId(0)).unwrap(),
        UpcallStats::default()
    );
    assert!(take_calls().is_empty());
}

#[test]
fn an_event_before_bind_is_delivered_on_unmask() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.hv.xen.raise(0, port.0);
    // Masked: pending, but no upcall.
    assert_eq!(f.hv.xen.upcall_pending(0), 0);
    assert_eq!(f.channels.handle_upcall(VcpuId(0)).unwrap().dispatched, 0);
    f.channels.bind_handler(&f.hv, port, record, 1).unwrap();
    assert_eq!(f.hv.xen.upcall_pending(0), 1);
    assert_eq!(f.channels.handle_upcall(VcpuId(0)).unwrap().dispatched, 1);
    assert_eq!(take_calls(), vec![(1, port.0)]);
    assert!(f
        .hv
        .record
        .calls()
        .contains(&HypervisorCall::EvtchnUnmask { port }));
}

#[test]
fn masked_ports_stay_pending() {
    let mut f = fixture(256);
    let a = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    let b = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels.bind_handler(&f.hv, a, record, 10).unwrap();
    f.channels.bind_handler(&f.hv, b, record, 11).unwrap();
    f.channels.mask(b).unwrap();
    f.hv.xen.raise(0, a.0);
    // Another port in the same word raises nothing new, but is pending and masked.
    f.hv.xen.raise(0, b.0);
    let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(stats.dispatched, 1);
    assert_eq!(take_calls(), vec![(10, a.0)]);
    assert_eq!(f.channels.is_pending(b), Ok(true));
    f.channels.unmask(&f.hv, b).unwrap();
    assert_eq!(f.channels.handle_upcall(VcpuId(0)).unwrap().dispatched, 1);
    assert_eq!(take_calls(), vec![(11, b.0)]);
}

#[test]
fn ports_without_handler_are_spurious() {
    let f = fixture(256);
    f.hv.xen.raise(0, 200);
    f.hv.xen.raise(0, 3);
    let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(stats.dispatched, 0);
    assert_eq!(stats.spurious, 2);
    assert_eq!(stats.last_spurious, Some(EventChannelPort(200)));
    assert!(!f.hv.xen.pending(200) && !f.hv.xen.pending(3));
    // Past the table's capacity too: counted, cleared, no panic.
    let small = fixture(8);
    small.hv.xen.raise(0, 4095);
    let stats = small.channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!((stats.spurious, stats.dispatched), (1, 0));
    assert!(!small.hv.xen.pending(4095));
}

#[test]
fn an_event_during_the_handler_raises_again_and_loops_are_bounded() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels.bind_handler(&f.hv, port, reraise, 5).unwrap();
    // Re-raised twice from inside the handler: three dispatches, in three rounds.
    RERAISE.with(|r| *r.borrow_mut() = Some((f.hv.xen.shared, 2)));
    f.hv.xen.raise(0, port.0);
    let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!((stats.dispatched, stats.rounds), (3, 3));
    assert!(!stats.more_pending);
    take_calls();
    // A port that always fires again: the upcall stops after MAX_UPCALL_ROUNDS and says so.
    RERAISE.with(|r| *r.borrow_mut() = Some((f.hv.xen.shared, u32::MAX)));
    f.hv.xen.raise(0, port.0);
    let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
    RERAISE.with(|r| *r.borrow_mut() = None);
    assert_eq!(stats.dispatched, MAX_UPCALL_ROUNDS);
    assert!(stats.more_pending);
    assert!(f.hv.xen.pending(port.0));
    assert_eq!(take_calls().len(), MAX_UPCALL_ROUNDS as usize);
}

#[test]
fn upcalls_use_the_vcpus_own_vcpu_info() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels.bind_handler(&f.hv, port, record, 2).unwrap();
    // Xen raising the port on vCPU 3 (a port Xen bound there; ours cannot be moved, see
    // `only_vcpu_0_is_accepted_by_bind_vcpu`).
    f.hv.xen.raise(3, port.0);
    assert_eq!(f.channels.handle_upcall(VcpuId(0)).unwrap().dispatched, 0);
    assert_eq!(f.hv.xen.upcall_pending(3), 1);
    assert_eq!(f.channels.handle_upcall(VcpuId(3)).unwrap().dispatched, 1);
    assert_eq!(f.hv.xen.upcall_pending(3), 0);
    assert_eq!(
        f.channels.handle_upcall(VcpuId(32)),
        Err(EvtchnError::VcpuOutOfRange(VcpuId(32)))
    );
    assert_eq!(
        f.channels.bind_vcpu(&f.hv, port, VcpuId(40)),
        Err(EvtchnError::VcpuOutOfRange(VcpuId(40)))
    );
}

/// The callback interrupt fires for vCPU 0's upcall only and the platform scans only vCPU 0's
/// selector: a port moved to another vCPU would never be handled, so the move is refused
/// before the hypercall.
#[test]
fn only_vcpu_0_is_accepted_by_bind_vcpu() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels.bind_handler(&f.hv, port, record, 4).unwrap();
    for vcpu in [1, 3, 31] {
        assert_eq!(
            f.channels.bind_vcpu(&f.hv, port, VcpuId(vcpu)),
            Err(EvtchnError::VcpuNotServiced(VcpuId(vcpu)))
        );
    }
    f.channels.bind_vcpu(&f.hv, port, VcpuId(0)).unwrap();
    // No hypercall for the refused ones: only the vCPU 0 bind reached Xen.
    let binds: Vec<_> =
        f.hv.record
            .calls()
            .into_iter()
            .filter(|c| matches!(c, HypervisorCall::EvtchnBindVcpu { .. }))
            .collect();
    assert_eq!(
        binds,
        vec![HypervisorCall::EvtchnBindVcpu {
            port,
            vcpu: VcpuId(0)
        }]
    );
}

#[test]
fn close_unbind_and_errors() {
    let mut f = fixture(64);
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.channels.bind_handler(&f.hv, port, record, 7).unwrap();
    assert_eq!(
        f.channels.bind_handler(&f.hv, port, record, 8),
        Err(EvtchnError::AlreadyBound(port))
    );
    let binding = f.channels.unbind_handler(port).unwrap();
    assert_eq!(binding.context, 7);
    assert_eq!(f.channels.is_masked(port), Ok(true));
    assert_eq!(
        f.channels.unbind_handler(port).err(),
        Some(EvtchnError::NotBound(port))
    );
    f.channels.bind_handler(&f.hv, port, record, 9).unwrap();
    f.channels.notify(&f.hv, port).unwrap();
    f.hv.xen.raise(0, port.0);
    f.channels.close(&f.hv, port).unwrap();
    assert!(!f.channels.is_open(port));
    assert!(f.channels.handler(port).is_none());
    assert!(!f.hv.xen.pending(port.0));
    assert_eq!(f.hv.record.port_status(port), EventChannelStatus::Closed);
    assert_eq!(
        f.channels.close(&f.hv, port),
        Err(EvtchnError::NotOpen(port))
    );
    for bad in [0, 64, u32::MAX] {
        let bad = EventChannelPort(bad);
        assert_eq!(
            f.channels.bind_handler(&f.hv, bad, record, 0),
            Err(EvtchnError::PortOutOfRange(bad))
        );
        assert_eq!(f.channels.mask(bad), Err(EvtchnError::PortOutOfRange(bad)));
        assert_eq!(
            f.channels.notify(&f.hv, bad),
            Err(EvtchnError::PortOutOfRange(bad))
        );
        assert_eq!(
            f.channels.close(&f.hv, bad),
            Err(EvtchnError::PortOutOfRange(bad))
        );
    }
}

#[test]
fn failures_leave_consistent_state() {
    let mut f = fixture(64);
    // A port Xen hands out past the table's capacity is closed again.
    f.hv.record.set_next_port(100);
    assert_eq!(
        f.channels.alloc_unbound(&f.hv, DomainId(0)),
        Err(EvtchnError::PortOutOfRange(EventChannelPort(100)))
    );
    assert_eq!(
        f.hv.record.port_status(EventChannelPort(100)),
        EventChannelStatus::Closed
    );
    f.hv.record.set_next_port(5);
    f.hv.record.fail_next(XenError::ENOSPC);
    assert_eq!(
        f.channels.alloc_unbound(&f.hv, DomainId(0)),
        Err(EvtchnError::Hypervisor(XenError::ENOSPC))
    );
    let port = f.channels.alloc_unbound(&f.hv, DomainId(0)).unwrap();
    f.hv.record.fail_next(XenError::EINVAL);
    assert_eq!(
        f.channels.bind_handler(&f.hv, port, record, 1),
        Err(EvtchnError::Hypervisor(XenError::EINVAL))
    );
    assert!(f.channels.handler(port).is_none());
    f.hv.record.fail_next(XenError::EINVAL);
    assert_eq!(
        f.channels.close(&f.hv, port),
        Err(EvtchnError::Hypervisor(XenError::EINVAL))
    );
    assert!(f.channels.is_open(port));
    f.channels.close(&f.hv, port).unwrap();
    let tiny = HeapPages::new(1).unwrap();
    assert_eq!(
        EventChannels::new(tiny.memory().window(0, 1024).unwrap(), 8).err(),
        Some(EvtchnError::SharedInfoTooSmall)
    );
    assert_eq!(
        EventChannels::new(tiny.memory(), 4097).err(),
        Some(EvtchnError::CapacityTooLarge)
    );
}

#[test]
fn mask_all_masks_every_port() {
    let f = fixture(4096);
    f.channels.mask_all().unwrap();
    for port in [1u32, 63, 64, 4095] {
        assert_eq!(f.channels.is_masked(EventChannelPort(port)), Ok(true));
    }
    f.hv.xen.raise(0, 77);
    assert_eq!(f.hv.xen.upcall_pending(0), 0);
}

proptest! {
    /// Random pending and masked sets: exactly the pending, unmasked ports are dispatched, once
    /// each; their pending bits are cleared; masked ones stay pending.
    #[test]
    fn dispatches_exactly_pending_and_unmasked(
        pending in proptest::collection::btree_set(1u32..4096, 0..200),
        masked in proptest::collection::btree_set(1u32..4096, 0..200),
        bound_every in 1u32..4,
    ) {
        let mut f = fixture(4096);
        // Handlers on some ports; the rest are spurious when they fire.
        let mut bound = BTreeSet::new();
        for port in (1..4096).filter(|p| p % bound_every == 0) {
            f.hv.record.add_port(EventChannelPort(port), EventChannelStatus::Other { status: 5 });
            f.channels.bind_handler(&f.hv, EventChannelPort(port), record, port as usize).unwrap();
            bound.insert(port);
        }
        for &port in &masked {
            f.hv.xen.set_mask(port);
        }
        for &port in &pending {
            f.hv.xen.raise(0, port);
        }
        take_calls();
        let stats = f.channels.handle_upcall(VcpuId(0)).unwrap();
        let calls = take_calls();
        let expected: BTreeSet<u32> = pending.difference(&masked).copied().collect();
        let dispatched: Vec<u32> = calls.iter().map(|&(ctx, port)| {
            assert_eq!(ctx, port as usize);
            port
        }).collect();
        let unique: BTreeSet<u32> = dispatched.iter().copied().collect();
        prop_assert_eq!(unique.len(), dispatched.len(), "a port was dispatched twice");
        let expected_bound: BTreeSet<u32> = expected.intersection(&bound).copied().collect();
        prop_assert_eq!(&unique, &expected_bound);
        prop_assert_eq!(stats.dispatched as usize, expected_bound.len());
        prop_assert_eq!(stats.spurious as usize, expected.len() - expected_bound.len());
        prop_assert!(!stats.more_pending);
        for port in 1..4096 {
            let should_pend = pending.contains(&port) && masked.contains(&port);
            prop_assert_eq!(f.hv.xen.pending(port), should_pend, "port {}", port);
        }
        prop_assert_eq!(f.hv.xen.upcall_pending(0), 0);
        prop_assert_eq!(f.hv.xen.selector(0), 0);
    }
}
