//! `unplug`: the Xen platform device's unplug protocol (I/O ports 0x10-0x13) through
//! `xen-platform`'s decision and protocol (the Windows bus driver's code), and proof that the
//! emulated IDE disks and NIC went away.
//!
//! Facts: `platform-device`, `unplug-magic`, `unplug-version`, `ide-before`/`ide-after` (an ATA
//! drive answers on the emulated IDE controller's channels), `nic-before`/`nic-after` (a PCI
//! Ethernet function exists). qemu-xen keeps the IDE controller's PCI function after the unplug
//! but detaches its drives (their status registers then read 0); the NIC's PCI function is
//! removed.

use alloc::format;

use xen_hal::PortIo;
use xen_platform::evidence::{
    EvidenceRecord, ImageStamp, PathStamp, PvDriverFacts, ServiceState, StartType,
};
use xen_platform::unplug::{probe as probe_protocol, BootInit, UNPLUG_MAGIC};
use xen_platform::{
    unplug_decided, BootPlan, ProtocolError, StartOptions, UnplugFacts, UnplugMask,
};

use super::{Guest, Outcome};
use crate::fact;
use crate::pci::{Bar, Pci, XEN_PLATFORM_DEVICE, XEN_PLATFORM_VENDOR};

/// Build number reported with the product number.
const BUILD_NUMBER: u32 = 1;

/// PCI class/subclass of an IDE controller.
const CLASS_IDE: u16 = 0x0101;
/// PCI class/subclass of an Ethernet controller.
const CLASS_ETHERNET: u16 = 0x0200;
/// Legacy command-block ports of the two IDE channels.
const IDE_CHANNELS: [u16; 2] = [0x1f0, 0x170];

fn present(yes: bool) -> &'static str {
    if yes {
        "present"
    } else {
        "absent"
    }
}

/// ATA status bits.
const STATUS_BUSY: u8 = 0x80;
const STATUS_DRQ: u8 = 0x08;
const STATUS_ERROR: u8 = 0x01;
/// ATA IDENTIFY DEVICE (ATAPI devices abort it).
const ATA_IDENTIFY: u8 = 0xec;
/// Status polls while a drive works on IDENTIFY.
const IDENTIFY_POLLS: u32 = 100_000;

/// Whether an ATA disk (not an ATAPI CD-ROM, which the unplug leaves alone) answers at
/// channel `base`, drive `select` (0xA0 master, 0xB0 slave): it must accept IDENTIFY DEVICE.
fn ata_disk_at(io: &impl PortIo, base: u16, select: u8) -> bool {
    io.write_u8(base + 6, select);
    // Four status reads give the drive its 400 ns to switch.
    let mut status = 0;
    for _ in 0..4 {
        status = io.read_u8(base + 7);
    }
    if status == 0 || status == 0xff {
        return false;
    }
    io.write_u8(base + 7, ATA_IDENTIFY);
    for _ in 0..IDENTIFY_POLLS {
        status = io.read_u8(base + 7);
        if status & STATUS_BUSY == 0 {
            break;
        }
    }
    if status & (STATUS_BUSY | STATUS_ERROR) != 0 || status & STATUS_DRQ == 0 {
        return false;
    }
    // Drain the 256 identify words so the drive is idle again.
    for _ in 0..256 {
        io.read_u16(base);
    }
    true
}

/// Whether an ATA disk answers on the emulated IDE controller (if there is one).
fn ide_drive_present(io: &impl PortIo) -> bool {
    let pci = Pci::new(io);
    let mut controller = false;
    pci.scan(|f| controller |= f.class_subclass() == CLASS_IDE);
    controller
        && IDE_CHANNELS.iter().any(|&base| {
            [0xa0u8, 0xb0]
                .iter()
                .any(|&select| ata_disk_at(io, base, select))
        })
}

/// Whether a PCI Ethernet function exists.
fn nic_present(io: &impl PortIo) -> bool {
    let mut nic = false;
    Pci::new(io).scan(|f| nic |= f.class_subclass() == CLASS_ETHERNET);
    nic
}

