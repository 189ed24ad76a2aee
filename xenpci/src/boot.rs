//! What `DriverEntry` decides before any device starts: is the Xen platform usable, and what
//! to unplug, from registry facts gathered by the glue.
//!
//! Registry facts:
//! - `HKLM\SYSTEM\CurrentControlSet\Control\SystemStartOptions` (boot switches, REG_SZ).
//! - `HKLM\SYSTEM\CurrentControlSet\Services\xenvbd` / `xennet` exist: the PV disk / network
//!   driver is installed.
//! - `<xenpci service key>\Parameters\PvDiskSeen` (REG_DWORD, non-zero): a PV disk was reported
//!   as a child on an earlier boot. xenpci writes it the first time it reports a `vbd` child
//!   while xenvbd is installed, so the emulated disk is unplugged from the *next* boot on, when
//!   the PV disk is known to be enumerable (the XCP-ng drivers' two-boot hand-over).

use core::fmt;

use xen_hal::XenVersion;
use xen_platform::{StartOptions, UnplugFacts, MIN_XEN_VERSION};

/// Registry key holding `SystemStartOptions`.
pub const CONTROL_KEY: &str = "\\Registry\\Machine\\System\\CurrentControlSet\\Control";
/// The boot switches value.
pub const START_OPTIONS_VALUE: &str = "SystemStartOptions";
/// The PV disk driver's service key.
pub const XENVBD_SERVICE_KEY: &str =
    "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\xenvbd";
/// The PV network driver's service key.
pub const XENNET_SERVICE_KEY: &str =
    "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\xennet";
/// Subkey of xenpci's service key for its persisted facts.
pub const PARAMETERS_SUBKEY: &str = "Parameters";
/// REG_DWORD: a PV disk was enumerated on an earlier boot.
pub const PV_DISK_SEEN_VALUE: &str = "PvDiskSeen";

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

/// The registry facts, as read (a value that could not be read is `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RegistryFacts<'a> {
    /// `SystemStartOptions` as UTF-16.
    pub start_options: Option<&'a [u16]>,
    /// The xenvbd service key exists.
    pub xenvbd_installed: bool,
    /// The xennet service key exists.
    pub xennet_installed: bool,
    /// `PvDiskSeen` (missing reads as 0).
    pub pv_disk_seen: Option<u32>,
}

/// The unplug facts for [`xen_platform::decide_and_unplug`].
pub fn unplug_facts(presence: XenPresence, registry: &RegistryFacts<'_>) -> UnplugFacts {
    UnplugFacts {
        options: registry
            .start_options
            .map(StartOptions::parse_utf16)
            .unwrap_or_default(),
        platform_ready: presence.usable(),
        pv_disk_installed: registry.xenvbd_installed,
        pv_disk_seen: registry.pv_disk_seen.unwrap_or(0) != 0,
        pv_net_installed: registry.xennet_installed,
    }
}

/// Whether to persist `PvDiskSeen` now: a vbd child is being reported, xenvbd is installed,
/// and the fact is not recorded yet.
pub fn should_record_pv_disk(reporting_vbd: bool, xenvbd_installed: bool, already: bool) -> bool {
    reporting_vbd && xenvbd_installed && !already
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

    #[test]
    fn wine_unplugs_nothing() {
        let options = utf16(" NOEXECUTE=OPTIN");
        let registry = RegistryFacts {
            start_options: Some(&options),
            xenvbd_installed: true,
            xennet_installed: true,
            pv_disk_seen: Some(1),
        };
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::NotKernelMode, &registry));
        assert_eq!(d.mask(), UnplugMask::NONE);
        assert_eq!(d.disks, Verdict::Keep(KeepReason::PlatformNotReady));
    }

    #[test]
    fn installed_stack_on_xen() {
        let version = XenVersion {
            major: 4,
            minor: 17,
        };
        let options = utf16(" NOEXECUTE=OPTIN  FASTDETECT");
        let mut registry = RegistryFacts {
            start_options: Some(&options),
            xenvbd_installed: true,
            xennet_installed: true,
            pv_disk_seen: None,
        };
        // First boot after install: the disk stays, the NIC goes.
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert_eq!(d.mask(), UnplugMask::ALL_NICS);
        // Next boot, after a PV disk was reported.
        registry.pv_disk_seen = Some(1);
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert_eq!(
            d.mask(),
            UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS)
        );
        // NOGPLPV in the options turns it all off.
        let options = utf16(" NOEXECUTE=OPTIN  FASTDETECT NOGPLPV");
        registry.start_options = Some(&options);
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert_eq!(d.mask(), UnplugMask::NONE);
        // Unreadable options: defaults (PV on).
        registry.start_options = None;
        let d = UnplugDecision::decide(&unplug_facts(XenPresence::Usable(version), &registry));
        assert!(d.pv_active());
    }

    #[test]
    fn pv_disk_fact_is_recorded_once_and_only_with_xenvbd() {
        assert!(should_record_pv_disk(true, true, false));
        assert!(!should_record_pv_disk(true, true, true));
        assert!(!should_record_pv_disk(true, false, false));
        assert!(!should_record_pv_disk(false, true, false));
    }
}
