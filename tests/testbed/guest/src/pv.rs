//! The PV platform of the guest, as the Windows bus driver sets it up: the Xen platform PCI
//! device's memory BAR as a home for Xen's frames (shared_info, grant table), event channels
//! over shared_info, and a xenstore client over the ring named by HVM params.
//!
//! Events are seen by polling the shared_info pending bitmap (no interrupt path: the guest
//! runs with interrupts off), through `xen-evtchn`.

use alloc::format;
use alloc::string::String;
use core::cell::Cell;

use xen_evtchn::EventChannels;
use xen_hal::{Clock, EventChannelPort, Hypervisor, Instant, Pfn, PhysicalMapper, PAGE_SHIFT};
use xen_public_headers::hvm::params::{
    HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_CALLBACK_TYPE_GSI, HVM_PARAM_STORE_EVTCHN,
    HVM_PARAM_STORE_PFN,
};
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xenstore::{Client, RingTransport};

use crate::clock::TscClock;
use crate::memory::PAGES;
use crate::pci::{Bar, Pci, XEN_PLATFORM_DEVICE, XEN_PLATFORM_VENDOR};
use crate::scenarios::Guest;
use crate::xen::{Hv, XenState};

/// Ports the event-channel table tracks.
const EVENT_CHANNELS: usize = 1024;
/// How long one xenstore wait stalls between looks at the pending bit.
const WAIT_STALL_US: u32 = 20;
/// Longest single wait before the client looks at the ring again.
const WAIT_SLICE_US: u64 = 2_000;

/// The PV platform: hypervisor, platform BAR, shared_info and event channels.
pub struct Pv {
    /// The typed hypervisor.
    pub hv: Hv,
    /// Xen as found at boot (for more `Hv` values).
    pub xen: XenState,
    /// The clock.
    pub clock: TscClock,
    /// Event channels over shared_info.
    pub events: EventChannels,
    /// First frame of the platform device's memory BAR.
    mmio_base: Pfn,
    /// Frames in that BAR.
    mmio_frames: u64,
    /// Next free BAR frame (frame 0 holds shared_info).
    mmio_next: Cell<u64>,
}

/// The blocking xenstore client of this guest.
pub type Xs<'a> = Client<RingTransport<Hv>, TscClock, PendingWait<'a>>;

/// Waits for xenstore by polling the store port's pending bit in shared_info.
pub struct PendingWait<'a> {
    events: &'a EventChannels,
    clock: TscClock,
    port: EventChannelPort,
}

impl xenstore::Wait for PendingWait<'_> {
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
    /// Finds the platform device, maps shared_info into the first frame of its memory BAR and
    /// sets up the event-channel table.
    pub fn setup(guest: &Guest<'_>) -> Result<Pv, String> {
        let xen = guest.xen.ok_or("not running on Xen")?;
        let hv = xen.hv();
        let pci = Pci::new(&guest.io);
        let device = pci
            .find(XEN_PLATFORM_VENDOR, XEN_PLATFORM_DEVICE)
            .ok_or("no Xen platform PCI device (5853:0001)")?;
        let Bar::Memory { address, size, .. } = pci.bar(device.at, 1) else {
            return Err("the platform device has no memory BAR 1".into());
        };
        let mmio_base = Pfn(address >> PAGE_SHIFT);
        let mmio_frames = size >> PAGE_SHIFT;
        if mmio_frames < 2 {
            return Err(format!("platform BAR 1 too small ({size} bytes)"));
        }
        hv.add_to_physmap(XENMAPSPACE_shared_info, 0, mmio_base)
            .map_err(|e| format!("add_to_physmap(shared_info, {:#x}): {e}", mmio_base.0))?;
        let shared_info = PAGES
            .map_frames(mmio_base, 1)
            .map_err(|e| format!("mapping shared_info: {e:?}"))?;
        let events = EventChannels::new(shared_info, EVENT_CHANNELS)
            .map_err(|e| format!("event channels: {e:?}"))?;
        // The callback names the platform device's interrupt line, as the Windows bus driver
        // does. Interrupts stay off in this guest (events are polled), but the toolstack takes
        // a set callback as "PV drivers present" (`xl shutdown` refuses without it).
        let irq = pci.interrupt_line(device.at);
        hv.hvm_set_param(
            HVM_PARAM_CALLBACK_IRQ,
            HVM_PARAM_CALLBACK_TYPE_GSI | u64::from(irq),
        )
        .map_err(|e| format!("HVM_PARAM_CALLBACK_IRQ = GSI {irq}: {e}"))?;
        crate::say!(
            "pv: platform device 00:{:02x}.{} (IRQ {irq}), BAR1 {address:#x} ({} KiB), shared_info at frame {:#x}",
            device.at.device,
            device.at.function,
            size >> 10,
            mmio_base.0
        );
        Ok(Pv {
            hv,
            xen,
            clock: guest.clock,
            events,
            mmio_base,
            mmio_frames,
            mmio_next: Cell::new(1),
        })
    }

    /// Takes `count` consecutive frames of the platform BAR (for Xen's grant-table frames).
    pub fn alloc_mmio_frames(&self, count: u64) -> Option<Pfn> {
        let next = self.mmio_next.get();
        let end = next.checked_add(count)?;
        if end > self.mmio_frames {
            return None;
        }
        self.mmio_next.set(end);
        Some(Pfn(self.mmio_base.0 + next))
    }

    /// A xenstore client over the ring and event channel named by the HVM params.
    pub fn xenstore(&self) -> Result<Xs<'_>, String> {
        let pfn = self
            .hv
            .hvm_get_param(HVM_PARAM_STORE_PFN)
            .map_err(|e| format!("HVM_PARAM_STORE_PFN: {e}"))?;
        let port = self
            .hv
            .hvm_get_param(HVM_PARAM_STORE_EVTCHN)
            .map_err(|e| format!("HVM_PARAM_STORE_EVTCHN: {e}"))?;
        let port = EventChannelPort(
            u32::try_from(port).map_err(|_| format!("store event channel {port} out of range"))?,
        );
        let ring = PAGES
            .map_frames(Pfn(pfn), 1)
            .map_err(|e| format!("mapping the xenstore ring at frame {pfn:#x}: {e:?}"))?;
        crate::say!(
            "pv: xenstore ring at frame {pfn:#x}, event channel {}",
            port.0
        );
        let transport = RingTransport::new(ring, self.xen.hv(), port)
            .map_err(|e| format!("xenstore ring: {e:?}"))?;
        let wait = PendingWait {
            events: &self.events,
            clock: self.clock,
            port,
        };
        Client::new(transport, self.clock, wait).map_err(|e| format!("xenstore client: {e:?}"))
    }
}
