//! PnP state machine of a WDM function driver that owns no hardware.

/// PnP state of the function device object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DeviceState {
    /// Created by AddDevice, not started yet (or start failed).
    NotStarted = 0,
    /// IRP_MN_START_DEVICE succeeded.
    Started = 1,
    /// IRP_MN_QUERY_STOP_DEVICE succeeded.
    StopPending = 2,
    /// IRP_MN_STOP_DEVICE received (resources released, may be started again).
    Stopped = 3,
    /// IRP_MN_QUERY_REMOVE_DEVICE succeeded.
    RemovePending = 4,
    /// IRP_MN_SURPRISE_REMOVAL received: the device is gone, only REMOVE follows.
    SurpriseRemoved = 5,
    /// IRP_MN_REMOVE_DEVICE received: the FDO is detached and deleted.
    Deleted = 6,
}

impl DeviceState {
    /// Decodes a stored state (unknown values are treated as `Deleted`, the safest answer).
    pub fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::NotStarted,
            1 => Self::Started,
            2 => Self::StopPending,
            3 => Self::Stopped,
            4 => Self::RemovePending,
            5 => Self::SurpriseRemoved,
            _ => Self::Deleted,
        }
    }

    /// Whether new I/O (here: power IRPs) must be failed.
    pub fn is_gone(self) -> bool {
        self == Self::Deleted
    }
}

/// The minor codes the driver acts on (values of `IRP_MN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnpMinor {
    /// `IRP_MN_START_DEVICE`.
    Start,
    /// `IRP_MN_QUERY_STOP_DEVICE`.
    QueryStop,
    /// `IRP_MN_CANCEL_STOP_DEVICE`.
    CancelStop,
    /// `IRP_MN_STOP_DEVICE`.
    Stop,
    /// `IRP_MN_QUERY_REMOVE_DEVICE`.
    QueryRemove,
    /// `IRP_MN_CANCEL_REMOVE_DEVICE`.
    CancelRemove,
    /// `IRP_MN_SURPRISE_REMOVAL`.
    SurpriseRemoval,
    /// `IRP_MN_REMOVE_DEVICE`.
    Remove,
    /// Anything else: passed down untouched.
    Other(u8),
}

impl PnpMinor {
    /// Classifies an `IRP_MN_*` minor code of an `IRP_MJ_PNP` request.
    pub fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Start,
            0x05 => Self::QueryStop,
            0x06 => Self::CancelStop,
            0x04 => Self::Stop,
            0x01 => Self::QueryRemove,
            0x03 => Self::CancelRemove,
            0x17 => Self::SurpriseRemoval,
            0x02 => Self::Remove,
            other => Self::Other(other),
        }
    }
}

/// What the dispatch routine does with a PnP IRP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnpAction {
    /// Send the IRP down, wait for the PDO to complete it, then call [`start_completed`] and
    /// complete the IRP with the PDO's status (IRP_MN_START_DEVICE is handled on the way up).
    ForwardAndWait,
    /// Set `IoStatus.Status = STATUS_SUCCESS` and pass the IRP down (a request this driver must
    /// acknowledge), moving to `next`.
    SucceedAndForward {
        /// State after the IRP.
        next: DeviceState,
    },
    /// As `SucceedAndForward`, then detach from the stack and delete the FDO.
    SucceedForwardAndDelete,
    /// Pass the IRP down without touching its status.
    Forward,
}

