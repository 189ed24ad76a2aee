//! Xenstore key names of the device protocols, grouped per protocol (names as in Xen's `io/*.h`).

use alloc::string::String;
use core::fmt::Write as _;

use xenstore::Error;

/// Keys every split driver uses (frontend and backend directories).
pub mod common {
    /// Connection state (a decimal [`crate::XenbusState`]).
    pub const STATE: &str = "state";
    /// Frontend: absolute path of the backend's directory.
    pub const BACKEND: &str = "backend";
    /// Frontend: domain id of the backend.
    pub const BACKEND_ID: &str = "backend-id";
    /// Backend: absolute path of the frontend's directory.
    pub const FRONTEND: &str = "frontend";
    /// Backend: domain id of the frontend.
    pub const FRONTEND_ID: &str = "frontend-id";
    /// Grant reference of a single-page ring.
    pub const RING_REF: &str = "ring-ref";
    /// Prefix of `ring-ref%u`, one per page of a multi-page ring (see [`super::ring_ref_n`]).
    pub const RING_REF_PREFIX: &str = "ring-ref";
    /// Event channel port.
    pub const EVENT_CHANNEL: &str = "event-channel";
    /// Ring ABI of the frontend (`x86_64-abi`, ...).
    pub const PROTOCOL: &str = "protocol";
    /// Frontend: log2 of the ring's page count.
    pub const RING_PAGE_ORDER: &str = "ring-page-order";
    /// Backend: largest ring page order it accepts.
    pub const MAX_RING_PAGE_ORDER: &str = "max-ring-page-order";
    /// Backend: largest number of queues it accepts.
    pub const MULTI_QUEUE_MAX_QUEUES: &str = "multi-queue-max-queues";
    /// Frontend: number of queues it uses.
    pub const MULTI_QUEUE_NUM_QUEUES: &str = "multi-queue-num-queues";
    /// Prefix of the per-queue directories `queue-%u` (see [`super::queue_n`]).
    pub const QUEUE_PREFIX: &str = "queue-";
    /// Backend: whether the device should stay attached (toolstack's hot-unplug request).
    pub const ONLINE: &str = "online";
    /// Backend: hotplug script outcome.
    pub const HOTPLUG_STATUS: &str = "hotplug-status";
    /// Backend: device handle.
    pub const HANDLE: &str = "handle";
}

/// Block device (`vbd`, `io/blkif.h`).
pub mod vbd {
    /// Device type in `device/<type>/<id>`.
    pub const DEVICE_TYPE: &str = "vbd";
    /// Backend: supports `BLKIF_OP_FLUSH_DISKCACHE`.
    pub const FEATURE_FLUSH_CACHE: &str = "feature-flush-cache";
    /// Backend: supports `BLKIF_OP_WRITE_BARRIER`.
    pub const FEATURE_BARRIER: &str = "feature-barrier";
    /// Backend: supports `BLKIF_OP_DISCARD`.
    pub const FEATURE_DISCARD: &str = "feature-discard";
    /// Both: persistent grants.
    pub const FEATURE_PERSISTENT: &str = "feature-persistent";
    /// Backend: most segments in a `BLKIF_OP_INDIRECT` request.
    pub const FEATURE_MAX_INDIRECT_SEGMENTS: &str = "feature-max-indirect-segments";
    /// Both: sector sizes other than 512 in requests.
    pub const FEATURE_LARGE_SECTOR_SIZE: &str = "feature-large-sector-size";
    /// Backend: size in sectors.
    pub const SECTORS: &str = "sectors";
    /// Backend: logical sector size in bytes.
    pub const SECTOR_SIZE: &str = "sector-size";
    /// Backend: physical sector size in bytes.
    pub const PHYSICAL_SECTOR_SIZE: &str = "physical-sector-size";
    /// Backend: `VDISK_*` flags.
    pub const INFO: &str = "info";
    /// Backend: discard granularity in bytes.
    pub const DISCARD_GRANULARITY: &str = "discard-granularity";
    /// Backend: discard alignment in bytes.
    pub const DISCARD_ALIGNMENT: &str = "discard-alignment";
    /// Backend: secure discard supported.
    pub const DISCARD_SECURE: &str = "discard-secure";
    /// Frontend: virtual device number.
    pub const VIRTUAL_DEVICE: &str = "virtual-device";
    /// Frontend: `disk` or `cdrom`.
    pub const FRONTEND_DEVICE_TYPE: &str = "device-type";
    /// Backend: `r` or `w`.
    pub const MODE: &str = "mode";
    /// Backend (old protocol): largest ring page count.
    pub const MAX_RING_PAGES: &str = "max-ring-pages";
    /// Frontend (old protocol): ring page count.
    pub const NUM_RING_PAGES: &str = "num-ring-pages";
}

