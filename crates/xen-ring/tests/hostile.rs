//! Hostile and broken peers: every bad index or id ends in a typed error, the ring stays wedged
//! in it, and nothing panics or loops.

use core::sync::atomic::Ordering;

use xen_hal::fake::HeapPages;
use xen_hal::SharedMemory;
use xen_ring::ids::{IdError, IdTable};
use xen_ring::layout::{REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};
use xen_ring::{BackRing, FrontRing, RingError, RingLayout};

type Front = FrontRing<[u64; 14], [u64; 2]>;
type Back = BackRing<[u64; 14], [u64; 2]>;

fn set(mem: &SharedMemory, offset: usize, value: u32) {
    mem.store_u32(offset, value, Ordering::SeqCst).unwrap();
}

fn get(mem: &SharedMemory, offset: usize) -> u32 {
    mem.load_u32(offset, Ordering::SeqCst).unwrap()
}

/// A front ring at `start` with `count` requests published.
fn front_with_requests(pages: &HeapPages, start: u32, count: u32) -> Front {
    let mut front = Front::init_at(pages.memory(), start).unwrap();
    for i in 0..count {
        front.push_request(&[u64::from(i); 14]).unwrap();
    }
    front.push_requests_and_check_notify().unwrap();
    front
}

fn assert_wedged(front: &mut Front, error: RingError) {
    assert_eq!(front.error(), Some(error));
    assert_eq!(front.next_response(), Err(error));
    assert_eq!(front.unconsumed_responses(), Err(error));
    assert_eq!(front.final_check_for_responses(), Err(error));
    assert_eq!(front.push_request(&[0; 14]), Err(error));
    assert_eq!(front.push_requests_and_check_notify(), Err(error));
    assert_eq!(front.free_requests(), 0);
    assert!(front.is_full());
}

#[test]
fn more_responses_than_requests_wedge_the_frontend() {
    let pages = HeapPages::new(1).unwrap();
    let start = u32::MAX - 1;
    let mut front = front_with_requests(&pages, start, 2);
    set(&pages.memory(), RSP_PROD, start.wrapping_add(3));
    let error = RingError::ResponseProducerOverflow {
        rsp_prod: 1,
        rsp_cons: start,
        req_prod: 0,
    };
    assert_eq!(front.next_response(), Err(error));
    assert!(error.is_peer_fault() && error.is_terminal());
    // The backend "fixing" rsp_prod afterwards does not revive the ring.
    set(&pages.memory(), RSP_PROD, start.wrapping_add(1));
    assert_wedged(&mut front, error);
}

#[test]
fn responses_to_unpublished_requests_are_refused() {
    let pages = HeapPages::new(1).unwrap();
    let mut front = front_with_requests(&pages, 0, 2);
    front.push_request(&[9; 14]).unwrap(); // pushed, not published
    set(&pages.memory(), RSP_PROD, 3);
    assert!(matches!(
        front.next_response(),
        Err(RingError::ResponseProducerOverflow { rsp_prod: 3, .. })
    ));
}

#[test]
fn response_producer_far_ahead_or_behind_is_an_overflow() {
    for bad in [0x8000_0000u32, u32::MAX, 33, 1000] {
        let pages = HeapPages::new(1).unwrap();
        let mut front = front_with_requests(&pages, 0, 32);
        set(&pages.memory(), RSP_PROD, bad);
        assert!(
            matches!(
                front.final_check_for_responses(),
                Err(RingError::ResponseProducerOverflow { rsp_prod, .. }) if rsp_prod == bad
            ),
            "rsp_prod {bad}"
        );
    }
    // Behind: the backend moves rsp_prod back past what the frontend consumed.
    let pages = HeapPages::new(1).unwrap();
    let mut front = front_with_requests(&pages, 10, 4);
    set(&pages.memory(), RSP_PROD, 12);
    assert!(front.next_response().unwrap().is_some());
    assert!(front.next_response().unwrap().is_some());
    set(&pages.memory(), RSP_PROD, 11);
    assert!(matches!(
        front.next_response(),
        Err(RingError::ResponseProducerOverflow {
            rsp_prod: 11,
            rsp_cons: 12,
            ..
        })
    ));
}

#[test]
fn a_full_ring_of_responses_is_accepted_exactly() {
    // Order 2 (4 pages): every slot in flight, then answered at once: legal.
    let pages = HeapPages::new(4).unwrap();
    let start = u32::MAX - 50;
    let layout = RingLayout::for_order::<[u64; 14], [u64; 2]>(2).unwrap();
    assert_eq!(layout.entries(), 128);
    let mut front = Front::init_at(pages.memory(), start).unwrap();
    for i in 0..128u64 {
        front.push_request(&[i; 14]).unwrap();
    }
    assert_eq!(front.push_request(&[0; 14]), Err(RingError::Full));
    assert_eq!(
        front.error(),
        None,
        "a full ring is the caller's problem, not terminal"
    );
    front.push_requests_and_check_notify().unwrap();
    set(&pages.memory(), RSP_PROD, start.wrapping_add(128));
    assert_eq!(front.unconsumed_responses(), Ok(128));
    let mut count = 0;
    while front.next_response().unwrap().is_some() {
        count += 1;
    }
    assert_eq!(count, 128);
    assert_eq!(front.free_requests(), 128);
}

