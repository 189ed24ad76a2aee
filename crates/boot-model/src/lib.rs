//! A model of a Windows-on-Xen machine across boots, for host tests only: the registry facts
//! the drivers read (services, start types, product markers, evidence records, class filters),
//! which images exist and are signed, emulated and PV devices, what is unplugged and hidden,
//! and what each boot leaves behind. The unplug, hide and sleep decisions are the real
//! functions of `xen-platform` and `xen-bus`; only Windows, QEMU and the drivers' runtime
//! behaviour are modelled.
//!
//! What a boot checks ([`Machine::boot`]): every class filter loads (a listed filter whose
//! image is missing, unsigned or disabled fails the PCI bus: 0x7B), the boot disk has exactly
//! one live path (none: 0x7B; two: two drivers on one disk), and the NIC's MAC has exactly one
//! live adapter.
//!
//! Assumptions (where Windows' behaviour is not modelled): a failed `IRP_MN_QUERY_POWER` for S4
//! stops a hibernate, and fast startup with hibernation refused becomes a full shutdown; other
//! vendors' drivers are inert under our service names (their images do not serve our children
//! and they unplug nothing); the unplug protocol always works; xenhide's DriverEntry does not
//! fail once loaded.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use xen_bus::hide::{should_hide, HideLatch, UnplugClasses};
use xen_platform::evidence::{
    started_record, EvidenceRecord, ImageStamp, PvClass, PvDriverFacts, PvRole, ServiceState,
    StartType,
};
use xen_platform::power::{query_sleep, SleepAnswer, SystemSleep};
use xen_platform::{
    BootInit, BootPlan, BootReport, SafeBoot, StartOptions, UnplugDecision, UnplugFacts, UnplugMask,
};

/// Hardware IDs of QEMU's PIIX3 IDE controller and RTL8139 NIC as Windows builds them.
pub const IDE_IDS: [&str; 2] = [
    "PCI\\VEN_8086&DEV_7010&SUBSYS_00015853&REV_00",
    "PCI\\VEN_8086&DEV_7010",
];
/// See [`IDE_IDS`].
pub const NIC_IDS: [&str; 2] = [
    "PCI\\VEN_10EC&DEV_8139&SUBSYS_11001AF4&REV_20",
    "PCI\\VEN_10EC&DEV_8139",
];

/// A package of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Package {
    /// xenpci.sys, the bus driver.
    Xenpci,
    /// xenvbd.sys.
    Xenvbd,
    /// xennet.sys.
    Xennet,
    /// xenhide.sys, the System class upper filter.
    Xenhide,
}

impl Package {
    /// Every package.
    pub const ALL: [Package; 4] = [
        Package::Xenpci,
        Package::Xenvbd,
        Package::Xennet,
        Package::Xenhide,
    ];

    /// The service name.
    pub fn service(self) -> &'static str {
        match self {
            Package::Xenpci => "xenpci",
            Package::Xenvbd => "xenvbd",
            Package::Xennet => "xennet",
            Package::Xenhide => "xenhide",
        }
    }

    /// The start type its INF sets.
    pub fn start(self) -> StartType {
        match self {
            Package::Xennet => StartType::Demand,
            _ => StartType::Boot,
        }
    }
}

/// Service names other vendors use (GPLPV: xenpci, xenvbd, xennet; Citrix/XCP-ng: xenbus,
/// xenfilt, xenvbd, xennet).
pub const FOREIGN_NAMES: [&str; 5] = ["xenpci", "xenvbd", "xennet", "xenbus", "xenfilt"];

/// Who built an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// The suite.
    Ours,
    /// GPLPV, Citrix/XCP-ng.
    Foreign,
}

/// An image file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Image {
    /// Identity of the file (a new file, a new id).
    pub id: u64,
    /// Who built it.
    pub vendor: Vendor,
    /// Signed so that the boot loader accepts it.
    pub signed: bool,
    /// Loads but fails to start (a bad build).
    pub broken: bool,
}

