//! The evidence that the PV path to a class of devices works, as the PV drivers record it and
//! xenpci re-validates it at every boot, with the registry layout every party uses (xenpci,
//! xenvbd, xennet, xenhide and the installer).
//!
//! The rule: an emulated class is unplugged only when
//! - the PV driver's service key is ours (the [`VALUE_PRODUCT`] marker our INF writes; GPLPV and
//!   the Citrix/XCP-ng drivers use the same service names `xenvbd` and `xennet`), not disabled,
//!   boot start for the disk driver (the boot disk is needed before any other driver loads),
//! - the bus image (xenpci.sys) and the class driver's image are present, and
//! - on the last boot xenpci armed for these **exact images** ([`PathStamp`]), the class driver
//!   recorded a successful start ([`VALUE_STARTED_BOOT`] equal to [`VALUE_ARMED_BOOT`]), and no
//!   earlier boot that unplugged the class with these images failed ([`VALUE_FAILED_PATH`]).
//!
//! The record ages by itself: xenpci arms a new boot number at every boot-time initialisation
//! ([`BootPlan`](crate::unplug::BootPlan) computes the [`ArmWrite`]), so a boot in which the PV
//! driver did not record success (it failed, was disabled, was replaced) leaves a record that
//! does not match and the next boot keeps the emulated device. A replaced image (an update, a
//! file copied over, another vendor's driver under our service name, an unsigned build) has a
//! different [`ImageStamp`], so nothing proven for the old image carries over: the first boot
//! with new images is a probe boot (emulated device live, the PV driver starts without serving,
//! see [`PvRole`]). A boot that unplugged the class and got no success record latches
//! [`VALUE_FAILED_PATH`] to those images: they are not trusted again until one of them changes.
//!
//! Whether the PV driver serves its devices in this boot is a volatile fact xenpci publishes
//! after the unplug ([`BootReport`], in the volatile key [`REPORT_SUBKEY`]): the PV drivers
//! serve a class only if xenpci reports it unplugged in this boot (otherwise two paths would
//! lead to one disk or one MAC), and xenhide hides only what the report says was unplugged.
//!
//! Registry layout (all under `HKLM\SYSTEM\CurrentControlSet\Services`):
//!
//! | key | value | type | written by |
//! |---|---|---|---|
//! | `<driver>\Parameters` | [`VALUE_PRODUCT`] = [`PRODUCT_MARKER`] | REG_SZ | the driver's INF (installer) |
//! | `<driver>\Parameters` | [`VALUE_ARMED_BOOT`], [`VALUE_ARMED_PATH`] | REG_DWORD, REG_QWORD | xenpci, once per boot, flushed before the unplug |
//! | `<driver>\Parameters` | [`VALUE_UNPLUGGED_BOOT`] | REG_DWORD | xenpci, when it unplugs the class |
//! | `<driver>\Parameters` | [`VALUE_FAILED_PATH`] | REG_QWORD | xenpci, when an unplugged boot recorded no success |
//! | `<driver>\Parameters` | [`VALUE_STARTED_BOOT`] | REG_DWORD | the PV driver, after its first successful start ([`started_record`]) |
//! | `xenpci\Parameters` | [`VALUE_BOOT_COUNT`] | REG_DWORD | xenpci, once per boot |
//! | `xenpci\Parameters\`[`REPORT_SUBKEY`] (volatile) | [`VALUE_REPORT_BOOT`], [`VALUE_REPORT_UNPLUGGED`] | REG_DWORD | xenpci, after the unplug |
//!
//! `<driver>` is [`PvClass::service`]. Keeping the record in the driver's own service key means
//! that uninstalling the driver (which deletes its service key) deletes its evidence too.

use core::fmt;

use crate::unplug::UnplugMask;

