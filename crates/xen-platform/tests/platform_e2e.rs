//! The platform bring-up end to end against the simulated Xen (xen-sim): shared_info and grant
//! frames placed in a fake BAR (pages of guest RAM), the callback param, event dispatch through
//! the ISR/DPC split, a working xenstore client, the `device` watch seeing a hot-plug, shutdown
//! control with acknowledgement, and teardown. Plus the call order against a recording fake.

use std::cell::RefCell;
use std::sync::atomic::Ordering;

use xen_hal::fake::FakePageAllocator;
use xen_hal::fake_hypervisor::{HypervisorCall, RecordingHypervisor};
use xen_hal::{
    DomainId, EventChannelStatus, Hypervisor, Instant, OwnedPages, PageAllocator, PageRange, Pfn,
    XenError, PAGE_SIZE,
};
use xen_platform::bringup::BadCallbackVia;
use xen_platform::shutdown::{self, CONTROL_SHUTDOWN};
use xen_platform::{
    watch_devices, BringUpError, CallbackVia, Platform, PlatformConfig, PlatformResources,
    ShutdownError, ShutdownRequest, Supported, DEVICE_WATCH_TOKEN,
};
use xen_public_headers::hvm::params::{
    HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
};
use xen_public_headers::memory::{XENMAPSPACE_grant_table, XENMAPSPACE_shared_info};
use xen_sim::{Access, Guest, Perms, SimHypervisor, World};

const DOMID: u16 = 5;
const BAR_FRAMES: usize = 40;
const GSI: u32 = 28;

thread_local! {
    static FIRED: RefCell<Vec<(usize, u32)>> = const { RefCell::new(Vec::new()) };
}

extern "C" fn record(context: usize, port: u32) {
    FIRED.with(|f| f.borrow_mut().push((context, port)));
}

fn take_fired() -> Vec<(usize, u32)> {
    FIRED.with(|f| std::mem::take(&mut *f.borrow_mut()))
}

struct Machine {
    world: World,
    guest: Guest,
    bar: PageRange,
}

fn machine() -> Machine {
    let world = World::new();
    let guest = world.create_guest(DOMID, "vm5");
    // The platform device's memory BAR: frames the simulated Xen accepts as placement targets.
    let bar = guest.memory.alloc_pages(BAR_FRAMES).unwrap();
    Machine { world, guest, bar }
}

fn resources(bar: Pfn) -> PlatformResources {
    PlatformResources {
        bar_base: bar,
        bar_len: (BAR_FRAMES * PAGE_SIZE) as u64,
        callback: CallbackVia::Gsi(GSI),
    }
}

fn bring_up(m: &Machine) -> Platform<SimHypervisor> {
    Platform::bring_up(
        m.guest.hypervisor.clone(),
        &*m.guest.memory,
        resources(m.bar.pfn),
        PlatformConfig::default(),
    )
    .unwrap()
}

type Store = xenstore::Client<
    xenstore::RingTransport<SimHypervisor>,
    xen_sim::SimClock,
    Box<dyn FnMut(Instant)>,
>;

fn store(m: &Machine, platform: &Platform<SimHypervisor>) -> Store {
    let mut client = platform
        .xenstore(
            m.world.clock(),
            Box::new(m.world.waiter()) as Box<dyn FnMut(Instant)>,
        )
        .unwrap();
    client.set_timeout_ms(50);
    client
}

