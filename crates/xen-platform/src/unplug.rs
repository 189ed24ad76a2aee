//! Unplugging QEMU's emulated disks and NICs: the decision (boot switches, safe mode, what the
//! PV stack has shown on earlier boots) and the device model's I/O-port protocol.
//!
//! Protocol facts (Xen's `docs/misc/hvm-emulated-unplug.pandoc`): a 16-bit read of port 0x10
//! returns the magic 0x49d2 when the protocol is offered; an 8-bit read of port 0x12 returns the
//! protocol version. From version 1 the driver registers itself first: 16-bit product number to
//! port 0x12, then 32-bit build number to port 0x10; if the device model blacklists that
//! product, port 0x10 no longer reads the magic and nothing may be unplugged. Then a 16-bit
//! write of the unplug mask to port 0x10 unplugs: bit 0 all IDE disks, bit 1 all NICs, bit 2
//! the IDE disks other than the primary master.
//!
//! The decision keeps the boot disk reachable: the emulated disks are unplugged only when the
//! PV disk driver is installed **and** a PV disk was enumerated on a previous boot (a fact the
//! driver persists in its registry key and passes in), and nothing at all is unplugged when
//! `NOGPLPV` is given, in safe mode, or when the PV platform cannot start. Every "keep" carries
//! its reason so the driver can log it.

use core::fmt;

use xen_hal::PortIo;

use crate::options::{SafeBoot, StartOptions};

/// 16-bit read: the magic; 16-bit write: the unplug mask; 32-bit write: the build number.
pub const PORT_MAGIC: u16 = 0x10;
/// 8-bit read: the protocol version; 16-bit write: the product number.
pub const PORT_VERSION: u16 = 0x12;
/// What [`PORT_MAGIC`] reads when the unplug protocol is offered (and we are not blacklisted).
pub const UNPLUG_MAGIC: u16 = 0x49d2;
/// Product number the suite registers: 0xFFFF is reserved by Xen's unplug document for
/// experimental drivers (the suite has no number of its own).
pub const PRODUCT_NUMBER: u16 = 0xffff;

/// The unplug mask written to [`PORT_MAGIC`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnplugMask(pub u16);

impl UnplugMask {
    /// `UNPLUG_ALL_IDE_DISKS`: every emulated IDE disk (CD-ROMs stay).
    pub const ALL_IDE_DISKS: UnplugMask = UnplugMask(1 << 0);
    /// `UNPLUG_ALL_NICS`: every emulated NIC.
    pub const ALL_NICS: UnplugMask = UnplugMask(1 << 1);
    /// `UNPLUG_AUX_IDE_DISKS`: every IDE disk except the primary master.
    pub const AUX_IDE_DISKS: UnplugMask = UnplugMask(1 << 2);

    /// Nothing.
    pub const NONE: UnplugMask = UnplugMask(0);

    /// Whether no bit is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every bit of `other` is set here.
    pub fn contains(self, other: UnplugMask) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of bits.
    pub fn union(self, other: UnplugMask) -> UnplugMask {
        UnplugMask(self.0 | other.0)
    }
}

impl fmt::Display for UnplugMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("nothing");
        }
        let mut first = true;
        for (bit, name) in [
            (UnplugMask::ALL_IDE_DISKS, "IDE disks"),
            (UnplugMask::ALL_NICS, "NICs"),
            (UnplugMask::AUX_IDE_DISKS, "auxiliary IDE disks"),
        ] {
            if self.contains(bit) {
                if !first {
                    f.write_str(", ")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !0b111;
        if unknown != 0 {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "bits {unknown:#x}")?;
        }
        Ok(())
    }
}

/// What the driver knows when it decides (all plain data, so every combination is testable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnplugFacts {
    /// The boot switches.
    pub options: StartOptions,
    /// The PV platform can start: running on Xen, hypercalls work, Xen is new enough.
    pub platform_ready: bool,
    /// The PV disk driver (xenvbd) is installed.
    pub pv_disk_installed: bool,
    /// A PV disk was enumerated on a previous boot (persisted by the bus driver).
    pub pv_disk_seen: bool,
    /// The PV network driver (xennet) is installed.
    pub pv_net_installed: bool,
}

