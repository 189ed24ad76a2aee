//! Hot-plug as xenpci sees it, against the simulated Xen: boot devices, `xl block-attach`,
//! `xl network-attach`, detach, and a backend that goes away while the device is listed.

use xen_bus::hotplug::{ChildSet, HotplugAction};
use xen_hal::{DomainId, EventChannelPort, Hypervisor, Instant, Pfn, PhysicalMapper};
use xen_public_headers::hvm::params::{HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN};
use xen_sim::{Guest, SimClock, SimHypervisor, World};
use xenstore::{Client, RingTransport};

type Store = Client<RingTransport<SimHypervisor>, SimClock, Box<dyn FnMut(Instant)>>;

fn guest_store(world: &World, guest: &Guest) -> Store {
    let hv = guest.hypervisor.clone();
    let pfn = Pfn(hv.hvm_get_param(HVM_PARAM_STORE_PFN).unwrap());
    let port = EventChannelPort(hv.hvm_get_param(HVM_PARAM_STORE_EVTCHN).unwrap() as u32);
    let page = guest.memory.map_frames(pfn, 1).unwrap();
    let transport = RingTransport::new(page, hv, port).unwrap();
    let mut c = Client::new(
        transport,
        world.clock(),
        Box::new(world.waiter()) as Box<dyn FnMut(Instant)>,
    )
    .unwrap();
    c.set_timeout_ms(50);
    c
}

fn names(actions: &[HotplugAction]) -> Vec<String> {
    actions
        .iter()
        .map(|a| match a {
            HotplugAction::Added(c) => format!("+{}", c.device),
            HotplugAction::Removed(c) => format!("-{}", c.device),
            HotplugAction::SurpriseRemoved(c, s) => format!("!{} {:?}", c.device, s),
        })
        .collect()
}

#[test]
fn attach_detach_and_backend_loss() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let mut xs = guest_store(&world, &guest);
    let me = Some(DomainId(5));

    // Boot: one disk and one NIC present before the bus starts.
    let (disk, _blkback) = world.attach_vbd(5, 768, 16);
    let (_nic, _netback) = world.attach_vif(5, 0, "00:16:3e:00:00:01");
    world.run_until_idle().unwrap();
    let mut set = ChildSet::new();
    let boot = set.scan(&mut xs, "device", me).unwrap();
    assert_eq!(names(&boot), ["+device/vbd/768", "+device/vif/0"]);
    assert!(boot
        .iter()
        .all(|a| matches!(a, HotplugAction::Added(c) if !c.hot_plugged)));
    let ids: Vec<String> = set.present().map(|c| c.instance_id().unwrap()).collect();
    assert_eq!(ids, ["768", "0"]);

    // xl block-attach: a hot-plugged child.
    let (hot, _blkback2) = world.attach_vbd(5, 51712, 16);
    world.run_until_idle().unwrap();
    let a = set.scan(&mut xs, "device", me).unwrap();
    assert_eq!(names(&a), ["+device/vbd/51712"]);
    assert!(matches!(&a[0], HotplugAction::Added(c) if c.hot_plugged));
    assert!(set.scan(&mut xs, "device", me).unwrap().is_empty());

    // xl block-detach: the backend closes; the toolstack removes both directories once the
    // frontend is gone. While the backend is only Closing the child stays.
    world.detach_vbd(&hot).unwrap();
    world.run_until_idle().unwrap();
    assert!(set.scan(&mut xs, "device", me).unwrap().is_empty());
    world.xs_rm(&hot.frontend).unwrap();
    world.xs_rm(&hot.backend).unwrap();
    let a = set.scan(&mut xs, "device", me).unwrap();
    assert_eq!(names(&a), ["-device/vbd/51712"]);

    // The boot disk's backend goes Closed while the device is still listed: surprise removal.
    world
        .xs_write(&format!("{}/state", disk.backend), b"6")
        .unwrap();
    let a = set.scan(&mut xs, "device", me).unwrap();
    assert_eq!(names(&a), ["!device/vbd/768 Closed"]);
    assert_eq!(set.present().count(), 1);

    // The NIC's backend directory disappears (dom0 crashed, backend killed): surprise removal.
    world.xs_rm("/local/domain/0/backend/vif/5/0").unwrap();
    let a = set.scan(&mut xs, "device", me).unwrap();
    assert_eq!(names(&a), ["!device/vif/0 Gone"]);
    assert_eq!(set.present().count(), 0);
}

#[test]
fn garbage_backend_paths_never_make_children() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let mut xs = guest_store(&world, &guest);
    let (disk, _b) = world.attach_vbd(5, 768, 16);
    world.run_until_idle().unwrap();
    // A backend path pointing at another guest's device, and one that is not a path.
    world
        .xs_write(
            &format!("{}/backend", disk.frontend),
            b"/local/domain/0/backend/vbd/6/768",
        )
        .unwrap();
    world
        .xs_write("/local/domain/5/device/vif/3/backend", b"\x00garbage")
        .unwrap();
    world
        .xs_write("/local/domain/5/device/vif/3/backend-id", b"0")
        .unwrap();
    let mut set = ChildSet::new();
    assert!(set
        .scan(&mut xs, "device", Some(DomainId(5)))
        .unwrap()
        .is_empty());
    // Fixed: the disk appears.
    world
        .xs_write(
            &format!("{}/backend", disk.frontend),
            disk.backend.as_bytes(),
        )
        .unwrap();
    let a = set.scan(&mut xs, "device", Some(DomainId(5))).unwrap();
    assert_eq!(names(&a), ["+device/vbd/768"]);
}
