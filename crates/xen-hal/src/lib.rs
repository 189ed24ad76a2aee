//! The OS boundary of the portable Xen guest crates: one trait per capability, with fakes beside them.
//!
//! Portable crates (grant tables, event channels, rings, xenstore, xenbus, frontends) are written
//! against these traits only. The Windows drivers, the testbed guest kernel and the host-test
//! simulator each implement them. Nothing here depends on an operating system.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod error;
pub mod hypervisor;
pub mod memory;
pub mod port_io;
pub mod shared;
pub mod time;
pub mod types;

#[cfg(any(test, feature = "test-utils"))]
pub mod fake;

pub use error::{AllocError, OutOfBounds, XenError};
pub use hypervisor::{EventChannelStatus, GrantTableSize, Hypervisor, XenVersion};
pub use memory::{
    MapError, OwnedPages, PageAllocator, PageRange, PhysicalMapper, PAGE_SHIFT, PAGE_SIZE,
};
pub use port_io::PortIo;
pub use shared::{SharedArray, SharedMemory, SharedObject};
pub use time::{Clock, Instant};
pub use types::{DomainId, EventChannelPort, GrantRef, Pfn, VcpuId};

#[cfg(any(test, feature = "test-utils"))]
pub mod fake_hypervisor;