impl Image {
    fn stamp(&self) -> ImageStamp {
        ImageStamp {
            size: self.id,
            written: self.id.wrapping_mul(31),
        }
    }

    fn loads(&self) -> bool {
        self.signed
    }

    fn works(&self) -> bool {
        self.signed && !self.broken && self.vendor == Vendor::Ours
    }
}

/// A service key and its image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// `Start`.
    pub start: StartType,
    /// The start type to restore on enable.
    pub enabled_start: StartType,
    /// The file `ImagePath` names.
    pub image: Option<Image>,
    /// `Parameters\Product` is our marker.
    pub product_marker: bool,
    /// The evidence record in `Parameters`.
    pub record: EvidenceRecord,
}

/// The decision rules under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rules {
    /// The real functions of xen-platform and xen-bus.
    Current,
    /// The rules before issue 18, restated here only as the counterexample: unplug disks when a
    /// `Services\xenvbd` key exists and a vbd child was ever reported (`PvDiskSeen`, never
    /// cleared), NICs when `Services\xennet` exists; hide what the decision unplugs.
    Legacy,
}

/// How the next boot is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMode {
    /// Normal.
    Normal,
    /// `NOGPLPV` in the boot options.
    NoGplpv,
    /// Safe mode.
    SafeMode,
}

/// The state of a running system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Running {
    /// xenpci's volatile report.
    pub report: Option<BootReport>,
    /// The PV platform is up.
    pub pv_up: bool,
    /// Live paths to the boot disk.
    pub disk_paths: u32,
    /// Live adapters with the NIC's MAC.
    pub mac_adapters: u32,
}

/// Why a step broke the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A listed class filter could not load: the PCI bus fails (0x7B).
    FilterCannotLoad(&'static str),
    /// The boot disk has no live path (0x7B).
    NoBootDisk,
    /// The boot disk has two live paths.
    TwoDiskPaths,
    /// The MAC has `n` live adapters (should be one).
    MacAdapters(u32),
    /// The system resumed from S4 with the PV platform up (not re-initialised).
    ResumedWithPv,
}

/// An action of an admin, Windows or Windows Update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The installer installs or updates a package (an image that is not signed is refused).
    Install {
        /// Which.
        package: Package,
        /// Whether the build is signed.
        signed: bool,
        /// Whether the build fails to start.
        broken: bool,
    },
    /// The installer removes a package.
    Remove(Package),
    /// Device Manager / `sc config`: disable (the documented way for xenhide: out of the
    /// filter list first).
    Disable(Package),
    /// Enable again.
    Enable(Package),
    /// A file copied over a package's image (unsigned or broken builds included; for the
    /// filter, signed builds only).
    ReplaceImage {
        /// Which.
        package: Package,
        /// Whether the copy is signed.
        signed: bool,
        /// Whether it fails to start.
        broken: bool,
    },
    /// Another vendor's driver arrives (Windows Update) under a name, replacing whatever
    /// image had that service name.
    ForeignArrives(usize),
    /// A key another vendor's uninstall left behind.
    ForeignLeftover {
        /// Index into [`FOREIGN_NAMES`].
        name: usize,
        /// Its image is still there.
        image: bool,
        /// Its start value.
        start: u32,
    },
    /// Reboot.
    Reboot(BootMode),
    /// Hibernate (and resume, in a new domain).
    Hibernate,
    /// Shut down with fast startup and boot again.
    FastStartup,
}

/// The machine.
#[derive(Clone, Debug)]
pub struct Machine {
    /// The rules under test.
    pub rules: Rules,
    /// Service keys by name.
    pub services: BTreeMap<&'static str, Service>,
    /// System class `UpperFilters`.
    pub upper_filters: Vec<&'static str>,
    /// `xenpci\Parameters\BootCount`.
    pub boot_count: Option<u32>,
    /// Legacy rules only: `xenpci\Parameters\PvDiskSeen`.
    pub legacy_pv_disk_seen: bool,
    /// The running system (`None` after a failed boot).
    pub running: Option<Running>,
    next_id: u64,
}