#[test]
fn shared_info_and_grant_frames_live_in_the_bar_and_the_callback_is_set() {
    let m = machine();
    let platform = bring_up(&m);
    assert_eq!(platform.version().major, 4);
    // The callback names the GSI (type 0).
    assert_eq!(
        m.guest.hypervisor.hvm_get_param(HVM_PARAM_CALLBACK_IRQ),
        Ok(u64::from(GSI))
    );
    assert_eq!(platform.callback_param(), u64::from(GSI));
    // 32 grant frames (our default; Xen allows 64, the BAR 39) right after shared_info.
    let frames = platform.grant_frames();
    assert_eq!(frames.len(), 32);
    assert_eq!(frames[0], Pfn(m.bar.pfn.0 + 1));
    assert_eq!(platform.grants().capacity(), 32 * 512);
    // shared_info is BAR frame 0: the table's window and the BAR's first page are one page.
    platform.shared_info().write_u8(100, 0x5a).unwrap();
    assert_eq!(m.bar.memory.read_u8(100), Ok(0x5a));
    platform.shared_info().write_u8(100, 0).unwrap();
    // The toolstack's seeded xenstore grant (entry 1) moved with grant frame 0 into BAR frame 1.
    let entry = PAGE_SIZE + 8;
    assert_eq!(
        m.bar.memory.load_u32(entry + 4, Ordering::Acquire),
        Ok(m.guest.store_pfn.0 as u32)
    );
    assert_eq!(platform.store().pfn, m.guest.store_pfn);
    assert_eq!(platform.store().port, m.guest.store_port);
    assert!(m.world.violations().is_empty());
}

#[test]
fn grants_are_written_into_the_bar_frames() {
    let m = machine();
    let mut platform = bring_up(&m);
    let page = OwnedPages::new(&*m.guest.memory, 1).unwrap();
    let r = platform
        .grants_mut()
        .grant_access(DomainId::DOM0, page.pfn(), false)
        .unwrap();
    let index = r.0 as usize;
    let frame = index / 512;
    let offset = (frame + 1) * PAGE_SIZE + (index % 512) * 8;
    assert_eq!(
        m.bar.memory.load_u32(offset + 4, Ordering::Acquire),
        Ok(page.pfn().0 as u32)
    );
    platform.grants_mut().end_access(r).unwrap();
}

#[test]
fn events_go_isr_then_dpc_to_the_bound_handler() {
    let m = machine();
    let mut platform = bring_up(&m);
    let hv = m.guest.hypervisor.clone();
    let port = platform
        .events_mut()
        .alloc_unbound(&hv, DomainId::DOM0)
        .unwrap();
    let dom0_port = m
        .world
        .with_sim(|sim| {
            sim.hv
                .evtchn_bind_interdomain(DomainId::DOM0, DomainId(DOMID), port)
        })
        .unwrap();
    platform.bind_handler(port, record, 77).unwrap();
    // Nothing pending: the interrupt is not ours (shared line).
    assert!(!platform.acknowledge_interrupt());
    m.world
        .with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port))
        .unwrap();
    assert!(m.world.upcall_pending(DomainId(DOMID)));
    // ISR: ours, and the flag is cleared so Xen lowers the line.
    assert!(platform.acknowledge_interrupt());
    assert!(!m.world.upcall_pending(DomainId(DOMID)));
    // Nothing dispatched before the DPC runs.
    assert!(take_fired().is_empty());
    let stats = platform.dispatch().unwrap();
    assert_eq!(stats.dispatched, 1);
    assert_eq!(take_fired(), vec![(77, port.0)]);
    // A second DPC finds nothing.
    assert_eq!(platform.dispatch().unwrap().dispatched, 0);
    // An unmasked port with no handler never reaches a handler.
    assert_eq!(
        hv.evtchn_status(port),
        Ok(EventChannelStatus::Interdomain {
            remote: DomainId::DOM0,
            remote_port: dom0_port
        })
    );
}

#[test]
fn xenstore_works_and_the_store_port_reaches_its_handler() {
    let m = machine();
    let mut platform = bring_up(&m);
    platform.bind_store_handler(record, 9).unwrap();
    let mut xs = store(&m, &platform);
    assert_eq!(xs.read_string("name").unwrap(), "vm5");
    assert_eq!(xs.read_string("domid").unwrap(), "5");
    xs.write("data/hello", b"world").unwrap();
    assert_eq!(
        m.world
            .xs_read_string("/local/domain/5/data/hello")
            .unwrap(),
        "world"
    );
    // xenstored's replies raised the store port.
    if platform.acknowledge_interrupt() {
        platform.dispatch().unwrap();
    }
    let fired = take_fired();
    assert!(
        fired.contains(&(9, m.guest.store_port.0)),
        "store handler never ran: {fired:?}"
    );
}

