//! Hypercall issuing, as typed operations.
//!
//! The x86_64 implementation (in `xen-hypercall`) marshals each operation into Xen's ABI
//! structures and calls through the hypercall page; the simulator implements the same trait with
//! Xen's semantics for host tests. Constants passed through (HVM params, map spaces, shutdown
//! reasons) are the numbers from `xen-public-headers`.

use crate::error::XenError;
use crate::types::{DomainId, EventChannelPort, Pfn, VcpuId};

/// The hypervisor's version, from `XENVER_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct XenVersion {
    /// Major version (4 for Xen 4.17).
    pub major: u16,
    /// Minor version (17 for Xen 4.17).
    pub minor: u16,
}

/// Result of `GNTTABOP_query_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantTableSize {
    /// Frames currently in the table.
    pub nr_frames: u32,
    /// Frames the table may grow to.
    pub max_nr_frames: u32,
}

/// Result of `EVTCHNOP_status` for a local port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventChannelStatus {
    /// Not in use.
    Closed,
    /// Allocated, waiting for `remote` to bind.
    Unbound {
        /// Domain allowed to bind.
        remote: DomainId,
    },
    /// Connected to a port of another domain.
    Interdomain {
        /// Peer domain.
        remote: DomainId,
        /// Peer port.
        remote_port: EventChannelPort,
    },
    /// Bound to a physical IRQ, a virtual IRQ or an IPI; the details are not needed by the suite.
    Other {
        /// The raw `EVTCHNSTAT_*` value.
        status: u32,
    },
}

/// Typed hypercalls: every hypervisor operation the suite uses.
pub trait Hypervisor {
    /// `XENVER_version`.
    fn xen_version(&self) -> Result<XenVersion, XenError>;
    /// `HVMOP_get_param`.
    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError>;
    /// `HVMOP_set_param`.
    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError>;
    /// `XENMEM_add_to_physmap` for this domain: place frame `idx` of map space `space`
    /// (`XENMAPSPACE_shared_info`, `XENMAPSPACE_grant_table`, ...) at `gpfn`.
    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError>;
    /// `GNTTABOP_query_size` for this domain.
    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError>;
    /// `EVTCHNOP_alloc_unbound`: a new port that `remote` may bind to.
    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError>;
    /// `EVTCHNOP_bind_interdomain`: connect to `remote_port` of `remote`.
    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError>;
    /// `EVTCHNOP_send`: notify the peer of `port`.
    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError>;
    /// `EVTCHNOP_close`.
    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError>;
    /// `EVTCHNOP_unmask` (also re-raises an event that arrived while masked).
    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError>;
    /// `EVTCHNOP_bind_vcpu`: deliver `port` to `vcpu`.
    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError>;
    /// `EVTCHNOP_status` of a local port.
    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError>;
    /// `SCHEDOP_shutdown` with a `SHUTDOWN_*` reason. Returns only if Xen refused (or, for
    /// `SHUTDOWN_suspend`, when the domain resumes).
    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError>;
    /// `SCHEDOP_yield`.
    fn sched_yield(&self) -> Result<(), XenError>;
    /// `SCHEDOP_poll`: block until one of `ports` is pending or `timeout_ns` (absolute system
    /// time, 0 = none) passes.
    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError>;
}
