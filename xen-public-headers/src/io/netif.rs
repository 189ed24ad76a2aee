//! The network device protocol (`io/netif.h`): a transmit and a receive [`super::ring`]
//! between netfront and netback.
//!
//! A [`netif_extra_info`] travels in a transmit request slot (after a request flagged
//! `NETTXF_extra_info`) or a receive response slot (after `NETRXF_extra_info`).

use crate::grant_table::grant_ref_t;
use crate::io::ring::const_ring_size;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Slots per packet every backend must accept.
pub const XEN_NETIF_NR_SLOTS_MIN: usize = 18;
/// Largest packet a transmit request can describe.
pub const XEN_NETIF_MAX_TX_SIZE: u32 = 0xFFFF;

/// Transmit flag: the protocol checksum is left blank for offload.
pub const NETTXF_csum_blank: u16 = 1 << 0;
/// Transmit flag: the packet's checksum was already validated.
pub const NETTXF_data_validated: u16 = 1 << 1;
/// Transmit flag: the packet continues in the next request.
pub const NETTXF_more_data: u16 = 1 << 2;
/// Transmit flag: a [`netif_extra_info`] follows in the next slot.
pub const NETTXF_extra_info: u16 = 1 << 3;

/// Receive flag: the packet's checksum was validated.
pub const NETRXF_data_validated: u16 = 1 << 0;
/// Receive flag: the protocol checksum is blank (not computed).
pub const NETRXF_csum_blank: u16 = 1 << 1;
/// Receive flag: the packet continues in the next response.
pub const NETRXF_more_data: u16 = 1 << 2;
/// Receive flag: a [`netif_extra_info`] follows in the next slot.
pub const NETRXF_extra_info: u16 = 1 << 3;
/// Receive flag: GSO prefix (deprecated).
pub const NETRXF_gso_prefix: u16 = 1 << 4;

/// Extra info type: invalid.
pub const XEN_NETIF_EXTRA_TYPE_NONE: u8 = 0;
/// Extra info type: segmentation offload ([`netif_extra_info_gso`]).
pub const XEN_NETIF_EXTRA_TYPE_GSO: u8 = 1;
/// Extra info type: add a multicast address ([`netif_extra_info_mcast`]).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_ADD: u8 = 2;
/// Extra info type: remove a multicast address ([`netif_extra_info_mcast`]).
pub const XEN_NETIF_EXTRA_TYPE_MCAST_DEL: u8 = 3;
/// Extra info type: packet hash ([`netif_extra_info_hash`]).
pub const XEN_NETIF_EXTRA_TYPE_HASH: u8 = 4;
/// One past the last extra info type.
pub const XEN_NETIF_EXTRA_TYPE_MAX: u8 = 5;
/// Extra info flag: another extra info slot follows.
pub const XEN_NETIF_EXTRA_FLAG_MORE: u8 = 1 << 0;

/// GSO type: none.
pub const XEN_NETIF_GSO_TYPE_NONE: u8 = 0;
/// GSO type: TCP over IPv4.
pub const XEN_NETIF_GSO_TYPE_TCPV4: u8 = 1;
/// GSO type: TCP over IPv6.
pub const XEN_NETIF_GSO_TYPE_TCPV6: u8 = 2;

/// Hash type bit number: IPv4 addresses.
pub const _XEN_NETIF_CTRL_HASH_TYPE_IPV4: u32 = 0;
/// Hash type: IPv4 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4: u32 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4;
/// Hash type bit number: IPv4 addresses and TCP ports.
pub const _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u32 = 1;
/// Hash type: IPv4 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP: u32 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
/// Hash type bit number: IPv6 addresses.
pub const _XEN_NETIF_CTRL_HASH_TYPE_IPV6: u32 = 2;
/// Hash type: IPv6 addresses.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6: u32 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
/// Hash type bit number: IPv6 addresses and TCP ports.
pub const _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u32 = 3;
/// Hash type: IPv6 addresses and TCP ports.
pub const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP: u32 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

