//! What `DriverEntry` decides before any device starts: is the Xen platform usable, and what
//! to unplug, from registry facts gathered by the glue.
//!
//! Registry facts (layout in [`xen_platform::evidence`]):
//! - `HKLM\SYSTEM\CurrentControlSet\Control\SystemStartOptions` (boot switches, REG_SZ).
//! - `Services\xenvbd` / `xennet`: the PV drivers' service keys (`Parameters\Product` marker,
//!   `Start`, `ImagePath`) and their evidence records in `Parameters`.
//! - `Services\xenpci\Parameters\ThisBoot` (volatile): exists once the boot-time step ran in
//!   this boot.
//! - `HKLM\HARDWARE\DEVICEMAP\Scsi` (volatile hive): a storage adapter already started, so
//!   this is not the boot-time initialisation before the emulated stacks.
//!
//! - The image stamps: `ZwQueryFullAttributesFile` on the file each service's `ImagePath`
//!   names ([`image_nt_path`], [`image_stamp`]), xenpci's own included.
//! - The stored path stamps `ArmedPath` / `FailedPath` (REG_QWORD, [`path_stamp_value`]).
//!
//! What the glue writes at the boot-time step: `BootCount`, then each class's
//! [`ArmWrite`] as registry operations ([`arm_ops`]), each key flushed (`ZwFlushKey`); a class
//! counts as persisted ([`Persisted`]) only if `BootCount`, every one of its operations and
//! both flushes succeeded, and only then may [`xen_platform::BootPlan::after_writes`] leave
//! its unplug in place.
//!
//! Unverified on Windows: whether `\SystemRoot` resolves when a boot-start driver's
//! DriverEntry runs (before the boot volume is mounted it may not; then every stamp is `None`
//! and nothing is unplugged: the safe side).

use core::fmt;

use alloc::vec::Vec;
use xen_hal::XenVersion;

use xen_platform::evidence::{
    ArmWrite, EvidenceRecord, ImageStamp, PathStamp, PvDriverFacts, ServiceState, StartType,
    PRODUCT_MARKER, VALUE_ARMED_BOOT, VALUE_ARMED_PATH, VALUE_FAILED_PATH, VALUE_UNPLUGGED_BOOT,
};
use xen_platform::{BootInit, StartOptions, UnplugFacts, MIN_XEN_VERSION};

/// Registry key holding `SystemStartOptions`.
pub const CONTROL_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Control";
/// The boot switches value.
pub const START_OPTIONS_VALUE: &str = "SystemStartOptions";
/// Volatile key (`HARDWARE` hive) that exists once a storage port driver started an adapter.
pub const SCSI_DEVICEMAP_KEY: &str = "\\Registry\\Machine\\HARDWARE\\DEVICEMAP\\Scsi";

/// What CPUID (and the privilege level) said about Xen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenPresence {
    /// No Xen CPUID leaves: bare metal, another hypervisor.
    Absent,
    /// Not running in ring 0 (Wine loads drivers in a user process): no port I/O, no MSRs.
    NotKernelMode,
    /// Xen, but older than [`MIN_XEN_VERSION`].
    TooOld(XenVersion),
    /// Xen, usable.
    Usable(XenVersion),
}

impl XenPresence {
    /// Classifies a CPUID result.
    pub fn from_cpuid(kernel_mode: bool, version: Option<XenVersion>) -> XenPresence {
        match (kernel_mode, version) {
            (false, _) => XenPresence::NotKernelMode,
            (true, None) => XenPresence::Absent,
            (true, Some(v)) if v < MIN_XEN_VERSION => XenPresence::TooOld(v),
            (true, Some(v)) => XenPresence::Usable(v),
        }
    }

    /// Whether the PV platform can start.
    pub fn usable(&self) -> bool {
        matches!(self, XenPresence::Usable(_))
    }
}

impl fmt::Display for XenPresence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XenPresence::Absent => {
                f.write_str("no Xen hypervisor found (CPUID): no Xen platform device, PV off")
            }
            XenPresence::NotKernelMode => f.write_str(
                "not running in kernel mode (e.g. Wine): no Xen platform device, PV off",
            ),
            XenPresence::TooOld(v) => write!(
                f,
                "Xen {}.{} is too old (need {}.{} or newer): PV off",
                v.major, v.minor, MIN_XEN_VERSION.major, MIN_XEN_VERSION.minor
            ),
            XenPresence::Usable(v) => write!(f, "Xen {}.{} found", v.major, v.minor),
        }
    }
}

