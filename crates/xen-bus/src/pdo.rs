//! The PnP and power decisions of a child PDO (what xenpci's PDO dispatch does with each IRP),
//! as data. The Windows glue (xenpci `src/pdo.rs`) carries them out.
//!
//! Bus-driver rules followed: a PDO completes every PnP and power IRP itself (there is no
//! lower driver); an IRP it does not handle is completed with the status it arrived with; a
//! PDO is deleted on IRP_MN_REMOVE_DEVICE only once the bus has reported it missing (left it
//! out of a BusRelations answer), otherwise it stays, not started, for PnP to start again.

use xen_pv_ids::ChildClass;

use crate::interface::{status, NtStatus};

/// A child PDO's PnP state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PdoState {
    /// Created (or removed but still present), not started.
    NotStarted = 0,
    /// IRP_MN_START_DEVICE done.
    Started = 1,
    /// IRP_MN_QUERY_STOP_DEVICE succeeded.
    StopPending = 2,
    /// IRP_MN_STOP_DEVICE done (resources being rebalanced).
    Stopped = 3,
    /// IRP_MN_QUERY_REMOVE_DEVICE succeeded.
    RemovePending = 4,
    /// IRP_MN_SURPRISE_REMOVAL done.
    SurpriseRemoved = 5,
    /// Deleted (the device object is gone after this IRP).
    Deleted = 6,
}

impl PdoState {
    /// From the stored byte (unknown → `Deleted`, which refuses everything).
    pub fn from_u8(v: u8) -> PdoState {
        match v {
            0 => PdoState::NotStarted,
            1 => PdoState::Started,
            2 => PdoState::StopPending,
            3 => PdoState::Stopped,
            4 => PdoState::RemovePending,
            5 => PdoState::SurpriseRemoved,
            _ => PdoState::Deleted,
        }
    }
}

/// What the PDO must fill in to answer a query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// IRP_MN_QUERY_ID (`BusQueryIdType` 0 = device, 1 = hardware, 2 = compatible,
    /// 3 = instance); other types leave the status.
    Id(u32),
    /// IRP_MN_QUERY_DEVICE_TEXT (0 = description, 1 = location).
    Text(u32),
    /// IRP_MN_QUERY_CAPABILITIES ([`crate::capabilities`]).
    Capabilities,
    /// IRP_MN_QUERY_RESOURCE_REQUIREMENTS ([`crate::binding::resource_requirements`]).
    ResourceRequirements,
    /// IRP_MN_QUERY_RESOURCES: no boot configuration (complete with the status unchanged).
    Resources,
    /// IRP_MN_QUERY_BUS_INFORMATION ([`crate::binding::BUS_INFORMATION`]).
    BusInformation,
    /// IRP_MN_QUERY_INTERFACE ([`crate::binding::interface_answer`]).
    Interface,
    /// IRP_MN_QUERY_DEVICE_RELATIONS of type TargetDeviceRelation: the PDO itself.
    TargetRelation,
}

/// The decision for one PnP IRP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PdoAction {
    /// Move to `next` and complete with STATUS_SUCCESS.
    Succeed {
        /// The new state.
        next: PdoState,
    },
    /// Complete with this status, state unchanged.
    Fail(NtStatus),
    /// Answer the query, then complete with the answer's status.
    Answer(Query),
    /// Complete with the status the IRP arrived with (not ours to answer).
    LeaveStatus,
    /// IRP_MN_REMOVE_DEVICE of a child reported missing: free its context, complete with
    /// success and delete the device object.
    Delete,
}