/// What our INFs write to `Parameters\Product` of every service of the suite.
pub const PRODUCT_MARKER: &str = "xen-win-pv";
/// REG_SZ, [`PRODUCT_MARKER`]: the service is ours.
pub const VALUE_PRODUCT: &str = "Product";
/// Subkey of a service key holding the values below.
pub const PARAMETERS_SUBKEY: &str = "Parameters";
/// REG_DWORD: the boot number xenpci armed last.
pub const VALUE_ARMED_BOOT: &str = "ArmedBoot";
/// REG_QWORD: the [`PathStamp`] of the images in the boot named by [`VALUE_ARMED_BOOT`].
pub const VALUE_ARMED_PATH: &str = "ArmedPath";
/// REG_DWORD: the boot number in which xenpci unplugged this class.
pub const VALUE_UNPLUGGED_BOOT: &str = "UnpluggedBoot";
/// REG_QWORD: the [`PathStamp`] of images that failed a boot in which the class was unplugged.
pub const VALUE_FAILED_PATH: &str = "FailedPath";
/// REG_DWORD: the boot number in which the PV driver started successfully.
pub const VALUE_STARTED_BOOT: &str = "StartedBoot";
/// REG_DWORD in xenpci's `Parameters`: the number of the current (or last) boot.
pub const VALUE_BOOT_COUNT: &str = "BootCount";
/// Volatile subkey of xenpci's `Parameters` (created with `REG_OPTION_VOLATILE`, gone at the
/// next boot): xenpci's report of this boot. Its existence also means "the boot-time
/// initialisation already ran in this boot".
pub const REPORT_SUBKEY: &str = "ThisBoot";
/// REG_DWORD in [`REPORT_SUBKEY`]: this boot's number.
pub const VALUE_REPORT_BOOT: &str = "Boot";
/// REG_DWORD in [`REPORT_SUBKEY`]: the [`UnplugMask`] really written at port 0x10 in this boot.
pub const VALUE_REPORT_UNPLUGGED: &str = "Unplugged";
/// Absolute path of the services key.
pub const SERVICES_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Services";
/// xenpci's service name.
pub const BUS_SERVICE: &str = "xenpci";

/// A class of emulated device with a PV replacement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PvClass {
    /// Emulated IDE disks, replaced by xenvbd.
    Disk,
    /// Emulated NICs, replaced by xennet.
    Net,
}

impl PvClass {
    /// Both classes.
    pub const ALL: [PvClass; 2] = [PvClass::Disk, PvClass::Net];

    /// The PV driver's service name.
    pub const fn service(self) -> &'static str {
        match self {
            PvClass::Disk => "xenvbd",
            PvClass::Net => "xennet",
        }
    }

    /// The unplug mask bit of the class.
    pub const fn mask(self) -> UnplugMask {
        match self {
            PvClass::Disk => UnplugMask::ALL_IDE_DISKS,
            PvClass::Net => UnplugMask::ALL_NICS,
        }
    }

    /// Whether the PV driver must be boot start (the boot disk is reached before any other
    /// start type loads).
    pub const fn needs_boot_start(self) -> bool {
        matches!(self, PvClass::Disk)
    }
}

impl fmt::Display for PvClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PvClass::Disk => "PV disk driver (xenvbd)",
            PvClass::Net => "PV network driver (xennet)",
        })
    }
}

/// `parts` joined by backslashes into a registry path (`None` only when the allocation fails).
pub fn join_key(parts: &[&str]) -> Option<alloc::string::String> {
    let mut path = alloc::string::String::new();
    path.try_reserve_exact(parts.iter().map(|p| p.len() + 1).sum())
        .ok()?;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            path.push('\\');
        }
        path.push_str(part);
    }
    Some(path)
}

/// The full path of xenpci's volatile report key (`...\xenpci\Parameters\ThisBoot`), which
/// xenpci writes once per boot and xenhide reads.
pub fn report_key_path() -> Option<alloc::string::String> {
    join_key(&[SERVICES_KEY, BUS_SERVICE, PARAMETERS_SUBKEY, REPORT_SUBKEY])
}

/// A service's `Start` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartType {
    /// 0, `SERVICE_BOOT_START`.
    Boot,
    /// 1, `SERVICE_SYSTEM_START`.
    System,
    /// 2, `SERVICE_AUTO_START`.
    Auto,
    /// 3, `SERVICE_DEMAND_START`.
    Demand,
    /// 4, `SERVICE_DISABLED`.
    Disabled,
    /// Anything else, or missing.
    Other(u32),
}

