//! Output on the Xen PV console (the ring named by `HVM_PARAM_CONSOLE_PFN`, read by
//! xenconsoled in dom0): a mirror of the protocol lines that costs no device-model round trip
//! per byte, unlike the emulated UART.

use core::mem::offset_of;
use core::sync::atomic::Ordering;

use xen_hal::{EventChannelPort, Hypervisor, Pfn, PhysicalMapper, SharedMemory};
use xen_public_headers::hvm::params::{HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN};
use xen_public_headers::io::console::xencons_interface;

use crate::memory::PAGES;
use crate::xen::XenState;

const OUT: usize = offset_of!(xencons_interface, out);
const OUT_SIZE: u32 = 2048;
const OUT_CONS: usize = offset_of!(xencons_interface, out_cons);
const OUT_PROD: usize = offset_of!(xencons_interface, out_prod);
/// Times a full ring is waited for (with a notification each time) before output is dropped.
const FULL_RING_POLLS: u32 = 100_000;

/// The guest end of the PV console's output ring.
pub struct PvConsole {
    ring: SharedMemory,
    port: EventChannelPort,
    xen: XenState,
    /// Set once the backend showed an impossible index: nothing more is written.
    broken: bool,
}

impl PvConsole {
    /// Finds the console ring and event channel through the HVM params; `None` if Xen gives
    /// none (no console configured) or they cannot be mapped.
    pub fn open(xen: XenState) -> Option<PvConsole> {
        let hv = xen.hv();
        let pfn = hv.hvm_get_param(HVM_PARAM_CONSOLE_PFN).ok()?;
        let port = hv.hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN).ok()?;
        if pfn == 0 {
            return None;
        }
        let ring = PAGES.map_frames(Pfn(pfn), 1).ok()?;
        Some(PvConsole {
            ring,
            port: EventChannelPort(u32::try_from(port).ok()?),
            xen,
            broken: false,
        })
    }

    /// The ring's frame and event channel (for the boot log).
    pub fn describe(&self) -> (u64, u32) {
        (
            (self.ring.as_ptr() as u64) >> xen_hal::PAGE_SHIFT,
            self.port.0,
        )
    }

    /// Writes `bytes`, waiting (bounded) while the ring is full, then notifies the backend.
    pub fn write(&mut self, bytes: &[u8]) {
        let hv = self.xen.hv();
        let mut rest = bytes;
        let mut polls = 0;
        while !rest.is_empty() && !self.broken {
            let (Ok(cons), Ok(prod)) = (
                self.ring.load_u32(OUT_CONS, Ordering::Acquire),
                self.ring.load_u32(OUT_PROD, Ordering::Relaxed),
            ) else {
                self.broken = true;
                break;
            };
            let used = prod.wrapping_sub(cons);
            if used > OUT_SIZE {
                self.broken = true;
                break;
            }
            let free = (OUT_SIZE - used) as usize;
            if free == 0 {
                polls += 1;
                if polls > FULL_RING_POLLS {
                    break;
                }
                let _ = hv.evtchn_send(self.port);
                core::hint::spin_loop();
                continue;
            }
            let (now, later) = rest.split_at(free.min(rest.len()));
            for (i, byte) in now.iter().enumerate() {
                let slot = (prod.wrapping_add(i as u32) % OUT_SIZE) as usize;
                let _ = self.ring.write_u8(OUT + slot, *byte);
            }
            let _ = self.ring.store_u32(
                OUT_PROD,
                prod.wrapping_add(now.len() as u32),
                Ordering::Release,
            );
            rest = later;
        }
        let _ = hv.evtchn_send(self.port);
    }
}