/// Why an emulated device class stays plugged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// `NOGPLPV` is in the boot options.
    NoPvOption,
    /// Windows booted in safe mode.
    SafeMode(SafeBoot),
    /// The PV platform cannot start (no Xen, hypercalls fail, Xen too old).
    PlatformNotReady,
    /// The PV disk driver is not installed: the emulated disk is the only way to the boot disk.
    PvDiskNotInstalled,
    /// No PV disk has been enumerated on an earlier boot: unplugging could lose the boot disk.
    PvDiskNeverSeen,
    /// The PV network driver is not installed.
    PvNetNotInstalled,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::NoPvOption => f.write_str("NOGPLPV is in the boot options"),
            KeepReason::SafeMode(mode) => write!(f, "safe mode ({mode:?})"),
            KeepReason::PlatformNotReady => f.write_str("the Xen platform cannot start"),
            KeepReason::PvDiskNotInstalled => f.write_str("the PV disk driver is not installed"),
            KeepReason::PvDiskNeverSeen => {
                f.write_str("no PV disk was enumerated on an earlier boot (deferred to next boot)")
            }
            KeepReason::PvNetNotInstalled => f.write_str("the PV network driver is not installed"),
        }
    }
}

/// The verdict for one class of emulated devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Unplug it.
    Unplug,
    /// Keep it, for this reason.
    Keep(KeepReason),
}

/// The decision: what to unplug, and why the rest stays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnplugDecision {
    /// Emulated IDE disks.
    pub disks: Verdict,
    /// Emulated NICs.
    pub nics: Verdict,
}

impl UnplugDecision {
    /// Decides from `facts` (see the module documentation for the rules).
    pub fn decide(facts: &UnplugFacts) -> UnplugDecision {
        if let Some(reason) = pv_off_reason(facts) {
            return UnplugDecision {
                disks: Verdict::Keep(reason),
                nics: Verdict::Keep(reason),
            };
        }
        let disks = if !facts.pv_disk_installed {
            Verdict::Keep(KeepReason::PvDiskNotInstalled)
        } else if !facts.pv_disk_seen {
            Verdict::Keep(KeepReason::PvDiskNeverSeen)
        } else {
            Verdict::Unplug
        };
        let nics = if facts.pv_net_installed {
            Verdict::Unplug
        } else {
            Verdict::Keep(KeepReason::PvNetNotInstalled)
        };
        UnplugDecision { disks, nics }
    }

    /// The mask to write.
    pub fn mask(&self) -> UnplugMask {
        let mut mask = UnplugMask::NONE;
        if self.disks == Verdict::Unplug {
            mask = mask.union(UnplugMask::ALL_IDE_DISKS);
        }
        if self.nics == Verdict::Unplug {
            mask = mask.union(UnplugMask::ALL_NICS);
        }
        mask
    }

    /// Whether PV is active for this boot at all (`NOGPLPV`, safe mode and a platform that
    /// cannot start turn it off). The same switch governs hiding emulated devices (xenhide).
    pub fn pv_active(&self) -> bool {
        !matches!(
            self.disks,
            Verdict::Keep(
                KeepReason::NoPvOption | KeepReason::SafeMode(_) | KeepReason::PlatformNotReady
            )
        )
    }
}

/// Why PV is off for the whole boot, if it is.
pub fn pv_off_reason(facts: &UnplugFacts) -> Option<KeepReason> {
    if facts.options.no_pv {
        Some(KeepReason::NoPvOption)
    } else if let Some(mode) = facts.options.safe_boot {
        Some(KeepReason::SafeMode(mode))
    } else if !facts.platform_ready {
        Some(KeepReason::PlatformNotReady)
    } else {
        None
    }
}

