//! The binding model (decided) and the PDO answers it needs, as data.
//!
//! Decision: **physical miniports on the bus children**, as the XCP-ng drivers do.
//! - vbd: one PDO per vbd; xenvbd binds to it as a *physical* StorPort miniport (one adapter
//!   per disk, target 0 LUN 0). StorPort only starts a physical adapter that has resources and
//!   a bus interface, so the PDO answers:
//!   - IRP_MN_QUERY_RESOURCE_REQUIREMENTS: one memory page and one level-triggered interrupt,
//!     anywhere, exclusive (see [`resource_requirements`] for why not the platform device's
//!     own BAR page and interrupt). xenvbd does not use them: its `HwInterrupt` returns FALSE
//!     and its work arrives through the event channel callback of the child interface.
//!   - IRP_MN_QUERY_RESOURCES: no boot configuration (the PnP manager assigns from the
//!     requirements).
//!   - `GUID_BUS_INTERFACE_STANDARD`: `GetDmaAdapter` delegated to the parent PCI device (the
//!     platform device can do bus-master DMA, which is what StorPort asks for),
//!     `Get/SetBusData` (config space) reading and writing nothing.
//!   - IRP_MN_QUERY_BUS_INFORMATION: `GUID_BUS_TYPE_INTERNAL`, legacy bus type `Internal`
//!     (StorPort compares it with `HW_INITIALIZATION_DATA.AdapterInterfaceType`, so xenvbd sets
//!     `Internal`), bus number 0.
//!   - IRP_MN_READ_CONFIG / IRP_MN_WRITE_CONFIG: `STATUS_NOT_SUPPORTED`.
//! - vif: one PDO per vif; xennet binds as an NDIS 6 miniport and declares
//!   `NdisInterfacePNPBus`. NDIS needs no resources; the PDO answers the same bus information
//!   and bus interface, and no resource requirements.
//! - vfb, vkbd, console: the null driver xenstub; no resources.
//! - Every class gets the child interface ([`crate::interface`]) by IRP_MN_QUERY_INTERFACE.

use xen_pv_ids::ChildClass;

/// A GUID in its Windows layout (`Data1`, `Data2`, `Data3`, `Data4`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guid {
    /// `Data1`.
    pub data1: u32,
    /// `Data2`.
    pub data2: u16,
    /// `Data3`.
    pub data3: u16,
    /// `Data4`.
    pub data4: [u8; 8],
}

impl Guid {
    /// The GUID's 16 bytes as Windows stores them (little-endian fields).
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&self.data1.to_le_bytes());
        b[4..6].copy_from_slice(&self.data2.to_le_bytes());
        b[6..8].copy_from_slice(&self.data3.to_le_bytes());
        b[8..].copy_from_slice(&self.data4);
        b
    }

    /// The GUID from its 16 stored bytes.
    pub fn from_bytes(b: [u8; 16]) -> Guid {
        Guid {
            data1: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            data2: u16::from_le_bytes([b[4], b[5]]),
            data3: u16::from_le_bytes([b[6], b[7]]),
            data4: [b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]],
        }
    }
}

/// `GUID_BUS_TYPE_INTERNAL` {1530EA73-086B-11D1-A09F-00C04FC340B1} (wdmguid.h).
pub const GUID_BUS_TYPE_INTERNAL: Guid = Guid {
    data1: 0x1530_ea73,
    data2: 0x086b,
    data3: 0x11d1,
    data4: [0xa0, 0x9f, 0x00, 0xc0, 0x4f, 0xc3, 0x40, 0xb1],
};

/// `GUID_BUS_INTERFACE_STANDARD` {496B8280-6F25-11D0-BEAF-08002BE2092F} (wdmguid.h).
pub const GUID_BUS_INTERFACE_STANDARD: Guid = Guid {
    data1: 0x496b_8280,
    data2: 0x6f25,
    data3: 0x11d0,
    data4: [0xbe, 0xaf, 0x08, 0x00, 0x2b, 0xe2, 0x09, 0x2f],
};

/// `INTERFACE_TYPE::Internal`.
pub const INTERFACE_TYPE_INTERNAL: u32 = 0;
/// `INTERFACE_TYPE::PNPBus` (what xennet declares as its NDIS interface type).
pub const INTERFACE_TYPE_PNP_BUS: u32 = 15;

/// How a class's driver binds to its PDO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// xenvbd, physical StorPort miniport, target 0 LUN 0.
    StorPortPhysical,
    /// xennet, NDIS 6 miniport (`NdisInterfacePNPBus`).
    Ndis6Miniport,
    /// xenstub, WDM null function driver.
    NullDriver,
}

/// The binding of `class`.
pub fn binding(class: ChildClass) -> Binding {
    match class {
        ChildClass::Vbd => Binding::StorPortPhysical,
        ChildClass::Vif => Binding::Ndis6Miniport,
        ChildClass::Vfb | ChildClass::Vkbd | ChildClass::Console => Binding::NullDriver,
    }
}

/// The platform device's raw (bus-relative) resources the FDO got at start. The children's
/// requirements do not point into them (see [`resource_requirements`]); the FDO hands them to
/// the bus for its log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlatformResources {
    /// Memory BAR start (raw).
    pub memory_start: u64,
    /// Memory BAR length.
    pub memory_length: u64,
    /// Raw interrupt vector (the line), as in the raw `CmResourceTypeInterrupt`.
    pub interrupt_vector: u32,
    /// Level-triggered (PCI INTx) rather than latched.
    pub level_triggered: bool,
}

