//! Platform bring-up on the Xen platform PCI device: Xen version check, `shared_info` and the
//! grant table frames placed in pages of the device's memory BAR, the event-channel table over
//! `shared_info`, the callback interrupt (`HVM_PARAM_CALLBACK_IRQ`), and the xenstore ring
//! named by the HVM params.
//!
//! The caller supplies the OS pieces: a [`Hypervisor`] (the hypercall page is installed by the
//! OS glue, since it needs an MSR write), a [`PhysicalMapper`] that reaches the BAR (on Windows a
//! view of the `MmMapIoSpace` mapping of the whole BAR) and the xenstore ring page, and the
//! device's resources. The Windows bus driver and the testbed guest run this same code.

use alloc::vec::Vec;
use core::fmt;

use xen_evtchn::{EventChannels, EventHandler, EvtchnError, UpcallStats};
use xen_grant::{GrantError, GrantTable};
use xen_hal::{
    Clock, EventChannelPort, Hypervisor, MapError, Pfn, PhysicalMapper, SharedMemory, VcpuId,
    XenError, XenVersion,
};
use xen_public_headers::event_channel::EVTCHN_2L_NR_CHANNELS;
use xen_public_headers::hvm::params::{
    HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_GSI, HVM_PARAM_CALLBACK_TYPE_PCI_INTX,
    HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
};
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xen_public_headers::xen::vcpu_info;
use xenstore::{Client, RingTransport, TransportError, Wait};

/// Oldest Xen the suite runs on (HVM params, `XENMEM_add_to_physmap` of shared_info and grant
/// frames and the callback IRQ as used here are all in Xen 3.1).
pub const MIN_XEN_VERSION: XenVersion = XenVersion { major: 3, minor: 1 };

/// Grant table frames placed by default (32 frames = 16384 v1 entries, Xen's default maximum).
pub const DEFAULT_GRANT_FRAMES: usize = 32;

/// The xenstore watch token of the `device` directory (hot-plug of child devices).
pub const DEVICE_WATCH_TOKEN: &str = "xen-platform:device";
/// The watched directory: the frontends the toolstack offers this domain.
pub const DEVICE_WATCH_PATH: &str = "device";

/// How Xen raises the callback interrupt (`HVM_PARAM_CALLBACK_IRQ`, `hvm/params.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallbackVia {
    /// A global system interrupt (the platform device's IRQ line as the I/O APIC sees it).
    /// GSI 0 cannot be named: it encodes to 0, which Xen reads as "no callback".
    Gsi(u32),
    /// The platform device's PCI INTx pin.
    PciIntx {
        /// PCI segment (domain).
        segment: u16,
        /// Bus number.
        bus: u8,
        /// Device number (0-31).
        device: u8,
        /// Function number (0-7).
        function: u8,
        /// Pin: 0 = INTA# ... 3 = INTD#.
        pin: u8,
    },
}

/// A [`CallbackVia`] that cannot be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCallbackVia(pub CallbackVia);

impl CallbackVia {
    /// The `HVM_PARAM_CALLBACK_IRQ` value: type in bits 63:56; for a GSI the number in 55:0;
    /// for PCI INTx domain in 47:32, bus in 31:16, devfn in 15:8 and the pin in 1:0.
    ///
    /// `Gsi(0)` is refused: the GSI type is 0, so it would encode to the whole value 0, which
    /// turns the callback off, and the platform would come up with no event delivery at all.
    pub fn encode(self) -> Result<u64, BadCallbackVia> {
        const TYPE_SHIFT: u32 = 56;
        match self {
            CallbackVia::Gsi(0) => Err(BadCallbackVia(self)),
            CallbackVia::Gsi(gsi) => {
                Ok((HVM_PARAM_CALLBACK_TYPE_GSI << TYPE_SHIFT) | u64::from(gsi))
            }
            CallbackVia::PciIntx {
                segment,
                bus,
                device,
                function,
                pin,
            } => {
                if device > 31 || function > 7 || pin > 3 {
                    return Err(BadCallbackVia(self));
                }
                let devfn = (u64::from(device) << 3) | u64::from(function);
                Ok((HVM_PARAM_CALLBACK_TYPE_PCI_INTX << TYPE_SHIFT)
                    | (u64::from(segment) << 32)
                    | (u64::from(bus) << 16)
                    | (devfn << 8)
                    | u64::from(pin))
            }
        }
    }
}

/// The platform device's resources, as the OS assigned them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformResources {
    /// First frame of the memory BAR (BAR 1 of `5853:0001`).
    pub bar_base: Pfn,
    /// Length of the memory BAR in bytes.
    pub bar_len: u64,
    /// The interrupt Xen should raise.
    pub callback: CallbackVia,
}