impl Machine {
    /// A fresh Windows on Xen, booted on its emulated devices.
    pub fn new(rules: Rules) -> Machine {
        let mut m = Machine {
            rules,
            services: BTreeMap::new(),
            upper_filters: Vec::new(),
            boot_count: None,
            legacy_pv_disk_seen: false,
            running: None,
            next_id: 1,
        };
        m.boot(BootMode::Normal)
            .expect("a fresh machine boots on emulated devices");
        m
    }

    fn image(&mut self, vendor: Vendor, signed: bool, broken: bool) -> Image {
        self.next_id += 1;
        Image {
            id: self.next_id,
            vendor,
            signed,
            broken,
        }
    }

    /// Applies one action; `Err` if it broke the machine.
    pub fn step(&mut self, action: &Action) -> Result<(), Failure> {
        match *action {
            Action::Install {
                package,
                signed,
                broken,
            } => {
                // The installer rule: no boot-start service and no filter entry for an image
                // that is not present and signed.
                if !signed {
                    return Ok(());
                }
                let image = self.image(Vendor::Ours, signed, broken);
                let name = package.service();
                let service = self.services.entry(name).or_insert(Service {
                    start: package.start(),
                    enabled_start: package.start(),
                    image: None,
                    product_marker: true,
                    record: EvidenceRecord::default(),
                });
                service.image = Some(image);
                service.start = package.start();
                service.enabled_start = package.start();
                service.product_marker = true;
                if package == Package::Xenhide && !self.upper_filters.contains(&name) {
                    self.upper_filters.push(name);
                }
                if package == Package::Xenpci {
                    self.running_system_load_of_xenpci();
                }
                Ok(())
            }
            Action::Remove(package) => {
                let name = package.service();
                self.upper_filters.retain(|f| *f != name);
                self.services.remove(name);
                if package == Package::Xenpci {
                    self.legacy_pv_disk_seen = false;
                }
                Ok(())
            }
            Action::Disable(package) => {
                let name = package.service();
                self.upper_filters.retain(|f| *f != name);
                if let Some(s) = self.services.get_mut(name) {
                    s.start = StartType::Disabled;
                }
                Ok(())
            }
            Action::Enable(package) => {
                let name = package.service();
                let mut refilter = false;
                if let Some(s) = self.services.get_mut(name) {
                    s.start = s.enabled_start;
                    refilter = s.image.is_some_and(|i| i.signed);
                }
                if package == Package::Xenhide && refilter && !self.upper_filters.contains(&name) {
                    self.upper_filters.push(name);
                }
                if package == Package::Xenpci {
                    self.running_system_load_of_xenpci();
                }
                Ok(())
            }
            Action::ReplaceImage {
                package,
                signed,
                broken,
            } => {
                // The boot-start rule cannot stop a hand-copied unsigned image of a listed
                // filter: by Windows' rules that boot fails whatever the drivers do, so the
                // model copies only signed filter images (see the rule in xen-platform's
                // unplug module).
                let signed = signed || package == Package::Xenhide;
                let image = self.image(Vendor::Ours, signed, broken);
                if let Some(s) = self.services.get_mut(package.service()) {
                    s.image = Some(image);
                }
                Ok(())
            }
            Action::ForeignArrives(i) => {
                let name = FOREIGN_NAMES[i % FOREIGN_NAMES.len()];
                let image = self.image(Vendor::Foreign, true, false);
                let service = self.services.entry(name).or_insert(Service {
                    start: StartType::Boot,
                    enabled_start: StartType::Boot,
                    image: None,
                    product_marker: false,
                    record: EvidenceRecord::default(),
                });
                // Their INF rewrites Start and ImagePath; our Parameters stay.
                service.image = Some(image);
                service.start = StartType::Boot;
                Ok(())
            }
            Action::ForeignLeftover { name, image, start } => {
                let name = FOREIGN_NAMES[name % FOREIGN_NAMES.len()];
                if self.services.contains_key(name) {
                    return Ok(());
                }
                let image = image.then(|| self.image(Vendor::Foreign, true, false));
                let start = StartType::from_registry(Some(start % 5));
                self.services.insert(
                    name,
                    Service {
                        start,
                        enabled_start: start,
                        image,
                        product_marker: false,
                        record: EvidenceRecord::default(),
                    },
                );
                Ok(())
            }
            Action::Reboot(mode) => self.boot(mode),
            Action::Hibernate => self.hibernate(false),
            Action::FastStartup => self.hibernate(true),
        }
    }

