//! Model test: random interleavings of frontend and backend steps on one shared ring, checked
//! against a plain queue model of what each side should see and of `io/ring.h`'s indices.
//!
//! Start indices are drawn near `u32::MAX` (and anywhere), ring sizes from one to four pages
//! and from two entry sizes. Every request must reach the backend exactly once and in order,
//! every response the frontend exactly once and in order (its id resolving through the
//! [`IdTable`] to the right request), and every notify decision must equal the formula applied
//! to the model's indices.

use std::collections::VecDeque;

use proptest::prelude::*;
use xen_hal::fake::HeapPages;
use xen_ring::ids::IdTable;
use xen_ring::{BackRing, FrontRing, RingEntry, RingError};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// blkif_request-sized request.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct BigRequest {
    id: u64,
    sequence: u64,
    filler: [u64; 12],
}

/// A small request, so multi-page rings get many entries.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct SmallRequest {
    id: u64,
    sequence: u64,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Response {
    id: u64,
    sequence: u64,
}

trait Request: RingEntry + Copy {
    fn new(id: u64, sequence: u64) -> Self;
    fn id(&self) -> u64;
    fn sequence(&self) -> u64;
}

impl Request for BigRequest {
    fn new(id: u64, sequence: u64) -> Self {
        BigRequest {
            id,
            sequence,
            filler: [sequence ^ 0xA5A5; 12],
        }
    }
    fn id(&self) -> u64 {
        assert_eq!(self.filler, [self.sequence ^ 0xA5A5; 12], "torn request");
        self.id
    }
    fn sequence(&self) -> u64 {
        self.sequence
    }
}

impl Request for SmallRequest {
    fn new(id: u64, sequence: u64) -> Self {
        SmallRequest { id, sequence }
    }
    fn id(&self) -> u64 {
        self.id
    }
    fn sequence(&self) -> u64 {
        self.sequence
    }
}

#[derive(Clone, Copy, Debug)]
enum Step {
    FrontPush(u8),
    FrontPublish,
    FrontConsume(u8),
    FrontFinalCheck,
    BackConsume(u8),
    BackRespond(u8),
    BackPublish,
    BackFinalCheck,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..40).prop_map(Step::FrontPush),
        Just(Step::FrontPublish),
        (0u8..40).prop_map(Step::FrontConsume),
        Just(Step::FrontFinalCheck),
        (0u8..40).prop_map(Step::BackConsume),
        (0u8..40).prop_map(Step::BackRespond),
        Just(Step::BackPublish),
        Just(Step::BackFinalCheck),
    ]
}

fn start_index() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        (u32::MAX - 200)..=u32::MAX,
        (u32::MAX - 5000)..=u32::MAX,
        any::<u32>(),
    ]
}