/// Tunables of the bring-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformConfig {
    /// Most grant frames to place (fewer if Xen or the BAR allow fewer).
    pub max_grant_frames: usize,
    /// Ports the event-channel table tracks (at most the 2-level ABI's 4096).
    pub event_channels: usize,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            max_grant_frames: DEFAULT_GRANT_FRAMES,
            event_channels: EVTCHN_2L_NR_CHANNELS,
        }
    }
}

/// Why the bring-up failed; each names the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BringUpError {
    /// `XENVER_version` failed.
    Version(XenError),
    /// Xen is older than [`MIN_XEN_VERSION`].
    XenTooOld(XenVersion),
    /// The BAR has fewer than two frames (shared_info plus one grant frame).
    BarTooSmall {
        /// Frames in the BAR.
        frames: u64,
    },
    /// `XENMEM_add_to_physmap(XENMAPSPACE_shared_info)` failed.
    SharedInfoPlacement(XenError),
    /// The BAR frame holding shared_info could not be mapped.
    SharedInfoMap(MapError),
    /// The event-channel table could not be set up.
    EventChannels(EvtchnError),
    /// The grant table could not be set up.
    GrantTable(GrantError),
    /// The callback could not be encoded.
    CallbackEncoding(BadCallbackVia),
    /// `HVM_PARAM_CALLBACK_IRQ` could not be set.
    Callback(XenError),
    /// An HVM param of the xenstore ring could not be read.
    StoreParam {
        /// The param.
        index: u32,
        /// The error.
        error: XenError,
    },
    /// The xenstore params hold nonsense (zero frame, port out of range).
    StoreParamValue {
        /// The param.
        index: u32,
        /// Its value.
        value: u64,
    },
    /// The xenstore ring page could not be mapped.
    StoreMap(MapError),
    /// The xenstore ring page is unusable.
    StoreTransport(TransportError),
}

impl fmt::Display for BringUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BringUpError::Version(e) => write!(f, "XENVER_version failed: {e}"),
            BringUpError::XenTooOld(v) => write!(
                f,
                "Xen {}.{} is too old: the PV drivers need Xen {}.{} or newer",
                v.major, v.minor, MIN_XEN_VERSION.major, MIN_XEN_VERSION.minor
            ),
            BringUpError::BarTooSmall { frames } => write!(
                f,
                "the platform device's memory BAR has {frames} pages, at least 2 are needed"
            ),
            BringUpError::SharedInfoPlacement(e) => {
                write!(f, "placing shared_info in the BAR failed: {e}")
            }
            BringUpError::SharedInfoMap(e) => write!(f, "mapping shared_info failed: {e:?}"),
            BringUpError::EventChannels(e) => write!(f, "event channels: {e}"),
            BringUpError::GrantTable(e) => write!(f, "grant table: {e}"),
            BringUpError::CallbackEncoding(e) => write!(f, "bad callback interrupt {:?}", e.0),
            BringUpError::Callback(e) => write!(f, "setting HVM_PARAM_CALLBACK_IRQ failed: {e}"),
            BringUpError::StoreParam { index, error } => {
                write!(f, "reading HVM param {index} failed: {error}")
            }
            BringUpError::StoreParamValue { index, value } => {
                write!(f, "HVM param {index} holds an unusable value {value:#x}")
            }
            BringUpError::StoreMap(e) => write!(f, "mapping the xenstore ring failed: {e:?}"),
            BringUpError::StoreTransport(e) => write!(f, "xenstore ring: {e:?}"),
        }
    }
}

/// Where the xenstore ring is.
#[derive(Clone, Copy, Debug)]
pub struct StoreRing {
    /// The ring page's frame (`HVM_PARAM_STORE_PFN`).
    pub pfn: Pfn,
    /// The event channel to xenstored (`HVM_PARAM_STORE_EVTCHN`).
    pub port: EventChannelPort,
    /// The ring page, mapped.
    pub page: SharedMemory,
}

/// The brought-up platform.
pub struct Platform<H: Hypervisor> {
    hv: H,
    version: XenVersion,
    resources: PlatformResources,
    shared_info: SharedMemory,
    events: EventChannels,
    grants: GrantTable,
    grant_frames: Vec<Pfn>,
    callback: u64,
    store: StoreRing,
}

impl<H: Hypervisor> fmt::Debug for Platform<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Platform")
            .field("version", &self.version)
            .field("resources", &self.resources)
            .field("grant_frames", &self.grant_frames.len())
            .field("callback", &self.callback)
            .field("store_pfn", &self.store.pfn)
            .field("store_port", &self.store.port)
            .finish()
    }
}

