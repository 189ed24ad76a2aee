//! The block device protocol (`io/blkif.h`), spoken over a [`super::ring`] between blkfront and blkback.
//!
//! Every request variant ([`blkif_request`], [`blkif_request_discard`],
//! [`blkif_request_indirect`]) and the response occupy one ring slot of
//! [`BLKIF_RING_ENTRY_SIZE`] bytes; each starts with the `operation` byte that tells them apart.

use crate::grant_table::grant_ref_t;
use crate::io::ring::const_ring_size;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A virtual device handle (C macro type).
pub type blkif_vdev_t = u16;
/// A sector number (C macro type), in 512-byte units.
pub type blkif_sector_t = u64;

/// Read into the granted segments.
pub const BLKIF_OP_READ: u8 = 0;
/// Write from the granted segments.
pub const BLKIF_OP_WRITE: u8 = 1;
/// Write after all earlier requests completed (`feature-barrier`).
pub const BLKIF_OP_WRITE_BARRIER: u8 = 2;
/// Flush the backend's disk cache (`feature-flush-cache`).
pub const BLKIF_OP_FLUSH_DISKCACHE: u8 = 3;
/// Reserved, do not use.
pub const BLKIF_OP_RESERVED_1: u8 = 4;
/// Discard a sector range ([`blkif_request_discard`], `feature-discard`).
pub const BLKIF_OP_DISCARD: u8 = 5;
/// Read or write with segments listed in granted indirect pages ([`blkif_request_indirect`]).
pub const BLKIF_OP_INDIRECT: u8 = 6;

/// Segments that fit directly in a [`blkif_request`].
pub const BLKIF_MAX_SEGMENTS_PER_REQUEST: usize = 11;
/// Indirect pages one [`blkif_request_indirect`] may reference.
pub const BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: usize = 8;
/// [`blkif_request_discard::flag`]: erase securely (needs `discard-secure`).
pub const BLKIF_DISCARD_SECURE: u8 = 1 << 0;

/// Response status: the operation is not supported.
pub const BLKIF_RSP_EOPNOTSUPP: i16 = -2;
/// Response status: the operation failed.
pub const BLKIF_RSP_ERROR: i16 = -1;
/// Response status: success.
pub const BLKIF_RSP_OKAY: i16 = 0;

/// `info` node bit: the device is a CD-ROM.
pub const VDISK_CDROM: u32 = 0x1;
/// `info` node bit: the medium is removable.
pub const VDISK_REMOVABLE: u32 = 0x2;
/// `info` node bit: the device is read-only.
pub const VDISK_READONLY: u32 = 0x4;

/// One granted buffer page and the sector range of it to transfer.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct blkif_request_segment {
    /// Grant of the buffer page.
    pub gref: grant_ref_t,
    /// First sector within the page (inclusive).
    pub first_sect: u8,
    /// Last sector within the page (inclusive).
    pub last_sect: u8,
    /// Padding the C compiler inserts at the end.
    pub _pad0: [u8; 2],
}

/// A read, write, barrier or flush request.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct blkif_request {
    /// `BLKIF_OP_*`.
    pub operation: u8,
    /// Number of valid entries in `seg`.
    pub nr_segments: u8,
    /// Virtual device handle.
    pub handle: blkif_vdev_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 4],
    /// Chosen by the frontend, echoed in the response.
    pub id: u64,
    /// First sector on the disk.
    pub sector_number: blkif_sector_t,
    /// The buffer segments.
    pub seg: [blkif_request_segment; BLKIF_MAX_SEGMENTS_PER_REQUEST],
}

/// A `BLKIF_OP_DISCARD` request.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct blkif_request_discard {
    /// `BLKIF_OP_DISCARD`.
    pub operation: u8,
    /// `BLKIF_DISCARD_SECURE` or 0.
    pub flag: u8,
    /// Virtual device handle.
    pub handle: blkif_vdev_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 4],
    /// Chosen by the frontend, echoed in the response.
    pub id: u64,
    /// First sector to discard.
    pub sector_number: blkif_sector_t,
    /// Number of sectors to discard.
    pub nr_sectors: u64,
}

/// A `BLKIF_OP_INDIRECT` request: segments live in granted pages of [`blkif_request_segment`].
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct blkif_request_indirect {
    /// `BLKIF_OP_INDIRECT`.
    pub operation: u8,
    /// `BLKIF_OP_READ` or `BLKIF_OP_WRITE`.
    pub indirect_op: u8,
    /// Total number of segments over all indirect pages.
    pub nr_segments: u16,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 4],
    /// Chosen by the frontend, echoed in the response.
    pub id: u64,
    /// First sector on the disk.
    pub sector_number: blkif_sector_t,
    /// Virtual device handle.
    pub handle: blkif_vdev_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad1: [u8; 2],
    /// Grants of the pages holding the segment arrays.
    pub indirect_grefs: [grant_ref_t; BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST],
    /// Padding the C compiler inserts at the end.
    pub _pad2: [u8; 4],
}

/// The backend's answer to one request.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct blkif_response {
    /// The request's `id`.
    pub id: u64,
    /// The request's `operation`.
    pub operation: u8,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 1],
    /// `BLKIF_RSP_*`.
    pub status: i16,
    /// Padding the C compiler inserts at the end.
    pub _pad1: [u8; 4],
}

/// Size of one blkif ring slot (`union blkif_sring_entry`: request or response).
pub const BLKIF_RING_ENTRY_SIZE: usize = 112;
/// Slots of a one-page blkif ring (`__CONST_RING_SIZE(blkif, 4096)`).
pub const BLKIF_RING_SIZE: u32 = const_ring_size(1, BLKIF_RING_ENTRY_SIZE);

const _: () = {
    use core::mem::size_of;
    assert!(size_of::<blkif_request>() == 112);
    assert!(size_of::<blkif_request_segment>() == 8);
    assert!(size_of::<blkif_request_discard>() == 32);
    assert!(size_of::<blkif_request_indirect>() == 64);
    assert!(size_of::<blkif_response>() == 16);
    // Every variant fits in one slot, and the slot is exactly the largest of them.
    assert!(size_of::<blkif_request_discard>() <= BLKIF_RING_ENTRY_SIZE);
    assert!(size_of::<blkif_request_indirect>() <= BLKIF_RING_ENTRY_SIZE);
    assert!(size_of::<blkif_response>() <= BLKIF_RING_ENTRY_SIZE);
    assert!(size_of::<blkif_request>() == BLKIF_RING_ENTRY_SIZE);
    assert!(BLKIF_RING_SIZE == 32);
};
