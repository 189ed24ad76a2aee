//! Event channels (`xen-evtchn`) and grants (`xen-grant`) of a guest against the simulated
//! Xen, with dom0 on the other end: Xen's 2-level delivery (masking, unmask re-raise, close
//! seen by the peer), grant end-access refused while dom0 maps the page, and a table set up again
//! over the same frames that keeps what dom0 still maps.

use std::cell::RefCell;

use xen_evtchn::EventChannels;
use xen_grant::{EndAccess, GrantError, GrantTable};
use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, Hypervisor, OwnedPages, PhysicalMapper, VcpuId,
};
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xen_sim::World;

thread_local! {
    static SEEN: RefCell<Vec<(usize, u32)>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn seen(context: usize, port: u32) {
    SEEN.with(|s| s.borrow_mut().push((context, port)));
}

fn take_seen() -> Vec<(usize, u32)> {
    SEEN.with(|s| std::mem::take(&mut *s.borrow_mut()))
}

#[test]
fn events_from_dom0_reach_the_handler_through_shared_info() {
    let world = World::new();
    let guest = world.create_guest(3, "vm3");
    let hv = &guest.hypervisor;
    let memory = &*guest.memory;
    let shared = OwnedPages::new(memory, 1).unwrap();
    hv.add_to_physmap(XENMAPSPACE_shared_info, 0, shared.pfn())
        .unwrap();
    let mut channels = EventChannels::new(memory.map_frames(shared.pfn(), 1).unwrap(), 64).unwrap();
    channels.mask_all().unwrap();

    let port = channels.alloc_unbound(hv, DomainId::DOM0).unwrap();
    assert_eq!(
        hv.evtchn_status(port),
        Ok(EventChannelStatus::Unbound {
            remote: DomainId::DOM0
        })
    );
    let dom0_port = world
        .with_sim(|sim| {
            sim.hv
                .evtchn_bind_interdomain(DomainId::DOM0, DomainId(3), port)
        })
        .unwrap();
    // Binding raised dom0's own end (Xen does, so nothing sent before is lost), not ours.
    assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port)));
    assert!(!channels.is_pending(port).unwrap());
    // dom0 sends while the port is still masked: pending, but no upcall.
    world.with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port).unwrap());
    assert!(channels.is_pending(port).unwrap());
    assert!(!world.upcall_pending(DomainId(3)));
    // Binding the handler unmasks through Xen, which re-raises the pending event.
    channels.bind_handler(hv, port, seen, 42).unwrap();
    assert!(world.upcall_pending(DomainId(3)));
    let stats = channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(stats.dispatched, 1);
    assert_eq!(take_seen(), vec![(42, port.0)]);
    assert!(!world.upcall_pending(DomainId(3)));

    // dom0 sends twice before the guest looks: one event (pending is a bit).
    world.with_sim(|sim| {
        sim.hv.evtchn_send(DomainId::DOM0, dom0_port).unwrap();
        sim.hv.evtchn_send(DomainId::DOM0, dom0_port).unwrap();
    });
    channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(take_seen(), vec![(42, port.0)]);

    // Masked: the event waits; unmask delivers it.
    channels.mask(port).unwrap();
    world.with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port).unwrap());
    assert!(!world.upcall_pending(DomainId(3)));
    channels.handle_upcall(VcpuId(0)).unwrap();
    assert!(take_seen().is_empty());
    channels.unmask(hv, port).unwrap();
    channels.handle_upcall(VcpuId(0)).unwrap();
    assert_eq!(take_seen(), vec![(42, port.0)]);

    // Guest to dom0.
    channels.notify(hv, port).unwrap();
    assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port)));

    // dom0 closes: the guest's port is unbound again (remote dom0), sends are dropped.
    world.with_sim(|sim| sim.hv.evtchn_close(DomainId::DOM0, dom0_port).unwrap());
    assert_eq!(
        hv.evtchn_status(port),
        Ok(EventChannelStatus::Unbound {
            remote: DomainId::DOM0
        })
    );
    channels.notify(hv, port).unwrap();
    channels.close(hv, port).unwrap();
    assert_eq!(hv.evtchn_status(port), Ok(EventChannelStatus::Closed));
    // Ports Xen never handed out.
    assert!(channels.notify(hv, EventChannelPort(63)).is_err());
    assert!(hv.evtchn_send(EventChannelPort(4000)).is_err());
    assert!(world.violations().is_empty());
}

