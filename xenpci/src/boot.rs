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
//! What the glue does not read yet (so those facts are `None` and the decision keeps every
//! emulated device, with `the ... image (or xenpci's image) is missing` or `the boot record
//! could not be persisted` in the log): the image stamps (`ZwQueryFullAttributesFile` on each
//! `ImagePath` and on xenpci's own image), and the arm writes with their flush (`ZwFlushKey`).

use core::fmt;

use xen_hal::XenVersion;
use xen_platform::evidence::{
    EvidenceRecord, ImageStamp, PvDriverFacts, ServiceState, StartType, PRODUCT_MARKER,
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
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
}