/// Hash algorithm: none.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE: u8 = 0;
/// Hash algorithm: Toeplitz.
pub const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ: u8 = 1;

/// Response status: the packet was dropped.
pub const NETIF_RSP_DROPPED: i16 = -2;
/// Response status: error.
pub const NETIF_RSP_ERROR: i16 = -1;
/// Response status: success.
pub const NETIF_RSP_OKAY: i16 = 0;
/// Response status: no response (for slots holding extra info).
pub const NETIF_RSP_NULL: i16 = 1;

/// One transmit slot: a fragment of a packet in a granted page.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_tx_request {
    /// Grant of the page holding the data.
    pub gref: grant_ref_t,
    /// Offset of the data in the page.
    pub offset: u16,
    /// `NETTXF_*`.
    pub flags: u16,
    /// Chosen by the frontend, echoed in the response.
    pub id: u16,
    /// First slot: size of the whole packet; later slots: size of this fragment.
    pub size: u16,
}

/// Transmit completion.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_tx_response {
    /// The request's `id`.
    pub id: u16,
    /// `NETIF_RSP_*`.
    pub status: i16,
}

/// One receive slot: a granted page the backend may fill.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_rx_request {
    /// Chosen by the frontend, echoed in the response.
    pub id: u16,
    /// Unused.
    pub pad: u16,
    /// Grant of the receive page.
    pub gref: grant_ref_t,
}

/// A received fragment.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_rx_response {
    /// The request's `id`.
    pub id: u16,
    /// Offset of the data in the page.
    pub offset: u16,
    /// `NETRXF_*`.
    pub flags: u16,
    /// Length of the data if non-negative, else `NETIF_RSP_*`.
    pub status: i16,
}

/// Extra information about a packet; `u` holds the member chosen by `type`.
///
/// `u` is a union in C; it is kept as bytes here, with typed accessors for each member.
#[repr(C, align(2))]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_extra_info {
    /// `XEN_NETIF_EXTRA_TYPE_*`.
    pub r#type: u8,
    /// `XEN_NETIF_EXTRA_FLAG_*`.
    pub flags: u8,
    /// The union `u`; use the accessors.
    pub u: [u8; 6],
}

/// The `u.gso` member of [`netif_extra_info`] (anonymous in C).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_extra_info_gso {
    /// Maximum segment payload (the TCP MSS).
    pub size: u16,
    /// `XEN_NETIF_GSO_TYPE_*`.
    pub r#type: u8,
    /// Unused.
    pub pad: u8,
    /// GSO feature bits.
    pub features: u16,
}

/// The `u.mcast` member of [`netif_extra_info`] (anonymous in C).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_extra_info_mcast {
    /// The Ethernet multicast address.
    pub addr: [u8; 6],
}

/// The `u.hash` member of [`netif_extra_info`] (anonymous in C).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct netif_extra_info_hash {
    /// `_XEN_NETIF_CTRL_HASH_TYPE_*` (a bit number).
    pub r#type: u8,
    /// `XEN_NETIF_CTRL_HASH_ALGORITHM_*`.
    pub algorithm: u8,
    /// The hash value, least significant byte first.
    pub value: [u8; 4],
}

impl netif_extra_info {
    /// `u.gso`, meaningful when `type == XEN_NETIF_EXTRA_TYPE_GSO`.
    pub fn gso(&self) -> netif_extra_info_gso {
        let [a, b, c, d, e, f] = self.u;
        netif_extra_info_gso {
            size: u16::from_ne_bytes([a, b]),
            r#type: c,
            pad: d,
            features: u16::from_ne_bytes([e, f]),
        }
    }

