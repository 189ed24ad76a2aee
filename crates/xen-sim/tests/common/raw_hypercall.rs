//! Raw hypercalls into the simulator: `xen_hypercall::Hypercall` decoded as Xen decodes its
//! register arguments and ABI structs, then served by the simulated hypervisor.
//!
//! With it the guest runs `xen_hypercall::Xen<RawSim>`, the same marshalling it uses on real
//! Xen, so the end-to-end tests check that marshalling against an independent decoder.
//!
//! This is the one module of the tests with `unsafe`: reading and writing the argument
//! structures through the addresses the guest passes, as the `Hypercall` contract allows.

// Xen's constant names are kept verbatim, also in patterns.
#![allow(non_upper_case_globals)]

use core::mem::size_of;

use xen_hal::{DomainId, EventChannelPort, EventChannelStatus, Hypervisor, Pfn, VcpuId, XenError};
use xen_public_headers::event_channel::{
    evtchn_alloc_unbound, evtchn_bind_interdomain, evtchn_bind_vcpu, evtchn_close, evtchn_send,
    evtchn_status, evtchn_unmask, EVTCHNOP_alloc_unbound, EVTCHNOP_bind_interdomain,
    EVTCHNOP_bind_vcpu, EVTCHNOP_close, EVTCHNOP_send, EVTCHNOP_status, EVTCHNOP_unmask,
    EVTCHNSTAT_closed, EVTCHNSTAT_interdomain, EVTCHNSTAT_unbound,
};
use xen_public_headers::grant_table::{
    gnttab_query_size, GNTST_bad_domain, GNTST_okay, GNTTABOP_query_size,
};
use xen_public_headers::hvm::hvm_op::{xen_hvm_param, HVMOP_get_param, HVMOP_set_param};
use xen_public_headers::memory::{xen_add_to_physmap, XENMEM_add_to_physmap};
use xen_public_headers::sched::{
    sched_poll, sched_shutdown, SCHEDOP_poll, SCHEDOP_shutdown, SCHEDOP_yield,
};
use xen_public_headers::version::XENVER_version;
use xen_public_headers::xen::{
    __HYPERVISOR_event_channel_op, __HYPERVISOR_grant_table_op, __HYPERVISOR_hvm_op,
    __HYPERVISOR_memory_op, __HYPERVISOR_sched_op, __HYPERVISOR_xen_version, DOMID_SELF,
};
use xen_sim::SimHypervisor;

/// The simulator behind raw hypercalls of one guest.
#[derive(Clone)]
pub struct RawSim {
    /// The guest's typed interface the decoded calls are served by.
    pub sim: SimHypervisor,
    /// The guest's domain id (what `DOMID_SELF` names).
    pub domid: DomainId,
    /// Every (op, cmd) issued, for tests that check which hypercalls ran.
    pub log: std::rc::Rc<std::cell::RefCell<Vec<(u32, usize)>>>,
}

/// Xen's reply for a domain argument that is neither `DOMID_SELF` nor the caller: an
/// unprivileged guest gets `EPERM`.
fn own(caller: DomainId, dom: u16) -> Result<(), XenError> {
    if dom == DOMID_SELF || dom == caller.0 {
        Ok(())
    } else {
        Err(XenError::EPERM)
    }
}

fn ret(result: Result<usize, XenError>) -> isize {
    match result {
        Ok(v) => v as isize,
        Err(e) => -(e.0 as isize),
    }
}

/// Copies a `T` from the guest address `addr`.
///
/// # Safety
/// `addr` is valid for reads of `size_of::<T>()` bytes (the hypercall's contract).
unsafe fn read_arg<T>(addr: usize) -> T {
    // SAFETY: the caller guarantees `addr` is readable for a `T`; unaligned read, no reference.
    unsafe { core::ptr::read_unaligned(addr as *const T) }
}

/// Copies `value` to the guest address `addr`.
///
/// # Safety
/// `addr` is valid for writes of `size_of::<T>()` bytes (the hypercall's contract).
unsafe fn write_arg<T>(addr: usize, value: T) {
    // SAFETY: the caller guarantees `addr` is writable for a `T`; unaligned write, no reference.
    unsafe { core::ptr::write_unaligned(addr as *mut T, value) }
}

impl RawSim {
    /// Raw hypercalls for `sim`'s guest `domid`.
    pub fn new(sim: SimHypervisor, domid: DomainId) -> RawSim {
        RawSim {
            sim,
            domid,
            log: Default::default(),
        }
    }

