//! The PV console ring page (`io/console.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A free-running console ring index; the slot is `index % ring length`.
pub type XENCONS_RING_IDX = u32;

/// The console page: one byte ring in each direction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct xencons_interface {
    /// Bytes from the console backend to the guest.
    pub r#in: [u8; 1024],
    /// Bytes from the guest to the console backend.
    pub out: [u8; 2048],
    /// Guest's consumer index into `in`.
    pub in_cons: XENCONS_RING_IDX,
    /// Backend's producer index into `in`.
    pub in_prod: XENCONS_RING_IDX,
    /// Backend's consumer index into `out`.
    pub out_cons: XENCONS_RING_IDX,
    /// Guest's producer index into `out`.
    pub out_prod: XENCONS_RING_IDX,
}
