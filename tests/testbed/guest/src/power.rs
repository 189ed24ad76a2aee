//! Leaving the guest: SCHEDOP_shutdown under Xen, ACPI S5 on plain QEMU, else halt.

use xen_hal::PortIo;

use crate::pci::{Function, Pci};
use crate::platform::{self, Ports};

/// `SHUTDOWN_poweroff`.
pub const SHUTDOWN_POWEROFF: u32 = 0;
/// `SHUTDOWN_reboot`.
#[allow(dead_code)] // for the shutdown scenario
pub const SHUTDOWN_REBOOT: u32 = 1;

/// PIIX4 power-management function (00:01.3) on QEMU's i440FX machine.
const PIIX4_PM: Function = Function {
    device: 1,
    function: 3,
};
const PIIX4_PM_VENDOR_DEVICE: u32 = 0x7113_8086;
/// PM1a control register offset in the PIIX4 PM I/O block; SLP_EN with SLP_TYP 0 (QEMU's S5).
const PM1A_CNT: u16 = 0x04;
const SLP_EN: u16 = 1 << 13;

/// Powers off (or reboots, with `SHUTDOWN_REBOOT`) and never returns.
pub fn off(reason: u32) -> ! {
    if let Some(error) = crate::xen::shutdown(reason) {
        crate::say!("shutdown hypercall failed ({error}); halting");
        platform::halt_forever();
    }
    // Not under Xen (or before the hypercall page): plain QEMU's ACPI S5.
    let io = Ports;
    let pci = Pci::new(&io);
    if pci.read32(PIIX4_PM, 0) == PIIX4_PM_VENDOR_DEVICE {
        let base = (pci.read32(PIIX4_PM, 0x40) & 0xffc0) as u16;
        if base != 0 {
            io.write_u16(base + PM1A_CNT, SLP_EN);
        }
    }
    platform::halt_forever()
}