    /// # Safety
    /// As `Hypercall::hypercall`.
    unsafe fn event_channel(&self, cmd: u32, arg: usize) -> Result<usize, XenError> {
        let sim = &self.sim;
        match cmd {
            EVTCHNOP_alloc_unbound => {
                // SAFETY: EVTCHNOP_alloc_unbound passes one `evtchn_alloc_unbound`.
                let mut op: evtchn_alloc_unbound = unsafe { read_arg(arg) };
                own(self.domid, op.dom)?;
                op.port = sim.evtchn_alloc_unbound(DomainId(op.remote_dom))?.0;
                // SAFETY: as above; `port` is OUT.
                unsafe { write_arg(arg, op) };
            }
            EVTCHNOP_bind_interdomain => {
                // SAFETY: EVTCHNOP_bind_interdomain passes one `evtchn_bind_interdomain`.
                let mut op: evtchn_bind_interdomain = unsafe { read_arg(arg) };
                op.local_port = sim
                    .evtchn_bind_interdomain(
                        DomainId(op.remote_dom),
                        EventChannelPort(op.remote_port),
                    )?
                    .0;
                // SAFETY: as above; `local_port` is OUT.
                unsafe { write_arg(arg, op) };
            }
            EVTCHNOP_send => {
                // SAFETY: EVTCHNOP_send passes one `evtchn_send`.
                let op: evtchn_send = unsafe { read_arg(arg) };
                sim.evtchn_send(EventChannelPort(op.port))?;
            }
            EVTCHNOP_close => {
                // SAFETY: EVTCHNOP_close passes one `evtchn_close`.
                let op: evtchn_close = unsafe { read_arg(arg) };
                sim.evtchn_close(EventChannelPort(op.port))?;
            }
            EVTCHNOP_unmask => {
                // SAFETY: EVTCHNOP_unmask passes one `evtchn_unmask`.
                let op: evtchn_unmask = unsafe { read_arg(arg) };
                sim.evtchn_unmask(EventChannelPort(op.port))?;
            }
            EVTCHNOP_bind_vcpu => {
                // SAFETY: EVTCHNOP_bind_vcpu passes one `evtchn_bind_vcpu`.
                let op: evtchn_bind_vcpu = unsafe { read_arg(arg) };
                sim.evtchn_bind_vcpu(EventChannelPort(op.port), VcpuId(op.vcpu))?;
            }
            EVTCHNOP_status => {
                // SAFETY: EVTCHNOP_status passes one `evtchn_status`.
                let mut op: evtchn_status = unsafe { read_arg(arg) };
                own(self.domid, op.dom)?;
                let mut u = [0u8; 8];
                op.status = match sim.evtchn_status(EventChannelPort(op.port))? {
                    EventChannelStatus::Closed => EVTCHNSTAT_closed,
                    EventChannelStatus::Unbound { remote } => {
                        u[..2].copy_from_slice(&remote.0.to_ne_bytes());
                        EVTCHNSTAT_unbound
                    }
                    EventChannelStatus::Interdomain {
                        remote,
                        remote_port,
                    } => {
                        u[..2].copy_from_slice(&remote.0.to_ne_bytes());
                        u[4..].copy_from_slice(&remote_port.0.to_ne_bytes());
                        EVTCHNSTAT_interdomain
                    }
                    EventChannelStatus::Other { status } => status,
                };
                op.vcpu = 0;
                op.u = u;
                // SAFETY: as above; `status`, `vcpu` and `u` are OUT.
                unsafe { write_arg(arg, op) };
            }
            _ => return Err(XenError::ENOSYS),
        }
        Ok(0)
    }

