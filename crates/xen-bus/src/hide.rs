//! The xenhide list: the PCI devices QEMU emulates for Xen HVM guests that the PV drivers
//! replace, matched against real PCI hardware-ID strings, and the hide decision.
//!
//! xenhide removes a device from the PCI bus's BusRelations only when xenpci reports that class
//! as actually unplugged in this boot: the volatile [`BootReport`] xenpci publishes after the
//! port write, never the registry facts the unplug was decided from (those can say "unplug"
//! while the port write failed, or describe another boot). No report (xenpci did not run its
//! boot-time initialisation, or not yet) hides nothing. The classes are latched at the first
//! BusRelations of the boot ([`HideLatch`]), so a later re-enumeration never drops a device
//! that PnP already started.
//!
//! The hardware IDs are the ones the child PDO answers to IRP_MN_QUERY_ID (BusQueryHardwareIDs
//! and BusQueryCompatibleIDs, sent by the filter to the top of the child's stack, as XCP-ng's
//! xenfilt does); `IoGetDeviceProperty` fails for a PDO PnP has not initialised yet.
//!
//! Hiding the IDE controller hides the emulated CD-ROM on it too (as GPLPV did); the PV stack
//! serves `device-type = cdrom` vbds instead.

use xen_platform::evidence::{BootReport, PvClass};

/// What a hide-list entry is replaced by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmulatedKind {
    /// An emulated storage controller (replaced by xenvbd).
    Disk,
    /// An emulated NIC (replaced by xennet).
    Nic,
}

/// One emulated PCI device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HiddenDevice {
    /// PCI vendor id.
    pub vendor: u16,
    /// PCI device id.
    pub device: u16,
    /// Disk or NIC.
    pub kind: EmulatedKind,
    /// What it is (for the log line).
    pub name: &'static str,
}

/// The devices QEMU (qemu-xen, the device model of Xen 4.x HVM guests) emulates that the PV
/// drivers replace: the IDE controllers of the i440FX machine, the AHCI controller `xl`'s
/// `hdtype="ahci"` adds, and every NIC model `xl`'s `model=` accepts that Windows has an inbox
/// driver for.
pub const HIDE_LIST: &[HiddenDevice] = &[
    HiddenDevice {
        vendor: 0x8086,
        device: 0x7010,
        kind: EmulatedKind::Disk,
        name: "Intel PIIX3 IDE",
    },
    HiddenDevice {
        vendor: 0x8086,
        device: 0x7111,
        kind: EmulatedKind::Disk,
        name: "Intel PIIX4 IDE",
    },
    HiddenDevice {
        vendor: 0x8086,
        device: 0x2922,
        kind: EmulatedKind::Disk,
        name: "Intel ICH9 AHCI (xl hdtype=ahci)",
    },
    HiddenDevice {
        vendor: 0x10ec,
        device: 0x8139,
        kind: EmulatedKind::Nic,
        name: "Realtek RTL8139",
    },
    HiddenDevice {
        vendor: 0x8086,
        device: 0x100e,
        kind: EmulatedKind::Nic,
        name: "Intel e1000 (82540EM)",
    },
    HiddenDevice {
        vendor: 0x8086,
        device: 0x10d3,
        kind: EmulatedKind::Nic,
        name: "Intel e1000e (82574L)",
    },
    HiddenDevice {
        vendor: 0x10ec,
        device: 0x8029,
        kind: EmulatedKind::Nic,
        name: "Realtek NE2000 (ne2k_pci)",
    },
    HiddenDevice {
        vendor: 0x1022,
        device: 0x2000,
        kind: EmulatedKind::Nic,
        name: "AMD PCnet (pcnet)",
    },
];

fn hex4(s: &[u8]) -> Option<u16> {
    if s.len() != 4 {
        return None;
    }
    let mut v: u16 = 0;
    for &c in s {
        let d = char::from(c).to_digit(16)?;
        // d < 16 and v < 0x1000 before the shift: no overflow.
        v = (v << 4) | d as u16;
    }
    Some(v)
}

