//! `xenhide`: the decisions of the filter that hides QEMU's emulated IDE controller and NICs
//! from the PCI bus while the PV drivers are active, as portable logic (the Windows glue is
//! `src/driver.rs`).
//!
//! - The filter attaches only above PCI root buses ([`is_pci_root_bus`]); on every other
//!   device of the System class its AddDevice does nothing.
//! - What to hide is xen-platform's unplug decision, nothing else ([`xen_bus::hide`]): the
//!   facts are the ones xenpci decides from ([`BootFacts`]), with "the platform can start"
//!   read as "Xen is running, new enough, and its platform PCI device is on this bus".
//! - [`plan`] takes the hardware IDs of the children the PCI bus reported and says which to
//!   leave out of BusRelations.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;

use xen_bus::hide::{hide_classes, parse_pci_id, should_hide, HiddenDevice, UnplugClasses};
use xen_hal::XenVersion;
use xen_platform::{StartOptions, UnplugFacts, MIN_XEN_VERSION};

/// Hardware IDs of the PCI root bus devices the filter attaches to (PCI and PCI Express host
/// bridges as ACPI enumerates them).
pub const PCI_ROOT_IDS: [&str; 4] = ["ACPI\\PNP0A03", "*PNP0A03", "ACPI\\PNP0A08", "*PNP0A08"];

/// Whether a device with these hardware IDs is a PCI root bus.
pub fn is_pci_root_bus<'a>(ids: impl IntoIterator<Item = &'a str>) -> bool {
    ids.into_iter()
        .any(|id| PCI_ROOT_IDS.iter().any(|r| r.eq_ignore_ascii_case(id)))
}

/// What DriverEntry learns at boot (the same sources xenpci reads).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootFacts {
    /// `SystemStartOptions`.
    pub options: StartOptions,
    /// Xen's version from CPUID, if running on Xen.
    pub xen: Option<XenVersion>,
    /// `Services\xenvbd` exists.
    pub pv_disk_installed: bool,
    /// `Services\xenpci\Parameters\PvDiskSeen` is non-zero.
    pub pv_disk_seen: bool,
    /// `Services\xennet` exists.
    pub pv_net_installed: bool,
}

impl BootFacts {
    /// The unplug facts for a bus on which the Xen platform device is (`platform_listed`) or
    /// is not present.
    pub fn unplug_facts(&self, platform_listed: bool) -> UnplugFacts {
        UnplugFacts {
            options: self.options,
            platform_ready: platform_listed && self.xen.is_some_and(|v| v >= MIN_XEN_VERSION),
            pv_disk_installed: self.pv_disk_installed,
            pv_disk_seen: self.pv_disk_seen,
            pv_net_installed: self.pv_net_installed,
        }
    }
}

/// Whether one of `ids` is the Xen platform PCI device (`PCI\VEN_5853&DEV_0001`/`0002`, any
/// suffix).
pub fn is_xen_platform<'a>(ids: impl IntoIterator<Item = &'a str>) -> bool {
    ids.into_iter().any(|id| {
        xen_pv_ids_platform()
            .iter()
            .any(|p| parse_pci_id(id) == parse_pci_id(p) && parse_pci_id(id).is_some())
    })
}

fn xen_pv_ids_platform() -> [&'static str; 2] {
    ["PCI\\VEN_5853&DEV_0001", "PCI\\VEN_5853&DEV_0002"]
}

/// The verdict for one BusRelations answer: for each child (in order), the hide-list entry
/// that removes it, or `None` to keep it; and the classes hidden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Per child.
    pub hide: Vec<Option<&'static HiddenDevice>>,
    /// The unplug classes in force for this bus.
    pub classes: UnplugClasses,
}

