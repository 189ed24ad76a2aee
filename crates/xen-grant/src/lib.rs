//! Grant table v1: set-up, reference allocation, granting and ending foreign access.
//!
//! A grant lets another domain (the backend) map or copy one of our pages. The table is a run of
//! frames Xen places in our physical address space; each 8-byte `grant_entry_v1` names the
//! domain and frame, and its `flags` say what is permitted. Xen sets `GTF_reading`/`GTF_writing`
//! in `flags` while the backend has the page mapped, so access can only be ended by an atomic
//! compare-exchange that fails while those bits are set.
//!
//! Rules kept here:
//! - A reference the backend may still use is never handed out again: [`GrantTable::end_access`]
//!   refuses with [`GrantError::StillInUse`], and [`GrantTable::end_access_or_defer`] parks it on
//!   a deferred list that [`GrantTable::retry_deferred`] retries.
//! - A table set up over frames an earlier table of this domain used reads every entry first:
//!   what still grants access is ended as `end_access` would, and what the backend still maps
//!   starts on the deferred list, never on the free list.
//! - Granting never overwrites an entry whose flags are set (Xen's `GTF_reading`/`GTF_writing`
//!   above all): the flags go from 0 to valid by compare-exchange, else the reference is
//!   deferred.
//! - The first `GNTTAB_NR_RESERVED_ENTRIES` references (toolstack's console and xenstore) are
//!   never handed out.
//! - Unknown, out-of-range and not-granted references are typed errors, never panics.
//!
//! Types take `&mut self` to change bookkeeping; locking (a spin lock on Windows) is the OS
//! glue's job. Nothing allocates after set-up except [`GrantBatch::grant`] (fallibly).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

#[cfg(test)]
extern crate std;

mod allocator;
mod batch;
mod error;
mod table;

pub use allocator::{RefAllocator, RefState};
pub use batch::GrantBatch;
pub use error::GrantError;
pub use table::{EndAccess, EndSummary, GrantTable, ENTRIES_PER_FRAME};

#[cfg(test)]
mod proptests;
