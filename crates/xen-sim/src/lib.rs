//! A simulated Xen machine for host tests of the frontend crates: the hypervisor (event
//! channels into shared_info, grant tables and mapping), xenstored, and a RAM-disk blkback.
//!
//! Single-threaded and deterministic: dom0's services run only when the test pumps them
//! ([`World::run_until_idle`]), or when a guest yields or polls through its hypervisor.
//! This crate is a test tool; no driver depends on it.
//!
//! Pieces:
//! - [`World`]: dom0 (xenstored, backends) and guests made as the toolstack makes them
//!   ([`World::create_guest`]: RAM, grant table, xenstore ring and event channel in the HVM
//!   params, `/local/domain/<id>` with libxl's permissions).
//! - [`SimHypervisor`]: a guest's [`xen_hal::Hypervisor`] with Xen 4.17's semantics and errnos;
//!   [`Hv`] holds the state (event channels delivered into the guest's `shared_info` page, grant
//!   tables read from the guest's frames, backend grant mappings with `GTF_reading`/`GTF_writing`).
//! - [`Xenstored`]: nodes with owner/ACL permissions, watches, transactions that fail with
//!   EAGAIN on conflict, guests served over their `xenstore_domain_interface` page.
//! - [`Blkback`] with [`World::attach_vbd`] / [`World::detach_vbd`]: a RAM disk behind the
//!   xenbus protocol, with [`Hostile`] hooks; [`Netback`] with [`World::attach_vif`]: copy-mode
//!   receive and multi-slot transmit.
//! - [`GuestMemory`]: guest RAM with small frame numbers; [`SimClock`] and [`World::waiter`] for
//!   the blocking APIs of the crates under test.
//!
//! ```
//! use xen_hal::{DomainId, Hypervisor};
//! use xen_sim::World;
//!
//! let world = World::new();
//! let guest = world.create_guest(1, "guest");
//! assert_eq!(guest.hypervisor.xen_version().unwrap().minor, 17);
//! let (paths, blkback) = world.attach_vbd(1, 768, 2048);
//! world.run_until_idle().unwrap();
//! // The backend probed and waits for the frontend (XenbusStateInitWait).
//! assert_eq!(world.xs_read_string(&format!("{}/state", paths.backend)).unwrap(), "2");
//! assert_eq!(blkback.borrow().disk().len(), 2048 * 512);
//! assert_eq!(world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)), 0);
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod abi;
pub mod blkback;
pub mod clock;
pub mod grant;
pub mod hv;
pub mod memory;
pub mod netback;
pub mod toolstack;
pub mod world;
pub mod xenstored;

pub use blkback::{BlkFeatures, Blkback, BlkbackStats, Hostile};
pub use clock::SimClock;
pub use grant::{GrantStatus, MapHandle};
pub use hv::{Hv, Violation};
pub use memory::GuestMemory;
pub use netback::{Netback, NetbackStats};
pub use toolstack::{vbd_paths, VbdPaths};
pub use world::{Backend, Guest, NotIdle, Sim, SimHypervisor, World};
pub use xenstored::{Access, ConnId, Perms, StoreError, WatchEvent, Xenstored};