/// The objects of a brought-up platform, taken apart ([`Platform::into_parts`]).
pub struct PlatformParts<H: Hypervisor> {
    /// The hypervisor.
    pub hv: H,
    /// Xen's version.
    pub version: XenVersion,
    /// The resources it was brought up with.
    pub resources: PlatformResources,
    /// The mapped `shared_info` page (for [`acknowledge_upcall`]).
    pub shared_info: SharedMemory,
    /// The event-channel table.
    pub events: EventChannels,
    /// The grant table.
    pub grants: GrantTable,
    /// The BAR frames holding the grant table.
    pub grant_frames: Vec<Pfn>,
    /// The `HVM_PARAM_CALLBACK_IRQ` value set.
    pub callback: u64,
    /// The xenstore ring.
    pub store: StoreRing,
}

/// Whether vCPU 0 of `shared_info` has an upcall pending, clearing the flag (the interrupt
/// service routine's acknowledgement: Xen lowers the callback line). Needs no lock: one
/// atomic swap on `vcpu_info[0].evtchn_upcall_pending`.
pub fn acknowledge_upcall(shared_info: SharedMemory) -> bool {
    // vcpu_info[0] is at offset 0 of shared_info; evtchn_upcall_pending is its first byte.
    const UPCALL_PENDING: usize = core::mem::offset_of!(vcpu_info, evtchn_upcall_pending);
    matches!(shared_info.swap_u8(UPCALL_PENDING, 0), Ok(v) if v != 0)
}

/// Checks the version: Ok with it when Xen is at least [`MIN_XEN_VERSION`].
pub fn check_version(hv: &impl Hypervisor) -> Result<XenVersion, BringUpError> {
    let version = hv.xen_version().map_err(BringUpError::Version)?;
    if version < MIN_XEN_VERSION {
        return Err(BringUpError::XenTooOld(version));
    }
    Ok(version)
}

impl<H: Hypervisor> Platform<H> {
    /// Brings the platform up (see the module documentation), in this order: version check,
    /// shared_info at BAR frame 0, event-channel table (all ports masked), grant table at the
    /// next BAR frames, xenstore ring from the HVM params, and last the callback interrupt (so
    /// nothing is raised before the table is ready). The ISR must be connected before the
    /// first port is unmasked ([`Platform::bind_handler`]).
    pub fn bring_up(
        hv: H,
        mapper: &impl PhysicalMapper,
        resources: PlatformResources,
        config: PlatformConfig,
    ) -> Result<Platform<H>, BringUpError> {
        let version = check_version(&hv)?;
        let bar_frames = resources.bar_len >> xen_hal::PAGE_SHIFT;
        if bar_frames < 2 {
            return Err(BringUpError::BarTooSmall { frames: bar_frames });
        }
        let callback = resources
            .callback
            .encode()
            .map_err(BringUpError::CallbackEncoding)?;

        let shared_pfn = resources.bar_base;
        hv.add_to_physmap(XENMAPSPACE_shared_info, 0, shared_pfn)
            .map_err(BringUpError::SharedInfoPlacement)?;
        let shared_info = mapper
            .map_frames(shared_pfn, 1)
            .map_err(BringUpError::SharedInfoMap)?;
        let events = EventChannels::new(shared_info, config.event_channels)
            .map_err(BringUpError::EventChannels)?;
        events.mask_all().map_err(BringUpError::EventChannels)?;

        // The rest of the BAR (after shared_info) is for grant frames.
        let available = usize::try_from(bar_frames - 1).unwrap_or(usize::MAX);
        let count = config.max_grant_frames.min(available);
        let mut grant_frames = Vec::new();
        grant_frames
            .try_reserve_exact(count)
            .map_err(|e| BringUpError::GrantTable(e.into()))?;
        for i in 1..=count {
            grant_frames.push(Pfn(resources.bar_base.0 + i as u64));
        }
        let grants =
            GrantTable::setup(&hv, mapper, &grant_frames).map_err(BringUpError::GrantTable)?;
        grant_frames.truncate(grants.frames().len());

        let store = read_store_ring(&hv, mapper)?;

        hv.hvm_set_param(HVM_PARAM_CALLBACK_IRQ, callback)
            .map_err(BringUpError::Callback)?;

        Ok(Platform {
            hv,
            version,
            resources,
            shared_info,
            events,
            grants,
            grant_frames,
            callback,
            store,
        })
    }

    /// The hypervisor.
    pub fn hypervisor(&self) -> &H {
        &self.hv
    }

    /// Xen's version.
    pub fn version(&self) -> XenVersion {
        self.version
    }