/// A memory requirement (`IO_RESOURCE_DESCRIPTOR`, `CmResourceTypeMemory`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRequirement {
    /// `Length`.
    pub length: u32,
    /// `Alignment`.
    pub alignment: u32,
    /// `MinimumAddress`.
    pub minimum: u64,
    /// `MaximumAddress` (inclusive).
    pub maximum: u64,
    /// `CmResourceShareDeviceExclusive` (else shared).
    pub exclusive: bool,
}

/// An interrupt requirement (`CmResourceTypeInterrupt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InterruptRequirement {
    /// `MinimumVector`.
    pub minimum_vector: u32,
    /// `MaximumVector`.
    pub maximum_vector: u32,
    /// `CM_RESOURCE_INTERRUPT_LEVEL_SENSITIVE` (else `LATCHED`).
    pub level_triggered: bool,
    /// `CmResourceShareDeviceExclusive` (else shared).
    pub exclusive: bool,
}

/// The resource requirements of a child (IRP_MN_QUERY_RESOURCE_REQUIREMENTS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceRequirements {
    /// One page of memory.
    pub memory: Option<MemoryRequirement>,
    /// One interrupt.
    pub interrupt: Option<InterruptRequirement>,
}

impl ResourceRequirements {
    /// Whether there is nothing to report (the IRP is completed without a list).
    pub fn is_empty(&self) -> bool {
        self.memory.is_none() && self.interrupt.is_none()
    }
}

/// Page size of the requirement.
pub const PAGE_SIZE: u32 = 4096;

/// The requirements of `class`. A vbd asks for what a physical StorPort adapter needs to
/// start and nothing more: one page of memory anywhere and one level-triggered interrupt of
/// any vector, both exclusive, so the arbiters assign free resources (the XCP-ng bus answers
/// the same). Pointing into the platform device's BAR instead would conflict with the BAR's
/// exclusive assignment. xenvbd maps neither: its `HwInterrupt` returns FALSE and its work
/// arrives through the event channel callback of the child interface. Other classes need no
/// resources.
pub fn resource_requirements(class: ChildClass) -> ResourceRequirements {
    match binding(class) {
        Binding::StorPortPhysical => ResourceRequirements {
            memory: Some(MemoryRequirement {
                length: PAGE_SIZE,
                alignment: PAGE_SIZE,
                minimum: 0,
                maximum: u64::MAX,
                exclusive: true,
            }),
            interrupt: Some(InterruptRequirement {
                minimum_vector: 0,
                maximum_vector: u32::MAX,
                level_triggered: true,
                exclusive: true,
            }),
        },
        Binding::Ndis6Miniport | Binding::NullDriver => ResourceRequirements::default(),
    }
}

/// The `PNP_BUS_INFORMATION` of every child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BusInformation {
    /// `BusTypeGuid`.
    pub bus_type: Guid,
    /// `LegacyBusType` (`INTERFACE_TYPE`).
    pub legacy_bus_type: u32,
    /// `BusNumber`.
    pub bus_number: u32,
}

/// The bus information all children report.
pub const BUS_INFORMATION: BusInformation = BusInformation {
    bus_type: GUID_BUS_TYPE_INTERNAL,
    legacy_bus_type: INTERFACE_TYPE_INTERNAL,
    bus_number: 0,
};

/// What the PDO does with an IRP_MN_QUERY_INTERFACE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InterfaceAnswer {
    /// Fill in the child interface ([`crate::interface`]) after negotiation.
    ChildInterface,
    /// Fill in `BUS_INTERFACE_STANDARD` (DMA from the parent, no config space).
    BusInterfaceStandard,
    /// Leave the IRP's status as it is (not ours).
    NotOurs,
}

/// The answer for an interface GUID.
pub fn interface_answer(guid: &Guid) -> InterfaceAnswer {
    if *guid == crate::interface::GUID_XEN_BUS_CHILD_INTERFACE {
        InterfaceAnswer::ChildInterface
    } else if *guid == GUID_BUS_INTERFACE_STANDARD {
        InterfaceAnswer::BusInterfaceStandard
    } else {
        InterfaceAnswer::NotOurs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disks_get_a_page_and_an_interrupt_nics_nothing() {
        let r = resource_requirements(ChildClass::Vbd);
        let m = r.memory.unwrap();
        assert_eq!(
            (m.length, m.alignment, m.minimum, m.maximum),
            (4096, 4096, 0, u64::MAX)
        );
        assert!(m.exclusive);
        let i = r.interrupt.unwrap();
        assert_eq!((i.minimum_vector, i.maximum_vector), (0, u32::MAX));
        assert!(i.level_triggered && i.exclusive);
        assert!(resource_requirements(ChildClass::Vif).is_empty());
        assert!(resource_requirements(ChildClass::Console).is_empty());
        assert!(resource_requirements(ChildClass::Vkbd).is_empty());
    }

    #[test]
    fn guids_round_trip_and_interfaces_are_recognised() {
        let b = GUID_BUS_TYPE_INTERNAL.to_bytes();
        assert_eq!(&b[..4], &[0x73, 0xea, 0x30, 0x15]);
        assert_eq!(Guid::from_bytes(b), GUID_BUS_TYPE_INTERNAL);
        assert_eq!(
            interface_answer(&GUID_BUS_INTERFACE_STANDARD),
            InterfaceAnswer::BusInterfaceStandard
        );
        assert_eq!(
            interface_answer(&crate::interface::GUID_XEN_BUS_CHILD_INTERFACE),
            InterfaceAnswer::ChildInterface
        );
        assert_eq!(
            interface_answer(&GUID_BUS_TYPE_INTERNAL),
            InterfaceAnswer::NotOurs
        );
        assert_eq!(binding(ChildClass::Vbd), Binding::StorPortPhysical);
        assert_eq!(BUS_INFORMATION.legacy_bus_type, INTERFACE_TYPE_INTERNAL);
    }
}