impl StartType {
    /// From the `Start` REG_DWORD (`None`: missing).
    pub fn from_registry(value: Option<u32>) -> StartType {
        match value {
            Some(0) => StartType::Boot,
            Some(1) => StartType::System,
            Some(2) => StartType::Auto,
            Some(3) => StartType::Demand,
            Some(4) => StartType::Disabled,
            Some(other) => StartType::Other(other),
            None => StartType::Other(u32::MAX),
        }
    }
}

/// Identity of an image file on disk: its size and last-write time (what
/// `ZwQueryFullAttributesFile` returns). Replacing the file changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ImageStamp {
    /// File size in bytes.
    pub size: u64,
    /// Last-write time (100 ns units since 1601, as NT keeps it).
    pub written: u64,
}

/// The images on one PV path (bus driver and class driver) in one value, as stored in
/// [`VALUE_ARMED_PATH`] and [`VALUE_FAILED_PATH`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PathStamp(pub u64);

impl PathStamp {
    /// The digest of both images' stamps (FNV-1a over their fields: not cryptographic; it only
    /// has to change when a file is replaced).
    pub fn of(bus: ImageStamp, driver: ImageStamp) -> PathStamp {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for word in [bus.size, bus.written, driver.size, driver.written] {
            for byte in word.to_le_bytes() {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        PathStamp(hash)
    }
}

/// What the service key of a PV driver says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    /// No key of that name.
    Absent,
    /// A key of that name without our [`VALUE_PRODUCT`] marker (GPLPV, Citrix/XCP-ng, or a
    /// remnant).
    Foreign,
    /// Ours, with its `Start` value.
    Ours(StartType),
}

/// The record in `<driver>\Parameters`, as read (a missing or mistyped value is `None`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EvidenceRecord {
    /// [`VALUE_ARMED_BOOT`].
    pub armed_boot: Option<u32>,
    /// [`VALUE_ARMED_PATH`].
    pub armed_path: Option<PathStamp>,
    /// [`VALUE_UNPLUGGED_BOOT`].
    pub unplugged_boot: Option<u32>,
    /// [`VALUE_FAILED_PATH`].
    pub failed_path: Option<PathStamp>,
    /// [`VALUE_STARTED_BOOT`].
    pub started_boot: Option<u32>,
}

impl EvidenceRecord {
    /// The last armed boot unplugged this class and the driver recorded no success in it.
    pub fn last_unplugged_boot_failed(&self) -> bool {
        match self.armed_boot {
            Some(armed) => self.unplugged_boot == Some(armed) && self.started_boot != Some(armed),
            None => false,
        }
    }

    /// The images that failed an unplugged boot: the latched value, or the last armed images
    /// if the last armed boot is such a failure.
    pub fn failed(&self) -> Option<PathStamp> {
        if self.last_unplugged_boot_failed() {
            self.armed_path.or(self.failed_path)
        } else {
            self.failed_path
        }
    }
}

/// Everything xenpci reads about one class's PV driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvDriverFacts {
    /// The service key.
    pub service: ServiceState,
    /// The driver's image (the file `ImagePath` names), `None` if it is missing.
    pub image: Option<ImageStamp>,
    /// The evidence record.
    pub record: EvidenceRecord,
}

impl PvDriverFacts {
    /// No such driver.
    pub const ABSENT: PvDriverFacts = PvDriverFacts {
        service: ServiceState::Absent,
        image: None,
        record: EvidenceRecord {
            armed_boot: None,
            armed_path: None,
            unplugged_boot: None,
            failed_path: None,
            started_boot: None,
        },
    };

    /// The path stamp of this driver with the bus image `bus`, if both images are present.
    pub fn path(&self, bus: Option<ImageStamp>) -> Option<PathStamp> {
        Some(PathStamp::of(bus?, self.image?))
    }
}

/// Why the evidence for one class does not allow the unplug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvidenceGap {
    /// No service key of that name.
    NotInstalled,
    /// A service key of that name that is not ours.
    Foreign,
    /// Ours, but disabled or (for the disk) not boot start.
    StartType(StartType),
    /// The driver's image or xenpci's own image is missing.
    ImageMissing,
    /// These images failed a boot in which the class was unplugged.
    FailedBefore,
    /// The last armed boot recorded no successful start with these images (deferred: the PV
    /// driver starts without serving in this boot and records it).
    NotProven,
}

