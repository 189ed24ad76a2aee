//! A recording fake of [`Hypervisor`] for tests of the crates built on it (feature `test-utils`).
//!
//! It records every call in order, answers from a small amount of state (HVM params, the grant
//! table size, event channel ports it handed out) and can be told to fail the next call. It has
//! no shared memory: Xen's effects on `shared_info` or grant entries are the test's to play. The
//! simulator with Xen's full semantics is `xen-sim`.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use crate::error::XenError;
use crate::hypervisor::{EventChannelStatus, GrantTableSize, Hypervisor, XenVersion};
use crate::types::{DomainId, EventChannelPort, Pfn, VcpuId};

/// One call made to a [`RecordingHypervisor`], with its arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HypervisorCall {
    /// [`Hypervisor::xen_version`].
    XenVersion,
    /// [`Hypervisor::hvm_get_param`].
    HvmGetParam {
        /// Parameter index.
        index: u32,
    },
    /// [`Hypervisor::hvm_set_param`].
    HvmSetParam {
        /// Parameter index.
        index: u32,
        /// New value.
        value: u64,
    },
    /// [`Hypervisor::add_to_physmap`].
    AddToPhysmap {
        /// Map space.
        space: u32,
        /// Index in the map space.
        idx: u64,
        /// Where it was placed.
        gpfn: Pfn,
    },
    /// [`Hypervisor::grant_table_query_size`].
    GrantTableQuerySize,
    /// [`Hypervisor::evtchn_alloc_unbound`].
    EvtchnAllocUnbound {
        /// Domain allowed to bind.
        remote: DomainId,
    },
    /// [`Hypervisor::evtchn_bind_interdomain`].
    EvtchnBindInterdomain {
        /// Peer domain.
        remote: DomainId,
        /// Peer port.
        remote_port: EventChannelPort,
    },
    /// [`Hypervisor::evtchn_send`].
    EvtchnSend {
        /// Port notified.
        port: EventChannelPort,
    },
    /// [`Hypervisor::evtchn_close`].
    EvtchnClose {
        /// Port closed.
        port: EventChannelPort,
    },
    /// [`Hypervisor::evtchn_unmask`].
    EvtchnUnmask {
        /// Port unmasked.
        port: EventChannelPort,
    },
    /// [`Hypervisor::evtchn_bind_vcpu`].
    EvtchnBindVcpu {
        /// Port.
        port: EventChannelPort,
        /// Target vCPU.
        vcpu: VcpuId,
    },
    /// [`Hypervisor::evtchn_status`].
    EvtchnStatus {
        /// Port queried.
        port: EventChannelPort,
    },
    /// [`Hypervisor::sched_shutdown`].
    SchedShutdown {
        /// `SHUTDOWN_*` reason.
        reason: u32,
    },
    /// [`Hypervisor::sched_yield`].
    SchedYield,
    /// [`Hypervisor::sched_poll`].
    SchedPoll {
        /// Ports polled.
        ports: Vec<EventChannelPort>,
        /// Absolute timeout.
        timeout_ns: u64,
    },
}

/// A [`Hypervisor`] that records calls; see the module documentation.
///
/// Event channel ports are handed out from 1 upwards (port 0 is never valid in Xen); `send`,
/// `close`, `unmask`, `bind_vcpu` and `status` of a port it did not hand out fail with `EINVAL`,
/// as Xen's do for a closed port.
pub struct RecordingHypervisor {
    calls: RefCell<Vec<HypervisorCall>>,
    version: Cell<XenVersion>,
    params: RefCell<BTreeMap<u32, u64>>,
    grant_table_size: Cell<GrantTableSize>,
    next_port: Cell<u32>,
    ports: RefCell<BTreeMap<u32, EventChannelStatus>>,
    failures: RefCell<VecDeque<XenError>>,
}

impl Default for RecordingHypervisor {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingHypervisor {
    /// A fake of Xen 4.17 with a grant table of 1 frame out of 32 and no params set.
    pub fn new() -> Self {
        RecordingHypervisor {
            calls: RefCell::new(Vec::new()),
            version: Cell::new(XenVersion {
                major: 4,
                minor: 17,
            }),
            params: RefCell::new(BTreeMap::new()),
            grant_table_size: Cell::new(GrantTableSize {
                nr_frames: 1,
                max_nr_frames: 32,
            }),
            next_port: Cell::new(1),
            ports: RefCell::new(BTreeMap::new()),
            failures: RefCell::new(VecDeque::new()),
        }
    }

    /// The calls made so far, oldest first.
    pub fn calls(&self) -> Vec<HypervisorCall> {
        self.calls.borrow().clone()
    }

    /// The calls made so far, forgetting them.
    pub fn take_calls(&self) -> Vec<HypervisorCall> {
        core::mem::take(&mut *self.calls.borrow_mut())
    }

    /// Sets what `xen_version` answers.
    pub fn set_version(&self, version: XenVersion) {
        self.version.set(version);
    }

    /// Sets an HVM param as the toolstack would.
    pub fn set_param(&self, index: u32, value: u64) {
        self.params.borrow_mut().insert(index, value);
    }

    /// Sets what `grant_table_query_size` answers.
    pub fn set_grant_table_size(&self, size: GrantTableSize) {
        self.grant_table_size.set(size);
    }