    /// Stores `gso` in `u`.
    pub fn set_gso(&mut self, gso: netif_extra_info_gso) {
        let [a, b] = gso.size.to_ne_bytes();
        let [e, f] = gso.features.to_ne_bytes();
        self.u = [a, b, gso.r#type, gso.pad, e, f];
    }

    /// `u.mcast`, meaningful for `XEN_NETIF_EXTRA_TYPE_MCAST_ADD`/`_DEL`.
    pub fn mcast(&self) -> netif_extra_info_mcast {
        netif_extra_info_mcast { addr: self.u }
    }

    /// Stores `mcast` in `u`.
    pub fn set_mcast(&mut self, mcast: netif_extra_info_mcast) {
        self.u = mcast.addr;
    }

    /// `u.hash`, meaningful when `type == XEN_NETIF_EXTRA_TYPE_HASH`.
    pub fn hash(&self) -> netif_extra_info_hash {
        let [a, b, c, d, e, f] = self.u;
        netif_extra_info_hash {
            r#type: a,
            algorithm: b,
            value: [c, d, e, f],
        }
    }

    /// Stores `hash` in `u`.
    pub fn set_hash(&mut self, hash: netif_extra_info_hash) {
        let [c, d, e, f] = hash.value;
        self.u = [hash.r#type, hash.algorithm, c, d, e, f];
    }
}

/// Size of one transmit ring slot (`union netif_tx_sring_entry`).
pub const XEN_NETIF_TX_RING_ENTRY_SIZE: usize = 12;
/// Size of one receive ring slot (`union netif_rx_sring_entry`).
pub const XEN_NETIF_RX_RING_ENTRY_SIZE: usize = 8;
/// Slots of a one-page transmit ring (`__CONST_RING_SIZE(netif_tx, 4096)`).
pub const XEN_NETIF_TX_RING_SIZE: u32 = const_ring_size(1, XEN_NETIF_TX_RING_ENTRY_SIZE);
/// Slots of a one-page receive ring (`__CONST_RING_SIZE(netif_rx, 4096)`).
pub const XEN_NETIF_RX_RING_SIZE: u32 = const_ring_size(1, XEN_NETIF_RX_RING_ENTRY_SIZE);

const _: () = {
    use core::mem::size_of;
    assert!(size_of::<netif_tx_request>() == 12);
    assert!(size_of::<netif_tx_response>() == 4);
    assert!(size_of::<netif_rx_request>() == 8);
    assert!(size_of::<netif_rx_response>() == 8);
    assert!(size_of::<netif_extra_info>() == 8);
    assert!(XEN_NETIF_TX_RING_ENTRY_SIZE == size_of::<netif_tx_request>());
    assert!(XEN_NETIF_RX_RING_ENTRY_SIZE == size_of::<netif_rx_response>());
    // Extra info shares slots with transmit requests and receive responses.
    assert!(size_of::<netif_extra_info>() <= XEN_NETIF_TX_RING_ENTRY_SIZE);
    assert!(size_of::<netif_extra_info>() <= XEN_NETIF_RX_RING_ENTRY_SIZE);
    assert!(XEN_NETIF_TX_RING_SIZE == 256);
    assert!(XEN_NETIF_RX_RING_SIZE == 256);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_info_members_round_trip() {
        let mut extra = netif_extra_info::default();
        let gso = netif_extra_info_gso {
            size: 1448,
            r#type: XEN_NETIF_GSO_TYPE_TCPV4,
            pad: 0,
            features: 0x0102,
        };
        extra.set_gso(gso);
        assert_eq!(extra.gso(), gso);
        // Same bytes as the C union: size first, little-endian on x86_64.
        assert_eq!(extra.u, [0xa8, 0x05, 1, 0, 0x02, 0x01]);
        let hash = netif_extra_info_hash {
            r#type: 1,
            algorithm: 1,
            value: [1, 2, 3, 4],
        };
        extra.set_hash(hash);
        assert_eq!(extra.hash(), hash);
        let mcast = netif_extra_info_mcast {
            addr: [0x01, 0x00, 0x5e, 0, 0, 1],
        };
        extra.set_mcast(mcast);
        assert_eq!(extra.mcast(), mcast);
        assert_eq!(extra.u, mcast.addr);
    }
}