#[test]
fn frontend_request_overflow_wedges_the_backend() {
    let pages = HeapPages::new(1).unwrap();
    let start = u32::MAX - 3;
    let _front = front_with_requests(&pages, start, 0);
    let mut back = Back::attach(pages.memory()).unwrap();
    // Exactly a ring's worth is legal.
    set(&pages.memory(), REQ_PROD, start.wrapping_add(32));
    assert_eq!(back.unconsumed_requests(), Ok(32));
    // One more is RING_REQUEST_PROD_OVERFLOW.
    set(&pages.memory(), REQ_PROD, start.wrapping_add(33));
    let error = RingError::RequestProducerOverflow {
        req_prod: start.wrapping_add(33),
        rsp_prod_pvt: start,
    };
    assert_eq!(back.next_request(), Err(error));
    set(&pages.memory(), REQ_PROD, start);
    assert_eq!(back.next_request(), Err(error));
    assert_eq!(back.final_check_for_requests(), Err(error));
    assert_eq!(back.push_response(&[0; 2]), Err(error));
    assert_eq!(back.push_responses_and_check_notify(), Err(error));
    assert_eq!(back.error(), Some(error));
}

#[test]
fn backend_cannot_consume_past_unanswered_requests() {
    let pages = HeapPages::new(1).unwrap();
    let _front = front_with_requests(&pages, 0, 0);
    let mut back = Back::attach(pages.memory()).unwrap();
    set(&pages.memory(), REQ_PROD, 32);
    for _ in 0..32 {
        assert!(back.next_request().unwrap().is_some());
    }
    // The frontend claims more requests although none were answered: overflow.
    set(&pages.memory(), REQ_PROD, 40);
    assert!(matches!(
        back.next_request(),
        Err(RingError::RequestProducerOverflow { req_prod: 40, .. })
    ));
}

#[test]
fn backend_answers_only_consumed_requests() {
    let pages = HeapPages::new(1).unwrap();
    let _front = front_with_requests(&pages, 7, 1);
    let mut back = Back::attach(pages.memory()).unwrap();
    assert_eq!(
        back.push_response(&[1, 1]),
        Err(RingError::NoRequestToAnswer)
    );
    assert!(back.next_request().unwrap().is_some());
    back.push_response(&[1, 1]).unwrap();
    assert_eq!(
        back.push_response(&[1, 1]),
        Err(RingError::NoRequestToAnswer)
    );
    assert_eq!(back.error(), None);
}

#[test]
fn bad_response_ids_are_typed_errors_and_the_ring_stays_usable() {
    let pages = HeapPages::new(1).unwrap();
    let mut front: FrontRing<[u64; 14], [u64; 2]> = FrontRing::init(pages.memory()).unwrap();
    let mut back = Back::attach(pages.memory()).unwrap();
    let mut ids: IdTable<&str> = IdTable::new(front.size()).unwrap();
    let id = ids.allocate("read sector 0").unwrap();
    front.push_request(&[u64::from(id); 14]).unwrap();
    front.push_requests_and_check_notify().unwrap();
    let request = back.next_request().unwrap().unwrap();
    // The backend answers the real id, then the same id again, an id never issued, and one
    // far out of range, in a burst it cannot legally send (only one request was pushed):
    back.push_response(&[request[0], 0]).unwrap();
    back.push_responses_and_check_notify().unwrap();
    let response = front.next_response().unwrap().unwrap();
    assert_eq!(ids.complete(response[0]), Ok("read sector 0"));
    // Replayed response (same id, same slot contents) published by moving rsp_prod by hand.
    set(&pages.memory(), RSP_PROD, 2);
    assert!(matches!(
        front.next_response(),
        Err(RingError::ResponseProducerOverflow { .. })
    ));
    assert_eq!(
        ids.complete(response[0]),
        Err(IdError::DuplicateCompletion { id: 0 })
    );
    assert_eq!(ids.complete(5), Err(IdError::NotInFlight { id: 5 }));
    assert_eq!(ids.complete(1 << 40), Err(IdError::Unknown { id: 1 << 40 }));
    assert_eq!(ids.in_flight(), 0);
}