impl fmt::Display for EvidenceGap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvidenceGap::NotInstalled => f.write_str("is not installed"),
            EvidenceGap::Foreign => f.write_str("service key is not ours (no product marker)"),
            EvidenceGap::StartType(start) => write!(f, "has start type {start:?}"),
            EvidenceGap::ImageMissing => f.write_str("image (or xenpci's image) is missing"),
            EvidenceGap::FailedBefore => {
                f.write_str("failed a boot with these images; kept until an image changes")
            }
            EvidenceGap::NotProven => f.write_str(
                "recorded no successful start with these images on the last boot (deferred to next boot)",
            ),
        }
    }
}

/// Re-validates the evidence for `class`: `Ok` only if every condition of the module rule
/// holds. `bus` is the stamp of xenpci's own image.
pub fn assess(
    class: PvClass,
    facts: &PvDriverFacts,
    bus: Option<ImageStamp>,
) -> Result<PathStamp, EvidenceGap> {
    let start = match facts.service {
        ServiceState::Absent => return Err(EvidenceGap::NotInstalled),
        ServiceState::Foreign => return Err(EvidenceGap::Foreign),
        ServiceState::Ours(start) => start,
    };
    let start_ok = match start {
        StartType::Boot => true,
        StartType::System | StartType::Auto | StartType::Demand => !class.needs_boot_start(),
        StartType::Disabled | StartType::Other(_) => false,
    };
    if !start_ok {
        return Err(EvidenceGap::StartType(start));
    }
    let path = facts.path(bus).ok_or(EvidenceGap::ImageMissing)?;
    if facts.record.failed() == Some(path) {
        return Err(EvidenceGap::FailedBefore);
    }
    let record = &facts.record;
    let proven = record.armed_boot.is_some()
        && record.started_boot == record.armed_boot
        && record.armed_path == Some(path);
    if proven {
        Ok(path)
    } else {
        Err(EvidenceGap::NotProven)
    }
}

/// What xenpci writes to `<driver>\Parameters` at the boot-time initialisation (then flushes,
/// before any port write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArmWrite {
    /// [`VALUE_ARMED_BOOT`]: this boot's number.
    pub armed_boot: u32,
    /// [`VALUE_ARMED_PATH`]: the images of this boot (`None`: delete the value, an image is
    /// missing).
    pub armed_path: Option<PathStamp>,
    /// [`VALUE_UNPLUGGED_BOOT`]: this boot's number if the class is to be unplugged (`None`:
    /// delete the value).
    pub unplugged_boot: Option<u32>,
    /// [`VALUE_FAILED_PATH`] (`None`: delete the value).
    pub failed_path: Option<PathStamp>,
}

impl ArmWrite {
    /// The write for a driver with `facts` in boot `boot`, unplugging or not.
    pub fn new(
        facts: &PvDriverFacts,
        bus: Option<ImageStamp>,
        boot: u32,
        unplug: bool,
    ) -> ArmWrite {
        ArmWrite {
            armed_boot: boot,
            armed_path: facts.path(bus),
            unplugged_boot: unplug.then_some(boot),
            failed_path: facts.record.failed(),
        }
    }

    /// The record after this write (what the next boot reads), for a driver that records
    /// success (`started`) or not in this boot.
    pub fn applied(&self, before: &EvidenceRecord) -> EvidenceRecord {
        EvidenceRecord {
            armed_boot: Some(self.armed_boot),
            armed_path: self.armed_path,
            unplugged_boot: self.unplugged_boot,
            failed_path: self.failed_path,
            started_boot: before.started_boot,
        }
    }
}

/// xenpci's report of this boot, published in the volatile key [`REPORT_SUBKEY`] after the
/// unplug: the PV drivers and xenhide act on it, never on the persistent facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// This boot's number.
    pub boot: u32,
    /// What port 0x10 really unplugged in this boot.
    pub unplugged: UnplugMask,
}

impl BootReport {
    /// From the two REG_DWORDs of the volatile key (both needed; a mask that does not fit in
    /// 16 bits is not a report of ours).
    pub fn from_registry(boot: Option<u32>, unplugged: Option<u32>) -> Option<BootReport> {
        Some(BootReport {
            boot: boot?,
            unplugged: UnplugMask(u16::try_from(unplugged?).ok()?),
        })
    }

