//! The shutdown handshake over xenstore (what `xl shutdown` and the guest's shutdown monitor
//! do), ending in `SCHEDOP_shutdown` recorded by the simulated Xen.

mod common;

use xen_hal::{DomainId, Hypervisor};
use xen_public_headers::sched::SHUTDOWN_poweroff;
use xen_sim::World;

#[test]
fn xl_shutdown_is_seen_acknowledged_and_ends_in_sched_shutdown() {
    let world = World::new();
    let guest = world.create_guest(8, "vm8");
    let mut xs = common::guest_store(&world, &guest);
    xs.watch("control/shutdown", "shutdown").unwrap();
    let deadline = xs.deadline_after_ms(5);
    // The registration event, with the node empty.
    assert_eq!(
        xs.wait_watch_event(deadline).unwrap().path,
        "control/shutdown"
    );
    assert_eq!(xs.read("control/shutdown").unwrap(), b"");

    world.xl_shutdown(8, "poweroff").unwrap();
    let deadline = xs.deadline_after_ms(5);
    let event = xs.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (event.path.as_str(), event.token.as_str()),
        ("control/shutdown", "shutdown")
    );
    assert_eq!(xs.read_string("control/shutdown").unwrap(), "poweroff");
    // Acknowledge, as Linux and the PV drivers do, then shut down.
    xs.write("control/shutdown", b"").unwrap();
    assert_eq!(
        world.xs_read("/local/domain/8/control/shutdown").unwrap(),
        b""
    );
    guest.hypervisor.sched_shutdown(SHUTDOWN_poweroff).unwrap();
    assert_eq!(world.shutdowns(DomainId(8)), vec![SHUTDOWN_poweroff]);
    // The guest may not write the toolstack's control directory itself.
    assert!(xs.write("control/other", b"x").is_err());
}

#[test]
fn no_watch_event_is_lost_while_the_guest_is_busy() {
    let world = World::new();
    let guest = world.create_guest(8, "vm8");
    let mut xs = common::guest_store(&world, &guest);
    xs.watch("data/feed", "feed").unwrap();
    // 60 events, more than fit the 1 KiB reply ring at once: xenstored queues the rest
    // until the guest consumes.
    for i in 0..60 {
        world
            .xs_write(&format!("/local/domain/8/data/feed/k{i}"), b"v")
            .unwrap();
    }
    world.run_until_idle().unwrap();
    let mut paths = Vec::new();
    for _ in 0..61 {
        let deadline = xs.deadline_after_ms(5);
        paths.push(xs.wait_watch_event(deadline).unwrap().path);
    }
    assert_eq!(paths[0], "data/feed");
    for (i, path) in paths[1..].iter().enumerate() {
        assert_eq!(path, &format!("data/feed/k{i}"));
    }
    assert_eq!(xs.core().stats().dropped_events, 0);
}
