//! `xenhide`: the decisions of the filter that hides QEMU's emulated IDE controller and NICs
//! from the PCI bus while the PV drivers are active, as portable logic (the Windows glue is
//! `src/driver.rs`).
//!
//! - The filter attaches only above PCI root buses ([`is_pci_root_bus`]); on every other
//!   device of the System class its AddDevice does nothing.
//! - What to hide is what xenpci reports as actually unplugged in this boot (the volatile
//!   [`BootReport`] under `Services\xenpci\Parameters\ThisBoot`), latched at the first
//!   BusRelations ([`xen_bus::hide`]): never the registry facts the unplug was decided from.
//! - [`plan`] takes the hardware IDs of the children the PCI bus reported and says which to
//!   leave out of BusRelations.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

use alloc::vec::Vec;

use xen_bus::hide::{parse_pci_id, should_hide, HiddenDevice, UnplugClasses};
pub use xen_platform::evidence::report_key_path;
use xen_platform::evidence::BootReport;

/// The report from the two REG_DWORDs (`VALUE_REPORT_BOOT`, `VALUE_REPORT_UNPLUGGED`) read from
/// xenpci's volatile key [`report_key_path`].
pub fn report(boot: Option<u32>, unplugged: Option<u32>) -> Option<BootReport> {
    BootReport::from_registry(boot, unplugged)
}

/// Hardware IDs of the PCI root bus devices the filter attaches to (PCI and PCI Express host
/// bridges as ACPI enumerates them).
pub const PCI_ROOT_IDS: [&str; 4] = ["ACPI\\PNP0A03", "*PNP0A03", "ACPI\\PNP0A08", "*PNP0A08"];

/// Whether a device with these hardware IDs is a PCI root bus.
pub fn is_pci_root_bus<'a>(ids: impl IntoIterator<Item = &'a str>) -> bool {
    ids.into_iter()
        .any(|id| PCI_ROOT_IDS.iter().any(|r| r.eq_ignore_ascii_case(id)))
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

/// Decides which children to leave out: `children[i]` are the hardware IDs of child `i`;
/// `classes` are the latched classes of this boot ([`xen_bus::hide::HideLatch`]).
pub fn plan<C: AsRef<[S]>, S: AsRef<str>>(
    classes: UnplugClasses,
    children: &[C],
) -> Result<Plan, alloc::collections::TryReserveError> {
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
    use xen_bus::hide::HideLatch;
    use xen_platform::unplug::UnplugMask;

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

    fn hidden(p: &Plan) -> Vec<bool> {
        p.hide.iter().map(Option::is_some).collect()
    }

    fn classes(unplugged: Option<UnplugMask>) -> UnplugClasses {
        let report = unplugged.map(|unplugged| BootReport { boot: 2, unplugged });
        HideLatch::new().classes(report.as_ref())
    }

    #[test]
    fn hides_what_xenpci_reports_unplugged() {
        let children = [&ISA[..], &IDE[..], &PLATFORM[..], &NIC[..]];
        let both = classes(Some(UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS)));
        assert_eq!(
            hidden(&plan(both, &children).unwrap()),
            [false, true, false, true]
        );
        let nics = classes(Some(UnplugMask::ALL_NICS));
        assert_eq!(
            hidden(&plan(nics, &children).unwrap()),
            [false, false, false, true]
        );
        // Nothing unplugged (NOGPLPV, safe mode, probe boot), or no report at all.
        for c in [classes(Some(UnplugMask::NONE)), classes(None)] {
            assert_eq!(hidden(&plan(c, &children).unwrap()), [false; 4]);
        }
    }

    #[test]
    fn report_values() {
        assert!(report_key_path()
            .unwrap()
            .ends_with("Services\\xenpci\\Parameters\\ThisBoot"));
        assert_eq!(report(Some(1), None), None);
        assert_eq!(
            report(Some(1), Some(2)).map(|r| r.unplugged),
            Some(UnplugMask::ALL_NICS)
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
