//! Memory reservation and physmap operations (`memory.h`), issued with `__HYPERVISOR_memory_op`.

use crate::xen::{domid_t, xen_pfn_t, xen_ulong_t};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Give memory extents to the domain ([`xen_memory_reservation`]).
pub const XENMEM_increase_reservation: u32 = 0;
/// Return memory extents to Xen ([`xen_memory_reservation`]).
pub const XENMEM_decrease_reservation: u32 = 1;
/// Populate guest frames with memory ([`xen_memory_reservation`]).
pub const XENMEM_populate_physmap: u32 = 6;
/// Place a Xen-owned page (shared info, grant table frame) into the guest physmap.
pub const XENMEM_add_to_physmap: u32 = 7;
/// Remove a page from the guest physmap.
pub const XENMEM_remove_from_physmap: u32 = 15;

/// [`xen_add_to_physmap::space`]: the shared info page.
pub const XENMAPSPACE_shared_info: u32 = 0;
/// [`xen_add_to_physmap::space`]: a grant table frame.
pub const XENMAPSPACE_grant_table: u32 = 1;
/// [`xen_add_to_physmap::space`]: a guest frame.
pub const XENMAPSPACE_gmfn: u32 = 2;
/// [`xen_add_to_physmap::space`]: a range of guest frames.
pub const XENMAPSPACE_gmfn_range: u32 = 3;
/// Foreign guest frame (batch variant only).
pub const XENMAPSPACE_gmfn_foreign: u32 = 4;
/// Device MMIO region (Arm only).
pub const XENMAPSPACE_dev_mmio: u32 = 5;
/// Or-ed into [`xen_add_to_physmap::idx`] to map a grant status frame instead.
pub const XENMAPIDX_grant_table_status: xen_ulong_t = 0x8000_0000;

/// `XENMEM_add_to_physmap` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_add_to_physmap {
    /// Domain whose physmap changes (`DOMID_SELF`).
    pub domid: domid_t,
    /// Number of pages for `XENMAPSPACE_gmfn_range`.
    pub size: u16,
    /// `XENMAPSPACE_*`.
    pub space: u32,
    /// Index within the space (e.g. grant table frame number).
    pub idx: xen_ulong_t,
    /// Guest frame where the page appears.
    pub gpfn: xen_pfn_t,
}

/// `XENMEM_remove_from_physmap` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_remove_from_physmap {
    /// Domain whose physmap changes (`DOMID_SELF`).
    pub domid: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 6],
    /// Guest frame to remove.
    pub gpfn: xen_pfn_t,
}

/// Argument of `XENMEM_increase_reservation`, `XENMEM_decrease_reservation`, `XENMEM_populate_physmap`.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_memory_reservation {
    /// Guest handle (address) of an array of `nr_extents` `xen_pfn_t`.
    pub extent_start: u64,
    /// Number of extents.
    pub nr_extents: xen_ulong_t,
    /// Each extent is `2^extent_order` pages.
    pub extent_order: u32,
    /// `XENMEMF_*` flags.
    pub mem_flags: u32,
    /// Domain (`DOMID_SELF`).
    pub domid: domid_t,
    /// Padding the C compiler inserts at the end.
    pub _pad0: [u8; 6],
}
