//! (d, ring part) A hostile blkback: responses with ids never issued, a response producer
//! pushed beyond the requests, garbage in its xenstore state. The frontend's crates report
//! typed errors (`xen_ring::ids::IdError`, `xen_ring::RingError`) and nothing panics, hangs or
//! leaks a grant the frontend could have ended.

mod common;

use common::blkfront::{FrontError, MiniBlkfront, Platform};
use xen_hal::DomainId;
use xen_ring::ids::IdError;
use xen_ring::RingError;
use xen_sim::{Hostile, World};

const DEVID: u32 = 832;

#[test]
fn response_with_a_wrong_id_is_a_typed_error() {
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (_paths, blkback) = world.attach_vbd(4, DEVID, 64);
    let mut p = Platform::new(&world, &guest, &memory);
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    front.connect(&mut p).unwrap();
    front.write(&mut p, 0, &[1; 512]).unwrap();
    blkback.borrow_mut().set_hostile(Hostile {
        wrong_id: true,
        ..Hostile::default()
    });
    let result = front.read(&mut p, 0, 1);
    assert!(
        matches!(
            result,
            Err(FrontError::Id(
                IdError::Unknown { .. } | IdError::NotInFlight { .. }
            ))
        ),
        "{result:?}"
    );
    // The frontend stays in its error state: no further request reaches the ring.
    let before = blkback.borrow().stats();
    assert!(front.read(&mut p, 0, 1).is_err());
    assert_eq!(blkback.borrow().stats(), before);
    // The request whose response never came keeps its grant (the backend may still write
    // into the page): exactly one data grant besides the ring, none mapped by the backend.
    assert_eq!(front.in_flight(), 1);
    assert_eq!(p.grants.in_use(), 2);
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        1
    );
    // Disconnect still works and the backend lets go of everything.
    front.disconnect(&mut p).unwrap();
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert!(world.violations().is_empty());
}

#[test]
fn response_producer_overflow_wedges_the_ring_with_a_typed_error() {
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (_paths, blkback) = world.attach_vbd(4, DEVID, 64);
    let mut p = Platform::new(&world, &guest, &memory);
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    front.connect(&mut p).unwrap();
    blkback.borrow_mut().set_hostile(Hostile {
        overflow_rsp_prod: true,
        ..Hostile::default()
    });
    let result = front.write(&mut p, 0, &[2; 1024]);
    assert!(
        matches!(
            result,
            Err(FrontError::Ring(RingError::ResponseProducerOverflow { .. }))
        ),
        "{result:?}"
    );
    // Terminal: every later request fails without touching the ring.
    let before = blkback.borrow().stats();
    assert!(front.write(&mut p, 0, &[2; 512]).is_err());
    assert_eq!(blkback.borrow().stats(), before);
    front.disconnect(&mut p).unwrap();
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
}

#[test]
fn garbage_backend_state_is_refused() {
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (paths, blkback) = world.attach_vbd(4, DEVID, 64);
    // The backend writes garbage instead of InitWait.
    blkback.borrow_mut().set_hostile(Hostile {
        garbage_state: Some("4x\u{7f}".into()),
        ..Hostile::default()
    });
    world.run_until_idle().unwrap();
    assert_eq!(
        world.xs_read(&format!("{}/state", paths.backend)).unwrap(),
        b"4x\x7f"
    );
    let mut p = Platform::new(&world, &guest, &memory);
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    let result = front.connect(&mut p);
    assert_eq!(
        result,
        Err(FrontError::Xenbus(xenbus::XenbusError::BadState(
            xenbus::state::StateError::NotANumber
        )))
    );
    // Nothing was granted or bound before the backend was seen in InitWait.
    assert_eq!(p.grants.in_use(), 0);
    assert_eq!(world.with_sim(|sim| sim.hv.open_ports(DomainId(4))), 1);
}

#[test]
fn bad_segments_fail_the_request_not_the_backend() {
    use xen_public_headers::io::blkif::BLKIF_OP_WRITE;
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (_paths, blkback) = world.attach_vbd(4, DEVID, 64);
    let mut p = Platform::new(&world, &guest, &memory);
    let mut front = MiniBlkfront::probe(&mut p, DEVID).unwrap();
    front.connect(&mut p).unwrap();
    // first_sect after last_sect, last_sect beyond the page, beyond the disk, 12 segments.
    let mut segs = common::blkfront::pages_for(&memory, 512);
    segs[0].first_sect = 5;
    segs[0].last_sect = 4;
    assert_eq!(
        front.submit(&mut p, BLKIF_OP_WRITE, 0, &segs),
        Err(FrontError::Status(-1))
    );
    segs[0].first_sect = 0;
    segs[0].last_sect = 8;
    assert_eq!(
        front.submit(&mut p, BLKIF_OP_WRITE, 0, &segs),
        Err(FrontError::Status(-1))
    );
    segs[0].last_sect = 7;
    assert_eq!(
        front.submit(&mut p, BLKIF_OP_WRITE, 60, &segs),
        Err(FrontError::Status(-1))
    );
    let many = common::blkfront::pages_for(&memory, 12 * 4096);
    let result = front.submit(&mut p, BLKIF_OP_WRITE, 0, &many);
    assert_eq!(result, Err(FrontError::Status(-1)));
    assert_eq!(blkback.borrow().stats().errors, 4);
    assert!(blkback.borrow().disk().iter().all(|b| *b == 0));
    // Still serving.
    front.write(&mut p, 1, &[9; 512]).unwrap();
    assert_eq!(front.read(&mut p, 1, 1).unwrap(), vec![9; 512]);
    front.disconnect(&mut p).unwrap();
    assert_eq!(p.grants.in_use(), 0);
}