/// IRP_MN_* codes of the PnP IRPs (wdm.h).
pub mod minor {
    /// IRP_MN_START_DEVICE.
    pub const START_DEVICE: u8 = 0x00;
    /// IRP_MN_QUERY_REMOVE_DEVICE.
    pub const QUERY_REMOVE_DEVICE: u8 = 0x01;
    /// IRP_MN_REMOVE_DEVICE.
    pub const REMOVE_DEVICE: u8 = 0x02;
    /// IRP_MN_CANCEL_REMOVE_DEVICE.
    pub const CANCEL_REMOVE_DEVICE: u8 = 0x03;
    /// IRP_MN_STOP_DEVICE.
    pub const STOP_DEVICE: u8 = 0x04;
    /// IRP_MN_QUERY_STOP_DEVICE.
    pub const QUERY_STOP_DEVICE: u8 = 0x05;
    /// IRP_MN_CANCEL_STOP_DEVICE.
    pub const CANCEL_STOP_DEVICE: u8 = 0x06;
    /// IRP_MN_QUERY_DEVICE_RELATIONS.
    pub const QUERY_DEVICE_RELATIONS: u8 = 0x07;
    /// IRP_MN_QUERY_INTERFACE.
    pub const QUERY_INTERFACE: u8 = 0x08;
    /// IRP_MN_QUERY_CAPABILITIES.
    pub const QUERY_CAPABILITIES: u8 = 0x09;
    /// IRP_MN_QUERY_RESOURCES.
    pub const QUERY_RESOURCES: u8 = 0x0A;
    /// IRP_MN_QUERY_RESOURCE_REQUIREMENTS.
    pub const QUERY_RESOURCE_REQUIREMENTS: u8 = 0x0B;
    /// IRP_MN_QUERY_DEVICE_TEXT.
    pub const QUERY_DEVICE_TEXT: u8 = 0x0C;
    /// IRP_MN_READ_CONFIG.
    pub const READ_CONFIG: u8 = 0x0F;
    /// IRP_MN_WRITE_CONFIG.
    pub const WRITE_CONFIG: u8 = 0x10;
    /// IRP_MN_EJECT.
    pub const EJECT: u8 = 0x11;
    /// IRP_MN_QUERY_ID.
    pub const QUERY_ID: u8 = 0x13;
    /// IRP_MN_QUERY_PNP_DEVICE_STATE.
    pub const QUERY_PNP_DEVICE_STATE: u8 = 0x14;
    /// IRP_MN_QUERY_BUS_INFORMATION.
    pub const QUERY_BUS_INFORMATION: u8 = 0x15;
    /// IRP_MN_DEVICE_USAGE_NOTIFICATION.
    pub const DEVICE_USAGE_NOTIFICATION: u8 = 0x16;
    /// IRP_MN_SURPRISE_REMOVAL.
    pub const SURPRISE_REMOVAL: u8 = 0x17;
}

/// `TargetDeviceRelation`.
pub const TARGET_DEVICE_RELATION: u32 = 4;

/// The state saved at IRP_MN_QUERY_STOP/REMOVE, restored by the cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PdoContext {
    /// The current state.
    pub state: PdoState,
    /// The state before the last query-stop / query-remove.
    pub before_query: PdoState,
    /// The bus has left this child out of a BusRelations answer.
    pub reported_missing: bool,
    /// The class of the child.
    pub class: ChildClass,
}

