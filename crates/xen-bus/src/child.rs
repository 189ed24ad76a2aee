//! Children of the bus from the xenstore device list, with the IDs and text xenpci reports.
//!
//! IDs follow `xen-pv-ids`: hardware ID and device ID `XEN\<TYPE>` (one INF line binds every
//! instance of a class), instance ID the decimal xenstore device id. The instance ID depends on
//! nothing but the xenstore id, so it is the same on every boot: Windows finds the same device
//! node again and keeps its settings (NIC configuration, drive letters).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::{self, Write as _};

use xen_pv_ids::ChildClass;
use xenbus::{DeviceRef, Enumeration};

use crate::wide::{self, OutOfMemory};

/// Why a child could not be described or listed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildError {
    /// Allocation failed.
    OutOfMemory,
    /// xenstore or xenbus failed (the scan is retried on the next watch event).
    Xenbus(xenbus::XenbusError),
    /// Our own domain id is not known (its `domid` node could not be read): without it a
    /// backend path naming another frontend domain cannot be refused, so no backend is
    /// accepted and no child is offered (the scan is retried on the next watch event).
    OwnDomainUnknown,
}

impl From<OutOfMemory> for ChildError {
    fn from(_: OutOfMemory) -> Self {
        ChildError::OutOfMemory
    }
}

impl From<xenbus::XenbusError> for ChildError {
    fn from(e: xenbus::XenbusError) -> Self {
        ChildError::Xenbus(e)
    }
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChildError::OutOfMemory => f.write_str("out of memory"),
            ChildError::Xenbus(e) => write!(f, "xenstore: {e:?}"),
            ChildError::OwnDomainUnknown => f.write_str("own domain id unknown"),
        }
    }
}

fn string_of(args: fmt::Arguments<'_>, capacity: usize) -> Result<String, ChildError> {
    let mut s = String::new();
    s.try_reserve(capacity)
        .map_err(|_| ChildError::OutOfMemory)?;
    s.write_fmt(args).map_err(|_| ChildError::OutOfMemory)?;
    Ok(s)
}

/// A child device of the bus: one xenstore `device/<type>/<id>` of a class the suite handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    /// The class (decides the driver, IDs and capabilities).
    pub class: ChildClass,
    /// The xenstore device (`device/<type>/<id>`).
    pub device: DeviceRef,
    /// Whether it appeared after the bus's first scan (hot-plugged, e.g. `xl block-attach`).
    pub hot_plugged: bool,
}

impl Child {
    /// The child for a listed device, or `None` for a device type the suite does not handle
    /// (`9pfs`, `vusb`, ...), which gets no PDO.
    pub fn new(device: &DeviceRef, hot_plugged: bool) -> Option<Child> {
        let class = ChildClass::from_xenstore_type(&device.kind)?;
        Some(Child {
            class,
            device: device.clone(),
            hot_plugged,
        })
    }

    /// `BusQueryDeviceID`: `XEN\<TYPE>`.
    pub fn device_id(&self) -> &'static str {
        self.class.hardware_id()
    }

    /// `BusQueryHardwareIDs`: the strings of the MULTI_SZ (`XEN\<TYPE>`, what the INFs match).
    pub fn hardware_ids(&self) -> [&'static str; 1] {
        [self.class.hardware_id()]
    }

    /// `BusQueryCompatibleIDs`: none. Each class has exactly one driver, matched by hardware ID;
    /// a generic compatible ID would only let unrelated INFs bind.
    pub fn compatible_ids(&self) -> [&'static str; 0] {
        []
    }

    /// `BusQueryInstanceID`: the decimal xenstore device id (unique among the children of one
    /// class, stable across reboots; the device ID already names the class).
    pub fn instance_id(&self) -> Result<String, ChildError> {
        string_of(format_args!("{}", self.device.id), 10)
    }

    /// `DeviceTextDescription`: what Device Manager shows.
    pub fn description(&self) -> Result<String, ChildError> {
        let id = self.device.id;
        match self.class {
            ChildClass::Vbd => match vbd_name(id) {
                Some(name) => string_of(format_args!("Xen PV disk {name} (vbd {id})"), 40),
                None => string_of(format_args!("Xen PV disk (vbd {id})"), 40),
            },
            ChildClass::Vif => string_of(format_args!("Xen PV network adapter #{id}"), 40),
            ChildClass::Vfb => string_of(format_args!("Xen PV frame buffer #{id}"), 40),
            ChildClass::Vkbd => string_of(format_args!("Xen PV keyboard and pointer #{id}"), 40),
            ChildClass::Console => string_of(format_args!("Xen PV console #{id}"), 40),
        }
    }

    /// `DeviceTextLocationInformation`: the xenstore path.
    pub fn location(&self) -> Result<String, ChildError> {
        string_of(format_args!("Xen {}", self.device), 40)
    }

    /// The hardware IDs as the UTF-16 MULTI_SZ the IRP answer carries.
    pub fn hardware_ids_utf16(&self) -> Result<Vec<u16>, ChildError> {
        Ok(wide::multi_sz(self.hardware_ids())?)
    }

    /// The compatible IDs as a UTF-16 MULTI_SZ.
    pub fn compatible_ids_utf16(&self) -> Result<Vec<u16>, ChildError> {
        Ok(wide::multi_sz(self.compatible_ids())?)
    }
}

/// The children for an enumeration (devices of unhandled types left out), in its order.
pub fn children_of(enumeration: &Enumeration, hot_plugged: bool) -> Result<Vec<Child>, ChildError> {
    let mut out = Vec::new();
    for device in &enumeration.devices {
        if let Some(child) = Child::new(device, hot_plugged) {
            out.try_reserve(1).map_err(|_| ChildError::OutOfMemory)?;
            out.push(child);
        }
    }
    Ok(out)
}

