//! The suite's hardware ID scheme, shared by xenpci (which reports the IDs), the INF files
//! (which match them) and the INF checks.
//!
//! - xenpci binds to the Xen platform PCI device, vendor 0x5853 (XenSource), device 0x0001
//!   (`PCI\VEN_5853&DEV_0001`; device 0x0002 is the variant some toolstacks expose).
//! - Each child xenpci enumerates from xenstore `device/<type>/<id>` gets the hardware ID
//!   `XEN\<TYPE>` (upper case), device ID the same, instance ID the decimal xenstore id; the
//!   same as GPLPV, so one INF line binds every instance of a class.
#![no_std]
#![forbid(unsafe_code)]

/// Hardware IDs xenpci's INF matches (the Xen platform PCI device).
pub const XENPCI_HARDWARE_IDS: &[&str] = &["PCI\\VEN_5853&DEV_0001", "PCI\\VEN_5853&DEV_0002"];

/// A class of device that xenpci enumerates as a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildClass {
    /// `device/vbd`: virtual block device, bound by xenvbd.
    Vbd,
    /// `device/vif`: virtual network interface, bound by xennet.
    Vif,
    /// `device/vfb`: virtual frame buffer, bound by xenstub.
    Vfb,
    /// `device/vkbd`: virtual keyboard/pointer, bound by xenstub.
    Vkbd,
    /// `device/console`: PV console, bound by xenstub.
    Console,
}

impl ChildClass {
    /// Every class, in enumeration order.
    pub const ALL: [ChildClass; 5] = [Self::Vbd, Self::Vif, Self::Vfb, Self::Vkbd, Self::Console];

    /// The xenstore device type (`device/<type>/<id>`).
    pub const fn xenstore_type(self) -> &'static str {
        match self {
            Self::Vbd => "vbd",
            Self::Vif => "vif",
            Self::Vfb => "vfb",
            Self::Vkbd => "vkbd",
            Self::Console => "console",
        }
    }

    /// The class for a xenstore device type, if the suite handles it.
    pub fn from_xenstore_type(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.xenstore_type() == name)
    }

    /// The hardware ID (and device ID) xenpci reports: `XEN\VBD`, ...
    pub const fn hardware_id(self) -> &'static str {
        match self {
            Self::Vbd => "XEN\\VBD",
            Self::Vif => "XEN\\VIF",
            Self::Vfb => "XEN\\VFB",
            Self::Vkbd => "XEN\\VKBD",
            Self::Console => "XEN\\CONSOLE",
        }
    }

    /// The driver (and service name) that binds to this class.
    pub const fn driver(self) -> &'static str {
        match self {
            Self::Vbd => "xenvbd",
            Self::Vif => "xennet",
            Self::Vfb | Self::Vkbd | Self::Console => "xenstub",
        }
    }
}

/// The hardware IDs a driver's INF must match (empty for drivers that bind to no device by
/// hardware ID, such as the xenhide filter, which is installed as a class filter).
pub fn hardware_ids_of_driver(driver: &str) -> impl Iterator<Item = &'static str> + '_ {
    let pci: &'static [&'static str] = if driver == "xenpci" {
        XENPCI_HARDWARE_IDS
    } else {
        &[]
    };
    pci.iter().copied().chain(
        ChildClass::ALL
            .into_iter()
            .filter(move |c| c.driver() == driver)
            .map(ChildClass::hardware_id),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xenstub_binds_vfb_vkbd_and_console() {
        let ids: [&str; 3] = ["XEN\\VFB", "XEN\\VKBD", "XEN\\CONSOLE"];
        assert!(hardware_ids_of_driver("xenstub").eq(ids));
    }

    #[test]
    fn xenpci_binds_the_platform_device_only() {
        assert!(hardware_ids_of_driver("xenpci")
            .eq(["PCI\\VEN_5853&DEV_0001", "PCI\\VEN_5853&DEV_0002"]));
        assert!(hardware_ids_of_driver("xenvbd").eq(["XEN\\VBD"]));
        assert!(hardware_ids_of_driver("xennet").eq(["XEN\\VIF"]));
        assert_eq!(hardware_ids_of_driver("xenhide").count(), 0);
    }

    #[test]
    fn xenstore_types_round_trip_and_ids_are_upper_case() {
        for class in ChildClass::ALL {
            assert_eq!(
                ChildClass::from_xenstore_type(class.xenstore_type()),
                Some(class)
            );
            let id = class.hardware_id();
            assert_eq!(
                id.strip_prefix("XEN\\")
                    .map(|t| t.to_ascii_lowercase())
                    .as_deref(),
                Some(class.xenstore_type())
            );
        }
        assert_eq!(ChildClass::from_xenstore_type("qdisk"), None);
    }
}
