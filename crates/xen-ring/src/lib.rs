//! Xen's shared I/O ring protocol (the semantics of `io/ring.h`) over [`xen_hal::SharedMemory`].
//!
//! A shared ring is one or more pages (`2^order`, as blkif's `max-ring-page-order` /
//! `ring-ref%u`) holding a 64-byte header (`req_prod`, `req_event`, `rsp_prod`, `rsp_event`,
//! padding) followed by a power-of-two number of entries, each large enough for either a request
//! or a response. The frontend produces requests and consumes responses ([`FrontRing`]); the
//! backend does the opposite ([`BackRing`], used by the host-test simulator's blkback/netback).
//!
//! Contract: reading never panics on peer-controlled data. Every index the peer publishes is
//! checked against what it may legally be (`RING_RESPONSE_PROD_OVERFLOW`,
//! `RING_REQUEST_PROD_OVERFLOW`); a violation moves the ring into a terminal error state in
//! which every further call returns the same [`RingError`]. Indices are `u32` and wrap; all
//! index arithmetic is wrapping. Entries are copied in and out with volatile accesses; no
//! reference to shared memory is ever made.
//!
//! The hot path works in batches, as `io/ring.h` users do: the peer's producer index is read
//! and checked once per batch (`unconsumed_responses` / `unconsumed_requests`), entries are
//! then copied out once each, straight into their final place (`take_response_into` /
//! `take_request_into`), and a request or response slot is filled in place field by field
//! (`push_request_with` / `push_response_with` and [`Slot`]); nothing the peer wrote is read
//! twice for a decision. `cargo xtask bench` sets this loop beside the C macros.
//!
//! [`ids::IdTable`] keeps the shadow of every in-flight request under a small id, so responses
//! with bad ids are typed errors and in-flight requests can be replayed after resume.
//!
//! ```
//! use xen_hal::fake::HeapPages;
//! use xen_ring::{BackRing, FrontRing};
//!
//! let pages = HeapPages::new(1).unwrap();
//! let mut front: FrontRing<[u64; 14], [u64; 2]> = FrontRing::init(pages.memory()).unwrap();
//! let mut back: BackRing<[u64; 14], [u64; 2]> = BackRing::attach(pages.memory()).unwrap();
//! assert_eq!(front.size(), 32); // 112-byte entries: 36 fit in a page, rounded down
//!
//! front.push_request(&[7; 14]).unwrap();
//! assert!(front.push_requests_and_check_notify().unwrap()); // the backend asked at init
//! let request = back.next_request().unwrap().unwrap();
//! back.push_response(&[request[0], 0]).unwrap();
//! assert!(back.push_responses_and_check_notify().unwrap());
//! assert_eq!(front.next_response().unwrap(), Some([7, 0]));
//! assert!(!front.final_check_for_responses().unwrap());
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod back;
mod error;
mod front;
#[cfg(any(test, feature = "test-utils"))]
pub mod hostile;
pub mod ids;
pub mod layout;
mod slot;

pub use back::BackRing;
pub use error::RingError;
pub use front::FrontRing;
pub use layout::{RingEntry, RingLayout, MAX_RING_PAGE_ORDER};
pub use slot::Slot;