#[test]
fn the_device_watch_sees_hot_plug() {
    let m = machine();
    let platform = bring_up(&m);
    let mut xs = store(&m, &platform);
    watch_devices(&mut xs).unwrap();
    // The registration event.
    let first = xs.wait_watch_event(xs.deadline_after_ms(5)).unwrap();
    assert_eq!(first.token, DEVICE_WATCH_TOKEN);
    while xs.take_watch_event().unwrap().is_some() {}
    // `xl block-attach`.
    let (paths, _blkback) = m.world.attach_vbd(DOMID, 51712, 128);
    let event = xs.wait_watch_event(xs.deadline_after_ms(5)).unwrap();
    assert_eq!(event.token, DEVICE_WATCH_TOKEN);
    assert!(event.path.starts_with("device/vbd"), "{}", event.path);
    assert_eq!(xs.directory("device/vbd").unwrap(), vec!["51712"]);
    // `xl block-detach`: the backend closes (outside `device`), then, once both ends are
    // closed, libxl removes the frontend directory, which the watch sees.
    while xs.take_watch_event().unwrap().is_some() {}
    m.world.detach_vbd(&paths).unwrap();
    m.world.xs_rm(&paths.frontend).unwrap();
    let event = xs.wait_watch_event(xs.deadline_after_ms(5)).unwrap();
    assert!(event.path.starts_with("device/vbd"), "{}", event.path);
    assert!(xs.directory("device/vbd").unwrap_or_default().is_empty());
}

#[test]
fn a_platform_brought_up_again_starts_a_clean_xenstore_connection() {
    let m = machine();
    // The first instance watches `device` and is taken down without unwatching, leaving a
    // request whose reply it never read (xenpci disabled in the middle of its work).
    let platform = bring_up(&m);
    let mut xs = store(&m, &platform);
    watch_devices(&mut xs).unwrap();
    xs.core()
        .submit(
            &xenstore::Request::Read { path: "domid" },
            xenstore::TxId::NONE,
        )
        .unwrap();
    xs.pump().unwrap();
    m.world.run_until_idle().unwrap();
    drop(xs);
    let (_grants, cleared) = platform.shut_down();
    cleared.unwrap();

    // Brought up again in the same domain, over the same ring.
    let platform = bring_up(&m);
    let mut xs = store(&m, &platform);
    assert_eq!(xs.read_string("name").unwrap(), "vm5");
    watch_devices(&mut xs).unwrap();
    let first = xs.wait_watch_event(xs.deadline_after_ms(5)).unwrap();
    assert_eq!(first.token, DEVICE_WATCH_TOKEN);
    let (_paths, _blkback) = m.world.attach_vbd(DOMID, 51712, 128);
    let event = xs.wait_watch_event(xs.deadline_after_ms(5)).unwrap();
    assert_eq!(event.token, DEVICE_WATCH_TOKEN);
    assert!(event.path.starts_with("device/vbd"), "{}", event.path);
    assert_eq!(xs.core().stats().unknown_token_events, 0);
    assert_eq!(xs.core().error(), None);
}

/// What libxl does at domain creation: the feature keys exist, writable by the guest.
fn libxl_feature_keys(world: &World) {
    for key in ["feature-poweroff", "feature-reboot", "feature-suspend"] {
        let path = format!("/local/domain/{DOMID}/control/{key}");
        world.xs_write(&path, b"").unwrap();
        world
            .xs_set_perms(&path, Perms::owned_by(DOMID).with(0, Access::Read))
            .unwrap();
    }
}

