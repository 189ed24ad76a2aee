//! Device-object set-up rules shared by the suite's function drivers.

use crate::ntdef::ULONG;
use crate::wdm::{DO_DEVICE_INITIALIZING, DO_POWER_INRUSH, DO_POWER_PAGABLE};

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
