//! Feature negotiation as typed data: each result is `min(ours, theirs)`, a feature is on only
//! if both sides have it, and the frontend publishes only what it supports and agreed to.
//!
//! A backend advertisement that is not a number counts as absent: the feature is off and the
//! limit takes its protocol default, as Linux's frontends read them (`xenbus_read_unsigned`
//! with a default). One garbage value does not fail the negotiation; the offer names the keys
//! so ignored ([`Unparsable`]) for the driver to log.

use crate::error::XenbusError;
use crate::keys::{common, vbd, vif};
use crate::publish::Publication;
use crate::store::{read_flag, read_u32, read_u64, Store};

/// Most advertisements one offer reads (each can be unparsable once).
const MAX_OFFER_KEYS: usize = 8;

/// The backend advertisements that held something other than a number and were read as
/// absent (feature off, limit at its default). Only for diagnostics: the negotiation already
/// went on without them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unparsable {
    keys: [Option<&'static str>; MAX_OFFER_KEYS],
}

impl Unparsable {
    /// The keys, in the order they were read.
    pub fn keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.keys.iter().flatten().copied()
    }

    /// Whether every advertisement parsed.
    pub fn is_empty(&self) -> bool {
        self.keys().next().is_none()
    }

    fn record(&mut self, key: &'static str) {
        // Each offer reads fewer than MAX_OFFER_KEYS keys, so a free slot is always there.
        if let Some(slot) = self.keys.iter_mut().find(|k| k.is_none()) {
            *slot = Some(key);
        }
    }
}

/// Turns a garbage value of `key` into "absent", noting the key; other errors (the store's)
/// stay errors.
fn lenient<T>(
    read: Result<Option<T>, XenbusError>,
    key: &'static str,
    unparsable: &mut Unparsable,
) -> Result<Option<T>, XenbusError> {
    match read {
        Err(XenbusError::BadValue(k)) if k == key => {
            unparsable.record(key);
            Ok(None)
        }
        other => other,
    }
}

fn offered_u32<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &'static str,
    unparsable: &mut Unparsable,
) -> Result<Option<u32>, XenbusError> {
    lenient(read_u32(store, dir, key), key, unparsable)
}

fn offered_flag<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &'static str,
    unparsable: &mut Unparsable,
) -> Result<Option<bool>, XenbusError> {
    lenient(read_flag(store, dir, key), key, unparsable)
}

/// Largest ring page order any frontend here uses (Linux's `XENBUS_MAX_RING_GRANT_ORDER`: 16 pages).
pub const MAX_RING_PAGE_ORDER: u32 = 4;
/// Largest number of queues any frontend here uses.
pub const MAX_QUEUES: u32 = 64;

/// `min(ours, theirs)`, where a missing advertisement counts as `default`.
pub fn negotiate_min(ours: u32, theirs: Option<u32>, default: u32) -> u32 {
    ours.min(theirs.unwrap_or(default))
}

/// A feature is used only if we support it and the peer advertised it.
pub fn negotiate_feature(ours: bool, theirs: Option<bool>) -> bool {
    ours && theirs == Some(true)
}

/// Ring page order: `min(our max, backend's max-ring-page-order)`; a backend that does not
/// advertise it takes single-page rings (order 0).
pub fn ring_page_order(our_max: u32, backend_max: Option<u32>) -> u32 {
    negotiate_min(our_max.min(MAX_RING_PAGE_ORDER), backend_max, 0)
}

/// Queue count: `min(our max, backend's multi-queue-max-queues)`, at least 1; a backend that
/// does not advertise it gets one queue.
pub fn queue_count(our_max: u32, backend_max: Option<u32>) -> u32 {
    negotiate_min(our_max.min(MAX_QUEUES), backend_max, 1).max(1)
}

/// What a block frontend supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbdFrontendLimits {
    /// Largest ring page order.
    pub max_ring_page_order: u32,
    /// Largest segments per indirect request (0: no indirect requests).
    pub max_indirect_segments: u32,
    /// Cache flushes.
    pub flush_cache: bool,
    /// Write barriers.
    pub barrier: bool,
    /// Discard.
    pub discard: bool,
    /// Persistent grants.
    pub persistent: bool,
    /// Largest number of queues.
    pub max_queues: u32,
}

/// What a block backend advertises (read from its directory).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VbdBackendOffer {
    /// `max-ring-page-order`.
    pub max_ring_page_order: Option<u32>,
    /// `feature-max-indirect-segments`.
    pub max_indirect_segments: Option<u32>,
    /// `feature-flush-cache`.
    pub flush_cache: Option<bool>,
    /// `feature-barrier`.
    pub barrier: Option<bool>,
    /// `feature-discard`.
    pub discard: Option<bool>,
    /// `feature-persistent`.
    pub persistent: Option<bool>,
    /// `multi-queue-max-queues`.
    pub max_queues: Option<u32>,
    /// Advertisements that were not numbers (read as absent).
    pub unparsable: Unparsable,
}