/// A PV driver's service key, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRead<'a> {
    /// The key exists.
    pub exists: bool,
    /// `Parameters\Product` (REG_SZ, UTF-16, maybe NUL-terminated).
    pub product: Option<&'a [u16]>,
    /// `Start`.
    pub start: Option<u32>,
    /// The stamp of the file `ImagePath` names (`None`: missing or not read).
    pub image: Option<ImageStamp>,
    /// The evidence record in `Parameters`.
    pub record: EvidenceRecord,
}

impl ServiceRead<'_> {
    /// The typed facts: ours only with our product marker.
    pub fn facts(&self) -> PvDriverFacts {
        let service = if !self.exists {
            ServiceState::Absent
        } else if self.product.is_some_and(is_product_marker) {
            ServiceState::Ours(StartType::from_registry(self.start))
        } else {
            ServiceState::Foreign
        };
        PvDriverFacts {
            service,
            image: self.image,
            record: self.record,
        }
    }
}

/// Whether a REG_SZ is [`PRODUCT_MARKER`] (trailing NULs ignored).
pub fn is_product_marker(units: &[u16]) -> bool {
    let end = units.iter().rposition(|&u| u != 0).map_or(0, |i| i + 1);
    units
        .get(..end)
        .is_some_and(|u| u.iter().copied().eq(PRODUCT_MARKER.encode_utf16()))
}

/// The registry facts, as read (a value that could not be read is `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryFacts<'a> {
    /// `SystemStartOptions` as UTF-16.
    pub start_options: Option<&'a [u16]>,
    /// xenpci's volatile `ThisBoot` key exists.
    pub report_exists: bool,
    /// [`SCSI_DEVICEMAP_KEY`] exists.
    pub storage_started: bool,
    /// `xenpci\Parameters\BootCount`.
    pub boot_count: Option<u32>,
    /// xenpci's own image stamp.
    pub bus_image: Option<ImageStamp>,
    /// xenvbd.
    pub xenvbd: ServiceRead<'a>,
    /// xennet.
    pub xennet: ServiceRead<'a>,
}

/// The unplug facts for [`xen_platform::BootPlan::new`].
pub fn unplug_facts(presence: XenPresence, registry: &RegistryFacts<'_>) -> UnplugFacts {
    UnplugFacts {
        options: registry
            .start_options
            .map(StartOptions::parse_utf16)
            .unwrap_or_default(),
        platform_ready: presence.usable(),
        boot: BootInit {
            first_in_boot: !registry.report_exists,
            // The NIC stack starts after the storage stack: one signal serves both.
            disks_started: registry.storage_started,
            nics_started: registry.storage_started,
        },
        boot_count: registry.boot_count,
        bus_image: registry.bus_image,
        disk: registry.xenvbd.facts(),
        net: registry.xennet.facts(),
    }
}

/// `REG_SZ`.
pub const REG_SZ: u32 = 1;
/// `REG_EXPAND_SZ`.
pub const REG_EXPAND_SZ: u32 = 2;
/// `REG_QWORD`.
pub const REG_QWORD: u32 = 11;

/// A stored path stamp from a registry value's type and data: a REG_QWORD of 8 bytes, else
/// `None` (missing or mistyped: no evidence).
pub fn path_stamp_value(value_type: u32, data: &[u8]) -> Option<PathStamp> {
    if value_type != REG_QWORD {
        return None;
    }
    let bytes: [u8; 8] = data.try_into().ok()?;
    Some(PathStamp(u64::from_le_bytes(bytes)))
}

/// An image's stamp from `FILE_NETWORK_OPEN_INFORMATION` (`EndOfFile`, `LastWriteTime`): an
/// empty file or a negative field is no image.
pub fn image_stamp(end_of_file: i64, last_write_time: i64) -> Option<ImageStamp> {
    let size = u64::try_from(end_of_file).ok().filter(|&n| n > 0)?;
    let written = u64::try_from(last_write_time).ok()?;
    Some(ImageStamp { size, written })
}

