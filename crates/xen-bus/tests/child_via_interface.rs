//! A child driver's view, against the simulated Xen: the bus finds a hot-plugged vbd, serves
//! it the child interface, and a frontend that only uses the interface table (xenstore,
//! transaction, grant, event channel) completes the xenbus handshake with blkback, then closes
//! on `xl block-detach` without leaking a grant mapping or a port; the bus then reports the
//! child removed.

use std::sync::atomic::{AtomicUsize, Ordering};

use xen_bus::hotplug::{ChildSet, HotplugAction};
use xen_bus::interface::ffi::ChildInterface;
use xen_bus::interface::shared::{PlatformAccess, PlatformServices};
use xen_bus::interface::single::RefCellPlatform;
use xen_bus::interface::{provider_accept, ChildContext, ServiceError, XenBusChildInterfaceV1};
use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{DomainId, EventChannelPort, Hypervisor, Instant, OwnedPages, Pfn, PhysicalMapper};
use xen_public_headers::hvm::params::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use xen_public_headers::io::blkif::{blkif_request, blkif_response};
use xen_public_headers::io::protocols::XEN_IO_PROTO_ABI_NATIVE;
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xen_ring::FrontRing;
use xen_sim::{GuestMemory, World};
use xenstore::{Client, RingTransport};

static EVENTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_event(_context: usize, _port: u32) {
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// Reads a state node through the interface (missing → 0).
fn state(child: &ChildInterface<'_>, dir: &str) -> u32 {
    match child.read(0, &format!("{dir}/state")) {
        Ok(v) => std::str::from_utf8(&v)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(99),
        Err(ServiceError::NotFound) => 0,
        Err(e) => panic!("state read: {e:?}"),
    }
}

#[test]
fn a_frontend_using_only_the_table_connects_and_detaches() {
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
    let pfn = Pfn(hv.hvm_get_param(HVM_PARAM_STORE_PFN).unwrap());
    let port = EventChannelPort(hv.hvm_get_param(HVM_PARAM_STORE_EVTCHN).unwrap() as u32);
    let transport =
        RingTransport::new(memory.map_frames(pfn, 1).unwrap(), hv.clone(), port).unwrap();
    let mut store = Client::new(
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

    // The bus: boot scan (nothing), then xl block-attach.
    let mut children = ChildSet::new();
    let scan = |set: &mut ChildSet| {
        services
            .platform()
            .with_store(|c, _| set.scan(c, "device", Some(DomainId(5))))
            .unwrap()
            .unwrap()
    };
    assert!(scan(&mut children).is_empty());
    let (paths, blkback) = world.attach_vbd(5, 51712, 64);
    world.run_until_idle().unwrap();
    let added = scan(&mut children);
    let [HotplugAction::Added(child)] = &added[..] else {
        panic!("{added:?}");
    };
    assert!(child.hot_plugged);
    let backend = services
        .platform()
        .with_store(|c, _| xenbus::read_backend(c, &child.device, Some(DomainId(5))))
        .unwrap()
        .unwrap();

    // IRP_MN_QUERY_INTERFACE: the bus checks and fills the child's table.
    let context = ChildContext::new(
        &services,
        child.device.dir().unwrap(),
        backend.path,
        backend.id,
    );
    let mut table = XenBusChildInterfaceV1::request();
    provider_accept(table.size, table.version).unwrap();
    context.fill(&mut table);
    // SAFETY: filled by `context`, which outlives `child_if`.
    let child_if = unsafe { ChildInterface::new(&table, 1) }.unwrap();

    // The frontend, through the table only.
    let own = child_if.own_path().unwrap();
    let back = child_if.backend_path().unwrap();
    let back_id = child_if.backend_domid().unwrap();
    assert_eq!(own, "device/vbd/51712");
    assert_eq!(state(&child_if, &back), 2, "blkback waits in InitWait");
    let ring_page = OwnedPages::new(memory, 1).unwrap();
    let _ring = FrontRing::<blkif_request, blkif_response>::init(ring_page.memory()).unwrap();
    let ring_ref = child_if
        .grant_access(back_id, ring_page.pfn(), false)
        .unwrap();
    let port = child_if.evtchn_bind(back_id, on_event, 7).unwrap();
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(attempts < 5, "transaction never committed");
        let tx = child_if.transaction_start().unwrap();
        let writes = [
            ("ring-ref", ring_ref.0.to_string()),
            ("event-channel", port.0.to_string()),
            ("protocol", XEN_IO_PROTO_ABI_NATIVE.to_string()),
            ("state", "3".to_string()),
        ];
        for (key, value) in &writes {
            child_if
                .write(tx, &format!("{own}/{key}"), value.as_bytes())
                .unwrap();
        }
        match child_if.transaction_end(tx, true) {
            Ok(()) => break,
            Err(ServiceError::Retry) => continue,
            Err(e) => panic!("commit: {e:?}"),
        }
    }
    world.run_until_idle().unwrap();
    assert_eq!(state(&child_if, &back), 4, "blkback connected");
    assert!(blkback.borrow().is_connected());
    child_if.write(0, &format!("{own}/state"), b"4").unwrap();
    child_if.evtchn_notify(port).unwrap();
    world.run_until_idle().unwrap();

    // xl block-detach: the backend closes, the frontend closes and releases everything.
    world.detach_vbd(&paths).unwrap();
    world.run_until_idle().unwrap();
    assert_eq!(state(&child_if, &back), 5, "blkback closing");
    child_if.write(0, &format!("{own}/state"), b"6").unwrap();
    world.run_until_idle().unwrap();
    // Both Closed: the toolstack removed the directories (xen-sim does it at once), so the
    // backend's state is gone (unreadable to the guest) — or still Closed.
    match child_if.read(0, &format!("{back}/state")) {
        Ok(v) => assert_eq!(v, b"6"),
        Err(e) => assert!(
            matches!(e, ServiceError::Denied | ServiceError::NotFound),
            "{e:?}"
        ),
    }
    assert!(blkback.borrow().is_removed() || blkback.borrow().state() == 6);
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    child_if.grant_end(ring_ref).unwrap();
    child_if.evtchn_unbind(port).unwrap();
    child_if.dereference();
    assert_eq!(context.references(), 0);

    // The toolstack removes the directories (if the simulator has not yet): the bus reports
    // the child gone.
    let _ = world.xs_rm(&paths.frontend);
    let _ = world.xs_rm(&paths.backend);
    let gone = scan(&mut children);
    assert!(
        matches!(&gone[..], [HotplugAction::Removed(c)] if c.device.id == 51712),
        "{gone:?}"
    );
    assert_eq!(services.platform().with_grants(|g| g.in_use()).unwrap(), 0);
    drop(ring_page);
    drop(table_page);
    drop(shared_info);
}