    /// The resources the platform was brought up with.
    pub fn resources(&self) -> &PlatformResources {
        &self.resources
    }

    /// The mapped `shared_info` page.
    pub fn shared_info(&self) -> SharedMemory {
        self.shared_info
    }

    /// The event-channel table.
    pub fn events(&self) -> &EventChannels {
        &self.events
    }

    /// The event-channel table, for binding.
    pub fn events_mut(&mut self) -> &mut EventChannels {
        &mut self.events
    }

    /// The grant table.
    pub fn grants(&self) -> &GrantTable {
        &self.grants
    }

    /// The grant table, for granting.
    pub fn grants_mut(&mut self) -> &mut GrantTable {
        &mut self.grants
    }

    /// The BAR frames holding grant table frames, in table order.
    pub fn grant_frames(&self) -> &[Pfn] {
        &self.grant_frames
    }

    /// The `HVM_PARAM_CALLBACK_IRQ` value set.
    pub fn callback_param(&self) -> u64 {
        self.callback
    }

    /// The xenstore ring.
    pub fn store(&self) -> &StoreRing {
        &self.store
    }

    /// Binds `handler` to `port` and unmasks it.
    pub fn bind_handler(
        &mut self,
        port: EventChannelPort,
        handler: EventHandler,
        context: usize,
    ) -> Result<(), EvtchnError> {
        self.events.bind_handler(&self.hv, port, handler, context)
    }

    /// Binds `handler` to the xenstore event channel (the OS wakes its xenstore waiters there).
    pub fn bind_store_handler(
        &mut self,
        handler: EventHandler,
        context: usize,
    ) -> Result<(), EvtchnError> {
        let port = self.store.port;
        self.bind_handler(port, handler, context)
    }

    /// The interrupt service routine's part: whether vCPU 0 has an upcall pending (the
    /// interrupt is ours), clearing the flag so Xen lowers the line. The pending bitmaps stay
    /// for [`Platform::dispatch`] (the DPC).
    pub fn acknowledge_interrupt(&self) -> bool {
        acknowledge_upcall(self.shared_info)
    }

    /// Gives the platform's objects up, for an OS that keeps them under separate locks (the
    /// grant table and event channels under a spin lock, the hypervisor handle and
    /// `shared_info` free for the interrupt service routine).
    pub fn into_parts(self) -> PlatformParts<H> {
        PlatformParts {
            hv: self.hv,
            version: self.version,
            resources: self.resources,
            shared_info: self.shared_info,
            events: self.events,
            grants: self.grants,
            grant_frames: self.grant_frames,
            callback: self.callback,
            store: self.store,
        }
    }

    /// The DPC's part: scans the 2-level pending bitmaps and calls each port's handler.
    pub fn dispatch(&self) -> Result<UpcallStats, EvtchnError> {
        self.events.handle_upcall(VcpuId(0))
    }

    /// Takes the platform down as far as Xen allows: the callback is cleared (no more
    /// interrupts) and every port masked. `shared_info` cannot be taken back from the BAR; the
    /// grant table is returned so the glue can end outstanding grants and unmap the frames.
    /// The second item reports whether Xen accepted clearing the callback.
    pub fn shut_down(self) -> (GrantTable, Result<(), XenError>) {
        let _ = self.events.mask_all();
        let cleared = self.hv.hvm_set_param(HVM_PARAM_CALLBACK_IRQ, 0);
        (self.grants, cleared)
    }
}

impl<H: Hypervisor + Clone> Platform<H> {
    /// A transport over the xenstore ring.
    pub fn store_transport(&self) -> Result<RingTransport<H>, BringUpError> {
        RingTransport::new(self.store.page, self.hv.clone(), self.store.port)
            .map_err(BringUpError::StoreTransport)
    }

    /// A xenstore client over the ring, with the caller's clock and wait (on Windows: wait for
    /// the event the store port's handler sets). The client inherits nothing from a client of
    /// an earlier bring-up in this domain: [`Client::new`] discards its unread replies and
    /// queues `XS_RESET_WATCHES` first (so [`watch_devices`] does not meet the old watch).
    pub fn xenstore<C: Clock, W: Wait>(
        &self,
        clock: C,
        wait: W,
    ) -> Result<Client<RingTransport<H>, C, W>, PlatformStoreError> {
        let transport = self
            .store_transport()
            .map_err(PlatformStoreError::BringUp)?;
        Client::new(transport, clock, wait).map_err(PlatformStoreError::Store)
    }
}

/// A xenstore client could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlatformStoreError {
    /// The ring is unusable.
    BringUp(BringUpError),
    /// The client failed.
    Store(xenstore::Error),
}

