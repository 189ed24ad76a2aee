//! The shutdown path end to end on the host: simulated Xen and xenstored (xen-sim), the
//! platform brought up by xen-platform, xenpci's bridge, and the shutdownmon side of the IOCTL
//! interface (xen-bus's client) talking to the bridge as DeviceIoControl would.

use std::cell::RefCell;
use std::rc::Rc;

use xen_bus::shutdown_ioctl::{
    AckResult, Acknowledge, Client, Features, ShutdownAction, SHUTDOWN_INTERFACE_VERSION,
};
use xen_hal::{Instant, PageAllocator, PAGE_SIZE};
use xen_platform::{
    CallbackVia, Platform, PlatformConfig, PlatformResources, ShutdownError, ShutdownRequest,
};
use xen_sim::{Access, Perms, SimHypervisor, World};
use xenpci::shutdown::{Bridge, IoctlOutcome};

const DOMID: u16 = 6;

type Store = xenstore::Client<
    xenstore::RingTransport<SimHypervisor>,
    xen_sim::SimClock,
    Box<dyn FnMut(Instant)>,
>;

fn setup() -> (World, Store) {
    let world = World::new();
    let guest = world.create_guest(DOMID, "vm6");
    // As libxl: the feature keys exist and the guest may write them.
    for key in ["feature-poweroff", "feature-reboot", "feature-suspend"] {
        let path = format!("/local/domain/{DOMID}/control/{key}");
        world.xs_write(&path, b"").unwrap();
        world
            .xs_set_perms(&path, Perms::owned_by(DOMID).with(0, Access::Read))
            .unwrap();
    }
    let bar = guest.memory.alloc_pages(8).unwrap();
    let platform = Platform::bring_up(
        guest.hypervisor.clone(),
        &*guest.memory,
        PlatformResources {
            bar_base: bar.pfn,
            bar_len: (8 * PAGE_SIZE) as u64,
            callback: CallbackVia::Gsi(28),
        },
        PlatformConfig::default(),
    )
    .unwrap();
    let mut store = platform
        .xenstore(
            world.clock(),
            Box::new(world.waiter()) as Box<dyn FnMut(Instant)>,
        )
        .unwrap();
    store.set_timeout_ms(50);
    (world, store)
}

/// DeviceIoControl as the glue implements it: pended WAITs are reported as `Err("pending")`.
fn io<'a>(
    bridge: &'a RefCell<Bridge>,
    store: &'a RefCell<Store>,
) -> impl FnMut(u32, &[u8], &mut [u8]) -> Result<usize, String> + 'a {
    move |code, input, output| {
        let outcome = bridge.borrow_mut().ioctl(code, input, output);
        dispatch(bridge, store, outcome)
    }
}

fn dispatch(
    bridge: &RefCell<Bridge>,
    store: &RefCell<Store>,
    outcome: IoctlOutcome,
) -> Result<usize, String> {
    match outcome {
        IoctlOutcome::Complete {
            status: 0,
            information,
        } => Ok(information),
        IoctlOutcome::Complete { status, .. } => Err(format!("status {status:#x}")),
        IoctlOutcome::Pend => Err("pending".into()),
        IoctlOutcome::Advertise(wanted) => {
            let mut store = store.borrow_mut();
            bridge
                .borrow_mut()
                .advertise(&mut store, wanted)
                .map_err(|e| format!("{e:?}"))?;
            Ok(0)
        }
    }
}

#[test]
fn without_a_service_nothing_is_advertised_or_acknowledged() {
    let (world, mut store) = setup();
    let mut bridge = Bridge::new();
    world.xl_shutdown(DOMID, "poweroff").unwrap();
    assert_eq!(
        bridge.take(&mut store),
        Err(ShutdownError::Unsupported(ShutdownRequest::Poweroff))
    );
    let control = |k: &str| {
        world
            .xs_read_string(&format!("/local/domain/{DOMID}/control/{k}"))
            .unwrap()
    };
    assert_eq!(control("shutdown"), "poweroff");
    assert_eq!(control("feature-poweroff"), "");
}

#[test]
fn a_connected_service_gets_the_request_and_xen_sees_the_acknowledgement() {
    let (world, store) = setup();
    let bridge = Rc::new(RefCell::new(Bridge::new()));
    let store = RefCell::new(store);
    let control = |k: &str| {
        world
            .xs_read_string(&format!("/local/domain/{DOMID}/control/{k}"))
            .unwrap()
    };
    let mut client = Client::new(io(&bridge, &store));
    assert_eq!(client.handshake().unwrap(), Features::ALL);
    client
        .set_features(Features {
            actions: ShutdownAction::Poweroff.feature_bit() | ShutdownAction::Reboot.feature_bit(),
        })
        .unwrap();
    assert_eq!(control("feature-poweroff"), "1");
    assert_eq!(control("feature-reboot"), "1");
    assert_eq!(control("feature-suspend"), "");
    // Nothing yet: the WAIT would pend.
    assert!(client.wait_request().is_err());

    world.xl_shutdown(DOMID, "reboot").unwrap();
    let posted = bridge
        .borrow_mut()
        .take(&mut store.borrow_mut())
        .unwrap()
        .unwrap();
    assert_eq!(posted.action, ShutdownAction::Reboot);
    // Acknowledged towards Xen when taken.
    assert_eq!(control("shutdown"), "");
    let request = client.wait_request().unwrap();
    assert_eq!(request, posted);
    client
        .acknowledge(Acknowledge {
            sequence: request.sequence,
            result: AckResult::Started,
        })
        .unwrap();
    // A stale acknowledgement is refused.
    assert!(client
        .acknowledge(Acknowledge {
            sequence: request.sequence,
            result: AckResult::Started,
        })
        .is_err());
    // Suspend is not declared (and not implemented): left for the toolstack.
    world.xl_shutdown(DOMID, "suspend").unwrap();
    assert!(bridge.borrow_mut().take(&mut store.borrow_mut()).is_err());
    assert_eq!(control("shutdown"), "suspend");

    // The service goes away: its features are withdrawn.
    drop(client);
    bridge
        .borrow_mut()
        .disconnect(&mut store.borrow_mut())
        .unwrap();
    assert_eq!(control("feature-poweroff"), "");
    assert_eq!(control("feature-reboot"), "");
    world
        .xs_write(
            &format!("/local/domain/{DOMID}/control/shutdown"),
            b"poweroff",
        )
        .unwrap();
    assert!(bridge.borrow_mut().take(&mut store.borrow_mut()).is_err());
    assert_eq!(SHUTDOWN_INTERFACE_VERSION, 1);
}
