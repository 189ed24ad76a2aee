//! `DEVICE_CAPABILITIES` answers for the children (IRP_MN_QUERY_CAPABILITIES), as data.
//!
//! - Every child can disappear when the toolstack detaches it, without asking Windows first:
//!   `SurpriseRemovalOK` (no "unsafe removal" warning).
//! - Hot-plugged vbd and vif children (attached after the bus's first scan) are `Removable`,
//!   so Windows offers "safely remove" for them; boot-time devices (the system disk) are not.
//! - `UniqueID`: the instance ID (the xenstore id) is unique on this bus and stable; xenpci never
//!   has two PDOs with one instance ID alive (a re-attach before PnP removed the old PDO waits,
//!   `xenpci::instances`), which is what makes it unique system-wide under our `XEN\` IDs.
//! - No eject, no lock, no wake; D0 in S0, D3 in every sleep state; `Address` and `UINumber`
//!   carry the xenstore id.

use xen_pv_ids::ChildClass;

use crate::child::Child;

/// The capability bits and numbers xenpci sets in a child's `DEVICE_CAPABILITIES`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// `Removable`.
    pub removable: bool,
    /// `SurpriseRemovalOK`.
    pub surprise_removal_ok: bool,
    /// `UniqueID`.
    pub unique_id: bool,
    /// `EjectSupported`.
    pub eject_supported: bool,
    /// `LockSupported`.
    pub lock_supported: bool,
    /// `SilentInstall` (no UI while installing the driver).
    pub silent_install: bool,
    /// `RawDeviceOK` (usable without a function driver).
    pub raw_device_ok: bool,
    /// `DeviceD1` / `DeviceD2`.
    pub device_d1_d2: bool,
    /// `Address`.
    pub address: u32,
    /// `UINumber`.
    pub ui_number: u32,
    /// `DeviceState[S]` for S = PowerSystemUnspecified..=PowerSystemShutdown (0..=6), as
    /// `DEVICE_POWER_STATE` values (1 = D0, 4 = D3).
    pub device_state: [u32; 7],
    /// `SystemWake` and `DeviceWake` (`PowerSystemUnspecified` / `PowerDeviceUnspecified`).
    pub wake: (u32, u32),
}

/// `PowerDeviceD0`.
pub const POWER_DEVICE_D0: u32 = 1;
/// `PowerDeviceD3`.
pub const POWER_DEVICE_D3: u32 = 4;

/// The capabilities of `child`.
pub fn capabilities(child: &Child) -> Capabilities {
    let hot_pluggable_class = matches!(child.class, ChildClass::Vbd | ChildClass::Vif);
    let mut device_state = [POWER_DEVICE_D3; 7];
    // PowerSystemUnspecified stays unspecified (0); S0 (PowerSystemWorking = 1) is D0.
    device_state[0] = 0;
    device_state[1] = POWER_DEVICE_D0;
    Capabilities {
        removable: hot_pluggable_class && child.hot_plugged,
        surprise_removal_ok: true,
        unique_id: true,
        eject_supported: false,
        lock_supported: false,
        silent_install: !hot_pluggable_class,
        raw_device_ok: false,
        device_d1_d2: false,
        address: child.device.id,
        ui_number: child.device.id,
        device_state,
        wake: (0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xenbus::DeviceRef;

    fn child(kind: &str, id: u32, hot: bool) -> Child {
        Child::new(&DeviceRef::new(kind, id).unwrap(), hot).unwrap()
    }

    #[test]
    fn per_class() {
        let boot_disk = capabilities(&child("vbd", 768, false));
        assert!(!boot_disk.removable && boot_disk.surprise_removal_ok && boot_disk.unique_id);
        assert_eq!(boot_disk.address, 768);
        let hot_disk = capabilities(&child("vbd", 51728, true));
        assert!(hot_disk.removable && hot_disk.surprise_removal_ok && !hot_disk.eject_supported);
        let hot_nic = capabilities(&child("vif", 1, true));
        assert!(hot_nic.removable && !hot_nic.silent_install);
        let console = capabilities(&child("console", 0, true));
        assert!(!console.removable && console.silent_install);
        assert_eq!(console.device_state[1], POWER_DEVICE_D0);
        assert!(console.device_state[2..]
            .iter()
            .all(|&d| d == POWER_DEVICE_D3));
    }
}