/// `io/ring.h`'s notify rule, written out again for the model.
fn formula(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

/// The model: indices as `io/ring.h` defines them, and the queues of sequence numbers.
struct Model {
    size: u32,
    req_prod_pvt: u32,
    req_prod: u32,
    req_event: u32,
    req_cons: u32,
    rsp_prod_pvt: u32,
    rsp_prod: u32,
    rsp_event: u32,
    rsp_cons: u32,
    next_sequence: u64,
    /// Sequences the backend must see next, in order (published or not).
    to_backend: VecDeque<u64>,
    /// Sequences consumed by the backend, awaiting a response.
    unanswered: VecDeque<u64>,
    /// Responses pushed (published or not), in the order the frontend must see them.
    to_frontend: VecDeque<(u64, u64)>,
    delivered: u64,
    answered: u64,
}

struct Harness<Req> {
    _pages: HeapPages,
    front: FrontRing<Req, Response>,
    back: BackRing<Req, Response>,
    ids: IdTable<u64>,
    m: Model,
}

impl<Req: Request> Harness<Req> {
    fn new(order: u32, start: u32) -> Self {
        let pages = HeapPages::new(1 << order).unwrap();
        let front = FrontRing::init_at(pages.memory(), start).unwrap();
        let back = BackRing::attach(pages.memory()).unwrap();
        let size = front.size();
        Harness {
            _pages: pages,
            front,
            back,
            ids: IdTable::new(size).unwrap(),
            m: Model {
                size,
                req_prod_pvt: start,
                req_prod: start,
                req_event: start.wrapping_add(1),
                req_cons: start,
                rsp_prod_pvt: start,
                rsp_prod: start,
                rsp_event: start.wrapping_add(1),
                rsp_cons: start,
                next_sequence: 0,
                to_backend: VecDeque::new(),
                unanswered: VecDeque::new(),
                to_frontend: VecDeque::new(),
                delivered: 0,
                answered: 0,
            },
        }
    }

    fn apply(&mut self, step: Step) -> Result<(), TestCaseError> {
        let Harness {
            front,
            back,
            ids,
            m,
            ..
        } = self;
        match step {
            Step::FrontPush(n) => {
                for _ in 0..n {
                    let free = m.size - m.req_prod_pvt.wrapping_sub(m.rsp_cons);
                    prop_assert_eq!(front.free_requests(), free);
                    let sequence = m.next_sequence;
                    if free == 0 {
                        prop_assert_eq!(
                            front.push_request(&Req::new(0, sequence)),
                            Err(RingError::Full)
                        );
                        break;
                    }
                    let id = ids.allocate(sequence).unwrap();
                    front
                        .push_request(&Req::new(u64::from(id), sequence))
                        .unwrap();
                    m.req_prod_pvt = m.req_prod_pvt.wrapping_add(1);
                    m.next_sequence += 1;
                    m.to_backend.push_back(sequence);
                }
            }
            Step::FrontPublish => {
                let notify = front.push_requests_and_check_notify().unwrap();
                let expected = formula(m.req_prod, m.req_prod_pvt, m.req_event);
                prop_assert_eq!(notify, expected, "request notify");
                m.req_prod = m.req_prod_pvt;
            }
            Step::BackConsume(n) => {
                for _ in 0..n {
                    let published = m.req_prod.wrapping_sub(m.req_cons);
                    let room = m.size - m.req_cons.wrapping_sub(m.rsp_prod_pvt);
                    prop_assert_eq!(back.unconsumed_requests().unwrap(), published.min(room));
                    match back.next_request().unwrap() {
                        Some(request) => {
                            let expected = m.to_backend.pop_front();
                            prop_assert_eq!(Some(request.sequence()), expected, "request order");
                            prop_assert_eq!(ids.get(request.id()), expected.as_ref());
                            m.req_cons = m.req_cons.wrapping_add(1);
                            m.unanswered.push_back(request.id());
                            m.delivered += 1;
                        }
                        None => {
                            prop_assert_eq!(published.min(room), 0);
                            break;
                        }
                    }
                }
            }
            Step::BackRespond(n) => {
                for _ in 0..n {
                    let Some(id) = m.unanswered.pop_front() else {
                        prop_assert_eq!(
                            back.push_response(&Response { id: 0, sequence: 0 }),
                            Err(RingError::NoRequestToAnswer)
                        );
                        break;
                    };
                    // The backend echoes the id; the sequence lets the frontend check it.
                    let sequence = *ids.get(id).unwrap();
                    back.push_response(&Response { id, sequence }).unwrap();
                    m.rsp_prod_pvt = m.rsp_prod_pvt.wrapping_add(1);
                    m.to_frontend.push_back((id, sequence));
                }
            }
            Step::BackPublish => {
                let notify = back.push_responses_and_check_notify().unwrap();
                let expected = formula(m.rsp_prod, m.rsp_prod_pvt, m.rsp_event);
                prop_assert_eq!(notify, expected, "response notify");
                m.rsp_prod = m.rsp_prod_pvt;
            }
            Step::FrontConsume(n) => {
                for _ in 0..n {
                    let available = m.rsp_prod.wrapping_sub(m.rsp_cons);
                    prop_assert_eq!(front.unconsumed_responses().unwrap(), available);
                    match front.next_response().unwrap() {
                        Some(response) => {
                            let expected = m.to_frontend.pop_front();
                            prop_assert_eq!(Some((response.id, response.sequence)), expected);
                            prop_assert_eq!(ids.complete(response.id), Ok(response.sequence));
                            m.rsp_cons = m.rsp_cons.wrapping_add(1);
                            m.answered += 1;
                        }
                        None => {
                            prop_assert_eq!(available, 0);
                            break;
                        }
                    }
                }
            }
            Step::FrontFinalCheck => {
                let work = front.final_check_for_responses().unwrap();
                let available = m.rsp_prod.wrapping_sub(m.rsp_cons);
                if available == 0 {
                    m.rsp_event = m.rsp_cons.wrapping_add(1);
                }
                prop_assert_eq!(work, available > 0);
            }
            Step::BackFinalCheck => {
                let work = back.final_check_for_requests().unwrap();
                let published = m.req_prod.wrapping_sub(m.req_cons);
                let room = m.size - m.req_cons.wrapping_sub(m.rsp_prod_pvt);
                if published.min(room) == 0 {
                    m.req_event = m.req_cons.wrapping_add(1);
                }
                prop_assert_eq!(work, published.min(room) > 0);
            }
        }
        prop_assert_eq!(front.req_prod_pvt(), m.req_prod_pvt);
        prop_assert_eq!(front.rsp_cons(), m.rsp_cons);
        prop_assert_eq!(back.req_cons(), m.req_cons);
        prop_assert_eq!(back.rsp_prod_pvt(), m.rsp_prod_pvt);
        prop_assert_eq!(front.error(), None);
        prop_assert_eq!(back.error(), None);
        Ok(())
    }
}

fn run<Req: Request>(order: u32, start: u32, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut h: Harness<Req> = Harness::new(order, start);
    let size = h.front.size();
    prop_assert_eq!(h.back.size(), size);
    for &step in steps {
        h.apply(step)?;
    }
    // Drain: publish, let the backend take and answer everything, take every response. The
    // ring holds at most `size` requests, so one round per ring-full suffices.
    let rounds = h.m.next_sequence / u64::from(size) + 2;
    for _ in 0..rounds {
        for step in [
            Step::FrontPublish,
            Step::BackConsume(u8::MAX),
            Step::BackRespond(u8::MAX),
            Step::BackPublish,
            Step::FrontConsume(u8::MAX),
        ] {
            for _ in 0..=(size / u32::from(u8::MAX)) {
                h.apply(step)?;
            }
        }
    }
    prop_assert_eq!(
        h.m.delivered,
        h.m.next_sequence,
        "every request delivered once"
    );
    prop_assert_eq!(
        h.m.answered,
        h.m.next_sequence,
        "every response received once"
    );
    prop_assert!(h.m.to_backend.is_empty() && h.m.unanswered.is_empty());
    prop_assert!(h.m.to_frontend.is_empty());
    prop_assert_eq!(h.ids.in_flight(), 0);
    prop_assert_eq!(h.front.free_requests(), size);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn big_entries_match_the_model(
        order in 0u32..=2,
        start in start_index(),
        steps in proptest::collection::vec(step(), 0..120),
    ) {
        run::<BigRequest>(order, start, &steps)?;
    }

    #[test]
    fn small_entries_match_the_model(
        order in 0u32..=2,
        start in start_index(),
        steps in proptest::collection::vec(step(), 0..120),
    ) {
        run::<SmallRequest>(order, start, &steps)?;
    }
}