/// Decides which children to leave out: `children[i]` are the hardware IDs of child `i`.
pub fn plan<C: AsRef<[S]>, S: AsRef<str>>(
    facts: &BootFacts,
    children: &[C],
) -> Result<Plan, alloc::collections::TryReserveError> {
    let platform_listed = children
        .iter()
        .any(|ids| is_xen_platform(ids.as_ref().iter().map(AsRef::as_ref)));
    let classes = hide_classes(&facts.unplug_facts(platform_listed));
    let mut hide = Vec::new();
    hide.try_reserve_exact(children.len())?;
    for ids in children {
        hide.push(should_hide(ids.as_ref().iter().map(AsRef::as_ref), classes));
    }
    Ok(Plan { hide, classes })
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDE: [&str; 2] = [
        "PCI\\VEN_8086&DEV_7010&SUBSYS_00015853&REV_00",
        "PCI\\VEN_8086&DEV_7010",
    ];
    const NIC: [&str; 2] = [
        "PCI\\VEN_10EC&DEV_8139&SUBSYS_11001AF4&REV_20",
        "PCI\\VEN_10EC&DEV_8139",
    ];
    const PLATFORM: [&str; 2] = [
        "PCI\\VEN_5853&DEV_0001&SUBSYS_00015853&REV_01",
        "PCI\\VEN_5853&DEV_0001",
    ];
    const ISA: [&str; 1] = ["PCI\\VEN_8086&DEV_7000"];

    fn installed() -> BootFacts {
        BootFacts {
            options: StartOptions::parse(" NOEXECUTE=OPTIN  FASTDETECT"),
            xen: Some(XenVersion {
                major: 4,
                minor: 17,
            }),
            pv_disk_installed: true,
            pv_disk_seen: true,
            pv_net_installed: true,
        }
    }

    fn hidden(p: &Plan) -> Vec<bool> {
        p.hide.iter().map(Option::is_some).collect()
    }

    #[test]
    fn hides_emulated_devices_when_pv_is_active() {
        let children = [&ISA[..], &IDE[..], &PLATFORM[..], &NIC[..]];
        let p = plan(&installed(), &children).unwrap();
        assert_eq!(hidden(&p), [false, true, false, true]);
    }

    #[test]
    fn same_switches_as_the_unplug() {
        let children = [&IDE[..], &PLATFORM[..], &NIC[..]];
        let nogplpv = BootFacts {
            options: StartOptions::parse(" NOEXECUTE=OPTIN  FASTDETECT NOGPLPV"),
            ..installed()
        };
        assert_eq!(
            hidden(&plan(&nogplpv, &children).unwrap()),
            [false, false, false]
        );
        let safe = BootFacts {
            options: StartOptions::parse(" SAFEBOOT:NETWORK"),
            ..installed()
        };
        assert_eq!(
            hidden(&plan(&safe, &children).unwrap()),
            [false, false, false]
        );
        // First boot after install: no PV disk seen yet, the IDE controller stays.
        let first = BootFacts {
            pv_disk_seen: false,
            ..installed()
        };
        assert_eq!(
            hidden(&plan(&first, &children).unwrap()),
            [false, false, true]
        );
        // Not on Xen, or Xen too old, or no platform device on this bus: nothing hidden.
        let bare = BootFacts {
            xen: None,
            ..installed()
        };
        assert_eq!(
            hidden(&plan(&bare, &children).unwrap()),
            [false, false, false]
        );
        let old = BootFacts {
            xen: Some(XenVersion { major: 3, minor: 0 }),
            ..installed()
        };
        assert_eq!(
            hidden(&plan(&old, &children).unwrap()),
            [false, false, false]
        );
        let without_platform = [&IDE[..], &NIC[..]];
        assert_eq!(
            hidden(&plan(&installed(), &without_platform).unwrap()),
            [false, false]
        );
    }

    #[test]
    fn root_bus_ids() {
        assert!(is_pci_root_bus(["ACPI\\PNP0A03", "*PNP0A03"]));
        assert!(is_pci_root_bus(["acpi\\pnp0a08"]));
        assert!(!is_pci_root_bus([
            "ACPI\\PNP0A06",
            "PCI\\VEN_8086&DEV_7000"
        ]));
        assert!(is_xen_platform(PLATFORM));
        assert!(is_xen_platform(["PCI\\VEN_5853&DEV_0002&REV_01"]));
        assert!(!is_xen_platform(IDE));
    }
}