impl VbdBackendOffer {
    /// Reads the offer from the backend directory. A value that is not a number (or out of
    /// range) is read as absent and named in `unparsable`; only xenstore failures are errors.
    pub fn read<S: Store + ?Sized>(store: &mut S, backend: &str) -> Result<Self, XenbusError> {
        let mut bad = Unparsable::default();
        let u = &mut bad;
        Ok(VbdBackendOffer {
            max_ring_page_order: offered_u32(store, backend, common::MAX_RING_PAGE_ORDER, u)?,
            max_indirect_segments: offered_u32(
                store,
                backend,
                vbd::FEATURE_MAX_INDIRECT_SEGMENTS,
                u,
            )?,
            flush_cache: offered_flag(store, backend, vbd::FEATURE_FLUSH_CACHE, u)?,
            barrier: offered_flag(store, backend, vbd::FEATURE_BARRIER, u)?,
            discard: offered_flag(store, backend, vbd::FEATURE_DISCARD, u)?,
            persistent: offered_flag(store, backend, vbd::FEATURE_PERSISTENT, u)?,
            max_queues: offered_u32(store, backend, common::MULTI_QUEUE_MAX_QUEUES, u)?,
            unparsable: bad,
        })
    }
}

/// The agreed block parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbdNegotiated {
    /// Ring page order.
    pub ring_page_order: u32,
    /// Segments per indirect request (0: none).
    pub indirect_segments: u32,
    /// Cache flushes.
    pub flush_cache: bool,
    /// Write barriers.
    pub barrier: bool,
    /// Discard.
    pub discard: bool,
    /// Persistent grants.
    pub persistent: bool,
    /// Queues.
    pub queues: u32,
}

/// Negotiates block parameters.
pub fn negotiate_vbd(ours: &VbdFrontendLimits, theirs: &VbdBackendOffer) -> VbdNegotiated {
    VbdNegotiated {
        ring_page_order: ring_page_order(ours.max_ring_page_order, theirs.max_ring_page_order),
        indirect_segments: negotiate_min(
            ours.max_indirect_segments,
            theirs.max_indirect_segments,
            0,
        ),
        flush_cache: negotiate_feature(ours.flush_cache, theirs.flush_cache),
        barrier: negotiate_feature(ours.barrier, theirs.barrier),
        discard: negotiate_feature(ours.discard, theirs.discard),
        persistent: negotiate_feature(ours.persistent, theirs.persistent),
        queues: queue_count(ours.max_queues, theirs.max_queues),
    }
}

impl VbdNegotiated {
    /// The frontend's advertisements: persistent grants (only if agreed) and the queue count
    /// (only if more than one). Rings and event channels are added by the caller.
    pub fn advertise(&self, publication: &mut Publication) -> Result<(), XenbusError> {
        publication.flag(vbd::FEATURE_PERSISTENT, self.persistent)?;
        if self.queues > 1 {
            publication.set_u64(common::MULTI_QUEUE_NUM_QUEUES, u64::from(self.queues))?;
        }
        Ok(())
    }
}

/// The disk geometry a block backend publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VbdGeometry {
    /// `sectors`, in units of 512 bytes.
    pub sectors: u64,
    /// `sector-size`.
    pub sector_size: u32,
    /// `physical-sector-size` (defaults to `sector-size`).
    pub physical_sector_size: u32,
    /// `info` (`VDISK_*` flags, 0 if absent).
    pub info: u32,
}

impl VbdGeometry {
    /// Reads and checks the geometry: `sectors` and `sector-size` must be present, and the
    /// sector sizes powers of two of at least 512.
    pub fn read<S: Store + ?Sized>(store: &mut S, backend: &str) -> Result<Self, XenbusError> {
        let sectors =
            read_u64(store, backend, vbd::SECTORS)?.ok_or(XenbusError::BadValue(vbd::SECTORS))?;
        let sector_size = read_u32(store, backend, vbd::SECTOR_SIZE)?
            .ok_or(XenbusError::BadValue(vbd::SECTOR_SIZE))?;
        let physical_sector_size =
            read_u32(store, backend, vbd::PHYSICAL_SECTOR_SIZE)?.unwrap_or(sector_size);
        let info = read_u32(store, backend, vbd::INFO)?.unwrap_or(0);
        let valid = |s: u32| s >= 512 && s.is_power_of_two();
        if !valid(sector_size) {
            return Err(XenbusError::BadValue(vbd::SECTOR_SIZE));
        }
        if !valid(physical_sector_size) {
            return Err(XenbusError::BadValue(vbd::PHYSICAL_SECTOR_SIZE));
        }
        Ok(VbdGeometry {
            sectors,
            sector_size,
            physical_sector_size,
            info,
        })
    }
}

