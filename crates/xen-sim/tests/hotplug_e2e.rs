//! Hotplug as the bus driver sees it (the testbed's `xenbus-hotplug` scenario): a watch on
//! `device`, `xl block-attach` / `xl block-detach` by the toolstack, enumeration and diffs with
//! the `xenbus` helpers; garbage entries are skipped and reported.

mod common;

use common::blkfront::{MiniBlkfront, Platform};
use xen_hal::DomainId;
use xen_sim::World;
use xenbus::{diff, enumerate, wait_for_state, DeviceRef, SkipReason, XenbusError, XenbusState};
use xenstore::XsErrno;

#[test]
fn attach_and_detach_are_seen_through_the_device_watch() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let memory = guest.memory.clone();
    let mut p = Platform::new(&world, &guest, &memory);
    p.xs.watch("device", "devices").unwrap();
    let deadline = p.xs.deadline_after_ms(5);
    assert_eq!(p.xs.wait_watch_event(deadline).unwrap().token, "devices");
    let before = enumerate(&mut p.xs, "device").unwrap();
    assert!(before.devices.is_empty());

    let (paths, _blkback) = world.attach_vbd(5, 51712, 16);
    let deadline = p.xs.deadline_after_ms(5);
    let event = p.xs.wait_watch_event(deadline).unwrap();
    assert!(event.path.starts_with("device/vbd/51712"), "{}", event.path);
    // Drain the burst of events the toolstack's writes caused.
    while p.xs.take_watch_event().unwrap().is_some() {}
    let after = enumerate(&mut p.xs, "device").unwrap();
    let changes = diff(&before.devices, &after.devices).unwrap();
    assert_eq!(changes.added, vec![DeviceRef::new("vbd", 51712).unwrap()]);
    assert!(changes.removed.is_empty());

    // The device works, then the toolstack detaches it: the frontend follows the backend's
    // Closing, and the directories go away.
    let mut front = MiniBlkfront::probe(&mut p, 51712).unwrap();
    front.connect(&mut p).unwrap();
    front.write(&mut p, 3, &[0x33; 512]).unwrap();
    world.detach_vbd(&paths).unwrap();
    front
        .wait_backend(&mut p, xenbus::XenbusState::Closing)
        .unwrap();
    front.disconnect(&mut p).unwrap();
    world.run_until_idle().unwrap();
    while p.xs.take_watch_event().unwrap().is_some() {}
    let gone = enumerate(&mut p.xs, "device").unwrap();
    let changes = diff(&after.devices, &gone.devices).unwrap();
    assert_eq!(changes.removed, vec![DeviceRef::new("vbd", 51712).unwrap()]);
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
}

/// `xl block-detach` against a frontend that only follows the state machine: libxl sets the
/// backend Closing and blkback stays Closing until the frontend is Closed, so each backend
/// state change must be answered in one step, without waiting for another change.
#[test]
fn detach_completes_when_the_frontend_follows_the_state_machine() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let memory = guest.memory.clone();
    let mut p = Platform::new(&world, &guest, &memory);
    let (paths, blkback) = world.attach_vbd(5, 51712, 16);
    let mut front = MiniBlkfront::probe(&mut p, 51712).unwrap();
    front.connect(&mut p).unwrap();
    world.detach_vbd(&paths).unwrap();
    let mut changes = 0;
    loop {
        let theirs = front.follow_backend(&mut p).unwrap();
        if matches!(theirs, XenbusState::Closed | XenbusState::Unknown) {
            break;
        }
        changes += 1;
        assert!(
            changes < 8,
            "backend {theirs:?}, ours {:?}",
            front.state.get()
        );
        // The next backend change, or the stall this test is about (a timeout).
        match wait_for_state(&mut p.xs, &front.backend, 20, |s| s != theirs) {
            Ok(_) => {}
            // The toolstack removed the directories once the backend was Closed.
            Err(XenbusError::Store(xenstore::Error::Xs(XsErrno::ENOENT | XsErrno::EACCES))) => {
                break
            }
            Err(e) => panic!(
                "stalled: backend {theirs:?}, ours {:?}: {e:?}",
                front.state.get()
            ),
        }
    }
    assert_eq!(front.state.get(), XenbusState::Closed);
    world.run_until_idle().unwrap();
    assert!(blkback.borrow().is_removed());
    assert!(world.xs_read(&paths.backend).is_err());
    assert!(world.xs_read(&paths.frontend).is_err());
    front.release(&mut p).unwrap();
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
}

#[test]
fn garbage_device_entries_are_skipped_and_reported() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let memory = guest.memory.clone();
    let mut p = Platform::new(&world, &guest, &memory);
    world.attach_vbd(5, 768, 16);
    // What a broken toolstack could leave behind.
    world
        .xs_write("/local/domain/5/device/vbd/not-a-number/state", b"1")
        .unwrap();
    world
        .xs_write("/local/domain/5/device/BAD@TYPE/1/state", b"1")
        .unwrap();
    let found = enumerate(&mut p.xs, "device").unwrap();
    assert_eq!(found.devices, vec![DeviceRef::new("vbd", 768).unwrap()]);
    let reasons: Vec<SkipReason> = found.skipped.iter().map(|s| s.reason).collect();
    assert!(reasons.contains(&SkipReason::BadId), "{:?}", found.skipped);
    assert!(
        reasons.contains(&SkipReason::BadType),
        "{:?}",
        found.skipped
    );
}
