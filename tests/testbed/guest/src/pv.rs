//! The guest's adapters around `xen-platform`'s bring-up (the same code the Windows bus driver
//! runs): the platform PCI device's resources found through PCI configuration space, the
//! guest's physical mapper and hypercall page, and a xenstore wait that polls the store port.
//!
//! Events are seen by polling the shared_info pending bitmap (no interrupt path: the guest
//! runs with interrupts off), through `xen-evtchn`.

use alloc::format;
use alloc::string::String;

use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{Clock, EventChannelPort, Instant, Pfn, PAGE_SHIFT};
use xen_platform::{CallbackVia, Platform, PlatformConfig, PlatformResources};
use xenstore::{Client, RingTransport};

use crate::clock::TscClock;
use crate::memory::PAGES;
use crate::pci::{Bar, Pci, XEN_PLATFORM_DEVICE, XEN_PLATFORM_VENDOR};
use crate::scenarios::Guest;
use crate::xen::{Hv, XenState};

/// How long one xenstore wait stalls between looks at the pending bit.
const WAIT_STALL_US: u32 = 20;
/// Longest single wait before the client looks at the ring again.
const WAIT_SLICE_US: u64 = 2_000;

/// The PV platform: hypervisor, clock and the platform `xen-platform` brought up.
pub struct Pv {
    /// The typed hypervisor.
    pub hv: Hv,
    /// Xen as found at boot (for more `Hv` values).
    pub xen: XenState,
    /// The clock.
    pub clock: TscClock,
    /// The platform: shared_info, event channels, grant table, xenstore ring.
    pub platform: Platform<Hv>,
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
        // The callback names the platform device's interrupt line, as the Windows bus driver
        // does. Interrupts stay off in this guest (events are polled), but the toolstack takes
        // a set callback as "PV drivers present" (`xl shutdown` refuses without it).
        let irq = pci.interrupt_line(device.at);
        let resources = PlatformResources {
            bar_base: Pfn(address >> PAGE_SHIFT),
            bar_len: size,
            callback: CallbackVia::Gsi(u32::from(irq)),
        };
        let platform = Platform::bring_up(xen.hv(), &PAGES, resources, PlatformConfig::default())
            .map_err(|e| format!("platform bring-up: {e}"))?;
        crate::say!(
            "pv: platform device 00:{:02x}.{} (IRQ {irq}), BAR1 {address:#x} ({} KiB), Xen {}.{}, shared_info at frame {:#x}, {} grant frames, callback {:#x}",
            device.at.device,
            device.at.function,
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
        Ok(Pv {
            hv: xen.hv(),
            xen,
            clock: guest.clock,
            platform,
        })
    }

    /// The event-channel table over shared_info.
    pub fn events(&self) -> &EventChannels {
        self.platform.events()
    }

    /// The event-channel table, for binding.
    pub fn events_mut(&mut self) -> &mut EventChannels {
        self.platform.events_mut()
    }

    /// The grant table in the platform BAR.
    pub fn grants_mut(&mut self) -> &mut GrantTable {
        self.platform.grants_mut()
    }

    /// A xenstore client over the ring and event channel the bring-up found (HVM params).
    pub fn xenstore(&self) -> Result<Xs, String> {
        let port = self.platform.store().port;
        let capacity = usize::try_from(port.0)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let events = EventChannels::new(self.platform.shared_info(), capacity)
            .map_err(|e| format!("store port view: {e:?}"))?;
        let wait = PendingWait {
            events,
            clock: self.clock,
            port,
        };
        // `Platform::xenstore` needs a `Clone` hypervisor; this guest's `Hv` is made afresh
        // from the hypercall page instead, over the ring the bring-up found and mapped.
        let store = self.platform.store();
        let transport = RingTransport::new(store.page, self.xen.hv(), store.port)
            .map_err(|e| format!("xenstore ring: {e:?}"))?;
        Client::new(transport, self.clock, wait).map_err(|e| format!("xenstore client: {e:?}"))
    }
}