/// What a network frontend supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VifFrontendLimits {
    /// Scatter-gather.
    pub sg: bool,
    /// TCPv4 segmentation offload.
    pub gso_tcpv4: bool,
    /// TCPv6 segmentation offload.
    pub gso_tcpv6: bool,
    /// IPv6 checksum offload.
    pub ipv6_csum_offload: bool,
    /// Separate tx and rx event channels.
    pub split_event_channels: bool,
    /// Largest number of queues.
    pub max_queues: u32,
}

/// What a network backend advertises.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VifBackendOffer {
    /// `feature-rx-copy` (required by every frontend here).
    pub rx_copy: Option<bool>,
    /// `feature-sg`.
    pub sg: Option<bool>,
    /// `feature-gso-tcpv4`.
    pub gso_tcpv4: Option<bool>,
    /// `feature-gso-tcpv6`.
    pub gso_tcpv6: Option<bool>,
    /// `feature-ipv6-csum-offload`.
    pub ipv6_csum_offload: Option<bool>,
    /// `feature-split-event-channels`.
    pub split_event_channels: Option<bool>,
    /// `multi-queue-max-queues`.
    pub max_queues: Option<u32>,
    /// Advertisements that were not numbers (read as absent).
    pub unparsable: Unparsable,
}

impl VifBackendOffer {
    /// Reads the offer from the backend directory. A value that is not a number (or out of
    /// range) is read as absent and named in `unparsable`; only xenstore failures are errors.
    pub fn read<S: Store + ?Sized>(store: &mut S, backend: &str) -> Result<Self, XenbusError> {
        let mut bad = Unparsable::default();
        let u = &mut bad;
        Ok(VifBackendOffer {
            rx_copy: offered_flag(store, backend, vif::FEATURE_RX_COPY, u)?,
            sg: offered_flag(store, backend, vif::FEATURE_SG, u)?,
            gso_tcpv4: offered_flag(store, backend, vif::FEATURE_GSO_TCPV4, u)?,
            gso_tcpv6: offered_flag(store, backend, vif::FEATURE_GSO_TCPV6, u)?,
            ipv6_csum_offload: offered_flag(store, backend, vif::FEATURE_IPV6_CSUM_OFFLOAD, u)?,
            split_event_channels: offered_flag(
                store,
                backend,
                vif::FEATURE_SPLIT_EVENT_CHANNELS,
                u,
            )?,
            max_queues: offered_u32(store, backend, common::MULTI_QUEUE_MAX_QUEUES, u)?,
            unparsable: bad,
        })
    }
}

/// The agreed network parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VifNegotiated {
    /// Scatter-gather.
    pub sg: bool,
    /// TCPv4 segmentation offload.
    pub gso_tcpv4: bool,
    /// TCPv6 segmentation offload.
    pub gso_tcpv6: bool,
    /// IPv6 checksum offload.
    pub ipv6_csum_offload: bool,
    /// Separate tx and rx event channels.
    pub split_event_channels: bool,
    /// Queues.
    pub queues: u32,
}

/// A network backend without `feature-rx-copy` (only the obsolete page-flipping receive path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxCopyUnsupported;

/// Negotiates network parameters; the copying receive path is required.
pub fn negotiate_vif(
    ours: &VifFrontendLimits,
    theirs: &VifBackendOffer,
) -> Result<VifNegotiated, RxCopyUnsupported> {
    if theirs.rx_copy != Some(true) {
        return Err(RxCopyUnsupported);
    }
    Ok(VifNegotiated {
        sg: negotiate_feature(ours.sg, theirs.sg),
        gso_tcpv4: negotiate_feature(ours.gso_tcpv4, theirs.gso_tcpv4),
        gso_tcpv6: negotiate_feature(ours.gso_tcpv6, theirs.gso_tcpv6),
        ipv6_csum_offload: negotiate_feature(ours.ipv6_csum_offload, theirs.ipv6_csum_offload),
        split_event_channels: negotiate_feature(
            ours.split_event_channels,
            theirs.split_event_channels,
        ),
        queues: queue_count(ours.max_queues, theirs.max_queues),
    })
}