#[test]
fn grant_end_access_is_refused_while_dom0_maps_the_page() {
    let world = World::new();
    let guest = world.create_guest(3, "vm3");
    let hv = &guest.hypervisor;
    let memory = &*guest.memory;
    let frames = OwnedPages::new(memory, 2).unwrap();
    let pfns = [frames.pfn(), xen_hal::Pfn(frames.pfn().0 + 1)];
    let mut table = GrantTable::setup(hv, memory, &pfns).unwrap();
    assert_eq!(hv.grant_table_query_size().unwrap().nr_frames, 2);

    let page = OwnedPages::new(memory, 1).unwrap();
    page.memory().write_bytes(0, b"from the guest").unwrap();
    let gref = table
        .grant_access(DomainId::DOM0, page.pfn(), false)
        .unwrap();
    let ro = table
        .grant_access(DomainId::DOM0, page.pfn(), true)
        .unwrap();
    let (handle, text) = world.with_sim(|sim| {
        let handle = sim
            .hv
            .grant_map(DomainId::DOM0, DomainId(3), gref, false)
            .unwrap();
        let window = sim.hv.grant_memory(handle).unwrap();
        let mut text = [0u8; 14];
        window.read_bytes(0, &mut text).unwrap();
        window.write_bytes(0, b"FROM").unwrap();
        // Read-only grants cannot be mapped writable; another domain cannot map at all.
        assert!(sim
            .hv
            .grant_map(DomainId::DOM0, DomainId(3), ro, false)
            .is_err());
        (handle, text)
    });
    assert_eq!(&text, b"from the guest");
    let mut back = [0u8; 4];
    page.memory().read_bytes(0, &mut back).unwrap();
    assert_eq!(&back, b"FROM");

    assert_eq!(table.end_access(gref), Err(GrantError::StillInUse(gref)));
    assert_eq!(
        table.end_access_or_defer(gref).unwrap(),
        EndAccess::Deferred
    );
    assert_eq!(table.retry_deferred().deferred, 1);
    world.with_sim(|sim| sim.hv.grant_unmap(DomainId::DOM0, handle).unwrap());
    let summary = table.retry_deferred();
    assert_eq!((summary.freed, summary.deferred), (1, 0));
    table.end_access(ro).unwrap();
    assert_eq!(table.in_use(), 0);
    // Ended grants cannot be mapped.
    assert!(world
        .with_sim(|sim| sim.hv.grant_map(DomainId::DOM0, DomainId(3), gref, false))
        .is_err());
    assert_eq!(
        world.with_sim(|sim| sim.hv.granted_refs(DomainId(3))),
        vec![]
    );
}

#[test]
fn freeing_a_page_dom0_still_maps_is_a_recorded_violation() {
    let world = World::new();
    let guest = world.create_guest(3, "vm3");
    let hv = &guest.hypervisor;
    let memory = &*guest.memory;
    let frame = OwnedPages::new(memory, 1).unwrap();
    let mut table = GrantTable::setup(hv, memory, &[frame.pfn()]).unwrap();
    let page = OwnedPages::new(memory, 1).unwrap();
    let gref = table
        .grant_access(DomainId::DOM0, page.pfn(), false)
        .unwrap();
    let handle = world
        .with_sim(|sim| sim.hv.grant_map(DomainId::DOM0, DomainId(3), gref, false))
        .unwrap();
    drop(page);
    // dom0 finds the frame gone instead of touching freed memory.
    assert!(world.with_sim(|sim| sim.hv.grant_memory(handle)).is_err());
    assert_eq!(world.violations().len(), 1);
}

#[test]
fn a_grant_table_set_up_again_keeps_what_dom0_still_maps() {
    let world = World::new();
    let guest = world.create_guest(3, "vm3");
    let hv = &guest.hypervisor;
    let memory = &*guest.memory;
    let frame = OwnedPages::new(memory, 1).unwrap();
    let mut table = GrantTable::setup(hv, memory, &[frame.pfn()]).unwrap();
    let mapped_page = OwnedPages::new(memory, 1).unwrap();
    let mapped = table
        .grant_access(DomainId::DOM0, mapped_page.pfn(), false)
        .unwrap();
    let idle_page = OwnedPages::new(memory, 1).unwrap();
    let idle = table
        .grant_access(DomainId::DOM0, idle_page.pfn(), true)
        .unwrap();
    let handle = world
        .with_sim(|sim| sim.hv.grant_map(DomainId::DOM0, DomainId(3), mapped, false))
        .unwrap();
    // The platform comes up again in the same domain (xenpci disabled and enabled): a new
    // table over the same frames, the old bookkeeping gone.
    drop(table);
    let mut table = GrantTable::setup(hv, memory, &[frame.pfn()]).unwrap();
    assert_eq!(table.deferred_count(), 1);
    // The grant nobody maps was ended: dom0 can no longer map it.
    assert_eq!(
        world.with_sim(|sim| sim.hv.granted_refs(DomainId(3))),
        vec![mapped]
    );
    assert!(world
        .with_sim(|sim| sim.hv.grant_map(DomainId::DOM0, DomainId(3), idle, true))
        .is_err());
    // New grants never reuse the mapped reference, and its entry still names the page dom0
    // writes to.
    let other = OwnedPages::new(memory, 1).unwrap();
    let mut handed = Vec::new();
    while let Ok(r) = table.grant_access(DomainId::DOM0, other.pfn(), false) {
        handed.push(r);
    }
    assert!(!handed.contains(&mapped));
    let (flags, domid, entry_frame) = world
        .with_sim(|sim| sim.hv.grant_entry(DomainId(3), mapped))
        .unwrap();
    assert_ne!(flags & xen_public_headers::grant_table::GTF_writing, 0);
    assert_eq!((domid, u64::from(entry_frame)), (0, mapped_page.pfn().0));
    assert!(world.with_sim(|sim| sim.hv.grant_memory(handle)).is_ok());
    // dom0 lets go: the deferred reference is ended and free again.
    world
        .with_sim(|sim| sim.hv.grant_unmap(DomainId::DOM0, handle))
        .unwrap();
    assert_eq!(table.retry_deferred().freed, 1);
    assert_eq!(table.deferred_count(), 0);
    assert_eq!(
        table.grant_access(DomainId::DOM0, other.pfn(), false),
        Ok(mapped)
    );
    assert!(world.violations().is_empty());
}