/// Sets the watch on [`DEVICE_WATCH_PATH`] with [`DEVICE_WATCH_TOKEN`]; its events mean "the
/// child device list may have changed" (the bus driver invalidates its relations).
pub fn watch_devices<T: xenstore::Transport, C: Clock, W: Wait>(
    client: &mut Client<T, C, W>,
) -> Result<(), xenstore::Error> {
    client.watch(DEVICE_WATCH_PATH, DEVICE_WATCH_TOKEN)
}

fn read_store_ring<H: Hypervisor>(
    hv: &H,
    mapper: &impl PhysicalMapper,
) -> Result<StoreRing, BringUpError> {
    let param = |index| {
        hv.hvm_get_param(index)
            .map_err(|error| BringUpError::StoreParam { index, error })
    };
    let pfn = param(HVM_PARAM_STORE_PFN)?;
    if pfn == 0 {
        return Err(BringUpError::StoreParamValue {
            index: HVM_PARAM_STORE_PFN,
            value: pfn,
        });
    }
    let port = param(HVM_PARAM_STORE_EVTCHN)?;
    let port = u32::try_from(port)
        .ok()
        .filter(|&p| p != 0 && (p as usize) < EVTCHN_2L_NR_CHANNELS)
        .ok_or(BringUpError::StoreParamValue {
            index: HVM_PARAM_STORE_EVTCHN,
            value: port,
        })?;
    let page = mapper
        .map_frames(Pfn(pfn), 1)
        .map_err(BringUpError::StoreMap)?;
    Ok(StoreRing {
        pfn: Pfn(pfn),
        port: EventChannelPort(port),
        page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_encodings_follow_params_h() {
        assert_eq!(CallbackVia::Gsi(28).encode(), Ok(28));
        assert_eq!(CallbackVia::Gsi(1).encode(), Ok(1));
        let intx = CallbackVia::PciIntx {
            segment: 0,
            bus: 0,
            device: 3,
            function: 0,
            pin: 0,
        };
        // Type 1 in bits 63:56, devfn 0x18 in 15:8.
        assert_eq!(intx.encode(), Ok(0x0100_0000_0000_1800));
        let intx = CallbackVia::PciIntx {
            segment: 2,
            bus: 0x11,
            device: 31,
            function: 7,
            pin: 3,
        };
        assert_eq!(intx.encode(), Ok(0x0100_0002_0011_ff03));
        let bad = CallbackVia::PciIntx {
            segment: 0,
            bus: 0,
            device: 32,
            function: 0,
            pin: 0,
        };
        assert_eq!(bad.encode(), Err(BadCallbackVia(bad)));
        let bad = CallbackVia::PciIntx {
            segment: 0,
            bus: 0,
            device: 1,
            function: 0,
            pin: 4,
        };
        assert!(bad.encode().is_err());
    }

    #[test]
    fn gsi_zero_is_refused_since_zero_means_no_callback() {
        let zero = CallbackVia::Gsi(0);
        assert_eq!(zero.encode(), Err(BadCallbackVia(zero)));
    }

    #[test]
    fn upcall_acknowledgement_clears_vcpu0_flag_only() {
        let pages = xen_hal::fake::HeapPages::new(1).unwrap();
        let shared = pages.memory();
        assert!(!acknowledge_upcall(shared));
        shared.write_u8(0, 1).unwrap();
        // Another vCPU's flag is not ours to take.
        let vcpu1 = core::mem::size_of::<vcpu_info>();
        shared.write_u8(vcpu1, 1).unwrap();
        assert!(acknowledge_upcall(shared));
        assert_eq!(shared.read_u8(0), Ok(0));
        assert_eq!(shared.read_u8(vcpu1), Ok(1));
        assert!(!acknowledge_upcall(shared));
    }

    #[test]
    fn version_check_refuses_xen_before_3_1() {
        let hv = xen_hal::fake_hypervisor::RecordingHypervisor::new();
        for (major, minor, ok) in [
            (3u16, 0u16, false),
            (2, 9, false),
            (3, 1, true),
            (4, 17, true),
        ] {
            hv.set_version(XenVersion { major, minor });
            let result = check_version(&hv);
            assert_eq!(result.is_ok(), ok, "{major}.{minor}");
            if !ok {
                let line = alloc::string::ToString::to_string(&result.unwrap_err());
                assert!(line.contains("too old"), "{line}");
            }
        }
        hv.fail_next(XenError::ENOSYS);
        assert_eq!(
            check_version(&hv),
            Err(BringUpError::Version(XenError::ENOSYS))
        );
    }
}