    /// The next port handed out will be `port` (then `port + 1`, ...).
    pub fn set_next_port(&self, port: u32) {
        self.next_port.set(port);
    }

    /// Opens `port` with `status` as the toolstack would (the xenstore and console ports named by
    /// HVM params), so that `send`, `unmask`, ... accept it.
    pub fn add_port(&self, port: EventChannelPort, status: EventChannelStatus) {
        self.ports.borrow_mut().insert(port.0, status);
    }

    /// Makes the next call (of any kind) fail with `error`; queued failures apply in order.
    pub fn fail_next(&self, error: XenError) {
        self.failures.borrow_mut().push_back(error);
    }

    /// The status of `port` as this fake sees it (`Closed` if never handed out or closed).
    pub fn port_status(&self, port: EventChannelPort) -> EventChannelStatus {
        self.ports
            .borrow()
            .get(&port.0)
            .copied()
            .unwrap_or(EventChannelStatus::Closed)
    }

    /// Records `call` and returns a queued failure, if any.
    fn record(&self, call: HypervisorCall) -> Result<(), XenError> {
        self.calls.borrow_mut().push(call);
        match self.failures.borrow_mut().pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn new_port(&self, status: EventChannelStatus) -> EventChannelPort {
        let port = self.next_port.get();
        self.next_port.set(port.wrapping_add(1));
        self.ports.borrow_mut().insert(port, status);
        EventChannelPort(port)
    }

    fn open_port(&self, port: EventChannelPort) -> Result<(), XenError> {
        if self.ports.borrow().contains_key(&port.0) {
            Ok(())
        } else {
            Err(XenError::EINVAL)
        }
    }
}

impl Hypervisor for RecordingHypervisor {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        self.record(HypervisorCall::XenVersion)?;
        Ok(self.version.get())
    }

    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        self.record(HypervisorCall::HvmGetParam { index })?;
        Ok(self.params.borrow().get(&index).copied().unwrap_or(0))
    }

    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        self.record(HypervisorCall::HvmSetParam { index, value })?;
        self.params.borrow_mut().insert(index, value);
        Ok(())
    }

    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        self.record(HypervisorCall::AddToPhysmap { space, idx, gpfn })
    }

    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        self.record(HypervisorCall::GrantTableQuerySize)?;
        Ok(self.grant_table_size.get())
    }

    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        self.record(HypervisorCall::EvtchnAllocUnbound { remote })?;
        Ok(self.new_port(EventChannelStatus::Unbound { remote }))
    }

    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        self.record(HypervisorCall::EvtchnBindInterdomain {
            remote,
            remote_port,
        })?;
        Ok(self.new_port(EventChannelStatus::Interdomain {
            remote,
            remote_port,
        }))
    }

    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record(HypervisorCall::EvtchnSend { port })?;
        self.open_port(port)
    }

    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record(HypervisorCall::EvtchnClose { port })?;
        self.open_port(port)?;
        self.ports.borrow_mut().remove(&port.0);
        Ok(())
    }

    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.record(HypervisorCall::EvtchnUnmask { port })?;
        self.open_port(port)
    }

    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        self.record(HypervisorCall::EvtchnBindVcpu { port, vcpu })?;
        self.open_port(port)
    }

    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        self.record(HypervisorCall::EvtchnStatus { port })?;
        Ok(self.port_status(port))
    }

    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        self.record(HypervisorCall::SchedShutdown { reason })
    }

    fn sched_yield(&self) -> Result<(), XenError> {
        self.record(HypervisorCall::SchedYield)
    }

    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError> {
        self.record(HypervisorCall::SchedPoll {
            ports: ports.to_vec(),
            timeout_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_calls_and_hands_out_ports() {
        let hv = RecordingHypervisor::new();
        hv.set_next_port(5);
        let a = hv.evtchn_alloc_unbound(DomainId::DOM0).unwrap();
        let b = hv
            .evtchn_bind_interdomain(DomainId(3), EventChannelPort(9))
            .unwrap();
        assert_eq!((a, b), (EventChannelPort(5), EventChannelPort(6)));
        assert_eq!(
            hv.port_status(b),
            EventChannelStatus::Interdomain {
                remote: DomainId(3),
                remote_port: EventChannelPort(9)
            }
        );
        hv.evtchn_close(a).unwrap();
        assert_eq!(hv.evtchn_close(a), Err(XenError::EINVAL));
        assert_eq!(hv.evtchn_send(EventChannelPort(77)), Err(XenError::EINVAL));
        hv.fail_next(XenError::ENOSPC);
        assert_eq!(
            hv.evtchn_alloc_unbound(DomainId::DOM0),
            Err(XenError::ENOSPC)
        );
        assert!(hv.evtchn_alloc_unbound(DomainId::DOM0).is_ok());
        hv.add_port(
            EventChannelPort(40),
            EventChannelStatus::Other { status: 4 },
        );
        assert_eq!(hv.evtchn_unmask(EventChannelPort(40)), Ok(()));
        hv.set_param(1, 0xfeed);
        assert_eq!(hv.hvm_get_param(1), Ok(0xfeed));
        let calls = hv.take_calls();
        assert_eq!(calls.len(), 9);
        assert_eq!(calls[3], HypervisorCall::EvtchnClose { port: a });
        assert_eq!(calls[8], HypervisorCall::HvmGetParam { index: 1 });
        assert!(hv.calls().is_empty());
    }
}
