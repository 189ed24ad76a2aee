//! Event channel operations (`event_channel.h`), issued with `__HYPERVISOR_event_channel_op`.

use crate::xen::{domid_t, xen_ulong_t};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// An event channel port number, local to one domain.
pub type evtchn_port_t = u32;

/// Bind a local port to a remote domain's unbound port ([`evtchn_bind_interdomain`]).
pub const EVTCHNOP_bind_interdomain: u32 = 0;
/// Bind a port to a virtual IRQ.
pub const EVTCHNOP_bind_virq: u32 = 1;
/// Bind a port to a physical IRQ.
pub const EVTCHNOP_bind_pirq: u32 = 2;
/// Close a port ([`evtchn_close`]).
pub const EVTCHNOP_close: u32 = 3;
/// Notify the remote end of a port ([`evtchn_send`]).
pub const EVTCHNOP_send: u32 = 4;
/// Query the state of a port ([`evtchn_status`]).
pub const EVTCHNOP_status: u32 = 5;
/// Allocate a port that a given remote domain may bind to ([`evtchn_alloc_unbound`]).
pub const EVTCHNOP_alloc_unbound: u32 = 6;
/// Bind a port for inter-vCPU notifications.
pub const EVTCHNOP_bind_ipi: u32 = 7;
/// Choose the vCPU a port notifies ([`evtchn_bind_vcpu`]).
pub const EVTCHNOP_bind_vcpu: u32 = 8;
/// Unmask a port and resend a pending notification ([`evtchn_unmask`]).
pub const EVTCHNOP_unmask: u32 = 9;
/// Close all ports of a domain.
pub const EVTCHNOP_reset: u32 = 10;
/// Switch to the FIFO event channel ABI.
pub const EVTCHNOP_init_control: u32 = 11;
/// Add an event array page (FIFO ABI).
pub const EVTCHNOP_expand_array: u32 = 12;
/// Set a port's priority (FIFO ABI).
pub const EVTCHNOP_set_priority: u32 = 13;

/// [`evtchn_status::status`]: the port is free.
pub const EVTCHNSTAT_closed: u32 = 0;
/// [`evtchn_status::status`]: allocated, waiting for the remote domain to bind.
pub const EVTCHNSTAT_unbound: u32 = 1;
/// [`evtchn_status::status`]: connected to a remote domain's port.
pub const EVTCHNSTAT_interdomain: u32 = 2;
/// [`evtchn_status::status`]: bound to a physical IRQ.
pub const EVTCHNSTAT_pirq: u32 = 3;
/// [`evtchn_status::status`]: bound to a virtual IRQ.
pub const EVTCHNSTAT_virq: u32 = 4;
/// [`evtchn_status::status`]: bound to an inter-vCPU notification.
pub const EVTCHNSTAT_ipi: u32 = 5;

/// Number of ports of the 2-level event channel ABI on x86_64.
pub const EVTCHN_2L_NR_CHANNELS: usize = 4096;

/// `EVTCHNOP_alloc_unbound` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_alloc_unbound {
    /// IN: domain that owns the new port (`DOMID_SELF` for unprivileged callers).
    pub dom: domid_t,
    /// IN: domain allowed to bind to it.
    pub remote_dom: domid_t,
    /// OUT: the allocated port.
    pub port: evtchn_port_t,
}

/// `EVTCHNOP_bind_interdomain` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_bind_interdomain {
    /// IN: domain owning the unbound port.
    pub remote_dom: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 2],
    /// IN: the remote unbound port.
    pub remote_port: evtchn_port_t,
    /// OUT: the newly bound local port.
    pub local_port: evtchn_port_t,
}

/// `EVTCHNOP_close` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_close {
    /// IN: local port to close.
    pub port: evtchn_port_t,
}

/// `EVTCHNOP_send` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_send {
    /// IN: local port whose remote end is notified.
    pub port: evtchn_port_t,
}

/// `EVTCHNOP_unmask` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_unmask {
    /// IN: local port to unmask.
    pub port: evtchn_port_t,
}

/// `EVTCHNOP_bind_vcpu` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_bind_vcpu {
    /// IN: local port.
    pub port: evtchn_port_t,
    /// IN: vCPU to notify.
    pub vcpu: u32,
}

/// `EVTCHNOP_status` argument.
///
/// The C struct ends in a union `u` whose meaning depends on `status`; here it is kept as raw
/// bytes with decoding accessors.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_status {
    /// IN: domain owning the port (`DOMID_SELF` for unprivileged callers).
    pub dom: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 2],
    /// IN: the port.
    pub port: evtchn_port_t,
    /// OUT: `EVTCHNSTAT_*`.
    pub status: u32,
    /// OUT: vCPU the port notifies.
    pub vcpu: u32,
    /// OUT: the union `u`; decode with the accessors.
    pub u: [u8; 8],
}

/// The `u.unbound` member of [`evtchn_status`] (anonymous in C).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_status_unbound {
    /// Domain allowed to bind.
    pub dom: domid_t,
}

/// The `u.interdomain` member of [`evtchn_status`] (anonymous in C).
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct evtchn_status_interdomain {
    /// Remote domain.
    pub dom: domid_t,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 2],
    /// Remote port.
    pub port: evtchn_port_t,
}

impl evtchn_status {
    fn u_word(&self, index: usize) -> u32 {
        let [a, b, c, d, e, f, g, h] = self.u;
        if index == 0 {
            u32::from_ne_bytes([a, b, c, d])
        } else {
            u32::from_ne_bytes([e, f, g, h])
        }
    }

    /// `u.unbound`, meaningful when `status == EVTCHNSTAT_unbound`.
    pub fn unbound(&self) -> evtchn_status_unbound {
        let [a, b, ..] = self.u;
        evtchn_status_unbound {
            dom: domid_t::from_ne_bytes([a, b]),
        }
    }

    /// `u.interdomain`, meaningful when `status == EVTCHNSTAT_interdomain`.
    pub fn interdomain(&self) -> evtchn_status_interdomain {
        let [a, b, c, d, ..] = self.u;
        evtchn_status_interdomain {
            dom: domid_t::from_ne_bytes([a, b]),
            _pad0: [c, d],
            port: self.u_word(1),
        }
    }

    /// `u.pirq`, meaningful when `status == EVTCHNSTAT_pirq`.
    pub fn pirq(&self) -> u32 {
        self.u_word(0)
    }

    /// `u.virq`, meaningful when `status == EVTCHNSTAT_virq`.
    pub fn virq(&self) -> u32 {
        self.u_word(0)
    }
}

const _: () = assert!(EVTCHN_2L_NR_CHANNELS == 64 * core::mem::size_of::<xen_ulong_t>() * 8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_union_decoding() {
        let status = evtchn_status {
            u: [0x34, 0x12, 0, 0, 0x78, 0x56, 0, 0],
            ..Default::default()
        };
        assert_eq!(status.unbound().dom, 0x1234);
        assert_eq!(status.interdomain().dom, 0x1234);
        assert_eq!(status.interdomain().port, 0x5678);
        assert_eq!(status.pirq(), 0x1234);
        assert_eq!(status.virq(), 0x1234);
    }
}