/// Runs the unplug protocol and checks its effect.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let io = &guest.io;
    let pci = Pci::new(io);
    let platform = pci
        .find(XEN_PLATFORM_VENDOR, XEN_PLATFORM_DEVICE)
        .ok_or("no Xen platform PCI device (5853:0001)")?;
    fact!(
        "platform-device",
        "00:{:02x}.{}",
        platform.at.device,
        platform.at.function
    );
    fact!("platform-irq", "{}", pci.interrupt_line(platform.at));
    for index in 0..2 {
        match pci.bar(platform.at, index) {
            Bar::Io { port, size } => {
                crate::say!("platform BAR{index}: I/O {port:#x} ({size} ports)")
            }
            Bar::Memory { address, size, .. } => {
                crate::say!(
                    "platform BAR{index}: memory {address:#x} ({} KiB)",
                    size >> 10
                )
            }
            Bar::Absent => crate::say!("platform BAR{index}: absent"),
        }
    }
    // A read-only look first, for the facts (the protocol below probes again).
    match probe_protocol(io) {
        Ok(version) => {
            fact!("unplug-magic", "{UNPLUG_MAGIC:#06x}");
            fact!("unplug-version", "{version}");
        }
        Err(e) => {
            if let ProtocolError::NoMagic { read } = e {
                fact!("unplug-magic", "{read:#06x}");
            }
            return Err(format!("{e}"));
        }
    }
    let ide_before = ide_drive_present(io);
    let nic_before = nic_present(io);
    fact!("ide-before", "{}", present(ide_before));
    fact!("nic-before", "{}", present(nic_before));
    // The bus driver's boot-time step, through the same functions, for a boot whose evidence
    // proves both PV paths: our xenvbd (boot start) and xennet, both images present and
    // unchanged, and the last boot armed and recorded as started for exactly these images.
    let bus = ImageStamp {
        size: 0x1_0000,
        written: 1,
    };
    let proven = |driver: ImageStamp, start: StartType| PvDriverFacts {
        service: ServiceState::Ours(start),
        image: Some(driver),
        record: EvidenceRecord {
            armed_boot: Some(7),
            armed_path: Some(PathStamp::of(bus, driver)),
            unplugged_boot: Some(7),
            failed_path: None,
            started_boot: Some(7),
        },
    };
    let facts = UnplugFacts {
        options: StartOptions::default(),
        platform_ready: true,
        boot: BootInit::AT_BOOT,
        boot_count: Some(7),
        bus_image: Some(bus),
        disk: proven(
            ImageStamp {
                size: 0x2_0000,
                written: 2,
            },
            StartType::Boot,
        ),
        net: proven(
            ImageStamp {
                size: 0x3_0000,
                written: 3,
            },
            StartType::Demand,
        ),
    };
    let plan = BootPlan::new(&facts);
    // The evidence writes persisted (on Windows: flushed before the unplug).
    let decision = plan.after_writes(|_| true);
    let outcome = unplug_decided(io, decision, BUILD_NUMBER);
    crate::say!("unplug: {outcome}");
    let wanted = UnplugMask::ALL_IDE_DISKS.union(UnplugMask::ALL_NICS);
    let report = outcome
        .result
        .map_err(|e| format!("unplug protocol: {e}"))?;
    fact!("unplug-registered", "{}", report.registered);
    if report.unplugged != wanted {
        return Err(format!(
            "the decision unplugged {}, expected {wanted}",
            report.unplugged
        ));
    }
    let ide_after = ide_drive_present(io);
    let nic_after = nic_present(io);
    fact!("ide-after", "{}", present(ide_after));
    fact!("nic-after", "{}", present(nic_after));
    if !ide_before || !nic_before {
        return Err(format!(
            "nothing to unplug: IDE drive {}, NIC {} before the unplug (give the guest an hda disk and an emulated NIC)",
            present(ide_before),
            present(nic_before)
        ));
    }
    if ide_after || nic_after {
        return Err(format!(
            "still there after the unplug: IDE drive {}, NIC {}",
            present(ide_after),
            present(nic_after)
        ));
    }
    Ok(())
}

/// Reports the PCI functions and IDE/NIC presence without unplugging (for checking the probes
/// on plain QEMU, which has no platform device).
pub fn probe(guest: &Guest<'_>) -> Outcome {
    let io = &guest.io;
    Pci::new(io).scan(|f| {
        crate::say!(
            "pci 00:{:02x}.{} {:04x}:{:04x} class {:06x}",
            f.at.device,
            f.at.function,
            f.vendor,
            f.device,
            f.class
        );
    });
    for base in IDE_CHANNELS {
        for select in [0xa0u8, 0xb0] {
            io.write_u8(base + 6, select);
            let status = io.read_u8(base + 7);
            crate::say!(
                "ide {base:#x}/{select:#x}: status {status:#04x} cylinder {:#04x} {:#04x}",
                io.read_u8(base + 4),
                io.read_u8(base + 5)
            );
        }
    }
    fact!("ide", "{}", present(ide_drive_present(io)));
    fact!("nic", "{}", present(nic_present(io)));
    Ok(())
}