#[test]
fn shutdown_requests_are_typed_acknowledged_and_only_implemented_features_advertised() {
    let m = machine();
    libxl_feature_keys(&m.world);
    let platform = bring_up(&m);
    let mut xs = store(&m, &platform);
    shutdown::advertise(&mut xs, Supported::SUITE).unwrap();
    let control = |key: &str| {
        m.world
            .xs_read_string(&format!("/local/domain/{DOMID}/control/{key}"))
            .unwrap()
    };
    assert_eq!(control("feature-poweroff"), "1");
    assert_eq!(control("feature-reboot"), "1");
    // Suspend is not implemented by the suite: not advertised.
    assert_eq!(control("feature-suspend"), "");

    shutdown::watch(&mut xs).unwrap();
    assert_eq!(shutdown::take_request(&mut xs, Supported::SUITE), Ok(None));
    for (word, request) in [
        ("poweroff", ShutdownRequest::Poweroff),
        ("reboot", ShutdownRequest::Reboot),
        ("halt", ShutdownRequest::Halt),
    ] {
        m.world.xl_shutdown(DOMID, word).unwrap();
        let event = xs
            .wait_watch_event_for(shutdown::SHUTDOWN_WATCH_TOKEN, xs.deadline_after_ms(5))
            .unwrap();
        assert_eq!(event.path, CONTROL_SHUTDOWN);
        assert_eq!(
            shutdown::take_request(&mut xs, Supported::SUITE),
            Ok(Some(request))
        );
        // Acknowledged: the key is cleared, as the toolstack waits for.
        assert_eq!(control("shutdown"), "");
    }
    // Known but not implemented: refused, left for the toolstack to time out on.
    m.world.xl_shutdown(DOMID, "suspend").unwrap();
    assert_eq!(
        shutdown::take_request(&mut xs, Supported::SUITE),
        Err(ShutdownError::Unsupported(ShutdownRequest::Suspend))
    );
    assert_eq!(control("shutdown"), "suspend");
    // A driver that implements suspend takes it.
    let with_suspend = Supported {
        suspend: true,
        ..Supported::SUITE
    };
    assert_eq!(
        shutdown::take_request(&mut xs, with_suspend),
        Ok(Some(ShutdownRequest::Suspend))
    );
    assert_eq!(control("shutdown"), "");
    // Garbage: a typed error, not acknowledged, no panic.
    m.world.xl_shutdown(DOMID, "s3\u{1}junk").unwrap();
    match shutdown::take_request(&mut xs, Supported::SUITE) {
        Err(ShutdownError::Unknown(text)) => assert_eq!(text.as_str(), "s3?junk"),
        other => panic!("{other:?}"),
    }
    assert_eq!(control("shutdown"), "s3\u{1}junk");
    let long = "x".repeat(200);
    m.world.xl_shutdown(DOMID, &long).unwrap();
    assert_eq!(
        shutdown::take_request(&mut xs, Supported::SUITE),
        Err(ShutdownError::TooLong(200))
    );
    // The key removed altogether: nothing to do.
    m.world
        .xs_rm(&format!("/local/domain/{DOMID}/control/shutdown"))
        .unwrap();
    assert_eq!(shutdown::take_request(&mut xs, Supported::SUITE), Ok(None));
}

#[test]
fn shut_down_clears_the_callback() {
    let m = machine();
    let platform = bring_up(&m);
    let (grants, cleared) = platform.shut_down();
    assert_eq!(cleared, Ok(()));
    assert_eq!(grants.in_use(), 0);
    assert_eq!(
        m.guest.hypervisor.hvm_get_param(HVM_PARAM_CALLBACK_IRQ),
        Ok(0)
    );
}

#[test]
fn bad_bars_fail_with_the_step_named() {
    let m = machine();
    let small = PlatformResources {
        bar_len: PAGE_SIZE as u64,
        ..resources(m.bar.pfn)
    };
    let err = Platform::bring_up(
        m.guest.hypervisor.clone(),
        &*m.guest.memory,
        small,
        PlatformConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, BringUpError::BarTooSmall { frames: 1 });
    // A BAR at frames the machine does not have: Xen refuses the placement.
    let nowhere = resources(Pfn(0xdead_0000));
    let err = Platform::bring_up(
        m.guest.hypervisor.clone(),
        &*m.guest.memory,
        nowhere,
        PlatformConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, BringUpError::SharedInfoPlacement(XenError::EINVAL));
    assert!(err.to_string().contains("shared_info"));
    // Nothing was raised: the callback was never set.
    assert_eq!(
        m.guest.hypervisor.hvm_get_param(HVM_PARAM_CALLBACK_IRQ),
        Ok(0)
    );
}

