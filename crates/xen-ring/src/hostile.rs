//! Hostile-backend scenarios driven by arbitrary bytes (the `ring_front_responses` fuzz target
//! and its regression tests).
//!
//! The bytes choose a ring size and start index, then a sequence of steps: the frontend pushes
//! and publishes requests, consumes responses, does its final check; the "backend" writes
//! whatever it likes into the shared header and entries. After every step the frontend must be
//! either consistent (its indices within the ring's bounds, no more responses taken than
//! requests published, every response id checked by an [`IdTable`]) or wedged in one terminal
//! [`RingError`] that every later call repeats. Any panic is a finding.
//!
//! [`back_requests`] is the mirror image for the simulator's backends: a hostile frontend
//! drives a [`BackRing`].

use core::sync::atomic::Ordering;

use xen_hal::fake::HeapPages;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::back::BackRing;
use crate::error::RingError;
use crate::front::FrontRing;
use crate::ids::IdTable;
use crate::layout::{REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};

/// A request as the scenario sends it (24 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ScenarioRequest {
    /// The id from the frontend's [`IdTable`].
    pub id: u64,
    /// A sequence number.
    pub sequence: u64,
    /// Filler.
    pub payload: u64,
}

/// A response as the scenario receives it (16 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct ScenarioResponse {
    /// The id the backend claims to answer.
    pub id: u64,
    /// Anything.
    pub status: u64,
}

/// How a scenario ended (for tests that want more than "did not panic").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The terminal error, if the ring was wedged.
    pub error: Option<RingError>,
    /// Responses taken off the ring.
    pub responses: u64,
    /// Responses whose id the id table refused.
    pub bad_ids: u64,
    /// Requests published.
    pub published: u64,
}

/// Reads the bytes of a scenario front to back; missing bytes read as zero.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    fn u32(&mut self) -> u32 {
        let mut value = [0u8; 4];
        for byte in &mut value {
            *byte = self.u8().unwrap_or(0);
        }
        u32::from_le_bytes(value)
    }
}

