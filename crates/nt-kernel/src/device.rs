//! Device-object set-up rules shared by the suite's function drivers.

use core::ptr::null_mut;

use crate::ntdef::{FALSE, NTSTATUS, NT_SUCCESS, ULONG};
use crate::wdm::{
    IoAttachDeviceToDeviceStack, IoCreateDevice, IoDeleteDevice, DEVICE_OBJECT,
    DO_DEVICE_INITIALIZING, DO_POWER_INRUSH, DO_POWER_PAGABLE, DRIVER_OBJECT,
    FILE_DEVICE_SECURE_OPEN,
};

/// Where [`create_and_attach`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachError {
    /// `IoCreateDevice` failed with this status (or returned no device).
    Create(NTSTATUS),
    /// `IoAttachDeviceToDeviceStack` returned no device; the new device was deleted again.
    Attach,
}

/// The AddDevice step every function and filter driver of the suite takes: an unnamed device
/// object of `device_type` (`FILE_DEVICE_SECURE_OPEN`, not exclusive) with a zeroed extension of
/// `extension_size` bytes, attached on top of `pdo`'s stack. Returns the new device and the
/// device it attached to; nothing is left behind on failure.
///
/// # Safety
/// PASSIVE_LEVEL, inside AddDevice: `driver` is the calling driver's object and `pdo` the PDO
/// AddDevice was given.
pub unsafe fn create_and_attach(
    driver: *mut DRIVER_OBJECT,
    pdo: *mut DEVICE_OBJECT,
    extension_size: ULONG,
    device_type: ULONG,
) -> Result<(*mut DEVICE_OBJECT, *mut DEVICE_OBJECT), AttachError> {
    let mut device: *mut DEVICE_OBJECT = null_mut();
    // SAFETY: caller's contract for `driver`; `device` receives the new device object.
    let status = unsafe {
        IoCreateDevice(
            driver,
            extension_size,
            null_mut(),
            device_type,
            FILE_DEVICE_SECURE_OPEN,
            FALSE,
            &mut device,
        )
    };
    if !NT_SUCCESS(status) || device.is_null() {
        return Err(AttachError::Create(status));
    }
    // SAFETY: both device objects are valid; attaching returns the device we attached to.
    let lower = unsafe { IoAttachDeviceToDeviceStack(device, pdo) };
    if lower.is_null() {
        // SAFETY: `device` was created above and is not attached.
        unsafe { IoDeleteDevice(device) };
        return Err(AttachError::Attach);
    }
    Ok((device, lower))
}

/// The `Flags` a function driver's new FDO carries at the end of AddDevice: the power flags of
/// the device it attached to (pagable power handling unless that device needs inrush power), and
/// `DO_DEVICE_INITIALIZING` cleared so the I/O manager lets IRPs reach it.
pub fn function_device_flags(own: ULONG, lower: ULONG) -> ULONG {
    let mut flags = own | (lower & (DO_POWER_PAGABLE | DO_POWER_INRUSH));
    if lower & DO_POWER_INRUSH == 0 {
        flags |= DO_POWER_PAGABLE;
    }
    flags & !DO_DEVICE_INITIALIZING
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdo_flags_follow_the_lower_device_power_handling() {
        let own = DO_DEVICE_INITIALIZING | 0x4;
        assert_eq!(function_device_flags(own, 0), 0x4 | DO_POWER_PAGABLE);
        assert_eq!(
            function_device_flags(own, DO_POWER_PAGABLE),
            0x4 | DO_POWER_PAGABLE
        );
        assert_eq!(
            function_device_flags(own, DO_POWER_INRUSH),
            0x4 | DO_POWER_INRUSH
        );
        // Other lower-device flags are not copied.
        assert_eq!(function_device_flags(0, 0x10), DO_POWER_PAGABLE);
    }
}
