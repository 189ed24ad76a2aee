//! Negotiation checks and calls through the table against the simulated Xen.
#![allow(unsafe_code)]

extern crate std;

use alloc::boxed::Box;
use alloc::string::ToString;
use core::sync::atomic::{AtomicUsize, Ordering};

use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{DomainId, Hypervisor, Instant, OwnedPages, PhysicalMapper, VcpuId};
use xen_public_headers::hvm::params::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xen_sim::{GuestMemory, SimClock, SimHypervisor, World};
use xenstore::{Client, RingTransport};

use super::ffi::ChildInterface;
use super::shared::{PlatformAccess, PlatformServices};
use super::single::RefCellPlatform;
use super::*;

#[test]
fn provider_accepts_only_served_versions_and_sizes() {
    let size = CHILD_INTERFACE_V1_SIZE as u16;
    assert_eq!(provider_accept(size, 1), Ok(1));
    // A bigger buffer (a newer child's v1 request with padding) is fine.
    assert_eq!(provider_accept(size + 64, 1), Ok(1));
    let old = provider_accept(size, 0).unwrap_err();
    assert_eq!(
        old,
        InterfaceError::TooOld {
            requested: 0,
            oldest: 1
        }
    );
    assert!(old.to_string().contains("update the child driver"));
    let new = provider_accept(size, 2).unwrap_err();
    assert_eq!(
        new,
        InterfaceError::TooNew {
            requested: 2,
            newest: 1
        }
    );
    assert!(new.to_string().contains("update xenpci"));
    assert_eq!(new.status(), status::NOT_SUPPORTED);
    let small = provider_accept(size - 8, 1).unwrap_err();
    assert_eq!(
        small,
        InterfaceError::SizeMismatch {
            size: size - 8,
            needed: size
        }
    );
    assert_eq!(small.status(), status::INVALID_PARAMETER);
    assert!(provider_accept(0, u16::MAX).is_err());
}

#[test]
fn consumer_refuses_mismatched_answers() {
    // An unanswered request (a bus that ignored the IRP): no function to call.
    let unanswered = XenBusChildInterfaceV1::request();
    assert_eq!(
        consumer_check(&unanswered, 1),
        Err(InterfaceError::MissingFunction("InterfaceReference"))
    );
    let services = NoServices;
    let context = ChildContext::new(
        &services,
        "device/vbd/768".to_string(),
        "/b".to_string(),
        DomainId(0),
    );
    let mut table = XenBusChildInterfaceV1::request();
    context.fill(&mut table);
    assert_eq!(consumer_check(&table, 1), Ok(()));
    // A newer bus answering version 2 to a version-1 child, or a foreign size.
    let mut newer = table;
    newer.version = 2;
    let e = consumer_check(&newer, 1).unwrap_err();
    assert_eq!(
        e,
        InterfaceError::VersionMismatch {
            requested: 1,
            answered: 2
        }
    );
    assert!(e.to_string().contains("different releases"));
    let mut short = table;
    short.size -= 8;
    assert!(matches!(
        consumer_check(&short, 1),
        Err(InterfaceError::SizeMismatch { .. })
    ));
    let mut holey = table;
    holey.grant_end = None;
    assert_eq!(
        consumer_check(&holey, 1),
        Err(InterfaceError::MissingFunction("grant_end"))
    );
    // A child asking for a version this crate does not know.
    assert!(matches!(
        consumer_check(&table, 9),
        Err(InterfaceError::VersionMismatch { .. })
    ));
}