/// Vendor and device of a PCI hardware or compatible ID (`PCI\VEN_8086&DEV_7010`, with or
/// without `&SUBSYS_…`, `&REV_…`, `&CC_…` after it; any case). `None` for anything else.
pub fn parse_pci_id(id: &str) -> Option<(u16, u16)> {
    let b = id.as_bytes();
    let prefix = b"PCI\\VEN_";
    if b.len() < prefix.len() + 4 + 5 + 4 || !b[..prefix.len()].eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = &b[prefix.len()..];
    let vendor = hex4(&rest[..4])?;
    if !rest[4..9].eq_ignore_ascii_case(b"&DEV_") {
        return None;
    }
    let device = hex4(&rest[9..13])?;
    match rest.get(13) {
        None | Some(b'&') => Some((vendor, device)),
        Some(_) => None,
    }
}

/// The hide-list entry a hardware ID names, if any.
pub fn lookup(id: &str) -> Option<&'static HiddenDevice> {
    let (vendor, device) = parse_pci_id(id)?;
    HIDE_LIST
        .iter()
        .find(|d| d.vendor == vendor && d.device == device)
}

/// Which emulated classes xenpci unplugged in this boot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnplugClasses {
    /// Emulated disks were unplugged (PV disks took over).
    pub disks: bool,
    /// Emulated NICs were unplugged (PV NICs took over).
    pub nics: bool,
}

impl UnplugClasses {
    /// The classes xenpci's report says were unplugged; no report, nothing.
    pub fn from_report(report: Option<&BootReport>) -> UnplugClasses {
        match report {
            Some(r) => UnplugClasses {
                disks: r.unplugged(PvClass::Disk),
                nics: r.unplugged(PvClass::Net),
            },
            None => UnplugClasses::default(),
        }
    }
}

/// The hide classes of a boot, fixed at the first BusRelations answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HideLatch {
    latched: Option<UnplugClasses>,
}

impl HideLatch {
    /// A latch before the first BusRelations.
    pub const fn new() -> HideLatch {
        HideLatch { latched: None }
    }

    /// The classes to hide in this BusRelations answer: from `report` the first time, the same
    /// ever after (in this boot: the filter and its latch do not survive a reboot).
    pub fn classes(&mut self, report: Option<&BootReport>) -> UnplugClasses {
        *self
            .latched
            .get_or_insert_with(|| UnplugClasses::from_report(report))
    }
}

/// Whether xenhide removes a PCI device with these hardware IDs from BusRelations: only if one
/// of its IDs is on the hide list and that class is unplugged this boot.
pub fn should_hide<'a>(
    hardware_ids: impl IntoIterator<Item = &'a str>,
    unplug: UnplugClasses,
) -> Option<&'static HiddenDevice> {
    // Bounded by the caller's MULTI_SZ; a device has a handful of IDs.
    hardware_ids.into_iter().find_map(|id| {
        let entry = lookup(id)?;
        let hide = match entry.kind {
            EmulatedKind::Disk => unplug.disks,
            EmulatedKind::Nic => unplug.nics,
        };
        hide.then_some(entry)
    })
}

/// Most UTF-16 units xenhide reads of one IRP_MN_QUERY_ID answer: a PCI device's hardware IDs
/// (six strings of at most 45 units) or compatible IDs are far shorter; a list without its
/// terminator within this bound is ignored rather than read further.
pub const MAX_ID_LIST_UNITS: usize = 2048;

/// The length, in UTF-16 units, of a MULTI_SZ that can only be read one unit at a time
/// (IRP_MN_QUERY_ID answers with a bare pointer, no length): `unit(i)` reads unit `i`, and is
/// called for `i` in order, never past the list's terminator, so a well-formed list is never
/// read beyond its end. The length counts every string and the terminating NULs: the final
/// string's NUL and the empty string's (one NUL for an empty list). `None` when no terminator
/// comes within `max` units.
pub fn multi_sz_len(max: usize, mut unit: impl FnMut(usize) -> u16) -> Option<usize> {
    let mut previous_nul = true;
    for i in 0..max {
        let nul = unit(i) == 0;
        if nul && previous_nul {
            return Some(i + 1);
        }
        previous_nul = nul;
    }
    None
}

