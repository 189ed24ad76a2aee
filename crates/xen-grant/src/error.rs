//! Errors of grant table operations.

use core::fmt;

use xen_hal::{AllocError, GrantRef, MapError, OutOfBounds, Pfn, XenError};

/// A failed grant table operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// A hypercall failed.
    Hypervisor(XenError),
    /// Mapping a table frame failed.
    Map(MapError),
    /// Memory for bookkeeping could not be allocated.
    Alloc(AllocError),
    /// No table frames: none supplied, or Xen allows none.
    NoFrames,
    /// A table frame window is not one page long.
    BadFrame,
    /// Every reference is in use (or, for a batch, fewer are free than asked for).
    Exhausted,
    /// The reference is past the end of the table.
    InvalidRef(GrantRef),
    /// The reference is one of the reserved ones, which this table never hands out.
    ReservedRef(GrantRef),
    /// The reference is not allocated (free, or never handed out).
    NotAllocated(GrantRef),
    /// The reference is allocated but grants no access.
    NotGranted(GrantRef),
    /// The reference already grants access (end it first).
    AlreadyGranted(GrantRef),
    /// The reference is on the deferred list, waiting for the backend to unmap it.
    Deferred(GrantRef),
    /// The backend still has the page mapped (`GTF_reading`/`GTF_writing`): access not ended,
    /// reference not freed.
    StillInUse(GrantRef),
    /// The frame number does not fit the 32-bit `frame` of a v1 entry.
    FrameTooLarge(Pfn),
    /// A table access fell outside the mapped frames (a bookkeeping bug, reported not panicked).
    Memory(OutOfBounds),
}

impl From<XenError> for GrantError {
    fn from(e: XenError) -> Self {
        GrantError::Hypervisor(e)
    }
}

impl From<MapError> for GrantError {
    fn from(e: MapError) -> Self {
        GrantError::Map(e)
    }
}

impl From<AllocError> for GrantError {
    fn from(e: AllocError) -> Self {
        GrantError::Alloc(e)
    }
}

impl From<alloc::collections::TryReserveError> for GrantError {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        GrantError::Alloc(AllocError)
    }
}

impl From<OutOfBounds> for GrantError {
    fn from(e: OutOfBounds) -> Self {
        GrantError::Memory(e)
    }
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantError::Hypervisor(e) => write!(f, "grant table hypercall failed: {e}"),
            GrantError::Map(e) => write!(f, "mapping grant table frames failed: {e:?}"),
            GrantError::Alloc(e) => write!(f, "grant table bookkeeping: {e}"),
            GrantError::NoFrames => f.write_str("no grant table frames"),
            GrantError::BadFrame => f.write_str("grant table frame window is not one page"),
            GrantError::Exhausted => f.write_str("no free grant references"),
            GrantError::InvalidRef(r) => write!(f, "grant reference {} out of range", r.0),
            GrantError::ReservedRef(r) => write!(f, "grant reference {} is reserved", r.0),
            GrantError::NotAllocated(r) => write!(f, "grant reference {} not allocated", r.0),
            GrantError::NotGranted(r) => write!(f, "grant reference {} grants nothing", r.0),
            GrantError::AlreadyGranted(r) => write!(f, "grant reference {} already granted", r.0),
            GrantError::Deferred(r) => write!(f, "grant reference {} is deferred", r.0),
            GrantError::StillInUse(r) => {
                write!(f, "grant reference {} still mapped by the backend", r.0)
            }
            GrantError::FrameTooLarge(p) => write!(f, "frame {:#x} does not fit a v1 grant", p.0),
            GrantError::Memory(e) => write!(f, "grant table access out of bounds: {e:?}"),
        }
    }
}
