//! The guest's adapters around `xen-platform`'s bring-up (the same code the Windows bus driver
//! runs): the platform PCI device's resources found through PCI configuration space, the
//! guest's physical mapper and hypercall page, and a xenstore wait that polls the store port.
//!
//! The callback is the GSI Windows would get for the device's INTA# from Xen's ACPI `_PRT`.
//! The event-channel table moves to [`crate::irq`], whose service routine dispatches from it;
//! scenarios that want the interrupt connect it ([`Pv::connect_interrupt`]), the others poll
//! (the xenstore wait looks at the store port's pending bit).

use alloc::format;
use alloc::string::String;

use alloc::vec::Vec;

use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{Clock, EventChannelPort, Instant, Pfn, SharedMemory, PAGE_SHIFT};
use xen_platform::{
    CallbackVia, Platform, PlatformConfig, PlatformParts, PlatformResources, StoreRing,
};
use xenstore::{Client, RingTransport};

use crate::clock::TscClock;
use crate::irq;
use crate::memory::PAGES;
use crate::pci::{pci_intx_gsi, Bar, Pci, XEN_PLATFORM_DEVICE, XEN_PLATFORM_VENDOR};
use crate::scenarios::Guest;
use crate::xen::{Hv, XenState};

/// How long one xenstore wait stalls between looks at the pending bit.
const WAIT_STALL_US: u32 = 20;
/// Longest single wait before the client looks at the ring again.
const WAIT_SLICE_US: u64 = 2_000;

/// The PV platform: hypervisor, clock and the pieces `xen-platform` brought up (the
/// event-channel table is in [`crate::irq`]).
pub struct Pv {
    /// The typed hypervisor.
    pub hv: Hv,
    /// Xen as found at boot (for more `Hv` values).
    pub xen: XenState,
    /// The clock.
    pub clock: TscClock,
    /// The mapped shared_info page.
    pub shared_info: SharedMemory,
    /// The grant table in the platform BAR.
    pub grants: GrantTable,
    /// The BAR frames holding it.
    pub grant_frames: Vec<Pfn>,
    /// The xenstore ring.
    pub store: StoreRing,
    /// The GSI given to Xen as the callback (`CallbackVia::Gsi`).
    pub callback_gsi: u32,
}

/// The blocking xenstore client of this guest.
pub type Xs = Client<RingTransport<Hv>, TscClock, PendingWait>;

/// Waits for xenstore by polling the store port's pending bit in shared_info, through a
/// view of its own over the platform's shared_info (so a client borrows nothing of [`Pv`]).
pub struct PendingWait {
    events: EventChannels,
    clock: TscClock,
    port: EventChannelPort,
}

impl xenstore::Wait for PendingWait {
    fn wait(&mut self, deadline: Instant) {
        let slice_end = self
            .clock
            .now()
            .after_ns(WAIT_SLICE_US * 1000)
            .min(deadline);
        while self.clock.now() < slice_end {
            if self.events.is_pending(self.port).unwrap_or(false) {
                let _ = self.events.clear_pending(self.port);
                return;
            }
            self.clock.stall_us(WAIT_STALL_US);
        }
    }
}

impl Pv {
    /// Finds the platform device (BAR 1 and interrupt line from PCI configuration space) and
    /// brings the platform up through `xen_platform::Platform::bring_up`.
    pub fn setup(guest: &Guest<'_>) -> Result<Pv, String> {
        let xen = guest.xen.ok_or("not running on Xen")?;
        let pci = Pci::new(&guest.io);
        let device = pci
            .find(XEN_PLATFORM_VENDOR, XEN_PLATFORM_DEVICE)
            .ok_or("no Xen platform PCI device (5853:0001)")?;
        let Bar::Memory { address, size, .. } = pci.bar(device.at, 1) else {
            return Err("the platform device has no memory BAR 1".into());
        };
        // The callback is the GSI Windows gets for the device in APIC mode: Xen's `_PRT`
        // routes slot S pin INTx to ((S << 2) + (S >> 3) + x) & 31) + 16. The toolstack also
        // takes a set callback as "PV drivers present" (`xl shutdown` refuses without it).
        let irq = pci.interrupt_line(device.at);
        let pin = pci.interrupt_pin(device.at);
        let intx = pin
            .checked_sub(1)
            .ok_or_else(|| format!("the platform device has no interrupt pin (pin {pin})"))?;
        let gsi = pci_intx_gsi(device.at.device, intx)
            .ok_or_else(|| format!("no GSI for slot {} pin {pin}", device.at.device))?;
        let resources = PlatformResources {
            bar_base: Pfn(address >> PAGE_SHIFT),
            bar_len: size,
            callback: CallbackVia::Gsi(gsi),
        };
        let platform = Platform::bring_up(xen.hv(), &PAGES, resources, PlatformConfig::default())
            .map_err(|e| format!("platform bring-up: {e}"))?;
        crate::say!(
            "pv: platform device 00:{:02x}.{} (pin INT{}#, GSI {gsi}, PIC line {irq}), BAR1 {address:#x} ({} KiB), Xen {}.{}, shared_info at frame {:#x}, {} grant frames, callback {:#x}",
            device.at.device,
            device.at.function,
            char::from(b'A' + intx),
            size >> 10,
            platform.version().major,
            platform.version().minor,
            resources.bar_base.0,
            platform.grant_frames().len(),
            platform.callback_param()
        );
        let store = platform.store();
        crate::say!(
            "pv: xenstore ring at frame {:#x}, event channel {}",
            store.pfn.0,
            store.port.0
        );
        let PlatformParts {
            shared_info,
            events,
            grants,
            grant_frames,
            store,
            ..
        } = platform.into_parts();
        irq::adopt(shared_info, events);
        Ok(Pv {
            hv: xen.hv(),
            xen,
            clock: guest.clock,
            shared_info,
            grants,
            grant_frames,
            store,
            callback_gsi: gsi,
        })
    }

    /// Runs `f` on the event-channel table (interrupts off while it runs).
    pub fn with_events<R>(&self, f: impl FnOnce(&mut EventChannels) -> R) -> Result<R, String> {
        irq::with_events(f).ok_or_else(|| "the event-channel table is not reachable".into())
    }

    /// Connects the callback interrupt (see [`irq::connect`]) for the callback GSI.
    pub fn connect_interrupt(&self) -> Result<irq::Connected, String> {
        irq::connect(self.callback_gsi).map_err(|e| {
            format!(
                "connecting GSI {} to vector {:#x}: {e}",
                self.callback_gsi,
                irq::CALLBACK_VECTOR
            )
        })
    }

    /// The grant table in the platform BAR.
    pub fn grants_mut(&mut self) -> &mut GrantTable {
        &mut self.grants
    }

    /// A xenstore client over the ring and event channel the bring-up found (HVM params).
    pub fn xenstore(&self) -> Result<Xs, String> {
        let port = self.store.port;
        let capacity = usize::try_from(port.0)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let events = EventChannels::new(self.shared_info, capacity)
            .map_err(|e| format!("store port view: {e:?}"))?;
        let wait = PendingWait {
            events,
            clock: self.clock,
            port,
        };
        // `Platform::xenstore` needs a `Clone` hypervisor; this guest's `Hv` is made afresh
        // from the hypercall page instead, over the ring the bring-up found and mapped.
        let store = &self.store;
        let transport = RingTransport::new(store.page, self.xen.hv(), store.port)
            .map_err(|e| format!("xenstore ring: {e:?}"))?;
        Client::new(transport, self.clock, wait).map_err(|e| format!("xenstore client: {e:?}"))
    }
}