/// The decision for PnP minor `code` (`relation_type`: the QueryDeviceRelations type, when
/// the IRP is one).
pub fn on_pnp(ctx: &PdoContext, code: u8, relation_type: u32) -> PdoAction {
    use minor::*;
    if ctx.state == PdoState::Deleted {
        return PdoAction::Fail(STATUS_NO_SUCH_DEVICE);
    }
    match code {
        START_DEVICE => {
            if ctx.reported_missing {
                PdoAction::Fail(STATUS_NO_SUCH_DEVICE)
            } else {
                PdoAction::Succeed {
                    next: PdoState::Started,
                }
            }
        }
        QUERY_STOP_DEVICE => PdoAction::Succeed {
            next: PdoState::StopPending,
        },
        CANCEL_STOP_DEVICE => PdoAction::Succeed {
            next: if ctx.state == PdoState::StopPending {
                ctx.before_query
            } else {
                ctx.state
            },
        },
        STOP_DEVICE => PdoAction::Succeed {
            next: PdoState::Stopped,
        },
        QUERY_REMOVE_DEVICE => PdoAction::Succeed {
            next: PdoState::RemovePending,
        },
        CANCEL_REMOVE_DEVICE => PdoAction::Succeed {
            next: if ctx.state == PdoState::RemovePending {
                ctx.before_query
            } else {
                ctx.state
            },
        },
        SURPRISE_REMOVAL => PdoAction::Succeed {
            next: PdoState::SurpriseRemoved,
        },
        REMOVE_DEVICE => {
            if ctx.reported_missing {
                PdoAction::Delete
            } else {
                // Still present (disabled or uninstalled by the user): the PDO stays.
                PdoAction::Succeed {
                    next: PdoState::NotStarted,
                }
            }
        }
        QUERY_ID => PdoAction::Answer(Query::Id(relation_type)),
        QUERY_DEVICE_TEXT => PdoAction::Answer(Query::Text(relation_type)),
        QUERY_CAPABILITIES => PdoAction::Answer(Query::Capabilities),
        QUERY_RESOURCE_REQUIREMENTS => PdoAction::Answer(Query::ResourceRequirements),
        QUERY_RESOURCES => PdoAction::Answer(Query::Resources),
        QUERY_BUS_INFORMATION => PdoAction::Answer(Query::BusInformation),
        QUERY_INTERFACE => PdoAction::Answer(Query::Interface),
        QUERY_DEVICE_RELATIONS if relation_type == TARGET_DEVICE_RELATION => {
            PdoAction::Answer(Query::TargetRelation)
        }
        READ_CONFIG | WRITE_CONFIG => PdoAction::Fail(status::NOT_SUPPORTED),
        // EjectSupported is not set; the toolstack detaches devices, not Windows.
        EJECT => PdoAction::Fail(status::NOT_SUPPORTED),
        // Paging, dump and hibernation files live on PV disks: accepted for vbds only. (xenpci's
        // glue handles the vbd case itself before asking here: it sends the notification to the
        // parent's stack and counts it, see `xenpci::usage`.)
        DEVICE_USAGE_NOTIFICATION => {
            if ctx.class == ChildClass::Vbd {
                PdoAction::Succeed { next: ctx.state }
            } else {
                PdoAction::Fail(status::NOT_SUPPORTED)
            }
        }
        QUERY_PNP_DEVICE_STATE => PdoAction::Succeed { next: ctx.state },
        _ => PdoAction::LeaveStatus,
    }
}

/// `STATUS_NO_SUCH_DEVICE`.
pub const STATUS_NO_SUCH_DEVICE: NtStatus = 0xC000_000E_u32 as i32;

/// The decision for a power IRP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Succeed (for IRP_MN_SET_POWER of a device state: record it with `PoSetPowerState`
    /// first).
    Succeed,
    /// Fail with this status.
    Fail(NtStatus),
    /// Complete with the status unchanged.
    LeaveStatus,
}

/// IRP_MN_SET_POWER.
pub const IRP_MN_SET_POWER: u8 = 0x02;
/// IRP_MN_QUERY_POWER.
pub const IRP_MN_QUERY_POWER: u8 = 0x03;
/// IRP_MN_WAIT_WAKE.
pub const IRP_MN_WAIT_WAKE: u8 = 0x00;

