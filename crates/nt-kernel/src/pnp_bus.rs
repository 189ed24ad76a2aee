//! What a bus driver answers for its child PDOs: resource requirement lists
//! (`IO_RESOURCE_REQUIREMENTS_LIST`), `PNP_BUS_INFORMATION` and the `DEVICE_CAPABILITIES` bit
//! fields. Added for xenpci's PDOs.
//!
//! Layouts: sizes and offsets from mingw-w64's DDK `wdm.h` (C probe with
//! `x86_64-w64-mingw32-gcc -S`: `IO_RESOURCE_DESCRIPTOR` 32 bytes with `u` at 8 and
//! `u.Memory.MinimumAddress` at 16, `IO_RESOURCE_LIST` 40 with `Descriptors` at 8,
//! `IO_RESOURCE_REQUIREMENTS_LIST` 72 with `List` at 32, `PNP_BUS_INFORMATION` 24). mingw's
//! `u.Interrupt` lacks the Windows 7 policy members, but the union's size is set by `Memory`
//! (24 bytes) either way: in the WDK, `AffinityPolicy`/`Group` share 4 bytes
//! (`IRQ_DEVICE_POLICY_USHORT` + `USHORT`), `PriorityPolicy` is at 12 and
//! `TargetedProcessors` at 16, also 24 bytes.
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]

use crate::ntdef::*;

/// `INTERFACE_TYPE`.
pub type INTERFACE_TYPE = i32;
/// `Internal`.
pub const Internal: INTERFACE_TYPE = 0;
/// `PNPBus`.
pub const PNPBus: INTERFACE_TYPE = 15;

/// `CmResourceShareDeviceExclusive`.
pub const CmResourceShareDeviceExclusive: UCHAR = 1;
/// `CmResourceShareShared`.
pub const CmResourceShareShared: UCHAR = 3;
/// `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE`.
pub const CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE: USHORT = 0;
/// `CM_RESOURCE_MEMORY_READ_WRITE`.
pub const CM_RESOURCE_MEMORY_READ_WRITE: USHORT = 0;
/// `IrqPolicyMachineDefault` (`u.Interrupt.AffinityPolicy`).
pub const IrqPolicyMachineDefault: USHORT = 0;
/// `ALL_PROCESSOR_GROUPS` (`u.Interrupt.Group`).
pub const ALL_PROCESSOR_GROUPS: USHORT = 0xffff;

/// `IO_RESOURCE_DESCRIPTOR`. The union `u` is 24 bytes, 8-aligned; use the setters.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_RESOURCE_DESCRIPTOR {
    /// `Option` (0 = required).
    pub Option: UCHAR,
    /// `Type` (`CmResourceType*`).
    pub Type: UCHAR,
    /// `ShareDisposition`.
    pub ShareDisposition: UCHAR,
    /// `Spare1`.
    pub Spare1: UCHAR,
    /// `Flags`.
    pub Flags: USHORT,
    /// `Spare2`.
    pub Spare2: USHORT,
    /// `u`, raw.
    pub u: [u64; 3],
}

impl IO_RESOURCE_DESCRIPTOR {
    /// An all-zero descriptor.
    pub const fn zeroed() -> Self {
        IO_RESOURCE_DESCRIPTOR {
            Option: 0,
            Type: 0,
            ShareDisposition: 0,
            Spare1: 0,
            Flags: 0,
            Spare2: 0,
            u: [0; 3],
        }
    }

    /// `u.Memory` = { `Length`, `Alignment`, `MinimumAddress`, `MaximumAddress` }.
    pub fn set_memory(&mut self, length: ULONG, alignment: ULONG, minimum: u64, maximum: u64) {
        self.u = [
            u64::from(length) | (u64::from(alignment) << 32),
            minimum,
            maximum,
        ];
    }

    /// `u.Interrupt` = { `MinimumVector`, `MaximumVector`, `AffinityPolicy` =
    /// machine default, `Group` = all groups, `PriorityPolicy` = undefined (0),
    /// `TargetedProcessors` = 0 }.
    pub fn set_interrupt(&mut self, minimum: ULONG, maximum: ULONG) {
        self.u = [
            u64::from(minimum) | (u64::from(maximum) << 32),
            u64::from(IrqPolicyMachineDefault) | (u64::from(ALL_PROCESSOR_GROUPS) << 16),
            0,
        ];
    }
}