/// The NT path of the image a service loads, for `ZwQueryFullAttributesFile`, as the
/// service control manager and the loader read `ImagePath` (REG_SZ or REG_EXPAND_SZ,
/// `units` with or without a trailing NUL):
/// - missing or empty: `\SystemRoot\System32\drivers\<service>.sys`;
/// - an NT path (`\SystemRoot\...`, `\??\C:\...`): as it is;
/// - `%SystemRoot%\...` (any case): `\SystemRoot\...`;
/// - a DOS path `C:\...`: `\??\C:\...`;
/// - anything else is relative to the system root: `\SystemRoot\<path>`.
///
/// The result is not NUL-terminated; `None` only when the allocation fails or the path does
/// not fit a `UNICODE_STRING`.
pub fn image_nt_path(service: &str, image_path: Option<&[u16]>) -> Option<Vec<u16>> {
    const SYSTEM_ROOT: &str = "\\SystemRoot\\";
    const EXPAND_ROOT: &str = "%SystemRoot%\\";
    let trimmed = image_path.map(|units| {
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        units.get(..end).unwrap_or(&[])
    });
    let mut out: Vec<u16> = Vec::new();
    let push_str = |out: &mut Vec<u16>, text: &str| -> Option<()> {
        out.try_reserve(text.len()).ok()?;
        out.extend(text.encode_utf16());
        Some(())
    };
    let push_units = |out: &mut Vec<u16>, units: &[u16]| -> Option<()> {
        out.try_reserve(units.len()).ok()?;
        out.extend_from_slice(units);
        Some(())
    };
    match trimmed {
        None | Some([]) => {
            push_str(&mut out, SYSTEM_ROOT)?;
            push_str(&mut out, "System32\\drivers\\")?;
            push_str(&mut out, service)?;
            push_str(&mut out, ".sys")?;
        }
        Some(path) if path.first() == Some(&u16::from(b'\\')) => push_units(&mut out, path)?,
        Some(path) if starts_with_ignore_case(path, EXPAND_ROOT) => {
            push_str(&mut out, SYSTEM_ROOT)?;
            push_units(&mut out, path.get(EXPAND_ROOT.len()..).unwrap_or(&[]))?;
        }
        Some(path) if path.get(1) == Some(&u16::from(b':')) => {
            push_str(&mut out, "\\??\\")?;
            push_units(&mut out, path)?;
        }
        Some(path) => {
            push_str(&mut out, SYSTEM_ROOT)?;
            push_units(&mut out, path)?;
        }
    }
    // UNICODE_STRING lengths are 16-bit byte counts.
    (out.len() < usize::from(u16::MAX / 2)).then_some(out)
}

fn starts_with_ignore_case(units: &[u16], prefix: &str) -> bool {
    prefix.len() <= units.len()
        && prefix
            .bytes()
            .zip(units)
            .all(|(p, &u)| u8::try_from(u).is_ok_and(|u| u.eq_ignore_ascii_case(&p)))
}