#[test]
fn thunks_refuse_bad_arguments() {
    let services = NoServices;
    let context = ChildContext::new(
        &services,
        "device/vif/0".to_string(),
        "/b".to_string(),
        DomainId(0),
    );
    let mut table = XenBusChildInterfaceV1::request();
    context.fill(&mut table);
    let read = table.store_read.unwrap();
    let mut len = 0usize;
    let mut buf = [0u8; 4];
    // SAFETY: a null path with a length: the thunk must refuse it without reading.
    let s = unsafe {
        read(
            table.context,
            0,
            core::ptr::null(),
            5,
            buf.as_mut_ptr(),
            4,
            &mut len,
        )
    };
    assert_eq!(s, status::INVALID_PARAMETER);
    // SAFETY: a null context: refused.
    let s = unsafe {
        read(
            core::ptr::null_mut(),
            0,
            b"x".as_ptr(),
            1,
            buf.as_mut_ptr(),
            4,
            &mut len,
        )
    };
    assert_eq!(s, status::INVALID_PARAMETER);
    let path = table.own_path.unwrap();
    // SAFETY: valid buffer of 4 bytes, the path is longer: BUFFER_TOO_SMALL with the length.
    let s = unsafe { path(table.context, buf.as_mut_ptr(), buf.len(), &mut len) };
    assert_eq!((s, len), (status::BUFFER_TOO_SMALL, "device/vif/0".len()));
    // SAFETY: an over-long path length is refused before any read.
    let s = unsafe {
        read(
            table.context,
            0,
            b"x".as_ptr(),
            ffi::MAX_PATH_LEN + 1,
            buf.as_mut_ptr(),
            4,
            &mut len,
        )
    };
    assert_eq!(s, status::INVALID_PARAMETER);
    // References balance and never wrap.
    assert_eq!(context.references(), 1);
    let deref = table.interface_dereference.unwrap();
    // SAFETY: the context is alive.
    unsafe { deref(table.context) };
    // SAFETY: as above; one dereference too many.
    unsafe { deref(table.context) };
    assert_eq!(context.references(), 0);
}

/// Services that refuse everything (for tests of the table mechanics).
struct NoServices;

impl BusServices for NoServices {
    fn store_read(&self, _: u32, _: &str) -> Result<Vec<u8>, ServiceError> {
        Err(ServiceError::NotFound)
    }
    fn store_write(&self, _: u32, _: &str, _: &[u8]) -> Result<(), ServiceError> {
        Err(ServiceError::Denied)
    }
    fn transaction_start(&self) -> Result<u32, ServiceError> {
        Err(ServiceError::Failed)
    }
    fn transaction_end(&self, _: u32, _: bool) -> Result<(), ServiceError> {
        Err(ServiceError::Failed)
    }
    fn store_watch(&self, _: &str, _: WatchCallback, _: usize) -> Result<u32, ServiceError> {
        Err(ServiceError::Failed)
    }
    fn store_unwatch(&self, _: u32) -> Result<(), ServiceError> {
        Err(ServiceError::Failed)
    }
    fn grant_access(&self, _: DomainId, _: Pfn, _: bool) -> Result<GrantRef, ServiceError> {
        Err(ServiceError::NoResources)
    }
    fn grant_end(&self, _: GrantRef) -> Result<(), ServiceError> {
        Err(ServiceError::InvalidParameter)
    }
    fn evtchn_bind(
        &self,
        _: DomainId,
        _: EventHandler,
        _: usize,
    ) -> Result<EventChannelPort, ServiceError> {
        Err(ServiceError::NoResources)
    }
    fn evtchn_notify(&self, _: EventChannelPort) -> Result<(), ServiceError> {
        Err(ServiceError::InvalidParameter)
    }
    fn evtchn_unbind(&self, _: EventChannelPort) -> Result<(), ServiceError> {
        Err(ServiceError::InvalidParameter)
    }
    fn own_domid(&self) -> DomainId {
        DomainId(7)
    }
}