/// `IO_RESOURCE_LIST` (a variable-length array of descriptors follows `Count`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_RESOURCE_LIST {
    /// `Version` (1).
    pub Version: USHORT,
    /// `Revision` (1).
    pub Revision: USHORT,
    /// `Count`.
    pub Count: ULONG,
    /// `Descriptors[1]`.
    pub Descriptors: [IO_RESOURCE_DESCRIPTOR; 1],
}

/// `IO_RESOURCE_REQUIREMENTS_LIST` (one alternative list is all xenpci reports).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IO_RESOURCE_REQUIREMENTS_LIST {
    /// `ListSize`: bytes of the whole structure.
    pub ListSize: ULONG,
    /// `InterfaceType`.
    pub InterfaceType: INTERFACE_TYPE,
    /// `BusNumber`.
    pub BusNumber: ULONG,
    /// `SlotNumber`.
    pub SlotNumber: ULONG,
    /// `Reserved[3]`.
    pub Reserved: [ULONG; 3],
    /// `AlternativeLists`.
    pub AlternativeLists: ULONG,
    /// `List[1]`.
    pub List: [IO_RESOURCE_LIST; 1],
}

/// `PNP_BUS_INFORMATION`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct PNP_BUS_INFORMATION {
    /// `BusTypeGuid`.
    pub BusTypeGuid: GUID,
    /// `LegacyBusType`.
    pub LegacyBusType: INTERFACE_TYPE,
    /// `BusNumber`.
    pub BusNumber: ULONG,
}

/// `DEVICE_CAPABILITIES` bit fields in `Flags`, in declaration order (wdm.h: `DeviceD1:1`,
/// `DeviceD2:1`, `LockSupported:1`, `EjectSupported:1`, `Removable:1`, `DockDevice:1`,
/// `UniqueID:1`, `SilentInstall:1`, `RawDeviceOK:1`, `SurpriseRemovalOK:1`, ...).
pub mod capability_bits {
    /// `DeviceD1`.
    pub const DeviceD1: u32 = 1 << 0;
    /// `DeviceD2`.
    pub const DeviceD2: u32 = 1 << 1;
    /// `LockSupported`.
    pub const LockSupported: u32 = 1 << 2;
    /// `EjectSupported`.
    pub const EjectSupported: u32 = 1 << 3;
    /// `Removable`.
    pub const Removable: u32 = 1 << 4;
    /// `DockDevice`.
    pub const DockDevice: u32 = 1 << 5;
    /// `UniqueID`.
    pub const UniqueID: u32 = 1 << 6;
    /// `SilentInstall`.
    pub const SilentInstall: u32 = 1 << 7;
    /// `RawDeviceOK`.
    pub const RawDeviceOK: u32 = 1 << 8;
    /// `SurpriseRemovalOK`.
    pub const SurpriseRemovalOK: u32 = 1 << 9;
}

const _: () = assert!(core::mem::size_of::<IO_RESOURCE_DESCRIPTOR>() == 32);
const _: () = assert!(core::mem::offset_of!(IO_RESOURCE_DESCRIPTOR, u) == 8);
const _: () = assert!(core::mem::size_of::<IO_RESOURCE_LIST>() == 40);
const _: () = assert!(core::mem::offset_of!(IO_RESOURCE_LIST, Descriptors) == 8);
const _: () = assert!(core::mem::size_of::<IO_RESOURCE_REQUIREMENTS_LIST>() == 72);
const _: () = assert!(core::mem::offset_of!(IO_RESOURCE_REQUIREMENTS_LIST, List) == 32);
const _: () = assert!(core::mem::size_of::<PNP_BUS_INFORMATION>() == 24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_setters_place_fields_at_the_header_offsets() {
        let mut d = IO_RESOURCE_DESCRIPTOR::zeroed();
        d.set_memory(4096, 4096, 0xf000_0000, 0xf0ff_ffff);
        // u.Memory.Length at u+0, Alignment at u+4, MinimumAddress at u+8 (descriptor 16).
        assert_eq!(d.u[0] & 0xffff_ffff, 4096);
        assert_eq!(d.u[0] >> 32, 4096);
        assert_eq!(d.u[1], 0xf000_0000);
        assert_eq!(d.u[2], 0xf0ff_ffff);
        d.set_interrupt(28, 28);
        // MinimumVector at u+0, MaximumVector at u+4 (mingw probe: descriptor offset 12).
        assert_eq!(d.u[0], 28 | (28 << 32));
    }
}