/// Network device (`vif`, `io/netif.h`).
pub mod vif {
    /// Device type in `device/<type>/<id>`.
    pub const DEVICE_TYPE: &str = "vif";
    /// MAC address `aa:bb:cc:dd:ee:ff`.
    pub const MAC: &str = "mac";
    /// Frontend: grant reference of the transmit ring.
    pub const TX_RING_REF: &str = "tx-ring-ref";
    /// Frontend: grant reference of the receive ring.
    pub const RX_RING_REF: &str = "rx-ring-ref";
    /// Frontend: transmit event channel (split event channels).
    pub const EVENT_CHANNEL_TX: &str = "event-channel-tx";
    /// Frontend: receive event channel (split event channels).
    pub const EVENT_CHANNEL_RX: &str = "event-channel-rx";
    /// Frontend: copying receive path wanted.
    pub const REQUEST_RX_COPY: &str = "request-rx-copy";
    /// Backend: copying receive path supported.
    pub const FEATURE_RX_COPY: &str = "feature-rx-copy";
    /// Backend: flipping receive path supported (obsolete).
    pub const FEATURE_RX_FLIP: &str = "feature-rx-flip";
    /// Both: scatter-gather.
    pub const FEATURE_SG: &str = "feature-sg";
    /// Both: TCPv4 segmentation offload.
    pub const FEATURE_GSO_TCPV4: &str = "feature-gso-tcpv4";
    /// Both: TCPv6 segmentation offload.
    pub const FEATURE_GSO_TCPV6: &str = "feature-gso-tcpv6";
    /// Frontend: the frontend wants no checksum offload.
    pub const FEATURE_NO_CSUM_OFFLOAD: &str = "feature-no-csum-offload";
    /// Both: IPv6 checksum offload.
    pub const FEATURE_IPV6_CSUM_OFFLOAD: &str = "feature-ipv6-csum-offload";
    /// Frontend: receive notifications wanted.
    pub const FEATURE_RX_NOTIFY: &str = "feature-rx-notify";
    /// Backend: separate tx and rx event channels supported.
    pub const FEATURE_SPLIT_EVENT_CHANNELS: &str = "feature-split-event-channels";
    /// Backend: control ring supported.
    pub const FEATURE_CTRL_RING: &str = "feature-ctrl-ring";
    /// Backend: multicast control supported.
    pub const FEATURE_MULTICAST_CONTROL: &str = "feature-multicast-control";
    /// Frontend: multicast control wanted.
    pub const REQUEST_MULTICAST_CONTROL: &str = "request-multicast-control";
    /// Frontend: grant reference of the control ring.
    pub const CTRL_RING_REF: &str = "ctrl-ring-ref";
    /// Frontend: control ring event channel.
    pub const EVENT_CHANNEL_CTRL: &str = "event-channel-ctrl";
}

/// Virtual console (`console`, `io/console.h`), framebuffer and keyboard: the device types
/// that get a null driver.
pub mod other {
    /// Console device type.
    pub const CONSOLE: &str = "console";
    /// Framebuffer device type.
    pub const VFB: &str = "vfb";
    /// Keyboard/mouse device type.
    pub const VKBD: &str = "vkbd";
}

fn formatted(args: core::fmt::Arguments<'_>, capacity: usize) -> Result<String, Error> {
    let mut s = String::new();
    s.try_reserve(capacity)?;
    s.write_fmt(args).map_err(|_| Error::Alloc)?;
    Ok(s)
}

/// `ring-ref%u`: the grant reference of page `n` of a multi-page ring.
pub fn ring_ref_n(n: u32) -> Result<String, Error> {
    formatted(format_args!("{}{n}", common::RING_REF_PREFIX), 20)
}

/// `queue-%u`: the directory of queue `n` of a multi-queue device.
pub fn queue_n(n: u32) -> Result<String, Error> {
    formatted(format_args!("{}{n}", common::QUEUE_PREFIX), 20)
}

/// `<dir>/<key>`.
pub fn join(dir: &str, key: &str) -> Result<String, Error> {
    let mut s = String::new();
    s.try_reserve_exact(dir.len() + 1 + key.len())?;
    s.push_str(dir);
    s.push('/');
    s.push_str(key);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_keys() {
        assert_eq!(ring_ref_n(0).unwrap(), "ring-ref0");
        assert_eq!(ring_ref_n(15).unwrap(), "ring-ref15");
        assert_eq!(queue_n(3).unwrap(), "queue-3");
        assert_eq!(
            join("device/vbd/768", common::STATE).unwrap(),
            "device/vbd/768/state"
        );
    }
}