/// Decides what to do with a PnP IRP in `state`.
///
/// `before_query_remove` is the state to return to on IRP_MN_CANCEL_REMOVE_DEVICE.
pub fn on_pnp(state: DeviceState, minor: PnpMinor, before_query_remove: DeviceState) -> PnpAction {
    use DeviceState::*;
    match minor {
        PnpMinor::Start => PnpAction::ForwardAndWait,
        PnpMinor::QueryStop => PnpAction::SucceedAndForward { next: StopPending },
        PnpMinor::CancelStop => PnpAction::SucceedAndForward {
            next: if state == StopPending { Started } else { state },
        },
        PnpMinor::Stop => PnpAction::SucceedAndForward { next: Stopped },
        PnpMinor::QueryRemove => PnpAction::SucceedAndForward {
            next: RemovePending,
        },
        PnpMinor::CancelRemove => PnpAction::SucceedAndForward {
            next: if state == RemovePending {
                before_query_remove
            } else {
                state
            },
        },
        PnpMinor::SurpriseRemoval => PnpAction::SucceedAndForward {
            next: SurpriseRemoved,
        },
        PnpMinor::Remove => PnpAction::SucceedForwardAndDelete,
        PnpMinor::Other(_) => PnpAction::Forward,
    }
}

/// The state after the PDO completed IRP_MN_START_DEVICE with `status` (an `NTSTATUS`).
pub fn start_completed(state: DeviceState, status: i32) -> DeviceState {
    if status >= 0 {
        DeviceState::Started
    } else {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceState::*;

    #[test]
    fn start_waits_for_the_pdo_and_follows_its_status() {
        assert_eq!(
            on_pnp(NotStarted, PnpMinor::from_code(0x00), NotStarted),
            PnpAction::ForwardAndWait
        );
        assert_eq!(start_completed(NotStarted, 0), Started);
        assert_eq!(
            start_completed(NotStarted, 0xC000_0001_u32 as i32),
            NotStarted
        );
        assert_eq!(start_completed(Stopped, 0), Started);
    }

    #[test]
    fn stop_sequence_and_its_cancel() {
        let query = on_pnp(Started, PnpMinor::from_code(0x05), Started);
        assert_eq!(query, PnpAction::SucceedAndForward { next: StopPending });
        let cancel = on_pnp(StopPending, PnpMinor::from_code(0x06), Started);
        assert_eq!(cancel, PnpAction::SucceedAndForward { next: Started });
        let stop = on_pnp(StopPending, PnpMinor::from_code(0x04), Started);
        assert_eq!(stop, PnpAction::SucceedAndForward { next: Stopped });
    }

    #[test]
    fn cancel_remove_returns_to_the_state_before_the_query() {
        let query = on_pnp(Started, PnpMinor::from_code(0x01), Started);
        assert_eq!(
            query,
            PnpAction::SucceedAndForward {
                next: RemovePending
            }
        );
        let cancel = on_pnp(RemovePending, PnpMinor::from_code(0x03), Stopped);
        assert_eq!(cancel, PnpAction::SucceedAndForward { next: Stopped });
        // A cancel without a pending query changes nothing.
        let stray = on_pnp(Started, PnpMinor::from_code(0x03), NotStarted);
        assert_eq!(stray, PnpAction::SucceedAndForward { next: Started });
    }

    #[test]
    fn surprise_removal_then_remove_deletes() {
        let surprise = on_pnp(Started, PnpMinor::from_code(0x17), Started);
        assert_eq!(
            surprise,
            PnpAction::SucceedAndForward {
                next: SurpriseRemoved
            }
        );
        assert_eq!(
            on_pnp(SurpriseRemoved, PnpMinor::from_code(0x02), Started),
            PnpAction::SucceedForwardAndDelete
        );
    }

    #[test]
    fn other_minor_codes_pass_down_untouched() {
        for code in [0x07, 0x08, 0x09, 0x13, 0x14, 0x16, 0x19, 0xFF] {
            assert_eq!(
                on_pnp(Started, PnpMinor::from_code(code), Started),
                PnpAction::Forward,
                "minor {code:#x}"
            );
        }
    }

    #[test]
    fn state_round_trips_through_its_stored_byte() {
        for state in [
            NotStarted,
            Started,
            StopPending,
            Stopped,
            RemovePending,
            SurpriseRemoved,
            Deleted,
        ] {
            assert_eq!(DeviceState::from_u8(state as u8), state);
        }
        assert_eq!(DeviceState::from_u8(200), Deleted);
        assert!(Deleted.is_gone() && !SurpriseRemoved.is_gone());
    }
}