    /// S4: refused while PV is up (the real [`query_sleep`]); otherwise the system resumes in
    /// a new domain, where QEMU plugged every emulated device back in.
    fn hibernate(&mut self, fast_startup: bool) -> Result<(), Failure> {
        let Some(running) = self.running else {
            return Ok(());
        };
        match query_sleep(SystemSleep::Hibernate, running.pv_up) {
            SleepAnswer::Refuse(_) if fast_startup => self.boot(BootMode::Normal),
            SleepAnswer::Refuse(_) => Ok(()),
            SleepAnswer::Allow if running.pv_up => Err(Failure::ResumedWithPv),
            // PV was off: only emulated devices were in use, and they are all back.
            SleepAnswer::Allow => Ok(()),
        }
    }

    fn service_facts(&self, class: PvClass) -> PvDriverFacts {
        match self.services.get(class.service()) {
            None => PvDriverFacts::ABSENT,
            Some(s) => PvDriverFacts {
                service: if s.product_marker {
                    ServiceState::Ours(s.start)
                } else {
                    ServiceState::Foreign
                },
                image: s.image.map(|i| i.stamp()),
                record: s.record,
            },
        }
    }

    /// xenpci's image if it is ours, enabled and loads.
    fn xenpci_image(&self) -> Option<Image> {
        let s = self.services.get("xenpci")?;
        let image = s.image?;
        (s.product_marker
            && image.vendor == Vendor::Ours
            && image.loads()
            && s.start == StartType::Boot)
            .then_some(image)
    }

    /// xenpci's step with `boot` facts; returns the plan and applies its writes.
    fn xenpci_step(&mut self, options: StartOptions, boot: BootInit) -> Option<(BootPlan, Image)> {
        let bus = self.xenpci_image()?;
        let facts = UnplugFacts {
            options,
            platform_ready: true,
            boot,
            boot_count: self.boot_count,
            bus_image: Some(bus.stamp()),
            disk: self.service_facts(PvClass::Disk),
            net: self.service_facts(PvClass::Net),
        };
        let plan = BootPlan::new(&facts);
        if let Some(n) = plan.boot {
            self.boot_count = Some(n);
        }
        for class in PvClass::ALL {
            if let (Some(write), Some(s)) =
                (plan.write(class), self.services.get_mut(class.service()))
            {
                s.record = write.applied(&s.record);
            }
        }
        Some((plan, bus))
    }

    /// xenpci loaded on the running system (install or enable): never the boot-time step.
    fn running_system_load_of_xenpci(&mut self) {
        let Some(running) = self.running else {
            return;
        };
        if self.rules == Rules::Legacy {
            return;
        }
        let boot = BootInit {
            first_in_boot: running.report.is_none(),
            disks_started: true,
            nics_started: true,
        };
        if let Some((plan, bus)) = self.xenpci_step(StartOptions::default(), boot) {
            let decision = plan.after_writes(|_| true);
            assert_eq!(
                decision.mask(),
                UnplugMask::NONE,
                "unplug on a running system"
            );
            let report = running.report.or(plan.report(UnplugMask::NONE));
            self.running = Some(Running {
                report,
                pv_up: decision.pv_active(),
                ..running
            });
            self.pv_drivers(report.as_ref(), bus);
        }
    }