impl fmt::Display for UnplugDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = |f: &mut fmt::Formatter<'_>, what: &str, v: Verdict| match v {
            Verdict::Unplug => write!(f, "{what}: unplug"),
            Verdict::Keep(reason) => write!(f, "{what}: keep ({reason})"),
        };
        verdict(f, "emulated disks", self.disks)?;
        f.write_str("; ")?;
        verdict(f, "emulated NICs", self.nics)
    }
}

/// Why the protocol did not unplug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProtocolError {
    /// Port 0x10 did not read the magic: no Xen platform device, or a device model without the
    /// protocol.
    NoMagic {
        /// What the port read.
        read: u16,
    },
    /// The device model blacklisted our product/build (the magic disappeared after
    /// registration).
    Blacklisted {
        /// The protocol version the device model reported.
        version: u8,
        /// What port 0x10 read after registration.
        read: u16,
    },
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::NoMagic { read } => write!(
                f,
                "port 0x10 reads {read:#06x}, not the unplug magic {UNPLUG_MAGIC:#06x}: no unplug protocol"
            ),
            ProtocolError::Blacklisted { version, read } => write!(
                f,
                "the device model (protocol version {version}) blacklisted product {PRODUCT_NUMBER:#06x} (port 0x10 now reads {read:#06x})"
            ),
        }
    }
}

/// What the protocol did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnplugReport {
    /// The protocol version the device model reported.
    pub version: u8,
    /// Whether product and build number were registered (version 1 and later).
    pub registered: bool,
    /// The mask written (empty: nothing written).
    pub unplugged: UnplugMask,
}

impl fmt::Display for UnplugReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unplug protocol version {}{}: unplugged {}",
            self.version,
            if self.registered {
                ", product registered"
            } else {
                ""
            },
            self.unplugged
        )
    }
}

/// Checks the magic and reads the protocol version (no writes).
pub fn probe(io: &impl PortIo) -> Result<u8, ProtocolError> {
    let read = io.read_u16(PORT_MAGIC);
    if read != UNPLUG_MAGIC {
        return Err(ProtocolError::NoMagic { read });
    }
    Ok(io.read_u8(PORT_VERSION))
}

/// Runs the protocol: magic, version, registration of `build` under [`PRODUCT_NUMBER`] (version
/// 1 and later), then the `mask` write. An empty mask touches no port at all.
pub fn unplug(
    io: &impl PortIo,
    mask: UnplugMask,
    build: u32,
) -> Result<UnplugReport, ProtocolError> {
    if mask.is_empty() {
        return Ok(UnplugReport {
            version: 0,
            registered: false,
            unplugged: UnplugMask::NONE,
        });
    }
    let version = probe(io)?;
    let registered = version >= 1;
    if registered {
        io.write_u16(PORT_VERSION, PRODUCT_NUMBER);
        io.write_u32(PORT_MAGIC, build);
        let read = io.read_u16(PORT_MAGIC);
        if read != UNPLUG_MAGIC {
            return Err(ProtocolError::Blacklisted { version, read });
        }
    }
    io.write_u16(PORT_MAGIC, mask.0);
    Ok(UnplugReport {
        version,
        registered,
        unplugged: mask,
    })
}

/// Decision and protocol together: what the bus driver calls early in `DriverEntry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnplugOutcome {
    /// The decision.
    pub decision: UnplugDecision,
    /// The protocol's result (`Ok` with an empty mask when nothing was to be unplugged).
    pub result: Result<UnplugReport, ProtocolError>,
}

impl UnplugOutcome {
    /// What was really unplugged.
    pub fn unplugged(&self) -> UnplugMask {
        match self.result {
            Ok(report) => report.unplugged,
            Err(_) => UnplugMask::NONE,
        }
    }
}

impl fmt::Display for UnplugOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; ", self.decision)?;
        match &self.result {
            Ok(report) => write!(f, "{report}"),
            Err(e) => write!(f, "nothing unplugged: {e}"),
        }
    }
}