/// A Linux-style disk name for a vbd device id, decoded as Xen's `vbd-interface` document
/// defines the numbering: `xvd` (major 202, 16 minors a disk), `sd` (major 8, 16 a disk), IDE
/// `hd` (majors 3, 22, 33, 34, two disks of 64 minors each), and the extended `xvd` form with
/// bit 28 set (disk in bits 8..28). `None` for other numbers.
pub fn vbd_name(id: u32) -> Option<DiskName> {
    let (prefix, disk, partition) = if id & (1 << 28) != 0 {
        ("xvd", (id >> 8) & 0xf_ffff, id & 0xff)
    } else {
        if id > 0xffff {
            return None;
        }
        let major = id >> 8;
        let minor = id & 0xff;
        match major {
            202 => ("xvd", minor >> 4, minor & 0xf),
            8 => ("sd", minor >> 4, minor & 0xf),
            3 => ("hd", minor >> 6, minor & 0x3f),
            22 => ("hd", 2 + (minor >> 6), minor & 0x3f),
            33 => ("hd", 4 + (minor >> 6), minor & 0x3f),
            34 => ("hd", 6 + (minor >> 6), minor & 0x3f),
            _ => return None,
        }
    };
    Some(DiskName {
        prefix,
        disk,
        partition,
    })
}

/// A decoded vbd name (`xvda`, `hdc`, `xvdb1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DiskName {
    /// `xvd`, `sd` or `hd`.
    pub prefix: &'static str,
    /// Disk index (0 = `a`).
    pub disk: u32,
    /// Partition (0 = the whole disk).
    pub partition: u32,
}

impl fmt::Display for DiskName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        // Bijective base 26 as Linux names disks: a..z, aa..zz, aaa...
        let mut letters = [0u8; 8];
        let mut n = u64::from(self.disk) + 1;
        let mut len = 0;
        while n > 0 && len < letters.len() {
            n -= 1;
            // n % 26 < 26, so the byte is a lower-case letter.
            letters[len] = b'a' + (n % 26) as u8;
            n /= 26;
            len += 1;
        }
        for &b in letters[..len].iter().rev() {
            f.write_char(char::from(b))?;
        }
        if self.partition != 0 {
            write!(f, "{}", self.partition)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn child(kind: &str, id: u32) -> Child {
        Child::new(&DeviceRef::new(kind, id).unwrap(), false).unwrap()
    }

    #[test]
    fn ids_of_a_disk() {
        let c = child("vbd", 51712);
        assert_eq!(c.device_id(), "XEN\\VBD");
        assert_eq!(c.hardware_ids(), ["XEN\\VBD"]);
        assert_eq!(c.instance_id().unwrap(), "51712");
        assert_eq!(c.description().unwrap(), "Xen PV disk xvda (vbd 51712)");
        assert_eq!(c.location().unwrap(), "Xen device/vbd/51712");
        let ids: Vec<u16> = "XEN\\VBD\0\0".encode_utf16().collect();
        assert_eq!(c.hardware_ids_utf16().unwrap(), ids);
        assert_eq!(c.compatible_ids_utf16().unwrap(), [0, 0]);
    }

    #[test]
    fn ids_of_other_classes() {
        let c = child("vif", 1);
        assert_eq!(c.device_id(), "XEN\\VIF");
        assert_eq!(c.instance_id().unwrap(), "1");
        assert_eq!(c.description().unwrap(), "Xen PV network adapter #1");
        assert_eq!(child("console", 0).device_id(), "XEN\\CONSOLE");
        assert_eq!(child("vkbd", 0).device_id(), "XEN\\VKBD");
        assert_eq!(child("vfb", 0).device_id(), "XEN\\VFB");
        assert!(Child::new(&DeviceRef::new("9pfs", 0).unwrap(), false).is_none());
    }

    #[test]
    fn instance_ids_are_stable_and_unique_per_class() {
        // The same xenstore id gives the same instance id whenever it is asked (each boot
        // builds a new Child from the listing), and different ids differ.
        let a = child("vbd", 768).instance_id().unwrap();
        let b = child("vbd", 768).instance_id().unwrap();
        assert_eq!(a, b);
        assert_ne!(a, child("vbd", 832).instance_id().unwrap());
        let hot = Child::new(&DeviceRef::new("vbd", 768).unwrap(), true).unwrap();
        assert_eq!(hot.instance_id().unwrap(), a);
    }

    #[test]
    fn vbd_names() {
        let name = |id| vbd_name(id).map(|n| n.to_string());
        assert_eq!(name(768).as_deref(), Some("hda"));
        assert_eq!(name(832).as_deref(), Some("hdb"));
        assert_eq!(name(5632).as_deref(), Some("hdc"));
        assert_eq!(name(51712).as_deref(), Some("xvda"));
        assert_eq!(name(51713).as_deref(), Some("xvda1"));
        assert_eq!(name(51728).as_deref(), Some("xvdb"));
        assert_eq!(name(2048).as_deref(), Some("sda"));
        assert_eq!(name((1 << 28) | (26 << 8)).as_deref(), Some("xvdaa"));
        assert_eq!(name(0xffff_ffff).as_deref(), Some("xvdbgqcv255"));
        assert_eq!(name(1), None);
        assert_eq!(name(0x1_0000), None);
    }

    proptest::proptest! {
        #[test]
        fn any_id_describes_without_panic(id: u32) {
            let c = child("vbd", id);
            proptest::prop_assert!(c.description().unwrap().contains(&id.to_string()));
            proptest::prop_assert_eq!(c.instance_id().unwrap(), id.to_string());
        }
    }
}
