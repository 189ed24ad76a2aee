//! The Xen public interface (`xen/include/public`, x86_64) as `#[repr(C)]` zerocopy types and constants.
//!
//! Names are verbatim from the C headers so that documentation and other implementations can be
//! read side by side. Module paths mirror the header paths (`io/blkif.h` is [`io::blkif`]).
//! Every struct size, field offset, type alias and constant is compared against the C headers
//! of Xen 4.17 by `tests/layout.rs`, which compiles a C probe with `gcc`.
#![no_std]
#![forbid(unsafe_code)]
#![allow(non_camel_case_types, non_upper_case_globals)]

#[cfg(not(target_arch = "x86_64"))]
compile_error!("xen-public-headers describes the x86_64 ABI only");

pub mod arch_x86;
pub mod errno;
pub mod event_channel;
pub mod features;
pub mod grant_table;
pub mod hvm;
pub mod io;
pub mod memory;
pub mod sched;
pub mod version;
pub mod xen;

pub use event_channel::evtchn_port_t;
pub use grant_table::grant_ref_t;
pub use xen::{domid_t, xen_pfn_t, xen_ulong_t};