/// The decision for power minor `code`: the PDO has no hardware, every state is fine; no wake.
pub fn on_power(state: PdoState, code: u8) -> PowerAction {
    if state == PdoState::Deleted || state == PdoState::SurpriseRemoved {
        return PowerAction::Fail(STATUS_NO_SUCH_DEVICE);
    }
    match code {
        IRP_MN_SET_POWER | IRP_MN_QUERY_POWER => PowerAction::Succeed,
        IRP_MN_WAIT_WAKE => PowerAction::Fail(status::NOT_SUPPORTED),
        _ => PowerAction::LeaveStatus,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minor::*;

    fn ctx(state: PdoState, missing: bool) -> PdoContext {
        PdoContext {
            state,
            before_query: PdoState::Started,
            reported_missing: missing,
            class: ChildClass::Vbd,
        }
    }

    #[test]
    fn lifecycle() {
        let c = ctx(PdoState::NotStarted, false);
        assert_eq!(
            on_pnp(&c, START_DEVICE, 0),
            PdoAction::Succeed {
                next: PdoState::Started
            }
        );
        let c = ctx(PdoState::RemovePending, false);
        assert_eq!(
            on_pnp(&c, CANCEL_REMOVE_DEVICE, 0),
            PdoAction::Succeed {
                next: PdoState::Started
            }
        );
        assert_eq!(
            on_pnp(&c, REMOVE_DEVICE, 0),
            PdoAction::Succeed {
                next: PdoState::NotStarted
            }
        );
        // Reported missing (hot-unplugged or backend gone): removed for good.
        let gone = ctx(PdoState::SurpriseRemoved, true);
        assert_eq!(on_pnp(&gone, REMOVE_DEVICE, 0), PdoAction::Delete);
        assert_eq!(
            on_pnp(&gone, START_DEVICE, 0),
            PdoAction::Fail(STATUS_NO_SUCH_DEVICE)
        );
        let deleted = ctx(PdoState::Deleted, true);
        assert_eq!(
            on_pnp(&deleted, QUERY_ID, 1),
            PdoAction::Fail(STATUS_NO_SUCH_DEVICE)
        );
        let c = ctx(PdoState::StopPending, false);
        assert_eq!(
            on_pnp(&c, CANCEL_STOP_DEVICE, 0),
            PdoAction::Succeed {
                next: PdoState::Started
            }
        );
    }

    #[test]
    fn queries_and_refusals() {
        let c = ctx(PdoState::Started, false);
        assert_eq!(on_pnp(&c, QUERY_ID, 3), PdoAction::Answer(Query::Id(3)));
        assert_eq!(
            on_pnp(&c, QUERY_INTERFACE, 0),
            PdoAction::Answer(Query::Interface)
        );
        assert_eq!(
            on_pnp(&c, QUERY_DEVICE_RELATIONS, TARGET_DEVICE_RELATION),
            PdoAction::Answer(Query::TargetRelation)
        );
        // BusRelations of a PDO (no children of its own): not ours.
        assert_eq!(
            on_pnp(&c, QUERY_DEVICE_RELATIONS, 0),
            PdoAction::LeaveStatus
        );
        assert_eq!(
            on_pnp(&c, READ_CONFIG, 0),
            PdoAction::Fail(status::NOT_SUPPORTED)
        );
        assert_eq!(
            on_pnp(&c, DEVICE_USAGE_NOTIFICATION, 0),
            PdoAction::Succeed {
                next: PdoState::Started
            }
        );
        let nic = PdoContext {
            class: ChildClass::Vif,
            ..c
        };
        assert_eq!(
            on_pnp(&nic, DEVICE_USAGE_NOTIFICATION, 0),
            PdoAction::Fail(status::NOT_SUPPORTED)
        );
        assert_eq!(on_pnp(&c, 0x18, 0), PdoAction::LeaveStatus);
        assert_eq!(
            on_power(PdoState::Started, IRP_MN_SET_POWER),
            PowerAction::Succeed
        );
        assert_eq!(
            on_power(PdoState::Started, IRP_MN_WAIT_WAKE),
            PowerAction::Fail(status::NOT_SUPPORTED)
        );
        assert_eq!(on_power(PdoState::Started, 0x01), PowerAction::LeaveStatus);
        assert_eq!(
            on_power(PdoState::SurpriseRemoved, IRP_MN_SET_POWER),
            PowerAction::Fail(STATUS_NO_SUCH_DEVICE)
        );
        for v in 0..=255u8 {
            let s = PdoState::from_u8(v);
            if v <= 6 {
                assert_eq!(s as u8, v);
            } else {
                assert_eq!(s, PdoState::Deleted);
            }
        }
    }
}