    /// Whether `class` was unplugged in this boot.
    pub fn unplugged(&self, class: PvClass) -> bool {
        self.unplugged.contains(class.mask())
    }
}

/// What a PV driver does with its devices in this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvRole {
    /// The emulated class was unplugged: serve the devices (the only path).
    Serve,
    /// The emulated devices are live: start (connect, read the first sector / the MAC) to
    /// prove the path, record it, but expose nothing to Windows (no LUN, no adapter).
    Probe,
    /// xenpci did not run its boot-time initialisation in this boot: do nothing, record
    /// nothing.
    Off,
}

impl PvRole {
    /// The role of `class`'s driver given xenpci's report.
    pub fn for_class(report: Option<&BootReport>, class: PvClass) -> PvRole {
        match report {
            None => PvRole::Off,
            Some(r) if r.unplugged(class) => PvRole::Serve,
            Some(_) => PvRole::Probe,
        }
    }
}

/// What the PV driver writes to [`VALUE_STARTED_BOOT`] after its first successful start in
/// this boot (first successful read of the boot disk for xenvbd, backend connected or MAC
/// read for xennet), whether serving or probing; `None`: write nothing.
pub fn started_record(report: Option<&BootReport>) -> Option<u32> {
    report.map(|r| r.boot)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUS: ImageStamp = ImageStamp {
        size: 100,
        written: 1,
    };
    const VBD: ImageStamp = ImageStamp {
        size: 200,
        written: 2,
    };

    fn ours(record: EvidenceRecord) -> PvDriverFacts {
        PvDriverFacts {
            service: ServiceState::Ours(StartType::Boot),
            image: Some(VBD),
            record,
        }
    }

    fn proven(boot: u32) -> EvidenceRecord {
        EvidenceRecord {
            armed_boot: Some(boot),
            armed_path: Some(PathStamp::of(BUS, VBD)),
            unplugged_boot: None,
            failed_path: None,
            started_boot: Some(boot),
        }
    }

    #[test]
    fn only_a_proven_start_of_these_images_counts() {
        let path = PathStamp::of(BUS, VBD);
        assert_eq!(assess(PvClass::Disk, &ours(proven(7)), Some(BUS)), Ok(path));
        // Another vendor's key, a leftover without evidence, an absent service.
        let foreign = PvDriverFacts {
            service: ServiceState::Foreign,
            ..ours(proven(7))
        };
        assert_eq!(
            assess(PvClass::Disk, &foreign, Some(BUS)),
            Err(EvidenceGap::Foreign)
        );
        assert_eq!(
            assess(PvClass::Disk, &PvDriverFacts::ABSENT, Some(BUS)),
            Err(EvidenceGap::NotInstalled)
        );
        assert_eq!(
            assess(PvClass::Disk, &ours(EvidenceRecord::default()), Some(BUS)),
            Err(EvidenceGap::NotProven)
        );
        // Disabled, demand start (disk only), image gone, bus image gone.
        for (start, disk_ok, net_ok) in [
            (StartType::Disabled, false, false),
            (StartType::Demand, false, true),
            (StartType::System, false, true),
            (StartType::Other(9), false, false),
        ] {
            let f = PvDriverFacts {
                service: ServiceState::Ours(start),
                ..ours(proven(7))
            };
            assert_eq!(assess(PvClass::Disk, &f, Some(BUS)).is_ok(), disk_ok);
            assert_eq!(assess(PvClass::Net, &f, Some(BUS)).is_ok(), net_ok);
        }
        let gone = PvDriverFacts {
            image: None,
            ..ours(proven(7))
        };
        assert_eq!(
            assess(PvClass::Disk, &gone, Some(BUS)),
            Err(EvidenceGap::ImageMissing)
        );
        assert_eq!(
            assess(PvClass::Disk, &ours(proven(7)), None),
            Err(EvidenceGap::ImageMissing)
        );
        // A replaced image (update, copy, another vendor's file) or a replaced xenpci.
        let replaced = PvDriverFacts {
            image: Some(ImageStamp {
                size: 200,
                written: 3,
            }),
            ..ours(proven(7))
        };
        assert_eq!(
            assess(PvClass::Disk, &replaced, Some(BUS)),
            Err(EvidenceGap::NotProven)
        );
        let new_bus = ImageStamp {
            size: 101,
            written: 1,
        };
        assert_eq!(
            assess(PvClass::Disk, &ours(proven(7)), Some(new_bus)),
            Err(EvidenceGap::NotProven)
        );
        // The driver recorded success in an older boot than the last armed one.
        let stale = EvidenceRecord {
            started_boot: Some(6),
            ..proven(7)
        };
        assert_eq!(
            assess(PvClass::Disk, &ours(stale), Some(BUS)),
            Err(EvidenceGap::NotProven)
        );
    }

    #[test]
    fn a_failed_unplugged_boot_latches_until_an_image_changes() {
        // Boot 8 unplugged with these images; no success recorded in boot 8.
        let failed = EvidenceRecord {
            armed_boot: Some(8),
            armed_path: Some(PathStamp::of(BUS, VBD)),
            unplugged_boot: Some(8),
            failed_path: None,
            started_boot: Some(7),
        };
        assert!(failed.last_unplugged_boot_failed());
        assert_eq!(
            assess(PvClass::Disk, &ours(failed), Some(BUS)),
            Err(EvidenceGap::FailedBefore)
        );
        // Boot 9 arms and latches; even if the driver then probes successfully in boot 9,
        // boot 10 keeps the emulated disk for these images.
        let write = ArmWrite::new(&ours(failed), Some(BUS), 9, false);
        assert_eq!(write.failed_path, Some(PathStamp::of(BUS, VBD)));
        let mut after = write.applied(&failed);
        after.started_boot = Some(9);
        assert_eq!(
            assess(PvClass::Disk, &ours(after), Some(BUS)),
            Err(EvidenceGap::FailedBefore)
        );
        // A new driver image: probed, then trusted.
        let update = ImageStamp {
            size: 300,
            written: 4,
        };
        let updated = PvDriverFacts {
            image: Some(update),
            ..ours(after)
        };
        let write = ArmWrite::new(&updated, Some(BUS), 10, false);
        let mut after = write.applied(&after);
        after.started_boot = Some(10);
        assert_eq!(
            assess(
                PvClass::Disk,
                &PvDriverFacts {
                    record: after,
                    ..updated
                },
                Some(BUS)
            ),
            Ok(PathStamp::of(BUS, update))
        );
    }

    #[test]
    fn an_unplugged_boot_that_succeeded_is_no_failure() {
        let ok = EvidenceRecord {
            unplugged_boot: Some(7),
            ..proven(7)
        };
        assert!(!ok.last_unplugged_boot_failed());
        assert!(assess(PvClass::Disk, &ours(ok), Some(BUS)).is_ok());
    }

    #[test]
    fn roles_follow_the_volatile_report() {
        let report = BootReport {
            boot: 3,
            unplugged: UnplugMask::ALL_NICS,
        };
        assert_eq!(
            PvRole::for_class(Some(&report), PvClass::Net),
            PvRole::Serve
        );
        assert_eq!(
            PvRole::for_class(Some(&report), PvClass::Disk),
            PvRole::Probe
        );
        assert_eq!(PvRole::for_class(None, PvClass::Disk), PvRole::Off);
        assert_eq!(started_record(Some(&report)), Some(3));
        assert_eq!(started_record(None), None);
        assert_eq!(BootReport::from_registry(Some(3), Some(2)), Some(report));
        assert_eq!(BootReport::from_registry(Some(3), None), None);
        assert_eq!(BootReport::from_registry(Some(3), Some(0x1_0000)), None);
    }

    #[test]
    fn start_types_and_stamps() {
        assert_eq!(StartType::from_registry(Some(0)), StartType::Boot);
        assert_eq!(StartType::from_registry(Some(4)), StartType::Disabled);
        assert_eq!(StartType::from_registry(None), StartType::Other(u32::MAX));
        assert_ne!(
            PathStamp::of(BUS, VBD),
            PathStamp::of(VBD, BUS),
            "bus and driver are not interchangeable"
        );
    }
}