/// One registry operation of the arm write, in a class's `Parameters` key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistryOp {
    /// Write a REG_DWORD.
    Dword(&'static str, u32),
    /// Write a REG_QWORD.
    Qword(&'static str, u64),
    /// Delete the value (its absence is no error).
    Delete(&'static str),
}

/// The operations that carry out `write` (`ArmedBoot`, `ArmedPath`, `UnpluggedBoot`,
/// `FailedPath`; a `None` deletes the value, so a stale one cannot count as evidence).
pub fn arm_ops(write: &ArmWrite) -> [RegistryOp; 4] {
    let qword = |name, value: Option<PathStamp>| match value {
        Some(stamp) => RegistryOp::Qword(name, stamp.0),
        None => RegistryOp::Delete(name),
    };
    [
        RegistryOp::Dword(VALUE_ARMED_BOOT, write.armed_boot),
        qword(VALUE_ARMED_PATH, write.armed_path),
        match write.unplugged_boot {
            Some(boot) => RegistryOp::Dword(VALUE_UNPLUGGED_BOOT, boot),
            None => RegistryOp::Delete(VALUE_UNPLUGGED_BOOT),
        },
        qword(VALUE_FAILED_PATH, write.failed_path),
    ]
}

/// What the boot-time writes achieved, for [`xen_platform::BootPlan::after_writes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Persisted {
    /// `BootCount` written and xenpci's `Parameters` flushed.
    pub boot_count: bool,
    /// xenvbd's operations all succeeded and its key was flushed.
    pub disk: bool,
    /// xennet's likewise.
    pub net: bool,
}

impl Persisted {
    /// Whether `class`'s arm record is on disk (with this boot's number).
    pub fn class(&self, class: xen_platform::evidence::PvClass) -> bool {
        self.boot_count
            && match class {
                xen_platform::evidence::PvClass::Disk => self.disk,
                xen_platform::evidence::PvClass::Net => self.net,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_platform::{KeepReason, UnplugDecision, UnplugMask, Verdict};

    fn utf16(s: &str) -> Vec<u16> {
        s.encode_utf16().chain(core::iter::once(0)).collect()
    }

    #[test]
    fn presence_classification() {
        let v = |major, minor| XenVersion { major, minor };
        assert_eq!(
            XenPresence::from_cpuid(false, Some(v(4, 17))),
            XenPresence::NotKernelMode
        );
        assert_eq!(XenPresence::from_cpuid(true, None), XenPresence::Absent);
        assert_eq!(
            XenPresence::from_cpuid(true, Some(v(3, 0))),
            XenPresence::TooOld(v(3, 0))
        );
        assert!(XenPresence::from_cpuid(true, Some(v(3, 1))).usable());
        assert!(!XenPresence::NotKernelMode.usable());
        assert!(alloc::format!("{}", XenPresence::NotKernelMode).contains("no Xen platform device"));
    }

    fn marker() -> Vec<u16> {
        utf16(PRODUCT_MARKER)
    }

    #[test]
    fn wine_unplugs_nothing() {
        let options = utf16(" NOEXECUTE=OPTIN");
        let product = marker();
        let ours = ServiceRead {
            exists: true,
            product: Some(&product),
            start: Some(0),
            ..ServiceRead::default()
        };
        let registry = RegistryFacts {
            start_options: Some(&options),
            xenvbd: ours.clone(),
            xennet: ours,
            ..RegistryFacts::default()
        };
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::NotKernelMode, &registry));
        assert_eq!(d.mask(), UnplugMask::NONE);
        assert_eq!(d.disks, Verdict::Keep(KeepReason::PlatformNotReady));
    }

    #[test]
    fn services_are_ours_only_with_the_marker() {
        let product = marker();
        let other = utf16("XCP-ng");
        let read = |exists, product| ServiceRead {
            exists,
            product,
            start: Some(0),
            ..ServiceRead::default()
        };
        assert_eq!(read(false, None).facts().service, ServiceState::Absent);
        assert_eq!(read(true, None).facts().service, ServiceState::Foreign);
        assert_eq!(
            read(true, Some(&other)).facts().service,
            ServiceState::Foreign
        );
        assert_eq!(
            read(true, Some(&product)).facts().service,
            ServiceState::Ours(StartType::Boot)
        );
        assert!(!is_product_marker(&utf16("xen-win-pv2")));
        assert!(!is_product_marker(&[]));
    }

    #[test]
    fn installed_stack_on_xen() {
        let version = XenVersion {
            major: 4,
            minor: 17,
        };
        let options = utf16(" NOEXECUTE=OPTIN  FASTDETECT");
        let product = marker();
        let ours = ServiceRead {
            exists: true,
            product: Some(&product),
            start: Some(0),
            ..ServiceRead::default()
        };
        let mut registry = RegistryFacts {
            start_options: Some(&options),
            xenvbd: ours.clone(),
            xennet: ours,
            ..RegistryFacts::default()
        };
        // No evidence (and no image stamps yet): everything stays, PV is on.
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert_eq!(d.mask(), UnplugMask::NONE);
        assert!(d.pv_active());
        // A reload finds the volatile key: not the boot-time step.
        registry.report_exists = true;
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert_eq!(d.disks, Verdict::Keep(KeepReason::NotFirstInBoot));
        // NOGPLPV in the options turns it all off.
        let options = utf16(" NOEXECUTE=OPTIN  FASTDETECT NOGPLPV");
        registry.start_options = Some(&options);
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert!(!d.pv_active());
    }

    fn text(units: &[u16]) -> alloc::string::String {
        alloc::string::String::from_utf16(units).unwrap()
    }

    #[test]
    fn image_paths_resolve_as_the_loader_reads_them() {
        let path = |p: Option<&str>| {
            let units = p.map(utf16);
            text(&image_nt_path("xenvbd", units.as_deref()).unwrap())
        };
        assert_eq!(path(None), "\\SystemRoot\\System32\\drivers\\xenvbd.sys");
        assert_eq!(
            path(Some("")),
            "\\SystemRoot\\System32\\drivers\\xenvbd.sys"
        );
        assert_eq!(
            path(Some("System32\\drivers\\xenvbd.sys")),
            "\\SystemRoot\\System32\\drivers\\xenvbd.sys"
        );
        assert_eq!(
            path(Some("\\SystemRoot\\system32\\DRIVERS\\xenvbd.sys")),
            "\\SystemRoot\\system32\\DRIVERS\\xenvbd.sys"
        );
        assert_eq!(
            path(Some("%systemroot%\\system32\\drivers\\xenvbd.sys")),
            "\\SystemRoot\\system32\\drivers\\xenvbd.sys"
        );
        assert_eq!(
            path(Some("C:\\Windows\\System32\\drivers\\xenvbd.sys")),
            "\\??\\C:\\Windows\\System32\\drivers\\xenvbd.sys"
        );
        assert_eq!(
            path(Some("\\??\\D:\\drv\\xenvbd.sys")),
            "\\??\\D:\\drv\\xenvbd.sys"
        );
    }

    #[test]
    fn stored_stamps_must_be_qwords() {
        let bytes = 0x1122_3344_5566_7788_u64.to_le_bytes();
        assert_eq!(
            path_stamp_value(REG_QWORD, &bytes),
            Some(PathStamp(0x1122_3344_5566_7788))
        );
        assert_eq!(
            path_stamp_value(4, &bytes[..4]),
            None,
            "a DWORD is no stamp"
        );
        assert_eq!(path_stamp_value(REG_QWORD, &bytes[..7]), None);
        assert_eq!(
            image_stamp(4096, 7),
            Some(ImageStamp {
                size: 4096,
                written: 7
            })
        );
        assert_eq!(image_stamp(0, 7), None, "an empty file is no image");
        assert_eq!(image_stamp(-1, 7), None);
    }

    #[test]
    fn arm_ops_write_every_value_and_delete_what_is_none() {
        let write = ArmWrite {
            armed_boot: 9,
            armed_path: Some(PathStamp(5)),
            unplugged_boot: None,
            failed_path: None,
        };
        assert_eq!(
            arm_ops(&write),
            [
                RegistryOp::Dword("ArmedBoot", 9),
                RegistryOp::Qword("ArmedPath", 5),
                RegistryOp::Delete("UnpluggedBoot"),
                RegistryOp::Delete("FailedPath"),
            ]
        );
        let write = ArmWrite {
            armed_path: None,
            unplugged_boot: Some(9),
            failed_path: Some(PathStamp(3)),
            ..write
        };
        assert_eq!(
            arm_ops(&write)[1..],
            [
                RegistryOp::Delete("ArmedPath"),
                RegistryOp::Dword("UnpluggedBoot", 9),
                RegistryOp::Qword("FailedPath", 3),
            ]
        );
    }

    /// The whole boot-time step over the real BootPlan: with stamps read and the record
    /// persisted a proven disk is unplugged; a failed BootCount or flush keeps it.
    #[test]
    fn a_persisted_record_lets_the_proven_class_switch_over() {
        use xen_platform::evidence::PvClass;
        use xen_platform::BootPlan;
        let version = XenVersion {
            major: 4,
            minor: 17,
        };
        let bus = image_stamp(1000, 1).unwrap();
        let vbd = image_stamp(2000, 2).unwrap();
        let path = PathStamp::of(bus, vbd);
        let product = marker();
        let stored = path.0.to_le_bytes();
        let registry = RegistryFacts {
            boot_count: Some(6),
            bus_image: Some(bus),
            xenvbd: ServiceRead {
                exists: true,
                product: Some(&product),
                start: Some(0),
                image: Some(vbd),
                record: EvidenceRecord {
                    armed_boot: Some(6),
                    armed_path: path_stamp_value(REG_QWORD, &stored),
                    unplugged_boot: None,
                    failed_path: None,
                    started_boot: Some(6),
                },
            },
            ..RegistryFacts::default()
        };
        let plan = BootPlan::new(&unplug_facts(XenPresence::Usable(version), &registry));
        let write = plan.write(PvClass::Disk).unwrap();
        assert_eq!(arm_ops(write)[0], RegistryOp::Dword("ArmedBoot", 7));
        assert_eq!(arm_ops(write)[1], RegistryOp::Qword("ArmedPath", path.0));
        assert_eq!(arm_ops(write)[2], RegistryOp::Dword("UnpluggedBoot", 7));
        let all = Persisted {
            boot_count: true,
            disk: true,
            net: true,
        };
        let d = plan.after_writes(|c| all.class(c));
        assert!(d.mask().contains(UnplugMask::ALL_IDE_DISKS));
        for partial in [
            Persisted {
                boot_count: false,
                ..all
            },
            Persisted { disk: false, ..all },
        ] {
            let d = plan.after_writes(|c| partial.class(c));
            assert_eq!(d.mask(), UnplugMask::NONE);
        }
    }
}
