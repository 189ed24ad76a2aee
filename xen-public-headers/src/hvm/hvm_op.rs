//! HVM operations (`hvm/hvm_op.h`), issued with `__HYPERVISOR_hvm_op`.

use crate::xen::domid_t;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Set an HVM parameter ([`xen_hvm_param`]).
pub const HVMOP_set_param: u32 = 0;
/// Get an HVM parameter ([`xen_hvm_param`]).
pub const HVMOP_get_param: u32 = 1;
/// Set a per-vCPU event channel upcall vector ([`xen_hvm_evtchn_upcall_vector`]).
pub const HVMOP_set_evtchn_upcall_vector: u32 = 23;

/// `HVMOP_set_param` / `HVMOP_get_param` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_hvm_param {
    /// IN: domain (`DOMID_SELF`).
    pub domid: domid_t,
    /// Unused.
    pub pad: u16,
    /// IN: `HVM_PARAM_*`.
    pub index: u32,
    /// IN for set, OUT for get.
    pub value: u64,
}

/// `HVMOP_set_evtchn_upcall_vector` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_hvm_evtchn_upcall_vector {
    /// vCPU whose upcalls use the vector.
    pub vcpu: u32,
    /// x86 interrupt vector.
    pub vector: u8,
    /// Padding the C compiler inserts at the end.
    pub _pad0: [u8; 3],
}
