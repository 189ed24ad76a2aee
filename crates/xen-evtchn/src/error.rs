//! Errors of event channel operations.

use core::fmt;

use xen_hal::{AllocError, EventChannelPort, OutOfBounds, VcpuId, XenError};

/// A failed event channel operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvtchnError {
    /// A hypercall failed.
    Hypervisor(XenError),
    /// The handler table could not be allocated.
    Alloc(AllocError),
    /// The `shared_info` window is smaller than `shared_info`.
    SharedInfoTooSmall,
    /// The requested table capacity exceeds the 2-level ABI's port count.
    CapacityTooLarge,
    /// The port is 0 (never valid) or past the table's capacity. A port Xen handed out past the
    /// capacity has been closed again.
    PortOutOfRange(EventChannelPort),
    /// The port was not opened through this table (`close`).
    NotOpen(EventChannelPort),
    /// The port already has a handler.
    AlreadyBound(EventChannelPort),
    /// The port has no handler.
    NotBound(EventChannelPort),
    /// The vCPU has no `vcpu_info` in `shared_info`.
    VcpuOutOfRange(VcpuId),
    /// A port may not be moved to this vCPU: only vCPU 0's upcalls are serviced (see
    /// [`EventChannels::bind_vcpu`](crate::EventChannels::bind_vcpu)).
    VcpuNotServiced(VcpuId),
    /// A `shared_info` access fell outside the window (a bug, reported not panicked).
    Memory(OutOfBounds),
}

impl From<XenError> for EvtchnError {
    fn from(e: XenError) -> Self {
        EvtchnError::Hypervisor(e)
    }
}

impl From<OutOfBounds> for EvtchnError {
    fn from(e: OutOfBounds) -> Self {
        EvtchnError::Memory(e)
    }
}

impl From<alloc::collections::TryReserveError> for EvtchnError {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        EvtchnError::Alloc(AllocError)
    }
}

impl fmt::Display for EvtchnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvtchnError::Hypervisor(e) => write!(f, "event channel hypercall failed: {e}"),
            EvtchnError::Alloc(e) => write!(f, "event channel table: {e}"),
            EvtchnError::SharedInfoTooSmall => f.write_str("shared_info window too small"),
            EvtchnError::CapacityTooLarge => f.write_str("more ports than the 2-level ABI has"),
            EvtchnError::PortOutOfRange(p) => write!(f, "event channel port {} out of range", p.0),
            EvtchnError::NotOpen(p) => write!(f, "event channel port {} not open", p.0),
            EvtchnError::AlreadyBound(p) => write!(f, "event channel port {} already bound", p.0),
            EvtchnError::NotBound(p) => write!(f, "event channel port {} has no handler", p.0),
            EvtchnError::VcpuOutOfRange(v) => write!(f, "vCPU {} has no legacy vcpu_info", v.0),
            EvtchnError::VcpuNotServiced(v) => {
                write!(f, "vCPU {} gets no upcalls here (only vCPU 0 does)", v.0)
            }
            EvtchnError::Memory(e) => write!(f, "shared_info access out of bounds: {e:?}"),
        }
    }
}
