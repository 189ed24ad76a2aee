//! Event channels, 2-level ABI: ports, masks, a handler table and upcall dispatch.
//!
//! Xen signals a port by setting its bit in `shared_info.evtchn_pending`; unless the port's bit
//! in `evtchn_mask` is set, it also sets the word's bit in the target vCPU's
//! `evtchn_pending_sel` and that vCPU's `evtchn_upcall_pending`, and raises the upcall (on HVM:
//! the platform device's interrupt or a vector callback). [`EventChannels::handle_upcall`] walks
//! those bitmaps and calls the handler bound to each pending port.
//!
//! Handlers are C-friendly `(extern "C" fn(context, port), context)` pairs (they cross the
//! interface between the bus driver and its child drivers on Windows). The table has a fixed
//! capacity chosen at creation: binding never allocates.
//!
//! Types take `&mut self` to change bookkeeping and `&self` to dispatch; locking is the OS
//! glue's job. Only the first `XEN_LEGACY_MAX_VCPUS` vCPUs (whose `vcpu_info` is inside
//! `shared_info`) are supported, and ports stay on vCPU 0: the HVM callback interrupt is raised
//! for vCPU 0's upcall only, so [`EventChannels::bind_vcpu`] refuses any other vCPU.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

#[cfg(test)]
extern crate std;

mod channels;
mod error;

pub use channels::{EventChannels, EventHandler, HandlerBinding, UpcallStats, MAX_UPCALL_ROUNDS};
pub use error::EvtchnError;

#[cfg(test)]
mod tests;
