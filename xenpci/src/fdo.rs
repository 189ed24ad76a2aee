//! The PnP state machine of xenpci's FDO (the function device on the Xen platform PCI device).
//!
//! Decisions only; the glue in `driver.rs` carries them out. Notable choices:
//! - IRP_MN_START_DEVICE goes to the PCI bus driver first (it enables the BARs), then the
//!   platform is brought up from the resources.
//! - IRP_MN_QUERY_STOP_DEVICE is refused: `shared_info` and the grant frames live in pages of
//!   the memory BAR and Xen cannot take them back, so the BAR must not be moved (resource
//!   rebalancing would place Xen's frames under another device).
//! - IRP_MN_SURPRISE_REMOVAL and IRP_MN_REMOVE_DEVICE tear the platform down (callback cleared,
//!   ports masked, interrupt disconnected) before passing the IRP on.

/// The FDO's PnP state (stored as a byte in the device extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FdoState {
    /// Added, not started.
    NotStarted = 0,
    /// Started: the platform is up (or failed to come up and the FDO runs without it).
    Started = 1,
    /// IRP_MN_QUERY_REMOVE_DEVICE succeeded.
    RemovePending = 2,
    /// IRP_MN_SURPRISE_REMOVAL seen.
    SurpriseRemoved = 3,
    /// IRP_MN_REMOVE_DEVICE done.
    Deleted = 4,
}

impl FdoState {
    /// Decodes the stored byte (unknown values read as `Deleted`, which refuses everything).
    pub fn from_u8(value: u8) -> FdoState {
        match value {
            0 => FdoState::NotStarted,
            1 => FdoState::Started,
            2 => FdoState::RemovePending,
            3 => FdoState::SurpriseRemoved,
            _ => FdoState::Deleted,
        }
    }
}

/// The PnP minor functions the FDO distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PnpMinor {
    /// IRP_MN_START_DEVICE.
    Start,
    /// IRP_MN_QUERY_REMOVE_DEVICE.
    QueryRemove,
    /// IRP_MN_REMOVE_DEVICE.
    Remove,
    /// IRP_MN_CANCEL_REMOVE_DEVICE.
    CancelRemove,
    /// IRP_MN_STOP_DEVICE.
    Stop,
    /// IRP_MN_QUERY_STOP_DEVICE.
    QueryStop,
    /// IRP_MN_CANCEL_STOP_DEVICE.
    CancelStop,
    /// IRP_MN_QUERY_DEVICE_RELATIONS (any type; the glue checks for BusRelations).
    QueryDeviceRelations,
    /// IRP_MN_SURPRISE_REMOVAL.
    SurpriseRemoval,
    /// Anything else.
    Other(u8),
}

impl PnpMinor {
    /// From the `MinorFunction` byte (WDK `IRP_MN_*` numbers).
    pub fn from_code(code: u8) -> PnpMinor {
        match code {
            0x00 => PnpMinor::Start,
            0x01 => PnpMinor::QueryRemove,
            0x02 => PnpMinor::Remove,
            0x03 => PnpMinor::CancelRemove,
            0x04 => PnpMinor::Stop,
            0x05 => PnpMinor::QueryStop,
            0x06 => PnpMinor::CancelStop,
            0x07 => PnpMinor::QueryDeviceRelations,
            0x17 => PnpMinor::SurpriseRemoval,
            other => PnpMinor::Other(other),
        }
    }
}

/// What the glue does with a PnP IRP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdoAction {
    /// Forward and wait; on success bring the platform up; complete with the lower status.
    StartLowerThenBringUp,
    /// Fail the IRP with STATUS_UNSUCCESSFUL without passing it down.
    Refuse,
    /// Set the state, succeed and pass down.
    SucceedAndForward {
        /// The new state.
        next: FdoState,
    },
    /// Tear the platform down, set the state, succeed and pass down.
    TearDownAndForward {
        /// The new state.
        next: FdoState,
    },
    /// Tear down (if still up), pass down, detach and delete the FDO.
    Remove,
    /// BusRelations: answer with the children, then pass down; other relations: pass down.
    Relations,
    /// Pass down untouched.
    Forward,
}