#[test]
fn legal_responses_with_garbage_ids_reach_the_id_table_only() {
    let pages = HeapPages::new(1).unwrap();
    let mut front: FrontRing<[u64; 14], [u64; 2]> = FrontRing::init(pages.memory()).unwrap();
    let mut back = Back::attach(pages.memory()).unwrap();
    let mut ids: IdTable<u32> = IdTable::new(front.size()).unwrap();
    for i in 0..3 {
        let id = ids.allocate(i).unwrap();
        front.push_request(&[u64::from(id); 14]).unwrap();
    }
    front.push_requests_and_check_notify().unwrap();
    for bogus in [u64::MAX, 31, 2] {
        back.next_request().unwrap().unwrap();
        back.push_response(&[bogus, 0]).unwrap();
    }
    back.push_responses_and_check_notify().unwrap();
    let mut results = Vec::new();
    while let Some(response) = front.next_response().unwrap() {
        results.push(ids.complete(response[0]));
    }
    assert_eq!(
        results,
        vec![
            Err(IdError::Unknown { id: u64::MAX }),
            Err(IdError::NotInFlight { id: 31 }),
            Ok(2),
        ]
    );
    assert_eq!(front.error(), None);
    // The two requests never answered are still in flight, ready for replay.
    let pending: Vec<(u32, u32)> = ids.iter_in_flight().map(|(id, s)| (id, *s)).collect();
    assert_eq!(pending, vec![(0, 0), (1, 1)]);
}

#[test]
fn notifications_follow_the_event_indices() {
    let pages = HeapPages::new(1).unwrap();
    let mem = pages.memory();
    let start = u32::MAX;
    let mut front = Front::init_at(mem, start).unwrap();
    assert_eq!(get(&mem, REQ_EVENT), 0);
    assert_eq!(get(&mem, RSP_EVENT), 0);
    let mut back = Back::attach(mem).unwrap();
    front.push_request(&[0; 14]).unwrap();
    assert!(
        front.push_requests_and_check_notify().unwrap(),
        "req_event = start + 1"
    );
    front.push_request(&[0; 14]).unwrap();
    assert!(
        !front.push_requests_and_check_notify().unwrap(),
        "backend not waiting"
    );
    assert!(back.next_request().unwrap().is_some());
    assert!(back.next_request().unwrap().is_some());
    assert!(!back.final_check_for_requests().unwrap());
    assert_eq!(get(&mem, REQ_EVENT), start.wrapping_add(3));
    front.push_request(&[0; 14]).unwrap();
    assert!(
        front.push_requests_and_check_notify().unwrap(),
        "backend asked again"
    );
    // Responses: the frontend asked at init for the first one.
    back.push_response(&[0; 2]).unwrap();
    assert!(back.push_responses_and_check_notify().unwrap());
    back.push_response(&[0; 2]).unwrap();
    assert!(!back.push_responses_and_check_notify().unwrap());
    // Final check with responses waiting does not move rsp_event.
    assert!(front.final_check_for_responses().unwrap());
    assert_eq!(get(&mem, RSP_EVENT), start.wrapping_add(1));
    // A hostile req_event anywhere only changes the decision, never the ring's state.
    set(&mem, REQ_EVENT, 0xDEAD_BEEF);
    front.push_request(&[0; 14]).unwrap();
    assert!(!front.push_requests_and_check_notify().unwrap());
    assert_eq!(front.error(), None);
}

#[test]
fn attach_checks_the_indices_it_finds() {
    let pages = HeapPages::new(1).unwrap();
    let mem = pages.memory();
    let mut front = front_with_requests(&pages, 100, 5);
    set(&mem, RSP_PROD, 102);
    assert!(front.next_response().unwrap().is_some());
    // Re-attach (as after resume): 3 requests remain outstanding.
    let mut again = Front::attach(mem).unwrap();
    assert_eq!(again.outstanding(), 3);
    assert_eq!(again.rsp_cons(), 102);
    assert_eq!(again.free_requests(), 29);
    assert_eq!(again.next_response(), Ok(None));
    // Indices no ring can have.
    set(&mem, REQ_PROD, 102 + 33);
    assert_eq!(
        Front::attach(mem).err(),
        Some(RingError::InconsistentIndices {
            req_prod: 135,
            rsp_prod: 102
        })
    );
    set(&mem, REQ_PROD, 101);
    assert!(matches!(
        Front::attach(mem),
        Err(RingError::InconsistentIndices { .. })
    ));
}

#[test]
fn bad_windows_are_refused_not_trusted() {
    let pages = HeapPages::new(1).unwrap();
    let mem = pages.memory();
    assert_eq!(
        Front::init(mem.window(0, 100).unwrap()).err(),
        Some(RingError::RegionTooSmall { len: 100 })
    );
    // A misaligned window cannot hold atomic indices.
    assert!(matches!(
        Front::init(mem.window(2, 4000).unwrap()),
        Err(RingError::Memory(_))
    ));
}
