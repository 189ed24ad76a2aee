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
//! The decision keeps the boot disk reachable and every NIC single: a class of emulated devices
//! is unplugged only
//! - when PV is on for this boot (not `NOGPLPV`, not safe mode, the platform can start);
//! - at the boot-time initialisation, first in this boot ([`BootInit::first_in_boot`], a
//!   volatile fact), and only while that class's emulated stack has not started: a reload on a
//!   running system never unplugs;
//! - on evidence the PV driver itself recorded on the last boot for the exact images present
//!   now, re-validated at every boot ([`crate::evidence`]: service ours, start type, images
//!   present, last boot's start succeeded, no failed unplugged boot with these images);
//! - once this boot's record is persisted ([`BootPlan::after_writes`]), so that a boot that
//!   fails after the unplug is never repeated.
//!
//! Anything less keeps the emulated device, with its reason ([`KeepReason`]) for the log.
//! [`BootPlan`] is the whole boot-time step as data (decision, writes, volatile report).
//!
//! Boot-start rule for the installer (and anything that edits the registry), which the model
//! of every boot (`crates/boot-model`) enforces: a boot-start service or a class filter entry
//! (`xenhide` in the System class `UpperFilters`) is added only when its image is present and
//! signed for this machine (x64: a signature the boot loader accepts; test-signed only with
//! `TESTSIGNING` on); the filter entry is removed before the service or image goes, and a
//! filter is never disabled (`Start=4`) while listed. A listed filter or a boot-start storage
//! driver that cannot load fails the PCI bus or the boot disk (0x7B), `NOGPLPV` or not.

use core::fmt;

use xen_hal::PortIo;

use crate::evidence::{
    assess, ArmWrite, BootReport, EvidenceGap, ImageStamp, PvClass, PvDriverFacts, ServiceState,
};
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

/// Where in the boot the decision is taken (item "once per boot"): volatile facts the glue
/// reads at DriverEntry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootInit {
    /// xenpci's volatile report key ([`REPORT_SUBKEY`](crate::evidence::REPORT_SUBKEY)) does
    /// not exist yet: this is the first initialisation in this boot. A reload (install, update,
    /// disable/enable of xenpci on a running system) finds it and never unplugs.
    pub first_in_boot: bool,
    /// The emulated disks' stack already started (xenpci loaded late, e.g. installed on a
    /// running system): unplugging would pull the disk, maybe the paging disk, from under it.
    pub disks_started: bool,
    /// The emulated NICs' stack already started.
    pub nics_started: bool,
}

impl BootInit {
    /// The boot-time initialisation of a boot, before the emulated stacks start.
    pub const AT_BOOT: BootInit = BootInit {
        first_in_boot: true,
        disks_started: false,
        nics_started: false,
    };

    fn started(&self, class: PvClass) -> bool {
        match class {
            PvClass::Disk => self.disks_started,
            PvClass::Net => self.nics_started,
        }
    }
}

/// What the driver knows when it decides (all plain data, so every combination is testable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnplugFacts {
    /// The boot switches.
    pub options: StartOptions,
    /// The PV platform can start: running on Xen, hypercalls work, Xen is new enough.
    pub platform_ready: bool,
    /// Where in the boot this is.
    pub boot: BootInit,
    /// `xenpci\Parameters\BootCount` as read.
    pub boot_count: Option<u32>,
    /// xenpci's own image (`None`: could not be stamped).
    pub bus_image: Option<ImageStamp>,
    /// The PV disk driver (xenvbd) and its evidence.
    pub disk: PvDriverFacts,
    /// The PV network driver (xennet) and its evidence.
    pub net: PvDriverFacts,
}