/// Runs the scenario the bytes describe. Panics (with a message naming the broken property) only
/// if the ring breaks its contract, which is what the fuzzer looks for.
pub fn front_responses(data: &[u8]) -> Outcome {
    let mut bytes = Bytes { data };
    let order = usize::from(bytes.u8().unwrap_or(0) % 3);
    let start = bytes.u32();
    let Ok(pages) = HeapPages::new(1 << order) else {
        return Outcome {
            error: None,
            responses: 0,
            bad_ids: 0,
            published: 0,
        };
    };
    let mem = pages.memory();
    let mut front: FrontRing<ScenarioRequest, ScenarioResponse> =
        FrontRing::init_at(mem, start).expect("a fresh ring initialises");
    let size = front.size();
    let layout = front.layout();
    let mut ids: IdTable<u64> = IdTable::new(size).expect("id table");
    let mut outcome = Outcome {
        error: None,
        responses: 0,
        bad_ids: 0,
        published: 0,
    };
    let mut sequence = 0u64;

    // At most one step per byte: the scenario is bounded by the input length.
    while let Some(op) = bytes.u8() {
        let result: Result<(), RingError> = match op % 9 {
            // Frontend: push up to 15 requests, then publish.
            0 => {
                let count = bytes.u8().unwrap_or(0) % 16;
                let mut result = Ok(());
                for _ in 0..count {
                    if front.free_requests() == 0 {
                        break;
                    }
                    let Ok(id) = ids.allocate(sequence) else {
                        break;
                    };
                    let request = ScenarioRequest {
                        id: u64::from(id),
                        sequence,
                        payload: !sequence,
                    };
                    if let Err(e) = front.push_request(&request) {
                        result = Err(e);
                        break;
                    }
                    sequence += 1;
                }
                result.and_then(|()| {
                    let before = front.outstanding();
                    front.push_requests_and_check_notify().map(|_| {
                        outcome.published += u64::from(front.outstanding().wrapping_sub(before));
                    })
                })
            }
            // Backend: publish an arbitrary rsp_prod.
            1 => store(&mem, RSP_PROD, bytes.u32()),
            // Backend: publish a plausible rsp_prod, a small distance from rsp_cons.
            2 => {
                let delta = u32::from(bytes.u8().unwrap_or(0)).wrapping_sub(8);
                store(&mem, RSP_PROD, front.rsp_cons().wrapping_add(delta))
            }
            // Backend: write an arbitrary req_event.
            3 => store(&mem, REQ_EVENT, bytes.u32()),
            // Backend: write a response entry (id chosen from the bytes, often a live one).
            4 => {
                let slot = bytes.u32();
                let id = u64::from(bytes.u8().unwrap_or(0));
                let status = u64::from(bytes.u32());
                let offset = layout.slot_offset(slot);
                mem.write_obj(offset, &ScenarioResponse { id, status })
                    .map_err(RingError::from)
            }
            // Frontend: consume every response on the ring (bounded by the ring size).
            5 => {
                let mut result = Ok(());
                for _ in 0..=size {
                    match front.next_response() {
                        Ok(Some(response)) => {
                            outcome.responses += 1;
                            if ids.complete(response.id).is_err() {
                                outcome.bad_ids += 1;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result
            }
            // Frontend: final check.
            6 => front.final_check_for_responses().map(|_| ()),
            // Backend scribbles over the frontend's own req_prod and rsp_event.
            7 => store(&mem, REQ_PROD, bytes.u32()),
            _ => store(&mem, RSP_EVENT, bytes.u32()),
        };
        check_consistent(&mut front, result, &outcome);
    }
    outcome.error = front.error();
    outcome
}

/// Runs a hostile-frontend scenario against a [`BackRing`]: the bytes choose a ring size and
/// start index, then steps in which the "frontend" writes arbitrary `req_prod`, `rsp_event` and
/// entries and the backend consumes, answers, publishes and does its final check. Returns the
/// number of requests the backend took and its terminal error, if any. Panics only if the ring
/// breaks its contract.
pub fn back_requests(data: &[u8]) -> (u64, Option<RingError>) {
    let mut bytes = Bytes { data };
    let order = usize::from(bytes.u8().unwrap_or(0) % 3);
    let start = bytes.u32();
    let Ok(pages) = HeapPages::new(1 << order) else {
        return (0, None);
    };
    let mem = pages.memory();
    // The frontend initialises the ring, then turns hostile.
    let front: FrontRing<ScenarioRequest, ScenarioResponse> =
        FrontRing::init_at(mem, start).expect("a fresh ring initialises");
    let layout = front.layout();
    let size = front.size();
    let mut back: BackRing<ScenarioRequest, ScenarioResponse> =
        BackRing::attach(mem).expect("attach to a fresh ring");
    let mut taken = 0u64;
    while let Some(op) = bytes.u8() {
        let result: Result<(), RingError> = match op % 7 {
            0 => store(&mem, REQ_PROD, bytes.u32()),
            1 => {
                let delta = u32::from(bytes.u8().unwrap_or(0)).wrapping_sub(8);
                store(&mem, REQ_PROD, back.req_cons().wrapping_add(delta))
            }
            2 => {
                let slot = bytes.u32();
                let value = u64::from(bytes.u32());
                let request = ScenarioRequest {
                    id: value,
                    sequence: value,
                    payload: value,
                };
                mem.write_obj(layout.slot_offset(slot), &request)
                    .map_err(RingError::from)
            }
            3 => {
                let mut result = Ok(());
                for _ in 0..=size {
                    match back.next_request() {
                        Ok(Some(_)) => taken += 1,
                        Ok(None) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result
            }
            4 => {
                let count = bytes.u8().unwrap_or(0) % 16;
                let mut result = Ok(());
                for _ in 0..count {
                    match back.push_response(&ScenarioResponse { id: 0, status: 0 }) {
                        Ok(()) => {}
                        Err(RingError::NoRequestToAnswer) => break,
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                result.and_then(|()| back.push_responses_and_check_notify().map(|_| ()))
            }
            5 => back.final_check_for_requests().map(|_| ()),
            _ => store(&mem, RSP_EVENT, bytes.u32()),
        };
        match back.error() {
            Some(error) => {
                assert!(error.is_terminal(), "wedged in a non-terminal error");
                assert_eq!(back.next_request(), Err(error), "wedged ring forgot");
                assert_eq!(back.final_check_for_requests(), Err(error));
                assert_eq!(
                    back.push_response(&ScenarioResponse { id: 0, status: 0 }),
                    Err(error)
                );
            }
            None => {
                if let Err(e) = result {
                    assert!(!e.is_terminal(), "terminal error {e:?} not recorded");
                }
                assert!(
                    back.pending_responses() <= size,
                    "more requests taken than slots"
                );
            }
        }
    }
    (taken, back.error())
}

fn store(mem: &xen_hal::SharedMemory, offset: usize, value: u32) -> Result<(), RingError> {
    mem.store_u32(offset, value, Ordering::Release)
        .map_err(RingError::from)
}

/// The properties every step must leave true.
fn check_consistent(
    front: &mut FrontRing<ScenarioRequest, ScenarioResponse>,
    result: Result<(), RingError>,
    outcome: &Outcome,
) {
    let size = front.size();
    match front.error() {
        Some(error) => {
            assert!(error.is_terminal(), "wedged in a non-terminal error");
            assert_eq!(front.free_requests(), 0, "a wedged ring offers slots");
            assert_eq!(front.next_response(), Err(error), "wedged ring forgot");
            assert_eq!(front.final_check_for_responses(), Err(error));
            assert_eq!(front.push_requests_and_check_notify(), Err(error));
        }
        None => {
            if let Err(e) = result {
                assert!(!e.is_terminal(), "terminal error {e:?} not recorded");
            }
            let in_use = front.req_prod_pvt().wrapping_sub(front.rsp_cons());
            assert!(in_use <= size, "more requests in use than slots");
            assert_eq!(front.free_requests(), size - in_use);
            assert!(front.outstanding() <= in_use);
            assert!(
                outcome.responses <= outcome.published,
                "more responses taken than requests published"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn empty_input_is_a_quiet_ring() {
        let outcome = front_responses(&[]);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.responses, 0);
    }

    #[test]
    fn honest_looking_backend_gets_its_responses_taken() {
        // Order 0, start 0; push 3 requests; backend writes responses for ids 0..3 in slots
        // 0..3 and publishes rsp_prod = 3 (delta 11 - 8); frontend consumes.
        let mut data = vec![0, 0, 0, 0, 0, 0, 3];
        for slot in 0u8..3 {
            data.extend_from_slice(&[4, slot, 0, 0, 0, slot, 0, 0, 0, 0]);
        }
        data.extend_from_slice(&[2, 11, 5]);
        let outcome = front_responses(&data);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.published, 3);
        assert_eq!(outcome.responses, 3);
        assert_eq!(outcome.bad_ids, 0);
    }

    #[test]
    fn response_producer_far_ahead_wedges_the_ring() {
        // Push 2 requests, backend publishes rsp_prod = 0x8000_0000, frontend consumes.
        let data = [0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0x80, 5, 5, 6];
        let outcome = front_responses(&data);
        assert!(matches!(
            outcome.error,
            Some(RingError::ResponseProducerOverflow { .. })
        ));
        assert_eq!(outcome.responses, 0);
    }

    #[test]
    fn scribbled_req_prod_does_not_confuse_the_frontend() {
        // Push 4, backend overwrites req_prod with garbage, push 4 more, publish 3 responses.
        let data = [
            0, 0xFE, 0xFF, 0xFF, 0xFF, 0, 4, 7, 0x44, 0x33, 0x22, 0x11, 0, 4, 2, 11, 5,
        ];
        let outcome = front_responses(&data);
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.published, 8);
        assert_eq!(outcome.responses, 3);
        // The backend wrote no responses, so the frontend reads back its own requests (entries
        // are shared by both directions): their first word is a live id each time.
        assert_eq!(outcome.bad_ids, 0);
    }

    /// Found by the fuzzer in 1 s against a mutant whose `unconsumed_responses` checked
    /// `rsp_prod` only against the ring size: a 4-page ring, rsp_prod 247 ahead with nothing
    /// requested, then a consume. The real ring must refuse it.
    #[test]
    fn regression_responses_without_requests_within_ring_size() {
        let data = [164, 221, 170, 170, 165, 164, 255, 221];
        let outcome = front_responses(&data);
        assert_eq!(outcome.responses, 0);
        assert_eq!(
            outcome.error,
            Some(RingError::ResponseProducerOverflow {
                rsp_prod: 0xA5AA_AADDu32.wrapping_add(247),
                rsp_cons: 0xA5AA_AADD,
                req_prod: 0xA5AA_AADD,
            })
        );
    }

    #[test]
    fn hostile_frontend_overflow_wedges_the_backend() {
        // Order 0, start 0; the frontend publishes req_prod = 129 on a 128-entry ring (24-byte
        // entries), the backend tries to consume: RING_REQUEST_PROD_OVERFLOW.
        let data = [0, 0, 0, 0, 0, 0, 129, 0, 0, 0, 3, 5];
        let (taken, error) = back_requests(&data);
        assert_eq!(taken, 0);
        assert_eq!(
            error,
            Some(RingError::RequestProducerOverflow {
                req_prod: 129,
                rsp_prod_pvt: 0
            })
        );
        // 128 is a legal ring-full: all taken, no error.
        let (taken, error) = back_requests(&[0, 0, 0, 0, 0, 0, 128, 0, 0, 0, 3, 5]);
        assert_eq!((taken, error), (128, None));
    }
}