/// GSI 0 would set `HVM_PARAM_CALLBACK_IRQ` to 0, which is "no callback": the bring-up
/// refuses it before touching anything, instead of coming up with no event delivery.
#[test]
fn gsi_zero_is_refused_before_anything_is_placed() {
    let m = machine();
    let zero = PlatformResources {
        callback: CallbackVia::Gsi(0),
        ..resources(m.bar.pfn)
    };
    let err = Platform::bring_up(
        m.guest.hypervisor.clone(),
        &*m.guest.memory,
        zero,
        PlatformConfig::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        BringUpError::CallbackEncoding(BadCallbackVia(CallbackVia::Gsi(0)))
    );
    // The BAR is still free: a bring-up with a real GSI places shared_info there.
    let platform = bring_up(&m);
    assert_eq!(
        m.guest.hypervisor.hvm_get_param(HVM_PARAM_CALLBACK_IRQ),
        Ok(u64::from(GSI))
    );
    drop(platform);
}

/// Bring-up against a recording fake: the order of operations (callback last), grant frames
/// limited by Xen's maximum, and the failing step reported.
#[test]
fn call_order_and_failures_against_a_recording_hypervisor() {
    let memory = FakePageAllocator::new();
    let bar = OwnedPages::new(&memory, 8).unwrap();
    let ring = OwnedPages::new(&memory, 1).unwrap();
    let fake = |version: (u16, u16), store_pfn: u64, store_port: u64| {
        let hv = RecordingHypervisor::new();
        hv.set_version(xen_hal::XenVersion {
            major: version.0,
            minor: version.1,
        });
        hv.set_param(HVM_PARAM_STORE_PFN, store_pfn);
        hv.set_param(HVM_PARAM_STORE_EVTCHN, store_port);
        hv.set_grant_table_size(xen_hal::GrantTableSize {
            nr_frames: 1,
            max_nr_frames: 4,
        });
        hv
    };
    let res = PlatformResources {
        bar_base: bar.pfn(),
        bar_len: 8 * PAGE_SIZE as u64,
        callback: CallbackVia::PciIntx {
            segment: 0,
            bus: 0,
            device: 3,
            function: 0,
            pin: 0,
        },
    };
    let hv = fake((4, 17), ring.pfn().0, 3);
    let platform = Platform::bring_up(hv, &memory, res, PlatformConfig::default()).unwrap();
    let b = bar.pfn().0;
    let mut expected = vec![
        HypervisorCall::XenVersion,
        HypervisorCall::AddToPhysmap {
            space: XENMAPSPACE_shared_info,
            idx: 0,
            gpfn: Pfn(b),
        },
        HypervisorCall::GrantTableQuerySize,
    ];
    // Xen's maximum (4) limits the grant frames, not the BAR (7 free frames).
    for i in 0..4 {
        expected.push(HypervisorCall::AddToPhysmap {
            space: XENMAPSPACE_grant_table,
            idx: i,
            gpfn: Pfn(b + 1 + i),
        });
    }
    expected.extend([
        HypervisorCall::HvmGetParam {
            index: HVM_PARAM_STORE_PFN,
        },
        HypervisorCall::HvmGetParam {
            index: HVM_PARAM_STORE_EVTCHN,
        },
        // Last: PCI INTx of 00:03.0 INTA#.
        HypervisorCall::HvmSetParam {
            index: HVM_PARAM_CALLBACK_IRQ,
            value: 0x0100_0000_0000_1800,
        },
    ]);
    assert_eq!(platform.hypervisor().take_calls(), expected);
    assert_eq!(platform.grant_frames().len(), 4);
    drop(platform);

    let fails = |hv: RecordingHypervisor| {
        Platform::bring_up(hv, &memory, res, PlatformConfig::default()).unwrap_err()
    };
    assert_eq!(
        fails(fake((3, 0), ring.pfn().0, 3)),
        BringUpError::XenTooOld(xen_hal::XenVersion { major: 3, minor: 0 })
    );
    assert_eq!(
        fails(fake((4, 17), ring.pfn().0, 1 << 40)),
        BringUpError::StoreParamValue {
            index: HVM_PARAM_STORE_EVTCHN,
            value: 1 << 40
        }
    );
    assert_eq!(
        fails(fake((4, 17), 0, 3)),
        BringUpError::StoreParamValue {
            index: HVM_PARAM_STORE_PFN,
            value: 0
        }
    );
    // A store frame the OS cannot map.
    assert!(matches!(
        fails(fake((4, 17), 0x7777_7777, 3)),
        BringUpError::StoreMap(_)
    ));
    // XENVER_version itself failing.
    let hv = fake((4, 17), ring.pfn().0, 3);
    hv.fail_next(XenError::ENOSYS);
    assert_eq!(fails(hv), BringUpError::Version(XenError::ENOSYS));
}