impl UnplugFacts {
    /// The facts of one class's driver.
    pub fn driver(&self, class: PvClass) -> &PvDriverFacts {
        match class {
            PvClass::Disk => &self.disk,
            PvClass::Net => &self.net,
        }
    }
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
    /// Not the first initialisation in this boot (a reload on a running system).
    NotFirstInBoot,
    /// The emulated stack of this class already started in this boot.
    AlreadyStarted,
    /// The PV driver's evidence does not allow it.
    Evidence(PvClass, EvidenceGap),
    /// The boot's arm record could not be written and flushed: an unplug now could repeat a
    /// failing boot forever.
    NotPersisted,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::NoPvOption => f.write_str("NOGPLPV is in the boot options"),
            KeepReason::SafeMode(mode) => write!(f, "safe mode ({mode:?})"),
            KeepReason::PlatformNotReady => f.write_str("the Xen platform cannot start"),
            KeepReason::NotFirstInBoot => {
                f.write_str("not the boot-time initialisation (reload on a running system)")
            }
            KeepReason::AlreadyStarted => f.write_str("its emulated stack already started"),
            KeepReason::Evidence(class, gap) => write!(f, "the {class} {gap}"),
            KeepReason::NotPersisted => f.write_str("the boot record could not be persisted"),
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
    /// Decides from `facts`, assuming the boot's record gets persisted (see [`BootPlan`] for
    /// the whole step; the module documentation for the rules).
    pub fn decide(facts: &UnplugFacts) -> UnplugDecision {
        let verdict = |class: PvClass| {
            if let Some(reason) = pv_off_reason(facts) {
                return Verdict::Keep(reason);
            }
            if !facts.boot.first_in_boot {
                return Verdict::Keep(KeepReason::NotFirstInBoot);
            }
            if facts.boot.started(class) {
                return Verdict::Keep(KeepReason::AlreadyStarted);
            }
            match assess(class, facts.driver(class), facts.bus_image) {
                Ok(_) => Verdict::Unplug,
                Err(gap) => Verdict::Keep(KeepReason::Evidence(class, gap)),
            }
        };
        UnplugDecision {
            disks: verdict(PvClass::Disk),
            nics: verdict(PvClass::Net),
        }
    }

    /// The verdict for `class`.
    pub fn verdict(&self, class: PvClass) -> Verdict {
        match class {
            PvClass::Disk => self.disks,
            PvClass::Net => self.nics,
        }
    }

    /// The mask to write.
    pub fn mask(&self) -> UnplugMask {
        let mut mask = UnplugMask::NONE;
        for class in PvClass::ALL {
            if self.verdict(class) == Verdict::Unplug {
                mask = mask.union(class.mask());
            }
        }
        mask
    }

    /// Whether PV is active for this boot at all (`NOGPLPV`, safe mode and a platform that
    /// cannot start turn it off).
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

/// The whole boot-time step as data: the decision, and the writes that must be persisted
/// (written and flushed) before the port write. xenpci's DriverEntry:
/// 1. reads [`UnplugFacts`], builds the plan ([`BootPlan::new`]);
/// 2. if [`BootPlan::boot`] is `Some`, writes `BootCount` and each [`ArmWrite`] and flushes the
///    keys; a class whose write or flush failed is not unplugged ([`BootPlan::after_writes`]);
/// 3. runs the protocol for the resulting mask ([`unplug`]);
/// 4. publishes [`BootPlan::report`] in the volatile key, with what the port really unplugged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootPlan {
    /// The decision, if the writes persist.
    pub decision: UnplugDecision,
    /// This boot's number (`None`: not the first initialisation in this boot, write nothing,
    /// publish nothing: the report of the first one stands).
    pub boot: Option<u32>,
    /// The write to xenvbd's `Parameters` (only for a service key of ours).
    pub disk: Option<ArmWrite>,
    /// The write to xennet's `Parameters` (only for a service key of ours).
    pub net: Option<ArmWrite>,
}

impl BootPlan {
    /// Plans the boot-time step for `facts`.
    pub fn new(facts: &UnplugFacts) -> BootPlan {
        let decision = UnplugDecision::decide(facts);
        if !facts.boot.first_in_boot {
            return BootPlan {
                decision,
                boot: None,
                disk: None,
                net: None,
            };
        }
        let boot = facts.boot_count.map_or(1, |count| count.wrapping_add(1));
        let write = |class: PvClass| {
            let driver = facts.driver(class);
            matches!(driver.service, ServiceState::Ours(_)).then(|| {
                ArmWrite::new(
                    driver,
                    facts.bus_image,
                    boot,
                    decision.verdict(class) == Verdict::Unplug,
                )
            })
        };
        BootPlan {
            decision,
            boot: Some(boot),
            disk: write(PvClass::Disk),
            net: write(PvClass::Net),
        }
    }

    /// The write for `class`.
    pub fn write(&self, class: PvClass) -> Option<&ArmWrite> {
        match class {
            PvClass::Disk => self.disk.as_ref(),
            PvClass::Net => self.net.as_ref(),
        }
    }