    /// # Safety
    /// As `Hypercall::hypercall`.
    unsafe fn dispatch(&self, op: u32, args: [usize; 5]) -> Result<usize, XenError> {
        let sim = &self.sim;
        let [cmd, arg, count, ..] = args;
        match op {
            __HYPERVISOR_xen_version if cmd == XENVER_version as usize => {
                let v = sim.xen_version()?;
                Ok((usize::from(v.major) << 16) | usize::from(v.minor))
            }
            __HYPERVISOR_hvm_op => {
                // SAFETY: HVMOP_get_param / set_param pass one `xen_hvm_param`.
                let mut param: xen_hvm_param = unsafe { read_arg(arg) };
                own(self.domid, param.domid)?;
                match cmd as u32 {
                    HVMOP_get_param => {
                        param.value = sim.hvm_get_param(param.index)?;
                        // SAFETY: as above; `value` is OUT.
                        unsafe { write_arg(arg, param) };
                    }
                    HVMOP_set_param => sim.hvm_set_param(param.index, param.value)?,
                    _ => return Err(XenError::ENOSYS),
                }
                Ok(0)
            }
            __HYPERVISOR_memory_op if cmd as u32 == XENMEM_add_to_physmap => {
                // SAFETY: XENMEM_add_to_physmap passes one `xen_add_to_physmap`.
                let map: xen_add_to_physmap = unsafe { read_arg(arg) };
                own(self.domid, map.domid)?;
                sim.add_to_physmap(map.space, map.idx, Pfn(map.gpfn))?;
                Ok(0)
            }
            __HYPERVISOR_grant_table_op if cmd as u32 == GNTTABOP_query_size => {
                if count != 1 {
                    return Err(XenError::EINVAL);
                }
                // SAFETY: GNTTABOP_query_size with count 1 passes one `gnttab_query_size`.
                let mut query: gnttab_query_size = unsafe { read_arg(arg) };
                // Xen answers in `status`, the hypercall itself succeeds.
                match own(self.domid, query.dom) {
                    Ok(()) => {
                        let size = sim.grant_table_query_size()?;
                        query.nr_frames = size.nr_frames;
                        query.max_nr_frames = size.max_nr_frames;
                        query.status = GNTST_okay;
                    }
                    Err(_) => query.status = GNTST_bad_domain,
                }
                // SAFETY: as above; the sizes and `status` are OUT.
                unsafe { write_arg(arg, query) };
                Ok(0)
            }
            __HYPERVISOR_event_channel_op => {
                // SAFETY: forwarded under the caller's contract.
                unsafe { self.event_channel(cmd as u32, arg) }
            }
            __HYPERVISOR_sched_op => match cmd as u32 {
                SCHEDOP_yield => sim.sched_yield().map(|_| 0),
                SCHEDOP_shutdown => {
                    // SAFETY: SCHEDOP_shutdown passes one `sched_shutdown`.
                    let op: sched_shutdown = unsafe { read_arg(arg) };
                    sim.sched_shutdown(op.reason).map(|_| 0)
                }
                SCHEDOP_poll => {
                    // SAFETY: SCHEDOP_poll passes one `sched_poll`.
                    let poll: sched_poll = unsafe { read_arg(arg) };
                    if poll.nr_ports > 128 {
                        return Err(XenError::EINVAL);
                    }
                    let mut ports = Vec::new();
                    for i in 0..poll.nr_ports as usize {
                        let at = poll.ports as usize + i * size_of::<u32>();
                        // SAFETY: the `ports` handle names `nr_ports` readable ports.
                        ports.push(EventChannelPort(unsafe { read_arg::<u32>(at) }));
                    }
                    sim.sched_poll(&ports, poll.timeout).map(|_| 0)
                }
                _ => Err(XenError::ENOSYS),
            },
            _ => Err(XenError::ENOSYS),
        }
    }
}

// SAFETY: every operation is decoded as Xen decodes it and served by the simulator, which
// behaves as Xen would; Xen's result (or negative errno) is returned unchanged.
unsafe impl xen_hypercall::Hypercall for RawSim {
    unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize {
        self.log.borrow_mut().push((op, args[0]));
        // SAFETY: the caller upholds the contract for `op`'s arguments, forwarded unchanged.
        ret(unsafe { self.dispatch(op, args) })
    }
}

/// `xen_hypercall::Xen` over [`RawSim`], clonable (each clone marshals through the same
/// simulator), as the guest crates take their hypervisor by value.
pub struct RawXen(pub xen_hypercall::Xen<RawSim>);

impl RawXen {
    /// The guest's typed hypervisor, marshalled through raw hypercalls.
    pub fn new(sim: SimHypervisor, domid: DomainId) -> RawXen {
        RawXen(xen_hypercall::Xen::new(RawSim::new(sim, domid)))
    }

    /// The hypercalls issued so far, as (op, first argument).
    pub fn log(&self) -> Vec<(u32, usize)> {
        self.0.hypercall().log.borrow().clone()
    }
}

impl Clone for RawXen {
    fn clone(&self) -> Self {
        RawXen(xen_hypercall::Xen::new(self.0.hypercall().clone()))
    }
}

impl Hypervisor for RawXen {
    fn xen_version(&self) -> Result<xen_hal::XenVersion, XenError> {
        self.0.xen_version()
    }
    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        self.0.hvm_get_param(index)
    }
    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        self.0.hvm_set_param(index, value)
    }
    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        self.0.add_to_physmap(space, idx, gpfn)
    }
    fn grant_table_query_size(&self) -> Result<xen_hal::GrantTableSize, XenError> {
        self.0.grant_table_query_size()
    }
    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        self.0.evtchn_alloc_unbound(remote)
    }
    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        self.0.evtchn_bind_interdomain(remote, remote_port)
    }
    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.0.evtchn_send(port)
    }
    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.0.evtchn_close(port)
    }
    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.0.evtchn_unmask(port)
    }
    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        self.0.evtchn_bind_vcpu(port, vcpu)
    }
    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        self.0.evtchn_status(port)
    }
    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        self.0.sched_shutdown(reason)
    }
    fn sched_yield(&self) -> Result<(), XenError> {
        self.0.sched_yield()
    }
    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError> {
        self.0.sched_poll(ports, timeout_ns)
    }
}