/// The strings of a UTF-16 MULTI_SZ (as IRP_MN_QUERY_ID or `IoGetDeviceProperty` returns it),
/// decoded one at a time into `buf`; strings that are not ASCII or longer than
/// `buf` are skipped (no PCI ID is). Stops at the empty string or the end of the data.
pub fn for_each_ascii_id(multi_sz: &[u16], buf: &mut [u8], mut f: impl FnMut(&str) -> bool) {
    for s in multi_sz.split(|&c| c == 0) {
        if s.is_empty() {
            return;
        }
        if s.len() > buf.len() || s.iter().any(|&c| c >= 0x80) {
            continue;
        }
        for (d, &c) in buf.iter_mut().zip(s) {
            // c < 0x80 (checked above).
            *d = c as u8;
        }
        if let Some(id) = buf
            .get(..s.len())
            .and_then(|b| core::str::from_utf8(b).ok())
        {
            if f(id) {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    const BOTH: UnplugClasses = UnplugClasses {
        disks: true,
        nics: true,
    };

    // The hardware IDs Windows builds for QEMU's devices in a Xen HVM guest (subsystem
    // 5853:0001 is what qemu-xen sets for the platform's devices).
    const PIIX3_IDE: [&str; 6] = [
        "PCI\\VEN_8086&DEV_7010&SUBSYS_00015853&REV_00",
        "PCI\\VEN_8086&DEV_7010&SUBSYS_00015853",
        "PCI\\VEN_8086&DEV_7010&CC_010180",
        "PCI\\VEN_8086&DEV_7010&CC_0101",
        "PCI\\VEN_8086&DEV_7010&REV_00",
        "PCI\\VEN_8086&DEV_7010",
    ];

    #[test]
    fn real_hardware_ids_match() {
        for id in PIIX3_IDE {
            assert_eq!(lookup(id).map(|d| d.device), Some(0x7010), "{id}");
        }
        assert_eq!(
            lookup("pci\\ven_10ec&dev_8139&subsys_11001af4&rev_20").map(|d| d.kind),
            Some(EmulatedKind::Nic)
        );
        assert_eq!(
            lookup("PCI\\VEN_8086&DEV_100E&SUBSYS_11001AF4&REV_03").map(|d| d.kind),
            Some(EmulatedKind::Nic)
        );
        assert!(lookup("PCI\\VEN_8086&DEV_7111").is_some());
        assert_eq!(
            lookup("PCI\\VEN_8086&DEV_2922&SUBSYS_11001AF4&REV_02").map(|d| d.kind),
            Some(EmulatedKind::Disk)
        );
        // Not on the list: the platform device, the ISA bridge, a near miss, garbage.
        assert!(lookup("PCI\\VEN_5853&DEV_0001&SUBSYS_00015853&REV_01").is_none());
        assert!(lookup("PCI\\VEN_8086&DEV_7000").is_none());
        assert!(lookup("PCI\\VEN_8086&DEV_70100").is_none());
        assert!(lookup("PCI\\VEN_8086&DEV_701").is_none());
        assert!(lookup("PCI\\VEN_8086_DEV_7010").is_none());
        assert!(lookup("ACPI\\PNP0A03").is_none());
        assert!(lookup("").is_none());
        assert!(lookup("PCI\\VEN_80é6&DEV_7010").is_none());
    }

    #[test]
    fn hide_decision_follows_the_unplug_decision() {
        let nic = [
            "PCI\\VEN_10EC&DEV_8139&SUBSYS_11001AF4&REV_20",
            "PCI\\VEN_10EC&DEV_8139",
        ];
        assert!(should_hide(PIIX3_IDE, BOTH).is_some());
        assert!(should_hide(nic, BOTH).is_some());
        let nics_only = UnplugClasses {
            disks: false,
            nics: true,
        };
        assert!(should_hide(PIIX3_IDE, nics_only).is_none());
        assert!(should_hide(nic, nics_only).is_some());
        assert!(should_hide(nic, UnplugClasses::default()).is_none());
        assert!(should_hide(PIIX3_IDE, UnplugClasses::default()).is_none());
        assert!(should_hide(["PCI\\VEN_5853&DEV_0001"], BOTH).is_none());
    }

    #[test]
    fn only_what_xenpci_reports_unplugged_is_hidden() {
        use xen_platform::unplug::UnplugMask;
        let both = BootReport {
            boot: 4,
            unplugged: UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS),
        };
        assert_eq!(UnplugClasses::from_report(Some(&both)), BOTH);
        // No report: xenpci did not run its boot-time step (disabled, missing, not on Xen,
        // later than the PCI bus): nothing hidden, whatever the registry says.
        assert_eq!(UnplugClasses::from_report(None), UnplugClasses::default());
        assert!(should_hide(PIIX3_IDE, UnplugClasses::from_report(None)).is_none());
        // A probe boot: the port unplugged the NICs only.
        let nics = BootReport {
            boot: 4,
            unplugged: UnplugMask::ALL_NICS,
        };
        let classes = UnplugClasses::from_report(Some(&nics));
        assert!(should_hide(PIIX3_IDE, classes).is_none());
        assert!(should_hide(["PCI\\VEN_10EC&DEV_8139"], classes).is_some());
    }

    #[test]
    fn the_hide_set_is_fixed_at_the_first_bus_relations() {
        use xen_platform::unplug::UnplugMask;
        let report = BootReport {
            boot: 9,
            unplugged: UnplugMask::ALL_IDE_DISKS,
        };
        // Enumerated before any report: nothing hidden, and a report that appears later does
        // not drop the devices PnP already started.
        let mut late = HideLatch::new();
        assert_eq!(late.classes(None), UnplugClasses::default());
        assert_eq!(late.classes(Some(&report)), UnplugClasses::default());
        let mut early = HideLatch::new();
        let disks = UnplugClasses {
            disks: true,
            nics: false,
        };
        assert_eq!(early.classes(Some(&report)), disks);
        assert_eq!(early.classes(None), disks);
    }

    #[test]
    fn multi_sz_walk() {
        let data: Vec<u16> = "PCI\\VEN_8086&DEV_7010&REV_00\0PCI\\VEN_8086&DEV_7010\0\0junk\0"
            .encode_utf16()
            .collect();
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        for_each_ascii_id(&data, &mut buf, |id| {
            seen.push(alloc::string::String::from(id));
            false
        });
        assert_eq!(
            seen,
            ["PCI\\VEN_8086&DEV_7010&REV_00", "PCI\\VEN_8086&DEV_7010"]
        );
        let mut small = [0u8; 8];
        let mut n = 0;
        for_each_ascii_id(&data, &mut small, |_| {
            n += 1;
            false
        });
        assert_eq!(n, 0);
    }

    #[test]
    fn multi_sz_length_is_found_without_reading_past_the_terminator() {
        let list: Vec<u16> = "PCI\\VEN_8086&DEV_7010\0PCI\\CC_0101\0\0"
            .encode_utf16()
            .chain([0xDEAD; 4])
            .collect();
        let mut highest = 0;
        let len = multi_sz_len(MAX_ID_LIST_UNITS, |i| {
            highest = highest.max(i);
            list[i]
        });
        let expected = "PCI\\VEN_8086&DEV_7010\0PCI\\CC_0101\0\0".len();
        assert_eq!(len, Some(expected));
        assert_eq!(highest, expected - 1, "read past the terminator");
        let mut ids = Vec::new();
        let mut buf = [0u8; 200];
        for_each_ascii_id(&list[..expected], &mut buf, |id| {
            ids.push(alloc::string::String::from(id));
            false
        });
        assert_eq!(ids, ["PCI\\VEN_8086&DEV_7010", "PCI\\CC_0101"]);
        // An empty list is one NUL; a list without a terminator within the bound is refused.
        assert_eq!(multi_sz_len(8, |_| 0), Some(1));
        assert_eq!(multi_sz_len(8, |i| [0x41, 0, 0][i]), Some(3));
        assert_eq!(multi_sz_len(8, |i| if i % 2 == 0 { 0x41 } else { 0 }), None);
        assert_eq!(multi_sz_len(0, |_| 0), None);
    }

    proptest::proptest! {
        #[test]
        fn multi_sz_len_is_the_first_double_nul(units in proptest::collection::vec(0u16..3, 0..40)) {
            let found = multi_sz_len(units.len(), |i| units[i]);
            let expected = (0..units.len())
                .find(|&i| units[i] == 0 && (i == 0 || units[i - 1] == 0))
                .map(|i| i + 1);
            proptest::prop_assert_eq!(found, expected);
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = lookup(&s);
        }

        #[test]
        fn suffixes_do_not_change_the_match(v in 0u16.., d in 0u16.., suffix in "(&[A-Z_0-9]{0,12})?") {
            let id = alloc::format!("PCI\\VEN_{v:04X}&DEV_{d:04x}{suffix}");
            proptest::prop_assert_eq!(parse_pci_id(&id), Some((v, d)));
        }
    }
}