    /// The PV drivers in this boot: serve or probe per the real [`PvRole`], record success
    /// with the real [`started_record`]. Returns whether each class serves.
    fn pv_drivers(&mut self, report: Option<&BootReport>, bus: Image) -> (bool, bool) {
        let mut serving = [false; 2];
        for (i, class) in PvClass::ALL.into_iter().enumerate() {
            let Some(s) = self.services.get_mut(class.service()) else {
                continue;
            };
            let start_ok = match s.start {
                StartType::Boot => true,
                StartType::Disabled | StartType::Other(_) => false,
                _ => !class.needs_boot_start(),
            };
            let works =
                start_ok && s.image.is_some_and(|i| i.works()) && bus.works() && s.product_marker;
            if !works {
                continue;
            }
            let role = PvRole::for_class(report, class);
            serving[i] = role == PvRole::Serve;
            if let Some(boot) = started_record(report) {
                s.record.started_boot = Some(boot);
            }
        }
        (serving[0], serving[1])
    }

    /// Boots the machine.
    pub fn boot(&mut self, mode: BootMode) -> Result<(), Failure> {
        self.running = None;
        // Class filters: each must load.
        for filter in &self.upper_filters {
            let loads = self.services.get(filter).is_some_and(|s| {
                s.start != StartType::Disabled && s.image.is_some_and(|i| i.loads())
            });
            if !loads {
                return Err(Failure::FilterCannotLoad(filter));
            }
        }
        let options = StartOptions {
            no_pv: mode == BootMode::NoGplpv,
            pv: false,
            safe_boot: (mode == BootMode::SafeMode).then_some(SafeBoot::Minimal),
        };
        // xenpci's DriverEntry, before the PCI bus enumerates.
        let (decision, report, bus) = match self.rules {
            Rules::Current => match self.xenpci_step(options, BootInit::AT_BOOT) {
                Some((plan, bus)) => {
                    let decision = plan.after_writes(|_| true);
                    (Some(decision), plan.report(decision.mask()), Some(bus))
                }
                None => (None, None, None),
            },
            Rules::Legacy => match self.xenpci_image() {
                Some(bus) => {
                    let decision = self.legacy_decision(options);
                    let report = BootReport {
                        boot: 0,
                        unplugged: decision.mask(),
                    };
                    (Some(decision), Some(report), Some(bus))
                }
                None => (None, None, None),
            },
        };
        let unplugged = report.map_or(UnplugMask::NONE, |r| r.unplugged);
        // xenhide above the PCI bus: the real latch and hide decision.
        let hidden = if self.upper_filters.contains(&"xenhide") {
            let mut latch = HideLatch::new();
            latch.classes(report.as_ref())
        } else {
            UnplugClasses::default()
        };
        let ide_hidden = should_hide(IDE_IDS, hidden).is_some();
        let nic_hidden = should_hide(NIC_IDS, hidden).is_some();
        let emulated_disk = !unplugged.contains(UnplugMask::ALL_IDE_DISKS) && !ide_hidden;
        let emulated_nic = !unplugged.contains(UnplugMask::ALL_NICS) && !nic_hidden;
        // The platform comes up at xenpci's START; the children's drivers serve or probe.
        let pv_up = decision.is_some_and(|d| d.pv_active());
        let (pv_disk, pv_nic) = match (bus, pv_up) {
            (Some(bus), true) => {
                if self.rules == Rules::Legacy && self.services.contains_key("xenvbd") {
                    // A vbd child reported while a xenvbd key exists.
                    self.legacy_pv_disk_seen = true;
                }
                self.pv_drivers(report.as_ref(), bus)
            }
            _ => (false, false),
        };
        let disk_paths = u32::from(emulated_disk) + u32::from(pv_disk);
        let mac_adapters = u32::from(emulated_nic) + u32::from(pv_nic);
        match disk_paths {
            0 => return Err(Failure::NoBootDisk),
            1 => {}
            _ => return Err(Failure::TwoDiskPaths),
        }
        if mac_adapters != 1 {
            return Err(Failure::MacAdapters(mac_adapters));
        }
        self.running = Some(Running {
            report,
            pv_up,
            disk_paths,
            mac_adapters,
        });
        Ok(())
    }

