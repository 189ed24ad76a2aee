//! Shared request/response rings (`io/ring.h`).
//!
//! C generates each ring type with `DEFINE_RING_TYPES`: a 64-byte header ([`sring_header`])
//! followed by an array of entries, each the union of the request and response types. The
//! number of entries is the largest power of two that fits ([`const_ring_size`]).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A free-running ring index; the slot is `index & (size - 1)`.
pub type RING_IDX = u32;

/// log2 of the page size rings and grants are measured in.
pub const XEN_PAGE_SHIFT: u32 = 12;

/// The shared part of every `DEFINE_RING_TYPES` ring before its first entry
/// (not a C struct: the leading fields of `struct <name>_sring`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct sring_header {
    /// Requests produced by the frontend.
    pub req_prod: RING_IDX,
    /// The backend wants an event when `req_prod` passes this value.
    pub req_event: RING_IDX,
    /// Responses produced by the backend.
    pub rsp_prod: RING_IDX,
    /// The frontend wants an event when `rsp_prod` passes this value.
    pub rsp_event: RING_IDX,
    /// Protocol-private bytes (a union in C; netif uses byte 0 for `smartpoll_active`).
    pub pvt: [u8; 4],
    /// Reserved up to the first entry.
    pub __pad: [u8; 44],
}

/// `__RD32`: rounds down to a power of two (0 stays 0).
pub const fn round_down_pow2(x: u32) -> u32 {
    if x == 0 {
        0
    } else {
        1 << (31 - x.leading_zeros())
    }
}

/// `__CONST_RING_SIZE`: the number of entries of `entry_size` bytes in a ring of `nr_pages`
/// pages, rounded down to a power of two. Degenerate inputs (no entry fits, `entry_size` 0)
/// give 0; counts beyond `u32::MAX` saturate before rounding.
pub const fn const_ring_size(nr_pages: usize, entry_size: usize) -> u32 {
    let header = core::mem::size_of::<sring_header>();
    let Some(bytes) = nr_pages.checked_mul(1 << XEN_PAGE_SHIFT) else {
        return round_down_pow2(u32::MAX);
    };
    if entry_size == 0 || bytes < header {
        return 0;
    }
    let entries = (bytes - header) / entry_size;
    let entries = if entries > u32::MAX as usize {
        u32::MAX
    } else {
        entries as u32
    };
    round_down_pow2(entries)
}

const _: () = assert!(core::mem::size_of::<sring_header>() == 64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_down() {
        assert_eq!(round_down_pow2(0), 0);
        assert_eq!(round_down_pow2(1), 1);
        assert_eq!(round_down_pow2(3), 2);
        assert_eq!(round_down_pow2(36), 32);
        assert_eq!(round_down_pow2(u32::MAX), 1 << 31);
    }

    #[test]
    fn degenerate_ring_sizes() {
        assert_eq!(const_ring_size(0, 8), 0);
        assert_eq!(const_ring_size(1, 0), 0);
        assert_eq!(const_ring_size(1, 5000), 0);
        assert_eq!(const_ring_size(usize::MAX, 1), 1 << 31);
    }
}
