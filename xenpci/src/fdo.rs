//! The PnP state machine of xenpci's FDO (the function device on the Xen platform PCI device).
//!
//! Decisions only; the glue in `driver.rs` carries them out. Notable choices:
//! - IRP_MN_START_DEVICE goes to the PCI bus driver first (it enables the BARs), then the
//!   platform is brought up from the resources.
//! - IRP_MN_QUERY_STOP_DEVICE is refused: `shared_info` and the grant frames live in pages of
//!   the memory BAR and Xen cannot take them back, so the BAR must not be moved (resource
//!   rebalancing would place Xen's frames under another device).
//! - IRP_MN_QUERY_REMOVE_DEVICE is refused while a paging, hibernation or dump file lives on a
//!   child disk (the children's IRP_MN_DEVICE_USAGE_NOTIFICATION reaches this stack, see
//!   [`crate::usage`]).
//! - IRP_MN_SURPRISE_REMOVAL and IRP_MN_REMOVE_DEVICE tear the platform down (work drained,
//!   ports masked, callback cleared, then the interrupt disconnected) before passing the IRP
//!   on.
//! - IRP_MN_QUERY_POWER for S4 is failed while the PV platform is up ([`query_power`], the
//!   decision of [`xen_platform::power::query_sleep`]).

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
    /// IRP_MN_DEVICE_USAGE_NOTIFICATION.
    DeviceUsageNotification,
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
            0x16 => PnpMinor::DeviceUsageNotification,
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
    /// IRP_MN_DEVICE_USAGE_NOTIFICATION: count it ([`crate::usage::SpecialFiles`]), passing
    /// it down and waiting for the answer.
    UsageNotification,
    /// Pass down untouched.
    Forward,
}

/// The decision for `minor` in `state` (`before_query_remove` is the state saved at
/// IRP_MN_QUERY_REMOVE_DEVICE, restored on cancel; `special_files`: a paging, hibernation or
/// dump file is on a child, see [`crate::usage::SpecialFiles::in_use`]).
pub fn on_pnp(
    state: FdoState,
    minor: PnpMinor,
    before_query_remove: FdoState,
    special_files: bool,
) -> FdoAction {
    match minor {
        PnpMinor::Start => FdoAction::StartLowerThenBringUp,
        PnpMinor::QueryStop => FdoAction::Refuse,
        PnpMinor::QueryRemove if special_files => FdoAction::Refuse,
        PnpMinor::DeviceUsageNotification => FdoAction::UsageNotification,
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

/// `POWER_STATE_TYPE::SystemPowerState`.
pub const SYSTEM_POWER_STATE: u32 = 0;
/// `SYSTEM_POWER_STATE::PowerSystemSleeping1` (S1); S2 and S3 follow.
pub const POWER_SYSTEM_SLEEPING1: u32 = 2;
/// `SYSTEM_POWER_STATE::PowerSystemSleeping3` (S3).
pub const POWER_SYSTEM_SLEEPING3: u32 = 4;
/// `SYSTEM_POWER_STATE::PowerSystemHibernate` (S4; fast startup's kernel hibernate too).
pub const POWER_SYSTEM_HIBERNATE: u32 = 5;

/// The FDO's answer to IRP_MN_QUERY_POWER of type `power_type` for `state`: `Some(reason)`
/// fails it (STATUS_UNSUCCESSFUL, not passed down), `None` passes it down. Only system S1-S4
/// queries are judged; device-state queries and anything else pass.
pub fn query_power(
    power_type: u32,
    state: u32,
    pv_up: bool,
) -> Option<xen_platform::power::SleepRefusal> {
    use xen_platform::power::{query_sleep, SleepAnswer, SystemSleep};
    if power_type != SYSTEM_POWER_STATE {
        return None;
    }
    let sleep = match state {
        POWER_SYSTEM_SLEEPING1..=POWER_SYSTEM_SLEEPING3 => SystemSleep::Standby,
        POWER_SYSTEM_HIBERNATE => SystemSleep::Hibernate,
        _ => return None,
    };
    match query_sleep(sleep, pv_up) {
        SleepAnswer::Allow => None,
        SleepAnswer::Refuse(reason) => Some(reason),
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
            on_pnp(s, PnpMinor::Start, s, false),
            FdoAction::StartLowerThenBringUp
        );
        assert_eq!(start_completed(s, false), FdoState::NotStarted);
        let s = start_completed(s, true);
        assert_eq!(s, FdoState::Started);
        // The BAR holds Xen's frames: never stopped for rebalancing.
        assert_eq!(on_pnp(s, PnpMinor::QueryStop, s, false), FdoAction::Refuse);
        assert_eq!(
            on_pnp(s, PnpMinor::QueryRemove, s, false),
            FdoAction::SucceedAndForward {
                next: FdoState::RemovePending
            }
        );
        assert_eq!(
            on_pnp(
                FdoState::RemovePending,
                PnpMinor::CancelRemove,
                FdoState::Started,
                false
            ),
            FdoAction::SucceedAndForward {
                next: FdoState::Started
            }
        );
        assert_eq!(
            on_pnp(s, PnpMinor::SurpriseRemoval, s, false),
            FdoAction::TearDownAndForward {
                next: FdoState::SurpriseRemoved
            }
        );
        assert_eq!(
            on_pnp(FdoState::SurpriseRemoved, PnpMinor::Remove, s, false),
            FdoAction::Remove
        );
        assert_eq!(
            on_pnp(s, PnpMinor::QueryDeviceRelations, s, false),
            FdoAction::Relations
        );
        assert_eq!(
            on_pnp(s, PnpMinor::Other(0x09), s, false),
            FdoAction::Forward
        );
    }

    #[test]
    fn query_remove_is_refused_while_a_child_holds_a_paging_dump_or_hibernation_file() {
        let s = FdoState::Started;
        assert_eq!(on_pnp(s, PnpMinor::QueryRemove, s, true), FdoAction::Refuse);
        assert_eq!(on_pnp(s, PnpMinor::QueryStop, s, true), FdoAction::Refuse);
        assert_eq!(
            on_pnp(s, PnpMinor::from_code(0x16), s, false),
            FdoAction::UsageNotification
        );
        // Removal itself and surprise removal are never refused.
        assert_eq!(on_pnp(s, PnpMinor::Remove, s, true), FdoAction::Remove);
        assert_eq!(
            on_pnp(s, PnpMinor::SurpriseRemoval, s, true),
            FdoAction::TearDownAndForward {
                next: FdoState::SurpriseRemoved
            }
        );
    }

    #[test]
    fn s4_queries_fail_while_pv_is_up() {
        assert!(query_power(SYSTEM_POWER_STATE, POWER_SYSTEM_HIBERNATE, true).is_some());
        assert!(query_power(SYSTEM_POWER_STATE, POWER_SYSTEM_HIBERNATE, false).is_none());
        assert!(query_power(SYSTEM_POWER_STATE, POWER_SYSTEM_SLEEPING3, true).is_none());
        assert!(
            query_power(SYSTEM_POWER_STATE, 6, true).is_none(),
            "shutdown passes"
        );
        // A device power query with the same number is not a system S4 query.
        assert!(query_power(1, POWER_SYSTEM_HIBERNATE, true).is_none());
    }
}