/// The decision for `minor` in `state` (`before_query_remove` is the state saved at
/// IRP_MN_QUERY_REMOVE_DEVICE, restored on cancel).
pub fn on_pnp(state: FdoState, minor: PnpMinor, before_query_remove: FdoState) -> FdoAction {
    match minor {
        PnpMinor::Start => FdoAction::StartLowerThenBringUp,
        PnpMinor::QueryStop => FdoAction::Refuse,
        PnpMinor::CancelStop | PnpMinor::Stop => FdoAction::SucceedAndForward { next: state },
        PnpMinor::QueryRemove => FdoAction::SucceedAndForward {
            next: FdoState::RemovePending,
        },
        PnpMinor::CancelRemove => FdoAction::SucceedAndForward {
            next: if state == FdoState::RemovePending {
                before_query_remove
            } else {
                state
            },
        },
        PnpMinor::SurpriseRemoval => FdoAction::TearDownAndForward {
            next: FdoState::SurpriseRemoved,
        },
        PnpMinor::Remove => FdoAction::Remove,
        PnpMinor::QueryDeviceRelations => FdoAction::Relations,
        PnpMinor::Other(_) => FdoAction::Forward,
    }
}

/// The state after the lower driver answered IRP_MN_START_DEVICE with `lower_ok`. The FDO is
/// started even when the Xen bring-up fails (it logs why and enumerates no children): failing
/// the start would show a yellow bang and could not be fixed by a retry anyway.
pub fn start_completed(state: FdoState, lower_ok: bool) -> FdoState {
    if lower_ok {
        FdoState::Started
    } else {
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_bytes_are_deleted() {
        for s in [
            FdoState::NotStarted,
            FdoState::Started,
            FdoState::RemovePending,
            FdoState::SurpriseRemoved,
            FdoState::Deleted,
        ] {
            assert_eq!(FdoState::from_u8(s as u8), s);
        }
        assert_eq!(FdoState::from_u8(200), FdoState::Deleted);
        assert_eq!(PnpMinor::from_code(0x17), PnpMinor::SurpriseRemoval);
        assert_eq!(PnpMinor::from_code(0x09), PnpMinor::Other(0x09));
    }

    #[test]
    fn lifecycle() {
        let s = FdoState::NotStarted;
        assert_eq!(
            on_pnp(s, PnpMinor::Start, s),
            FdoAction::StartLowerThenBringUp
        );
        assert_eq!(start_completed(s, false), FdoState::NotStarted);
        let s = start_completed(s, true);
        assert_eq!(s, FdoState::Started);
        // The BAR holds Xen's frames: never stopped for rebalancing.
        assert_eq!(on_pnp(s, PnpMinor::QueryStop, s), FdoAction::Refuse);
        assert_eq!(
            on_pnp(s, PnpMinor::QueryRemove, s),
            FdoAction::SucceedAndForward {
                next: FdoState::RemovePending
            }
        );
        assert_eq!(
            on_pnp(
                FdoState::RemovePending,
                PnpMinor::CancelRemove,
                FdoState::Started
            ),
            FdoAction::SucceedAndForward {
                next: FdoState::Started
            }
        );
        assert_eq!(
            on_pnp(s, PnpMinor::SurpriseRemoval, s),
            FdoAction::TearDownAndForward {
                next: FdoState::SurpriseRemoved
            }
        );
        assert_eq!(
            on_pnp(FdoState::SurpriseRemoved, PnpMinor::Remove, s),
            FdoAction::Remove
        );
        assert_eq!(
            on_pnp(s, PnpMinor::QueryDeviceRelations, s),
            FdoAction::Relations
        );
        assert_eq!(on_pnp(s, PnpMinor::Other(0x09), s), FdoAction::Forward);
    }
}