    fn legacy_decision(&self, options: StartOptions) -> UnplugDecision {
        use xen_platform::evidence::EvidenceGap;
        use xen_platform::{KeepReason, Verdict};
        let off = if options.no_pv {
            Some(KeepReason::NoPvOption)
        } else {
            options.safe_boot.map(KeepReason::SafeMode)
        };
        let keep = |class| Verdict::Keep(KeepReason::Evidence(class, EvidenceGap::NotProven));
        let disks = match off {
            Some(r) => Verdict::Keep(r),
            None if self.services.contains_key("xenvbd") && self.legacy_pv_disk_seen => {
                Verdict::Unplug
            }
            None => keep(PvClass::Disk),
        };
        let nics = match off {
            Some(r) => Verdict::Keep(r),
            None if self.services.contains_key("xennet") => Verdict::Unplug,
            None => keep(PvClass::Net),
        };
        UnplugDecision { disks, nics }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(package: Package) -> Action {
        Action::Install {
            package,
            signed: true,
            broken: false,
        }
    }

    #[test]
    fn a_leftover_foreign_xenvbd_key_lost_the_disk_under_the_old_rules() {
        let script = [
            Action::ForeignLeftover {
                name: 1,
                image: false,
                start: 0,
            },
            install(Package::Xenpci),
            Action::Reboot(BootMode::Normal),
            Action::Reboot(BootMode::Normal),
        ];
        let mut legacy = Machine::new(Rules::Legacy);
        let results: Vec<_> = script.iter().map(|a| legacy.step(a)).collect();
        assert_eq!(results[2], Ok(()), "first boot: PvDiskSeen recorded");
        assert_eq!(
            results[3],
            Err(Failure::NoBootDisk),
            "second boot: disk unplugged"
        );
        let mut current = Machine::new(Rules::Current);
        for a in &script {
            assert_eq!(current.step(a), Ok(()), "{a:?}");
        }
    }

    #[test]
    fn the_suite_takes_over_in_two_boots_and_falls_back_when_a_build_fails() {
        let mut m = Machine::new(Rules::Current);
        for p in Package::ALL {
            m.step(&install(p)).unwrap();
        }
        // xenpci armed on the running system before xenvbd and xennet existed: the first boot
        // probes them, the second unplugs.
        m.step(&Action::Reboot(BootMode::Normal)).unwrap();
        let r = m.running.unwrap();
        assert_eq!(r.report.map(|r| r.unplugged), Some(UnplugMask::NONE));
        m.step(&Action::Reboot(BootMode::Normal)).unwrap();
        let r = m.running.unwrap();
        assert_eq!(
            r.report.map(|r| r.unplugged),
            Some(UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS))
        );
        // A broken update: probed first (emulated live), never unplugged.
        m.step(&Action::Install {
            package: Package::Xenvbd,
            signed: true,
            broken: true,
        })
        .unwrap();
        for _ in 0..3 {
            m.step(&Action::Reboot(BootMode::Normal)).unwrap();
            let r = m.running.unwrap();
            assert_eq!(r.report.map(|r| r.unplugged), Some(UnplugMask::ALL_NICS));
        }
        // Hibernate is refused while PV is up.
        m.step(&Action::Hibernate).unwrap();
    }
}
