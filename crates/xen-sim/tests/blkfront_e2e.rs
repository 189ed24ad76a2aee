//! (b) A frontend handshake to Connected with grants, event channels and a FrontRing against
//! the simulated blkback, sectors written and read back; (c) disconnect with nothing leaked.

mod common;

use common::blkfront::{MiniBlkfront, Platform, CLOSED, CONNECTED};
use xen_hal::DomainId;
use xen_sim::World;

const DEVID: u32 = 768;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn handshake_write_read_flush_and_disconnect_without_leaks() {
    let world = World::new();
    let guest = world.create_guest(5, "vm5");
    let memory = guest.memory.clone();
    let baseline_pages = memory.outstanding();
    let (paths, blkback) = world.attach_vbd(5, DEVID, 256);
    let mut p = Platform::new(&world, &guest, &memory);
    let platform_pages = memory.outstanding();

    // (b) Handshake.
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    assert_eq!(front.backend, paths.backend);
    assert_eq!(front.backend_id, DomainId::DOM0);
    front
        .wait_backend(&mut p, xenbus::XenbusState::InitWait)
        .unwrap();
    front.connect(&mut p).unwrap();
    assert_eq!(front.sectors, 256);
    assert!(front.flush);
    world.run_until_idle().unwrap();
    assert_eq!(blkback.borrow().state(), CONNECTED);
    assert_eq!(
        world
            .xs_read_string(&format!("{}/state", paths.frontend))
            .unwrap(),
        CONNECTED.to_string()
    );
    // The ring is mapped by dom0: Xen marks the grant in use and the guest cannot end it.
    let ring_ref = front.ring_ref.unwrap();
    let flags = p.grants.entry_flags(ring_ref).unwrap();
    assert_ne!(flags & xen_sim::abi::GTF_reading, 0);
    assert!(matches!(
        p.grants.end_access(ring_ref),
        Err(xen_grant::GrantError::StillInUse(_))
    ));

    // Write 3 pages (24 sectors) at sector 10, read them back through the ring.
    let data = pattern(3 * 4096, 7);
    front.write(&mut p, 10, &data).unwrap();
    assert_eq!(
        &blkback.borrow().disk()[10 * 512..34 * 512],
        data.as_slice()
    );
    // Sectors around it untouched.
    assert!(blkback.borrow().disk()[9 * 512..10 * 512]
        .iter()
        .all(|b| *b == 0));
    assert!(blkback.borrow().disk()[34 * 512..35 * 512]
        .iter()
        .all(|b| *b == 0));
    let back = front.read(&mut p, 10, 24).unwrap();
    assert_eq!(back, data);
    // A partial read: 3 sectors from the middle, in one segment.
    let some = front.read(&mut p, 20, 3).unwrap();
    assert_eq!(some, data[10 * 512..13 * 512]);
    // Content put on the disk by dom0 is what the guest reads.
    blkback.borrow_mut().disk_mut()[200 * 512..201 * 512].fill(0xEE);
    assert_eq!(front.read(&mut p, 200, 1).unwrap(), vec![0xEE; 512]);
    front.flush(&mut p).unwrap();
    let stats = blkback.borrow().stats();
    assert_eq!(stats.ok, 5);
    assert_eq!(stats.flushes, 1);
    assert_eq!(stats.errors, 0);
    assert!(stats.notifications >= 5);
    assert!(p.upcalls >= 5, "responses arrive through the upcall");
    // Out of range: the backend answers with an error, the frontend carries on.
    let beyond = front.read(&mut p, 255, 2);
    assert_eq!(beyond, Err(common::blkfront::FrontError::Status(-1)));
    assert_eq!(front.read(&mut p, 0, 1).unwrap(), vec![0; 512]);
    assert_eq!(front.in_flight(), 0);
    // Data pages were granted per request and ended after it: only the ring is granted now.
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        1
    );
    assert_eq!(p.grants.in_use(), 1);

    // (c) Disconnect.
    front.disconnect(&mut p).unwrap();
    assert_eq!(blkback.borrow().state(), CLOSED);
    assert!(!blkback.borrow().is_connected());
    world.run_until_idle().unwrap();
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
    assert_eq!(
        world.with_sim(|sim| sim.hv.granted_refs(DomainId(5))),
        vec![]
    );
    // The grant table left the toolstack's reserved xenstore entry alone.
    assert_eq!(
        world.with_sim(|sim| sim.hv.grant_entry(DomainId(5), xen_hal::GrantRef(1))),
        Some((xen_sim::abi::GTF_permit_access, 0, guest.store_pfn.0 as u32))
    );
    // Only the xenstore event channel is left open (the backend's end went with Closing).
    assert_eq!(world.with_sim(|sim| sim.hv.open_ports(DomainId(5))), 1);
    assert_eq!(world.with_sim(|sim| sim.hv.open_ports(DomainId::DOM0)), 1);
    // Every data page and the ring page went back; what is left is the platform's.
    assert_eq!(memory.outstanding(), platform_pages);
    assert!(platform_pages > baseline_pages);
    assert!(world.violations().is_empty(), "{:?}", world.violations());
}

#[test]
fn handshake_over_many_requests_wraps_the_ring() {
    let world = World::new();
    let guest = world.create_guest(6, "vm6");
    let memory = guest.memory.clone();
    let (_paths, blkback) = world.attach_vbd(6, DEVID, 64);
    let mut p = Platform::new(&world, &guest, &memory);
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    front.connect(&mut p).unwrap();
    // 100 requests through a 32-slot ring: indices wrap three times.
    for i in 0..100u64 {
        let sector = i % 64;
        let data = pattern(512, i as u8);
        front.write(&mut p, sector, &data).unwrap();
        assert_eq!(front.read(&mut p, sector, 1).unwrap(), data);
    }
    assert_eq!(blkback.borrow().stats().ok, 200);
    front.disconnect(&mut p).unwrap();
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
}
