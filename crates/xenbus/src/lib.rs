//! Xenbus for frontends: device states, typed keys and negotiation, the handshake with the
//! backend, and device enumeration, all over the [`xenstore`] client.
//!
//! - [`state`]: [`XenbusState`] (checked parsing of `state` nodes) and the frontend state
//!   machine, with Linux's `backend_changed` reactions as a pure function.
//! - [`keys`]: key names per protocol (common, vbd, vif).
//! - [`negotiate`]: `min(ours, theirs)` negotiation; only agreed features are advertised; a
//!   backend advertisement that is not a number counts as absent (named for the log).
//! - [`mod@publish`]: ring refs, event channels, protocol and features written in one
//!   transaction, retried on EAGAIN; state switches along the state machine.
//! - [`handshake`]: backend discovery and validation, state reads, bounded watch-driven waits.
//! - [`mod@enumerate`]: `device/<type>/<id>` listing (garbage skipped and reported) and diffs.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod enumerate;
pub mod error;
pub mod handshake;
pub mod keys;
pub mod negotiate;
pub mod path;
pub mod publish;
pub mod state;
pub mod store;

pub use enumerate::{diff, enumerate, DeviceDiff, Enumeration, SkipReason, Skipped};
pub use error::{Mismatch, PathError, XenbusError};
pub use handshake::{read_backend, read_state, wait_for_state, Backend};
pub use path::{BackendPath, DeviceRef};
pub use publish::{publish, switch_state, Publication};
pub use state::{FrontendAction, FrontendState, XenbusState};
pub use store::Store;

#[cfg(test)]
mod tests;