/// Taken apart (as an OS that locks grants and events separately does), the objects still
/// work: the ISR acknowledgement on the bare `shared_info`, dispatch through the table.
#[test]
fn parts_keep_working_after_the_platform_is_taken_apart() {
    let m = machine();
    let platform = bring_up(&m);
    let mut parts = platform.into_parts();
    let hv = parts.hv.clone();
    let port = parts.events.alloc_unbound(&hv, DomainId::DOM0).unwrap();
    let dom0_port = m
        .world
        .with_sim(|sim| {
            sim.hv
                .evtchn_bind_interdomain(DomainId::DOM0, DomainId(DOMID), port)
        })
        .unwrap();
    parts.events.bind_handler(&hv, port, record, 5).unwrap();
    m.world
        .with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port))
        .unwrap();
    assert!(xen_platform::acknowledge_upcall(parts.shared_info));
    assert_eq!(
        parts
            .events
            .handle_upcall(xen_hal::VcpuId(0))
            .unwrap()
            .dispatched,
        1
    );
    assert_eq!(take_fired(), vec![(5, port.0)]);
    assert_eq!(parts.grant_frames.len(), 32);
    assert_eq!(parts.callback, u64::from(GSI));
}

/// Two-phase dispatch against the simulated Xen: ports collected lock-free from shared_info,
/// handlers looked up in the table and called afterwards; a handler may then use the table.
#[test]
fn two_phase_dispatch_reaches_the_handlers() {
    let m = machine();
    let mut platform = bring_up(&m);
    let hv = m.guest.hypervisor.clone();
    let mut pairs = Vec::new();
    for context in [11usize, 12, 13] {
        let port = platform
            .events_mut()
            .alloc_unbound(&hv, DomainId::DOM0)
            .unwrap();
        let dom0 = m
            .world
            .with_sim(|sim| {
                sim.hv
                    .evtchn_bind_interdomain(DomainId::DOM0, DomainId(DOMID), port)
            })
            .unwrap();
        platform.bind_handler(port, record, context).unwrap();
        pairs.push((port, dom0, context));
    }
    // The second port is masked: its event must wait.
    platform.events().mask(pairs[1].0).unwrap();
    for (_, dom0, _) in &pairs {
        m.world
            .with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, *dom0))
            .unwrap();
    }
    assert!(platform.acknowledge_interrupt());
    let mut ports = [xen_hal::EventChannelPort(0); 4];
    let got = xen_platform::collect_pending(platform.shared_info(), &mut ports).unwrap();
    assert_eq!(got.count, 2);
    for port in &ports[..got.count] {
        let binding = platform.events().handler(*port).unwrap();
        (binding.handler)(binding.context, port.0);
        // The table is free again: a handler could notify through it.
        platform.events().notify(&hv, *port).unwrap();
    }
    assert_eq!(take_fired(), vec![(11, pairs[0].0 .0), (13, pairs[2].0 .0)]);
    // Unmasking re-raises the waiting one.
    platform.events().unmask(&hv, pairs[1].0).unwrap();
    let got = xen_platform::collect_pending(platform.shared_info(), &mut ports).unwrap();
    assert_eq!((got.count, ports[0]), (1, pairs[1].0));
}
