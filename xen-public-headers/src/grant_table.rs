//! Grant tables (`grant_table.h`): sharing pages with other domains, `__HYPERVISOR_grant_table_op`.

use crate::xen::domid_t;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Index of an entry in a domain's grant table.
pub type grant_ref_t = u32;

/// A version 1 grant table entry, written by the granting domain.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct grant_entry_v1 {
    /// `GTF_*` type and flags; `GTF_reading`/`GTF_writing` are set by Xen while mapped.
    pub flags: u16,
    /// Domain allowed to use the grant.
    pub domid: domid_t,
    /// Frame number of the granted page (or the transfer target).
    pub frame: u32,
}

/// Number of grant references reserved for the toolstack at the start of the table.
pub const GNTTAB_NR_RESERVED_ENTRIES: grant_ref_t = 8;
/// Reserved reference through which the toolstack grants the PV console ring.
pub const GNTTAB_RESERVED_CONSOLE: grant_ref_t = 0;
/// Reserved reference through which the toolstack grants the xenstore ring.
pub const GNTTAB_RESERVED_XENSTORE: grant_ref_t = 1;

/// Entry type: not in use.
pub const GTF_invalid: u16 = 0;
/// Entry type: the page may be mapped or copied by `domid`.
pub const GTF_permit_access: u16 = 1;
/// Entry type: `domid` may transfer a page to us.
pub const GTF_accept_transfer: u16 = 2;
/// Entry type: access is granted through another grant (v2 only).
pub const GTF_transitive: u16 = 3;
/// Mask of the entry type bits.
pub const GTF_type_mask: u16 = 3;
/// Bit number of [`GTF_readonly`].
pub const _GTF_readonly: u16 = 2;
/// Flag: `domid` may only read the page.
pub const GTF_readonly: u16 = 1 << _GTF_readonly;
/// Bit number of [`GTF_reading`].
pub const _GTF_reading: u16 = 3;
/// Status set by Xen: the grant is mapped or being copied for reading.
pub const GTF_reading: u16 = 1 << _GTF_reading;
/// Bit number of [`GTF_writing`].
pub const _GTF_writing: u16 = 4;
/// Status set by Xen: the grant is mapped or being copied for writing.
pub const GTF_writing: u16 = 1 << _GTF_writing;
/// Cache attribute: page write-through.
pub const GTF_PWT: u16 = 1 << 5;
/// Cache attribute: page cache disable.
pub const GTF_PCD: u16 = 1 << 6;
/// Cache attribute: page attribute table.
pub const GTF_PAT: u16 = 1 << 7;
/// Grant covers part of a page (v2 only).
pub const GTF_sub_page: u16 = 1 << 8;
/// Transfer status: Xen has committed to the transfer.
pub const GTF_transfer_committed: u16 = 1 << 2;
/// Transfer status: the transfer is complete and `frame` is valid.
pub const GTF_transfer_completed: u16 = 1 << 3;

/// Map a foreign grant.
pub const GNTTABOP_map_grant_ref: u32 = 0;
/// Unmap a foreign grant.
pub const GNTTABOP_unmap_grant_ref: u32 = 1;
/// Get the frames of the grant table ([`gnttab_setup_table`]).
pub const GNTTABOP_setup_table: u32 = 2;
/// Dump the grant table to the hypervisor console.
pub const GNTTABOP_dump_table: u32 = 3;
/// Transfer a page to another domain.
pub const GNTTABOP_transfer: u32 = 4;
/// Copy to or from granted pages.
pub const GNTTABOP_copy: u32 = 5;
/// Query the current and maximum table size ([`gnttab_query_size`]).
pub const GNTTABOP_query_size: u32 = 6;
/// Replace a grant mapping with another.
pub const GNTTABOP_unmap_and_replace: u32 = 7;
/// Select the grant table version.
pub const GNTTABOP_set_version: u32 = 8;
/// Get the status frames (v2 only).
pub const GNTTABOP_get_status_frames: u32 = 9;
/// Query the grant table version.
pub const GNTTABOP_get_version: u32 = 10;
/// Swap two grant entries.
pub const GNTTABOP_swap_grant_ref: u32 = 11;
/// Flush caches of granted memory.
pub const GNTTABOP_cache_flush: u32 = 12;

/// `GNTTABOP_setup_table` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct gnttab_setup_table {
    /// IN: domain (`DOMID_SELF`).
    pub dom: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 2],
    /// IN: number of frames wanted.
    pub nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding the C compiler inserts before the next field.
    pub _pad1: [u8; 6],
    /// IN: guest handle (address) of an array of `nr_frames` `xen_pfn_t`, filled by Xen.
    pub frame_list: u64,
}

/// `GNTTABOP_query_size` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct gnttab_query_size {
    /// IN: domain (`DOMID_SELF`).
    pub dom: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 2],
    /// OUT: current number of frames.
    pub nr_frames: u32,
    /// OUT: maximum number of frames.
    pub max_nr_frames: u32,
    /// OUT: `GNTST_*`.
    pub status: i16,
    /// Padding the C compiler inserts at the end.
    pub _pad1: [u8; 2],
}

/// Grant operation status: success.
pub const GNTST_okay: i16 = 0;
/// Grant operation status: unspecified error.
pub const GNTST_general_error: i16 = -1;
/// Grant operation status: unknown domain.
pub const GNTST_bad_domain: i16 = -2;
/// Grant operation status: unknown or unusable grant reference.
pub const GNTST_bad_gntref: i16 = -3;
/// Grant operation status: unknown or unusable handle.
pub const GNTST_bad_handle: i16 = -4;
/// Grant operation status: unusable virtual address.
pub const GNTST_bad_virt_addr: i16 = -5;
/// Grant operation status: unusable device address.
pub const GNTST_bad_dev_addr: i16 = -6;
/// Grant operation status: I/O MMU full.
pub const GNTST_no_device_space: i16 = -7;
/// Grant operation status: not permitted.
pub const GNTST_permission_denied: i16 = -8;
/// Grant operation status: bad page.
pub const GNTST_bad_page: i16 = -9;
/// Grant operation status: copy crosses a page boundary.
pub const GNTST_bad_copy_arg: i16 = -10;
/// Grant operation status: transfer address too large.
pub const GNTST_address_too_big: i16 = -11;
/// Grant operation status: try again.
pub const GNTST_eagain: i16 = -12;
/// Grant operation status: out of space.
pub const GNTST_no_space: i16 = -13;
