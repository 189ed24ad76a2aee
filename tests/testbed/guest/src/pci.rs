//! PCI configuration space through mechanism #1 (ports 0xCF8/0xCFC), bus 0 only (the i440FX
//! machines QEMU and qemu-xen emulate have one bus).

use xen_hal::PortIo;

const CONFIG_ADDRESS: u16 = 0xcf8;
const CONFIG_DATA: u16 = 0xcfc;

/// Vendor id of the Xen platform device.
pub const XEN_PLATFORM_VENDOR: u16 = 0x5853;
/// Device id of the Xen platform device.
pub const XEN_PLATFORM_DEVICE: u16 = 0x0001;

/// The GSI of a bus-0 device's INTx line in APIC mode, as Xen's ACPI `_PRT` tells the OS (the
/// same rule as `hvm_pci_intx_gsi` in Xen's `hvm/irq.h`: device `slot`, `intx` 0 = INTA#):
/// `((slot << 2) + (slot >> 3) + intx) & 31) + 16`. `None` for a slot above 31 or a pin
/// above INTD#.
pub fn pci_intx_gsi(slot: u8, intx: u8) -> Option<u32> {
    if slot > 31 || intx > 3 {
        return None;
    }
    let (slot, intx) = (u32::from(slot), u32::from(intx));
    Some((((slot << 2) + (slot >> 3) + intx) & 31) + 16)
}

/// A PCI function's address on bus 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    /// Device number (0..32).
    pub device: u8,
    /// Function number (0..8).
    pub function: u8,
}

/// What identifies a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Where it is.
    pub at: Function,
    /// Vendor id.
    pub vendor: u16,
    /// Device id.
    pub device: u16,
    /// Class code, subclass, programming interface (`class << 16 | subclass << 8 | prog_if`).
    pub class: u32,
}

impl Identity {
    /// Base class and subclass (`0x0101` = IDE, `0x0200` = Ethernet).
    pub fn class_subclass(&self) -> u16 {
        (self.class >> 8) as u16
    }
}

/// A decoded base address register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bar {
    /// I/O ports.
    Io {
        /// First port.
        port: u16,
        /// Number of ports.
        size: u32,
    },
    /// Memory.
    Memory {
        /// Physical address.
        address: u64,
        /// Size in bytes.
        size: u64,
        /// Prefetchable.
        prefetchable: bool,
    },
    /// Not implemented by the device.
    Absent,
}

/// Configuration-space access over port I/O.
pub struct Pci<'a, P: PortIo> {
    io: &'a P,
}

impl<'a, P: PortIo> Pci<'a, P> {
    /// Configuration access through `io`.
    pub fn new(io: &'a P) -> Self {
        Pci { io }
    }

    fn select(&self, at: Function, offset: u8) {
        let address = 0x8000_0000
            | u32::from(at.device & 0x1f) << 11
            | u32::from(at.function & 0x7) << 8
            | u32::from(offset & 0xfc);
        self.io.write_u32(CONFIG_ADDRESS, address);
    }

    /// Reads the aligned dword at `offset`.
    pub fn read32(&self, at: Function, offset: u8) -> u32 {
        self.select(at, offset);
        self.io.read_u32(CONFIG_DATA)
    }

    /// Writes the aligned dword at `offset`.
    pub fn write32(&self, at: Function, offset: u8, value: u32) {
        self.select(at, offset);
        self.io.write_u32(CONFIG_DATA, value);
    }

    /// The function's identity, or `None` if nothing answers there.
    pub fn identity(&self, at: Function) -> Option<Identity> {
        let id = self.read32(at, 0x00);
        let vendor = id as u16;
        if vendor == 0xffff || vendor == 0 {
            return None;
        }
        Some(Identity {
            at,
            vendor,
            device: (id >> 16) as u16,
            class: self.read32(at, 0x08) >> 8,
        })
    }

    /// Calls `found` for every function on bus 0.
    pub fn scan(&self, mut found: impl FnMut(Identity)) {
        for device in 0..32u8 {
            let Some(first) = self.identity(Function {
                device,
                function: 0,
            }) else {
                continue;
            };
            found(first);
            let header_type = (self.read32(first.at, 0x0c) >> 16) as u8;
            if header_type & 0x80 == 0 {
                continue;
            }
            for function in 1..8u8 {
                if let Some(identity) = self.identity(Function { device, function }) {
                    found(identity);
                }
            }
        }
    }

    /// The first function with `vendor`:`device`.
    pub fn find(&self, vendor: u16, device: u16) -> Option<Identity> {
        let mut hit = None;
        self.scan(|identity| {
            if hit.is_none() && identity.vendor == vendor && identity.device == device {
                hit = Some(identity);
            }
        });
        hit
    }

    /// The interrupt line (config offset 0x3C) the firmware assigned.
    pub fn interrupt_line(&self, at: Function) -> u8 {
        self.read32(at, 0x3c) as u8
    }

    /// The interrupt pin register (config offset 0x3D): 0 = none, 1 = INTA# ... 4 = INTD#.
    pub fn interrupt_pin(&self, at: Function) -> u8 {
        (self.read32(at, 0x3c) >> 8) as u8
    }

    /// Decodes BAR `index` (0..6) and sizes it (decoding is switched off while sizing).
    pub fn bar(&self, at: Function, index: u8) -> Bar {
        if index >= 6 {
            return Bar::Absent;
        }
        let offset = 0x10 + index * 4;
        let command = self.read32(at, 0x04);
        self.write32(at, 0x04, command & !0x3);
        let original = self.read32(at, offset);
        self.write32(at, offset, u32::MAX);
        let mask = self.read32(at, offset);
        self.write32(at, offset, original);
        let bar = if original & 1 == 1 {
            let size_mask = mask & !0x3;
            if size_mask == 0 {
                Bar::Absent
            } else {
                Bar::Io {
                    port: (original & 0xfffc) as u16,
                    size: (!size_mask).wrapping_add(1) & 0xffff,
                }
            }
        } else {
            let size_mask = mask & !0xf;
            if size_mask == 0 {
                Bar::Absent
            } else {
                // 64-bit BARs: the high half is only read, not sized (the platform device's
                // BAR is 32-bit).
                let high = if original & 0x6 == 0x4 && index < 5 {
                    u64::from(self.read32(at, offset + 4)) << 32
                } else {
                    0
                };
                Bar::Memory {
                    address: high | u64::from(original & !0xf),
                    size: u64::from((!size_mask).wrapping_add(1)),
                    prefetchable: original & 0x8 != 0,
                }
            }
        };
        self.write32(at, 0x04, command);
        bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intx_gsi_follows_xens_routing() {
        // Slot 2 INTA# (where qemu-xen puts the platform device with one emulated NIC before
        // it) and the wrap at slot 8 and above.
        assert_eq!(pci_intx_gsi(2, 0), Some(24));
        assert_eq!(pci_intx_gsi(3, 0), Some(28));
        assert_eq!(pci_intx_gsi(0, 3), Some(19));
        assert_eq!(pci_intx_gsi(8, 0), Some(16 + ((32 + 1) & 31)));
        assert_eq!(pci_intx_gsi(31, 3), Some(16 + ((124 + 3 + 3) & 31)));
        assert_eq!(pci_intx_gsi(32, 0), None);
        assert_eq!(pci_intx_gsi(1, 4), None);
        for slot in 0..32 {
            for intx in 0..4 {
                let gsi = pci_intx_gsi(slot, intx).unwrap();
                assert!((16..48).contains(&gsi));
            }
        }
    }
}