    /// The decision once the writes were attempted: `persisted(class)` says whether that
    /// class's write (and `BootCount`) was written and flushed.
    pub fn after_writes(&self, persisted: impl Fn(PvClass) -> bool) -> UnplugDecision {
        let mut decision = self.decision;
        for class in PvClass::ALL {
            if self.boot.is_some() && !persisted(class) {
                let verdict = match class {
                    PvClass::Disk => &mut decision.disks,
                    PvClass::Net => &mut decision.nics,
                };
                if *verdict == Verdict::Unplug {
                    *verdict = Verdict::Keep(KeepReason::NotPersisted);
                }
            }
        }
        decision
    }

    /// The volatile report to publish after the protocol unplugged `unplugged`.
    pub fn report(&self, unplugged: UnplugMask) -> Option<BootReport> {
        Some(BootReport {
            boot: self.boot?,
            unplugged,
        })
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

/// Runs the protocol for `decision` (the result of [`BootPlan::after_writes`]).
pub fn unplug_decided(io: &impl PortIo, decision: UnplugDecision, build: u32) -> UnplugOutcome {
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

    use crate::evidence::{EvidenceRecord, PathStamp, StartType};

    const BUS: ImageStamp = ImageStamp {
        size: 10,
        written: 1,
    };
    const VBD: ImageStamp = ImageStamp {
        size: 20,
        written: 2,
    };
    const NET: ImageStamp = ImageStamp {
        size: 30,
        written: 3,
    };

    fn proven(image: ImageStamp, start: StartType) -> PvDriverFacts {
        PvDriverFacts {
            service: ServiceState::Ours(start),
            image: Some(image),
            record: EvidenceRecord {
                armed_boot: Some(5),
                armed_path: Some(PathStamp::of(BUS, image)),
                unplugged_boot: None,
                failed_path: None,
                started_boot: Some(5),
            },
        }
    }

    /// PV on, boot time, both drivers proven on the last boot.
    fn ready() -> UnplugFacts {
        UnplugFacts {
            options: StartOptions::default(),
            platform_ready: true,
            boot: BootInit::AT_BOOT,
            boot_count: Some(5),
            bus_image: Some(BUS),
            disk: proven(VBD, StartType::Boot),
            net: proven(NET, StartType::Demand),
        }
    }

    /// Every combination of the boolean facts: unplug exactly when every condition holds.
    #[test]
    fn every_combination_follows_the_rules() {
        for bits in 0..(1u32 << 11) {
            let bit = |n: u32| bits & (1 << n) != 0;
            let mut f = ready();
            f.options.no_pv = bit(0);
            f.options.safe_boot = bit(1).then_some(SafeBoot::Minimal);
            f.platform_ready = !bit(2);
            f.boot.first_in_boot = !bit(3);
            f.boot.disks_started = bit(4);
            f.boot.nics_started = bit(5);
            if bit(6) {
                f.disk.service = ServiceState::Foreign;
            }
            if bit(7) {
                f.disk.service = ServiceState::Ours(StartType::Disabled);
            }
            if bit(8) {
                f.disk.record.started_boot = Some(4);
            }
            if bit(9) {
                f.disk.image = None;
            }
            if bit(10) {
                f.net.service = ServiceState::Absent;
            }
            let d = UnplugDecision::decide(&f);
            let pv_on = !bit(0) && !bit(1) && !bit(2);
            assert_eq!(d.pv_active(), pv_on, "{f:?}");
            let at_boot = pv_on && !bit(3);
            let disks = at_boot && !bit(4) && !bit(6) && !bit(7) && !bit(8) && !bit(9);
            let nics = at_boot && !bit(5) && !bit(10);
            assert_eq!(d.disks == Verdict::Unplug, disks, "{f:?}");
            assert_eq!(d.nics == Verdict::Unplug, nics, "{f:?}");
            assert_eq!(d.mask().contains(UnplugMask::ALL_IDE_DISKS), disks);
            assert_eq!(d.mask().contains(UnplugMask::ALL_NICS), nics);
            assert!(!d.mask().contains(UnplugMask::AUX_IDE_DISKS));
            // Reasons, in order of precedence.
            let global = if bit(0) {
                Some(KeepReason::NoPvOption)
            } else if bit(1) {
                Some(KeepReason::SafeMode(SafeBoot::Minimal))
            } else if bit(2) {
                Some(KeepReason::PlatformNotReady)
            } else if bit(3) {
                Some(KeepReason::NotFirstInBoot)
            } else {
                None
            };
            if let Some(reason) = global {
                assert_eq!(d.disks, Verdict::Keep(reason));
                assert_eq!(d.nics, Verdict::Keep(reason));
            } else if bit(4) {
                assert_eq!(d.disks, Verdict::Keep(KeepReason::AlreadyStarted));
            } else if bit(6) && !bit(7) {
                assert_eq!(
                    d.disks,
                    Verdict::Keep(KeepReason::Evidence(PvClass::Disk, EvidenceGap::Foreign))
                );
            }
            // The plan writes only at the first initialisation in a boot, only to our keys.
            let plan = BootPlan::new(&f);
            assert_eq!(plan.decision, d);
            assert_eq!(plan.boot.is_some(), !bit(3));
            let foreign = bit(6) && !bit(7);
            assert_eq!(plan.disk.is_some(), !bit(3) && !foreign);
            assert_eq!(plan.net.is_some(), !bit(3) && !bit(10));
            if let Some(w) = plan.disk {
                assert_eq!(w.armed_boot, 6);
                assert_eq!(w.unplugged_boot.is_some(), disks);
            }
        }
    }

    #[test]
    fn a_foreign_leftover_xenvbd_key_never_unplugs_the_disk() {
        // GPLPV's or XCP-ng's xenvbd left behind: the name exists, image present, even
        // "started" values of its own; the old rule (key exists + PvDiskSeen) unplugged here.
        let mut f = ready();
        f.disk.service = ServiceState::Foreign;
        for boot in 0..3 {
            let plan = BootPlan::new(&f);
            assert_eq!(
                plan.decision.disks,
                Verdict::Keep(KeepReason::Evidence(PvClass::Disk, EvidenceGap::Foreign))
            );
            assert!(
                plan.disk.is_none(),
                "nothing written into another vendor's key"
            );
            f.boot_count = plan.boot;
            assert_eq!(plan.boot, Some(6 + boot));
        }
    }

    #[test]
    fn a_reload_in_a_running_system_never_unplugs() {
        let mut f = ready();
        f.boot.first_in_boot = false;
        let plan = BootPlan::new(&f);
        assert_eq!(plan.decision.mask(), UnplugMask::NONE);
        assert_eq!(
            plan.decision.disks,
            Verdict::Keep(KeepReason::NotFirstInBoot)
        );
        assert!(plan.decision.pv_active(), "the platform still comes up");
        assert_eq!((plan.boot, plan.disk, plan.net), (None, None, None));
        assert_eq!(plan.report(UnplugMask::NONE), None);
        // First load on a running system (fresh install): the record is armed (the drivers
        // probe in this boot), nothing unplugged.
        let mut f = ready();
        f.boot.disks_started = true;
        f.boot.nics_started = true;
        let plan = BootPlan::new(&f);
        assert_eq!(plan.decision.mask(), UnplugMask::NONE);
        assert_eq!(plan.boot, Some(6));
        assert!(plan.disk.is_some_and(|w| w.unplugged_boot.is_none()));
    }

    #[test]
    fn nothing_unplugged_without_a_persisted_record() {
        let plan = BootPlan::new(&ready());
        assert_eq!(
            plan.decision.mask(),
            UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS)
        );
        let d = plan.after_writes(|class| class == PvClass::Net);
        assert_eq!(d.disks, Verdict::Keep(KeepReason::NotPersisted));
        assert_eq!(d.nics, Verdict::Unplug);
        assert_eq!(plan.after_writes(|_| true), plan.decision);
        assert_eq!(
            plan.report(UnplugMask::ALL_NICS),
            Some(BootReport {
                boot: 6,
                unplugged: UnplugMask::ALL_NICS
            })
        );
    }

    #[test]
    fn gplpv_switch_changes_nothing() {
        let mut f = ready();
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
        let mut f = ready();
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
        let mut f = ready();
        f.options.no_pv = true;
        let outcome = unplug_decided(&io, UnplugDecision::decide(&f), 1);
        assert_eq!(outcome.unplugged(), UnplugMask::NONE);
        assert!(io.writes().is_empty());
        let line = outcome.to_string();
        assert!(line.contains("NOGPLPV"), "{line}");
        assert!(line.contains("unplugged nothing"), "{line}");
    }

    #[test]
    fn first_boot_after_install_keeps_both_and_says_why() {
        let io = platform_ports(1);
        let mut f = ready();
        f.disk.record = EvidenceRecord::default();
        f.net.record = EvidenceRecord::default();
        let outcome = unplug_decided(&io, BootPlan::new(&f).after_writes(|_| true), 1);
        assert_eq!(outcome.unplugged(), UnplugMask::NONE);
        assert!(io.writes().is_empty());
        assert!(outcome.to_string().contains("deferred to next boot"));
        assert!(outcome.to_string().contains("xenvbd"));
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
