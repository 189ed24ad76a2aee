//! Power IRP decisions: the stub is not the power policy owner of anything that needs saving,
//! so it records device power state changes and passes every power IRP to the PDO.

/// What the dispatch routine does with an `IRP_MJ_POWER` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    /// `PoStartNextPowerIrp`, skip the stack location, `PoCallDriver` to the PDO; when
    /// `set_device_power_state` holds a `DEVICE_POWER_STATE`, report it with `PoSetPowerState`
    /// first.
    Forward {
        /// `Some(DEVICE_POWER_STATE)` for IRP_MN_SET_POWER of type `DevicePowerState`.
        set_device_power_state: Option<u32>,
    },
    /// The FDO is deleted: `PoStartNextPowerIrp` and complete with `STATUS_NO_SUCH_DEVICE`.
    FailDeleted,
}

/// `IRP_MN_SET_POWER`.
pub const IRP_MN_SET_POWER: u8 = 0x02;
/// `DevicePowerState` (`POWER_STATE_TYPE`).
pub const DEVICE_POWER_STATE_TYPE: u32 = 1;

/// Decides what to do with a power IRP (`minor`, `Parameters.Power.Type`/`State`).
pub fn on_power(gone: bool, minor: u8, state_type: u32, state: u32) -> PowerAction {
    if gone {
        return PowerAction::FailDeleted;
    }
    let set_device_power_state =
        (minor == IRP_MN_SET_POWER && state_type == DEVICE_POWER_STATE_TYPE).then_some(state);
    PowerAction::Forward {
        set_device_power_state,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_set_power_is_recorded_and_forwarded() {
        assert_eq!(
            on_power(false, IRP_MN_SET_POWER, 1, 4),
            PowerAction::Forward {
                set_device_power_state: Some(4)
            }
        );
    }

    #[test]
    fn system_set_power_and_queries_are_only_forwarded() {
        assert_eq!(
            on_power(false, IRP_MN_SET_POWER, 0, 6),
            PowerAction::Forward {
                set_device_power_state: None
            }
        );
        assert_eq!(
            on_power(false, 0x03, 1, 4),
            PowerAction::Forward {
                set_device_power_state: None
            }
        );
        assert_eq!(
            on_power(false, 0x00, 1, 1),
            PowerAction::Forward {
                set_device_power_state: None
            }
        );
    }

    #[test]
    fn a_deleted_device_fails_power_irps() {
        assert_eq!(
            on_power(true, IRP_MN_SET_POWER, 1, 1),
            PowerAction::FailDeleted
        );
    }
}