/// Decides from `facts` and runs the protocol for what the decision allows.
pub fn decide_and_unplug(io: &impl PortIo, facts: &UnplugFacts, build: u32) -> UnplugOutcome {
    let decision = UnplugDecision::decide(facts);
    UnplugOutcome {
        decision,
        result: unplug(io, decision.mask(), build),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;
    use xen_hal::fake::FakePortIo;

    fn facts(bits: u8) -> UnplugFacts {
        UnplugFacts {
            options: StartOptions {
                no_pv: bits & 1 != 0,
                pv: false,
                safe_boot: (bits & 2 != 0).then_some(SafeBoot::Minimal),
            },
            platform_ready: bits & 4 != 0,
            pv_disk_installed: bits & 8 != 0,
            pv_disk_seen: bits & 16 != 0,
            pv_net_installed: bits & 32 != 0,
        }
    }

    #[test]
    fn every_combination_follows_the_rules() {
        for bits in 0..64u8 {
            let f = facts(bits);
            let d = UnplugDecision::decide(&f);
            let pv_on = !f.options.no_pv && f.options.safe_boot.is_none() && f.platform_ready;
            assert_eq!(d.pv_active(), pv_on, "{f:?}");
            let disks = pv_on && f.pv_disk_installed && f.pv_disk_seen;
            let nics = pv_on && f.pv_net_installed;
            assert_eq!(d.disks == Verdict::Unplug, disks, "{f:?}");
            assert_eq!(d.nics == Verdict::Unplug, nics, "{f:?}");
            assert_eq!(d.mask().contains(UnplugMask::ALL_IDE_DISKS), disks);
            assert_eq!(d.mask().contains(UnplugMask::ALL_NICS), nics);
            assert!(!d.mask().contains(UnplugMask::AUX_IDE_DISKS));
            // Reasons, in order of precedence.
            let expected_global = if f.options.no_pv {
                Some(KeepReason::NoPvOption)
            } else if f.options.safe_boot.is_some() {
                Some(KeepReason::SafeMode(SafeBoot::Minimal))
            } else if !f.platform_ready {
                Some(KeepReason::PlatformNotReady)
            } else {
                None
            };
            match expected_global {
                Some(reason) => {
                    assert_eq!(d.disks, Verdict::Keep(reason));
                    assert_eq!(d.nics, Verdict::Keep(reason));
                }
                None => {
                    if !f.pv_disk_installed {
                        assert_eq!(d.disks, Verdict::Keep(KeepReason::PvDiskNotInstalled));
                    } else if !f.pv_disk_seen {
                        assert_eq!(d.disks, Verdict::Keep(KeepReason::PvDiskNeverSeen));
                    }
                    if !f.pv_net_installed {
                        assert_eq!(d.nics, Verdict::Keep(KeepReason::PvNetNotInstalled));
                    }
                }
            }
        }
    }

    #[test]
    fn gplpv_switch_changes_nothing() {
        let mut f = facts(4 | 8 | 16 | 32);
        let without = UnplugDecision::decide(&f);
        f.options.pv = true;
        assert_eq!(UnplugDecision::decide(&f), without);
        assert_eq!(
            without.mask(),
            UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS)
        );
    }

    #[test]
    fn parsed_options_drive_the_decision() {
        let mut f = facts(4 | 8 | 16 | 32);
        f.options = StartOptions::parse(" NOEXECUTE=OPTIN  FASTDETECT NOGPLPV");
        assert_eq!(UnplugDecision::decide(&f).mask(), UnplugMask::NONE);
        f.options = StartOptions::parse(" NOEXECUTE=OPTIN  SAFEBOOT:NETWORK");
        assert_eq!(
            UnplugDecision::decide(&f).disks,
            Verdict::Keep(KeepReason::SafeMode(SafeBoot::Network))
        );
        f.options = StartOptions::parse(" NOEXECUTE=OPTIN  GPLPV");
        assert!(UnplugDecision::decide(&f).pv_active());
    }

    fn platform_ports(version: u8) -> FakePortIo {
        let io = FakePortIo::new();
        io.set_default(PORT_MAGIC, u32::from(UNPLUG_MAGIC));
        io.set_default(PORT_VERSION, u32::from(version));
        io
    }

    #[test]
    fn version_1_registers_then_writes_the_mask() {
        let io = platform_ports(1);
        let mask = UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS);
        let report = unplug(&io, mask, 0x0001_0203).unwrap();
        assert_eq!(
            report,
            UnplugReport {
                version: 1,
                registered: true,
                unplugged: mask
            }
        );
        assert_eq!(
            io.writes(),
            vec![
                (PORT_VERSION, u32::from(PRODUCT_NUMBER), 2),
                (PORT_MAGIC, 0x0001_0203, 4),
                (PORT_MAGIC, 3, 2),
            ]
        );
        assert_eq!(
            report.to_string(),
            "unplug protocol version 1, product registered: unplugged IDE disks, NICs"
        );
    }

    #[test]
    fn version_0_writes_the_mask_without_registration() {
        let io = platform_ports(0);
        let report = unplug(&io, UnplugMask::ALL_NICS, 7).unwrap();
        assert!(!report.registered);
        assert_eq!(io.writes(), vec![(PORT_MAGIC, 2, 2)]);
    }

    #[test]
    fn later_versions_register_too() {
        let io = platform_ports(2);
        let report = unplug(&io, UnplugMask::ALL_NICS, 7).unwrap();
        assert!(report.registered);
        assert_eq!(io.writes().len(), 3);
    }

    #[test]
    fn wrong_magic_means_no_unplug_and_a_reason() {
        // No platform device at all: the port floats to all ones.
        let io = FakePortIo::new();
        let err = unplug(&io, UnplugMask::ALL_IDE_DISKS, 1).unwrap_err();
        assert_eq!(err, ProtocolError::NoMagic { read: 0xffff });
        assert!(io.writes().is_empty());
        assert!(err.to_string().contains("0xffff"));
        // A device model answering something else.
        let io = FakePortIo::new();
        io.set_default(PORT_MAGIC, 0x1234);
        assert_eq!(
            unplug(&io, UnplugMask::ALL_NICS, 1),
            Err(ProtocolError::NoMagic { read: 0x1234 })
        );
        assert!(io.writes().is_empty());
    }

    #[test]
    fn blacklisted_product_unplugs_nothing() {
        let io = FakePortIo::new();
        io.queue_read(PORT_MAGIC, u32::from(UNPLUG_MAGIC));
        io.queue_read(PORT_MAGIC, 0xd249);
        io.set_default(PORT_VERSION, 1);
        let err = unplug(&io, UnplugMask::ALL_NICS, 1).unwrap_err();
        assert_eq!(
            err,
            ProtocolError::Blacklisted {
                version: 1,
                read: 0xd249
            }
        );
        // Registration happened, the mask was never written.
        assert!(!io
            .writes()
            .iter()
            .any(|&(port, value, width)| port == PORT_MAGIC && width == 2 && value == 2));
        assert_eq!(io.writes().len(), 2);
    }

    #[test]
    fn nothing_to_unplug_touches_no_port() {
        let io = platform_ports(1);
        let outcome = decide_and_unplug(&io, &facts(1 | 4 | 8 | 16 | 32), 1);
        assert_eq!(outcome.unplugged(), UnplugMask::NONE);
        assert!(io.writes().is_empty());
        let line = outcome.to_string();
        assert!(line.contains("NOGPLPV"), "{line}");
        assert!(line.contains("unplugged nothing"), "{line}");
    }

    #[test]
    fn first_boot_after_install_keeps_the_disk_but_unplugs_the_nic() {
        let io = platform_ports(1);
        let outcome = decide_and_unplug(&io, &facts(4 | 8 | 32), 1);
        assert_eq!(outcome.unplugged(), UnplugMask::ALL_NICS);
        assert_eq!(io.writes().last(), Some(&(PORT_MAGIC, 2, 2)));
        assert!(outcome.to_string().contains("deferred to next boot"));
    }

    #[test]
    fn mask_display_names_unknown_bits() {
        assert_eq!(
            UnplugMask(0x14).to_string(),
            "auxiliary IDE disks, bits 0x10"
        );
        assert_eq!(UnplugMask::NONE.to_string(), "nothing");
    }
}
