//! A simulated Xen machine for host tests of the frontend crates: the hypervisor (event
//! channels into shared_info, grant tables and mapping), xenstored, and a RAM-disk blkback.
//!
//! Single-threaded and deterministic: dom0's services run only when the test pumps them
//! ([`World::run_until_idle`]), or when a guest yields or polls through its hypervisor.
//! This crate is a test tool; no driver depends on it.
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod abi;
pub mod blkback;
pub mod clock;
pub mod grant;
pub mod hv;
pub mod memory;
pub mod toolstack;
pub mod world;
pub mod xenstored;

pub use blkback::{Blkback, BlkbackStats, Hostile};
pub use clock::SimClock;
pub use grant::{GrantStatus, MapHandle};
pub use hv::{Hv, Violation};
pub use memory::GuestMemory;
pub use toolstack::{vbd_paths, VbdPaths};
pub use world::{Backend, Guest, NotIdle, Sim, SimHypervisor, World};
pub use xenstored::{Access, ConnId, Perms, StoreError, WatchEvent, Xenstored};