impl VifNegotiated {
    /// The frontend's advertisements: `request-rx-copy=1`, each agreed offload as `1` (nothing
    /// for what is off), and the queue count when more than one.
    pub fn advertise(&self, publication: &mut Publication) -> Result<(), XenbusError> {
        publication.flag(vif::REQUEST_RX_COPY, true)?;
        publication.flag(vif::FEATURE_RX_NOTIFY, true)?;
        publication.flag(vif::FEATURE_SG, self.sg)?;
        publication.flag(vif::FEATURE_GSO_TCPV4, self.gso_tcpv4)?;
        publication.flag(vif::FEATURE_GSO_TCPV6, self.gso_tcpv6)?;
        publication.flag(vif::FEATURE_IPV6_CSUM_OFFLOAD, self.ipv6_csum_offload)?;
        if self.queues > 1 {
            publication.set_u64(common::MULTI_QUEUE_NUM_QUEUES, u64::from(self.queues))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn absent_advertisements_take_protocol_defaults() {
        assert_eq!(ring_page_order(4, None), 0);
        assert_eq!(ring_page_order(4, Some(2)), 2);
        assert_eq!(ring_page_order(1, Some(10)), 1);
        assert_eq!(ring_page_order(99, Some(99)), MAX_RING_PAGE_ORDER);
        assert_eq!(queue_count(8, None), 1);
        assert_eq!(queue_count(8, Some(0)), 1);
        assert_eq!(queue_count(4, Some(16)), 4);
        assert!(!negotiate_feature(true, None));
        assert!(!negotiate_feature(false, Some(true)));
        assert!(negotiate_feature(true, Some(true)));
    }

    #[test]
    fn vif_requires_rx_copy_and_advertises_only_agreed_features() {
        let ours = VifFrontendLimits {
            sg: true,
            gso_tcpv4: true,
            gso_tcpv6: false,
            ipv6_csum_offload: true,
            split_event_channels: false,
            max_queues: 1,
        };
        let mut theirs = VifBackendOffer {
            sg: Some(true),
            gso_tcpv4: Some(false),
            gso_tcpv6: Some(true),
            ..Default::default()
        };
        assert_eq!(negotiate_vif(&ours, &theirs), Err(RxCopyUnsupported));
        theirs.rx_copy = Some(true);
        let agreed = negotiate_vif(&ours, &theirs).unwrap();
        assert!(agreed.sg && !agreed.gso_tcpv4 && !agreed.gso_tcpv6 && !agreed.ipv6_csum_offload);
        let mut p = Publication::new();
        agreed.advertise(&mut p).unwrap();
        let keys: alloc::vec::Vec<&str> = p.entries().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [
                vif::REQUEST_RX_COPY,
                vif::FEATURE_RX_NOTIFY,
                vif::FEATURE_SG
            ]
        );
        assert!(p.entries().all(|(_, v)| v == b"1"));
    }

    fn opt_u32() -> impl Strategy<Value = Option<u32>> {
        proptest::option::of(any::<u32>())
    }

    fn opt_bool() -> impl Strategy<Value = Option<bool>> {
        proptest::option::of(any::<bool>())
    }

    proptest! {
        #[test]
        fn vbd_negotiation_never_exceeds_either_side(
            ours in (0u32..8, any::<u32>(), any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), 0u32..128),
            theirs in (opt_u32(), opt_u32(), opt_bool(), opt_bool(), opt_bool(), opt_bool(), opt_u32()),
        ) {
            let ours = VbdFrontendLimits {
                max_ring_page_order: ours.0,
                max_indirect_segments: ours.1,
                flush_cache: ours.2,
                barrier: ours.3,
                discard: ours.4,
                persistent: ours.5,
                max_queues: ours.6,
            };
            let theirs = VbdBackendOffer {
                max_ring_page_order: theirs.0,
                max_indirect_segments: theirs.1,
                flush_cache: theirs.2,
                barrier: theirs.3,
                discard: theirs.4,
                persistent: theirs.5,
                max_queues: theirs.6,
                unparsable: Unparsable::default(),
            };
            let n = negotiate_vbd(&ours, &theirs);
            prop_assert!(n.ring_page_order <= ours.max_ring_page_order);
            prop_assert!(n.ring_page_order <= theirs.max_ring_page_order.unwrap_or(0));
            prop_assert!(n.indirect_segments <= ours.max_indirect_segments);
            prop_assert!(n.indirect_segments <= theirs.max_indirect_segments.unwrap_or(0));
            prop_assert!(n.queues >= 1);
            prop_assert!(n.queues <= ours.max_queues.max(1));
            prop_assert!(n.queues <= theirs.max_queues.unwrap_or(1).max(1));
            prop_assert_eq!(n.flush_cache, ours.flush_cache && theirs.flush_cache == Some(true));
            prop_assert_eq!(n.discard, ours.discard && theirs.discard == Some(true));
            // We never advertise persistent grants we do not support.
            let mut p = Publication::new();
            n.advertise(&mut p).unwrap();
            let advertised = p.entries().any(|(k, _)| k == vbd::FEATURE_PERSISTENT);
            prop_assert_eq!(advertised, n.persistent);
            prop_assert!(!advertised || ours.persistent);
        }
    }
}