static WATCH_CALLS: AtomicUsize = AtomicUsize::new(0);
static EVENT_CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_watch(context: usize, _handle: u32) {
    assert_eq!(context, 0x5eed);
    WATCH_CALLS.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_event(context: usize, _port: u32) {
    assert_eq!(context, 0xe7);
    EVENT_CALLS.fetch_add(1, Ordering::SeqCst);
}

type Store = Client<RingTransport<SimHypervisor>, SimClock, Box<dyn FnMut(Instant)>>;

#[test]
fn calls_through_the_table_reach_the_simulated_xen() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let memory_rc = guest.memory.clone();
    let memory: &GuestMemory = &memory_rc;
    let hv = guest.hypervisor.clone();
    let shared_info = OwnedPages::new(memory, 1).unwrap();
    hv.add_to_physmap(XENMAPSPACE_shared_info, 0, shared_info.pfn())
        .unwrap();
    let channels =
        EventChannels::new(memory.map_frames(shared_info.pfn(), 1).unwrap(), 64).unwrap();
    channels.mask_all().unwrap();
    let table_page = OwnedPages::new(memory, 1).unwrap();
    let grants = GrantTable::setup(&hv, memory, &[table_page.pfn()]).unwrap();
    let pfn = xen_hal::Pfn(hv.hvm_get_param(HVM_PARAM_STORE_PFN).unwrap());
    let port = EventChannelPort(hv.hvm_get_param(HVM_PARAM_STORE_EVTCHN).unwrap() as u32);
    let transport =
        RingTransport::new(memory.map_frames(pfn, 1).unwrap(), hv.clone(), port).unwrap();
    let mut store: Store = Client::new(
        transport,
        world.clock(),
        Box::new(world.waiter()) as Box<dyn FnMut(Instant)>,
    )
    .unwrap();
    store.set_timeout_ms(50);
    let services = PlatformServices::new(RefCellPlatform::new(
        hv.clone(),
        store,
        grants,
        channels,
        DomainId(5),
    ));

    let (paths, _blkback) = world.attach_vbd(5, 768, 16);
    world.run_until_idle().unwrap();
    let context = ChildContext::new(
        &services,
        "device/vbd/768".to_string(),
        paths.backend.clone(),
        DomainId(0),
    );

    // The IRP's round trip: the child's request, the bus's check and fill, the child's check.
    let mut table = XenBusChildInterfaceV1::request();
    let version = provider_accept(table.size, table.version).unwrap();
    assert_eq!(version, 1);
    context.fill(&mut table);
    // SAFETY: the table was filled by `context`, which outlives `child` in this test.
    let child = unsafe { ChildInterface::new(&table, 1) }.unwrap();

    assert_eq!(child.own_path().unwrap(), "device/vbd/768");
    assert_eq!(child.backend_path().unwrap(), paths.backend);
    assert_eq!(child.backend_domid().unwrap(), DomainId(0));
    assert_eq!(child.own_domid().unwrap(), DomainId(5));

    // xenstore.
    assert_eq!(
        child.read(0, "device/vbd/768/backend").unwrap(),
        paths.backend.as_bytes()
    );
    assert_eq!(
        child.read(0, "device/vbd/768/nonexistent"),
        Err(ServiceError::NotFound)
    );
    child.write(0, "device/vbd/768/state", b"3").unwrap();
    assert_eq!(
        world
            .xs_read_string(&alloc::format!("{}/state", paths.frontend))
            .unwrap(),
        "3"
    );
    let tx = child.transaction_start().unwrap();
    assert_ne!(tx, 0);
    child.write(tx, "device/vbd/768/ring-ref", b"9").unwrap();
    assert_eq!(child.read(tx, "device/vbd/768/ring-ref").unwrap(), b"9");
    child.transaction_end(tx, true).unwrap();
    assert_eq!(
        world
            .xs_read_string(&alloc::format!("{}/ring-ref", paths.frontend))
            .unwrap(),
        "9"
    );
    // Writing into the backend's directory is refused by xenstored's permissions.
    assert_eq!(
        child.write(0, &alloc::format!("{}/state", paths.backend), b"6"),
        Err(ServiceError::Denied)
    );

    // Watches: the registration fires once (as xenstored does), then on each change.
    let state_path = alloc::format!("{}/state", paths.backend);
    let handle = child.watch(&state_path, on_watch, 0x5eed).unwrap();
    world.run_until_idle().unwrap();
    services.platform().poll_store().unwrap();
    services.dispatch_watch_events(16).unwrap();
    let before = WATCH_CALLS.load(Ordering::SeqCst);
    assert!(before >= 1);
    world.xs_write(&state_path, b"4").unwrap();
    world.run_until_idle().unwrap();
    services.platform().poll_store().unwrap();
    assert_eq!(services.dispatch_watch_events(16).unwrap().calls, 1);
    assert_eq!(WATCH_CALLS.load(Ordering::SeqCst), before + 1);
    child.unwatch(handle).unwrap();
    world.xs_write(&state_path, b"5").unwrap();
    world.run_until_idle().unwrap();
    services.platform().poll_store().unwrap();
    assert_eq!(services.dispatch_watch_events(16).unwrap().calls, 0);
    assert_eq!(child.unwatch(handle), Err(ServiceError::InvalidParameter));

    // Grants: the entry Xen reads says what the child asked for, and ending clears it.
    let page = OwnedPages::new(memory, 1).unwrap();
    let r = child.grant_access(DomainId(0), page.pfn(), true).unwrap();
    let (flags, domid, frame) = world
        .with_sim(|sim| sim.hv.grant_entry(DomainId(5), r))
        .unwrap();
    assert_eq!(domid, 0);
    assert_eq!(u64::from(frame), page.pfn().0);
    assert_ne!(
        flags & xen_public_headers::grant_table::GTF_permit_access,
        0
    );
    assert_ne!(flags & xen_public_headers::grant_table::GTF_readonly, 0);
    child.grant_end(r).unwrap();
    let (flags, _, _) = world
        .with_sim(|sim| sim.hv.grant_entry(DomainId(5), r))
        .unwrap();
    assert_eq!(flags, 0);
    assert_eq!(child.grant_end(r), Err(ServiceError::InvalidParameter));

    // Event channels: dom0 binds to the child's port; its send reaches the child's handler
    // through the guest's upcall, and the child's notify reaches dom0.
    let port = child.evtchn_bind(DomainId(0), on_event, 0xe7).unwrap();
    let dom0_port = world
        .with_sim(|sim| {
            sim.hv
                .evtchn_bind_interdomain(DomainId(0), DomainId(5), port)
        })
        .unwrap();
    world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId(0), dom0_port));
    world
        .with_sim(|sim| sim.hv.evtchn_send(DomainId(0), dom0_port))
        .unwrap();
    services
        .platform()
        .channels()
        .borrow()
        .handle_upcall(VcpuId(0))
        .unwrap();
    assert!(EVENT_CALLS.load(Ordering::SeqCst) >= 1);
    child.evtchn_notify(port).unwrap();
    assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId(0), dom0_port)));
    // Re-entry while the store is held (a callback running under the lock) is refused, never
    // a panic or a deadlock.
    let nested = services
        .platform()
        .with_store(|_, _| services.store_read(0, "domid"))
        .unwrap();
    assert_eq!(nested, Err(ServiceError::Failed));
    let nested = services
        .platform()
        .with_events(|_| services.evtchn_bind(DomainId(0), on_event, 0xe7))
        .unwrap();
    assert_eq!(nested, Err(ServiceError::Failed));
    // Notify takes no lock: a handler running under the event table's lock may notify.
    let nested = services
        .platform()
        .with_events(|_| services.evtchn_notify(port))
        .unwrap();
    assert_eq!(nested, Ok(()));
    assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId(0), dom0_port)));

    child.evtchn_unbind(port).unwrap();
    assert!(child.evtchn_notify(port).is_err());

    // References: one from the fill, one more, both dropped.
    child.reference();
    assert_eq!(context.references(), 2);
    child.dereference();
    child.dereference();
    assert_eq!(context.references(), 0);
    drop(page);
    drop(table_page);
    drop(shared_info);
}
