//! [`Hypervisor`] over raw hypercalls: each operation marshalled into its ABI struct.
//!
//! Every hypercall here passes a pointer to a local of the exact ABI type the operation reads
//! and writes, so each `unsafe` block's argument is valid for the whole call.
#![allow(unsafe_code)]
// Xen's constant names are kept verbatim, also in patterns.
#![allow(non_upper_case_globals)]

use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor, Pfn, VcpuId,
    XenError, XenVersion,
};
use xen_public_headers::event_channel::{
    evtchn_alloc_unbound, evtchn_bind_interdomain, evtchn_bind_vcpu, evtchn_close, evtchn_send,
    evtchn_status, evtchn_unmask, EVTCHNOP_alloc_unbound, EVTCHNOP_bind_interdomain,
    EVTCHNOP_bind_vcpu, EVTCHNOP_close, EVTCHNOP_send, EVTCHNOP_status, EVTCHNOP_unmask,
    EVTCHNSTAT_closed, EVTCHNSTAT_interdomain, EVTCHNSTAT_unbound,
};
use xen_public_headers::grant_table::{gnttab_query_size, GNTST_okay, GNTTABOP_query_size};
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

use crate::Hypercall;

/// Most ports one `SCHEDOP_poll` may name (Xen refuses more with `EINVAL`).
pub const MAX_POLL_PORTS: usize = 128;

/// The typed hypervisor operations over a raw [`Hypercall`] (the hypercall page, or a fake).
pub struct Xen<H: Hypercall> {
    hypercall: H,
}

impl<H: Hypercall> Xen<H> {
    /// Wraps a raw hypercall issuer.
    pub fn new(hypercall: H) -> Self {
        Xen { hypercall }
    }

    /// The raw issuer.
    pub fn hypercall(&self) -> &H {
        &self.hypercall
    }

    /// Gives the raw issuer back.
    pub fn into_inner(self) -> H {
        self.hypercall
    }

    /// Issues `op(cmd, arg)`, the form of every "command + argument struct" hypercall.
    ///
    /// # Safety
    /// `op` with `cmd` must read and write at most a `T` at its second argument.
    unsafe fn call<T>(&self, op: u32, cmd: u32, arg: &mut T) -> Result<usize, XenError> {
        let pointer = core::ptr::from_mut(arg) as usize;
        // SAFETY: `arg` is a valid, exclusive `T` for the whole call, and the caller guarantees
        // that the operation accesses nothing beyond it.
        XenError::check(unsafe {
            self.hypercall
                .hypercall(op, [cmd as usize, pointer, 0, 0, 0])
        })
    }

    fn event_channel<T>(&self, cmd: u32, arg: &mut T) -> Result<usize, XenError> {
        // SAFETY: every caller below passes the `evtchn_*` struct that `cmd` takes.
        unsafe { self.call(__HYPERVISOR_event_channel_op, cmd, arg) }
    }
}

impl<H: Hypercall> Hypervisor for Xen<H> {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        // SAFETY: XENVER_version takes no argument (NULL) and returns the version in the result.
        let ret = unsafe {
            self.hypercall.hypercall(
                __HYPERVISOR_xen_version,
                [XENVER_version as usize, 0, 0, 0, 0],
            )
        };
        let version = XenError::check(ret)?;
        Ok(XenVersion {
            major: (version >> 16) as u16,
            minor: version as u16,
        })
    }

    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        let mut param = xen_hvm_param {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value: 0,
        };
        // SAFETY: HVMOP_get_param reads and writes one `xen_hvm_param`.
        unsafe { self.call(__HYPERVISOR_hvm_op, HVMOP_get_param, &mut param) }?;
        Ok(param.value)
    }

    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        let mut param = xen_hvm_param {
            domid: DOMID_SELF,
            pad: 0,
            index,
            value,
        };
        // SAFETY: HVMOP_set_param reads one `xen_hvm_param`.
        unsafe { self.call(__HYPERVISOR_hvm_op, HVMOP_set_param, &mut param) }?;
        Ok(())
    }

    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        let mut map = xen_add_to_physmap {
            domid: DOMID_SELF,
            size: 0,
            space,
            idx,
            gpfn: gpfn.0,
        };
        // SAFETY: XENMEM_add_to_physmap reads one `xen_add_to_physmap`. What it maps at `gpfn`
        // (replacing what was there) is the caller's concern, as the trait documents.
        unsafe { self.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, &mut map) }?;
        Ok(())
    }

    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        let mut query = gnttab_query_size {
            dom: DOMID_SELF,
            ..Default::default()
        };
        let pointer = core::ptr::from_mut(&mut query) as usize;
        // SAFETY: GNTTABOP_query_size with count 1 reads and writes one `gnttab_query_size`,
        // which `query` is, for the whole call.
        let ret = unsafe {
            self.hypercall.hypercall(
                __HYPERVISOR_grant_table_op,
                [GNTTABOP_query_size as usize, pointer, 1, 0, 0],
            )
        };
        XenError::check(ret)?;
        if query.status != GNTST_okay {
            // GNTST_* codes are not errno values; the only ones query_size yields mean "bad
            // domain" or "general error", both an invalid request from here.
            return Err(XenError::EINVAL);
        }
        Ok(GrantTableSize {
            nr_frames: query.nr_frames,
            max_nr_frames: query.max_nr_frames,
        })
    }

    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        let mut op = evtchn_alloc_unbound {
            dom: DOMID_SELF,
            remote_dom: remote.0,
            port: 0,
        };
        self.event_channel(EVTCHNOP_alloc_unbound, &mut op)?;
        Ok(EventChannelPort(op.port))
    }

    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        let mut op = evtchn_bind_interdomain {
            remote_dom: remote.0,
            remote_port: remote_port.0,
            ..Default::default()
        };
        self.event_channel(EVTCHNOP_bind_interdomain, &mut op)?;
        Ok(EventChannelPort(op.local_port))
    }

    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        let mut op = evtchn_send { port: port.0 };
        self.event_channel(EVTCHNOP_send, &mut op).map(drop)
    }

    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        let mut op = evtchn_close { port: port.0 };
        self.event_channel(EVTCHNOP_close, &mut op).map(drop)
    }

    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        let mut op = evtchn_unmask { port: port.0 };
        self.event_channel(EVTCHNOP_unmask, &mut op).map(drop)
    }

    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        let mut op = evtchn_bind_vcpu {
            port: port.0,
            vcpu: vcpu.0,
        };
        self.event_channel(EVTCHNOP_bind_vcpu, &mut op).map(drop)
    }

    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        let mut op = evtchn_status {
            dom: DOMID_SELF,
            port: port.0,
            ..Default::default()
        };
        self.event_channel(EVTCHNOP_status, &mut op)?;
        Ok(match op.status {
            EVTCHNSTAT_closed => EventChannelStatus::Closed,
            EVTCHNSTAT_unbound => EventChannelStatus::Unbound {
                remote: DomainId(op.unbound().dom),
            },
            EVTCHNSTAT_interdomain => {
                let peer = op.interdomain();
                EventChannelStatus::Interdomain {
                    remote: DomainId(peer.dom),
                    remote_port: EventChannelPort(peer.port),
                }
            }
            status => EventChannelStatus::Other { status },
        })
    }

    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        let mut op = sched_shutdown { reason };
        // SAFETY: SCHEDOP_shutdown reads one `sched_shutdown`; the domain stopping is the
        // documented effect.
        unsafe { self.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, &mut op) }?;
        Ok(())
    }

    fn sched_yield(&self) -> Result<(), XenError> {
        // SAFETY: SCHEDOP_yield takes no argument (NULL).
        let ret = unsafe {
            self.hypercall
                .hypercall(__HYPERVISOR_sched_op, [SCHEDOP_yield as usize, 0, 0, 0, 0])
        };
        XenError::check(ret).map(drop)
    }

    fn sched_poll(&self, ports: &[EventChannelPort], timeout_ns: u64) -> Result<(), XenError> {
        if ports.len() > MAX_POLL_PORTS {
            return Err(XenError::EINVAL);
        }
        let mut list = [0u32; MAX_POLL_PORTS];
        for (slot, port) in list.iter_mut().zip(ports) {
            *slot = port.0;
        }
        let mut op = sched_poll {
            ports: list.as_ptr() as u64,
            nr_ports: ports.len() as u32,
            timeout: timeout_ns,
            ..Default::default()
        };
        // SAFETY: SCHEDOP_poll reads one `sched_poll` and, through its `ports` handle,
        // `nr_ports` (<= MAX_POLL_PORTS) ports of `list`, which lives until after the call.
        unsafe { self.call(__HYPERVISOR_sched_op, SCHEDOP_poll, &mut op) }?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::RefCell;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    /// One raw hypercall as the fake saw it.
    #[derive(Debug, PartialEq, Eq)]
    struct Seen {
        op: u32,
        cmd: usize,
        /// The bytes of the argument struct at args[1] (size from the golden table).
        arg: Vec<u8>,
        /// Other arguments (count for grant_table_op).
        rest: [usize; 3],
        /// For SCHEDOP_poll: the ports behind the guest handle.
        ports: Vec<u32>,
    }

    /// What the fake does: bytes to write at an offset of the argument, and the return value.
    struct Reply {
        write: Option<(usize, Vec<u8>)>,
        ret: isize,
    }

    /// A raw `Hypercall` that records what it is given and plays Xen's writes back.
    #[derive(Default)]
    struct Recorder {
        seen: RefCell<Vec<Seen>>,
        replies: RefCell<VecDeque<Reply>>,
    }

    impl Recorder {
        fn reply(&self, ret: isize, write: Option<(usize, Vec<u8>)>) {
            self.replies.borrow_mut().push_back(Reply { write, ret });
        }
        fn take(&self) -> Vec<Seen> {
            core::mem::take(&mut *self.seen.borrow_mut())
        }
    }

    /// Argument sizes from the C ABI (golden: counted by hand from the headers' layout).
    fn arg_size(op: u32, cmd: usize) -> usize {
        match (op, cmd as u32) {
            (17, 0) => 0,         // xen_version(XENVER_version, NULL)
            (34, 0 | 1) => 16,    // xen_hvm_param
            (12, 7) => 24,        // xen_add_to_physmap
            (20, 6) => 16,        // gnttab_query_size
            (32, 6) => 8,         // evtchn_alloc_unbound
            (32, 0) => 12,        // evtchn_bind_interdomain
            (32, 3 | 4 | 9) => 4, // evtchn_close / send / unmask
            (32, 8) => 8,         // evtchn_bind_vcpu
            (32, 5) => 24,        // evtchn_status
            (29, 0) => 0,         // SCHEDOP_yield(NULL)
            (29, 2) => 4,         // sched_shutdown
            (29, 3) => 24,        // sched_poll
            other => panic!("unexpected hypercall {other:?}"),
        }
    }

    // SAFETY: a test fake: it reads and writes only the argument sizes the ABI defines.
    unsafe impl Hypercall for Recorder {
        unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize {
            let size = arg_size(op, args[0]);
            let mut arg = vec![0u8; size];
            if size != 0 {
                assert_ne!(args[1], 0, "NULL argument");
                // SAFETY: the code under test passes a pointer to a `size`-byte ABI struct.
                let bytes = unsafe { core::slice::from_raw_parts(args[1] as *const u8, size) };
                arg.copy_from_slice(bytes);
            } else {
                assert_eq!(args[1], 0, "argument for a NULL-argument op");
            }
            let mut ports = Vec::new();
            if (op, args[0]) == (29, 3) {
                let handle = u64::from_le_bytes(arg[0..8].try_into().unwrap()) as usize;
                let count = u32::from_le_bytes(arg[8..12].try_into().unwrap()) as usize;
                for i in 0..count {
                    let port = (handle as *const u32).wrapping_add(i);
                    // SAFETY: the handle points to `count` ports (what is being tested).
                    ports.push(unsafe { port.read() });
                }
            }
            self.seen.borrow_mut().push(Seen {
                op,
                cmd: args[0],
                arg,
                rest: [args[2], args[3], args[4]],
                ports,
            });
            let reply = self.replies.borrow_mut().pop_front().unwrap_or(Reply {
                write: None,
                ret: 0,
            });
            if let Some((offset, bytes)) = reply.write {
                assert!(offset + bytes.len() <= size);
                // SAFETY: inside the argument struct (checked), which is writable.
                let out = unsafe {
                    core::slice::from_raw_parts_mut((args[1] + offset) as *mut u8, bytes.len())
                };
                out.copy_from_slice(&bytes);
            }
            reply.ret
        }
    }

    fn xen() -> Xen<Recorder> {
        Xen::new(Recorder::default())
    }

    fn seen(op: u32, cmd: usize, arg: &[u8]) -> Seen {
        Seen {
            op,
            cmd,
            arg: arg.to_vec(),
            rest: [0; 3],
            ports: Vec::new(),
        }
    }

    #[test]
    fn xen_version_decodes_the_result() {
        let x = xen();
        x.hypercall().reply(0x0004_0011, None);
        assert_eq!(
            x.xen_version(),
            Ok(XenVersion {
                major: 4,
                minor: 17
            })
        );
        assert_eq!(x.hypercall().take(), vec![seen(17, 0, &[])]);
    }

    #[test]
    fn hvm_params() {
        let x = xen();
        x.hypercall().reply(
            0,
            Some((8, 0xfeed_0000_0000_00fe_u64.to_le_bytes().to_vec())),
        );
        assert_eq!(x.hvm_get_param(1), Ok(0xfeed_0000_0000_00fe));
        x.hvm_set_param(2, 0x1122_3344_5566_7788).unwrap();
        assert_eq!(
            x.hypercall().take(),
            vec![
                // domid DOMID_SELF (0x7FF0), pad, index 1, value 0.
                seen(
                    34,
                    1,
                    &[0xF0, 0x7F, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                ),
                seen(
                    34,
                    0,
                    &[
                        0xF0, 0x7F, 0, 0, 2, 0, 0, 0, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22,
                        0x11
                    ]
                ),
            ]
        );
    }

    #[test]
    fn add_to_physmap_marshals_the_request() {
        let x = xen();
        x.add_to_physmap(1, 3, Pfn(0xF_0012_3456)).unwrap();
        assert_eq!(
            x.hypercall().take(),
            vec![seen(
                12,
                7,
                &[
                    0xF0, 0x7F, 0, 0, // domid, size
                    1, 0, 0, 0, // space XENMAPSPACE_grant_table
                    3, 0, 0, 0, 0, 0, 0, 0, // idx
                    0x56, 0x34, 0x12, 0, 0xF, 0, 0, 0, // gpfn
                ]
            )]
        );
        x.hypercall().reply(-22, None);
        assert_eq!(x.add_to_physmap(1, 3, Pfn(1)), Err(XenError::EINVAL));
    }

    #[test]
    fn grant_table_query_size_reads_the_answer_and_status() {
        let x = xen();
        x.hypercall()
            .reply(0, Some((4, [4u8, 0, 0, 0, 64, 0, 0, 0, 0, 0].to_vec())));
        assert_eq!(
            x.grant_table_query_size(),
            Ok(GrantTableSize {
                nr_frames: 4,
                max_nr_frames: 64
            })
        );
        let calls = x.hypercall().take();
        assert_eq!((calls[0].op, calls[0].cmd), (20, 6));
        assert_eq!(
            calls[0].arg,
            [0xF0, 0x7F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        // count = 1
        assert_eq!(calls[0].rest, [1, 0, 0]);
        // GNTST_bad_domain (-2) in the status field with a 0 return.
        x.hypercall()
            .reply(0, Some((12, (-2i16).to_le_bytes().to_vec())));
        assert_eq!(x.grant_table_query_size(), Err(XenError::EINVAL));
    }

    #[test]
    fn event_channel_operations() {
        let x = xen();
        // alloc_unbound: Xen writes the port at offset 4.
        x.hypercall()
            .reply(0, Some((4, 33u32.to_le_bytes().to_vec())));
        assert_eq!(
            x.evtchn_alloc_unbound(DomainId(0)),
            Ok(EventChannelPort(33))
        );
        // bind_interdomain: local_port at offset 8.
        x.hypercall()
            .reply(0, Some((8, 34u32.to_le_bytes().to_vec())));
        assert_eq!(
            x.evtchn_bind_interdomain(DomainId(5), EventChannelPort(0x0102)),
            Ok(EventChannelPort(34))
        );
        x.evtchn_send(EventChannelPort(33)).unwrap();
        x.evtchn_close(EventChannelPort(34)).unwrap();
        x.evtchn_unmask(EventChannelPort(33)).unwrap();
        x.evtchn_bind_vcpu(EventChannelPort(33), VcpuId(2)).unwrap();
        x.hypercall().reply(-9, None);
        assert_eq!(x.evtchn_send(EventChannelPort(99)), Err(XenError::EBADF));
        assert_eq!(
            x.hypercall().take(),
            vec![
                seen(32, 6, &[0xF0, 0x7F, 0, 0, 0, 0, 0, 0]),
                seen(32, 0, &[5, 0, 0, 0, 0x02, 0x01, 0, 0, 0, 0, 0, 0]),
                seen(32, 4, &[33, 0, 0, 0]),
                seen(32, 3, &[34, 0, 0, 0]),
                seen(32, 9, &[33, 0, 0, 0]),
                seen(32, 8, &[33, 0, 0, 0, 2, 0, 0, 0]),
                seen(32, 4, &[99, 0, 0, 0]),
            ]
        );
    }

    #[test]
    fn event_channel_status_decodes_the_union() {
        let x = xen();
        // status at 8, vcpu at 12, u at 16.
        x.hypercall().reply(
            0,
            Some((
                8,
                [2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 12, 0, 0, 0].to_vec(),
            )),
        );
        assert_eq!(
            x.evtchn_status(EventChannelPort(3)),
            Ok(EventChannelStatus::Interdomain {
                remote: DomainId(7),
                remote_port: EventChannelPort(12)
            })
        );
        x.hypercall()
            .reply(0, Some((8, [1, 0, 0, 0, 0, 0, 0, 0, 9, 0].to_vec())));
        assert_eq!(
            x.evtchn_status(EventChannelPort(3)),
            Ok(EventChannelStatus::Unbound {
                remote: DomainId(9)
            })
        );
        x.hypercall().reply(0, None);
        assert_eq!(
            x.evtchn_status(EventChannelPort(3)),
            Ok(EventChannelStatus::Closed)
        );
        x.hypercall().reply(0, Some((8, [4, 0, 0, 0].to_vec())));
        assert_eq!(
            x.evtchn_status(EventChannelPort(3)),
            Ok(EventChannelStatus::Other { status: 4 })
        );
        let calls = x.hypercall().take();
        assert_eq!(
            calls[0],
            seen(
                32,
                5,
                &[0xF0, 0x7F, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
            )
        );
    }

    #[test]
    fn scheduler_operations() {
        let x = xen();
        x.sched_shutdown(0).unwrap();
        x.sched_yield().unwrap();
        x.sched_poll(&[EventChannelPort(3), EventChannelPort(70)], 0x1_0000_0002)
            .unwrap();
        let calls = x.hypercall().take();
        assert_eq!(calls[0], seen(29, 2, &[0, 0, 0, 0]));
        assert_eq!(calls[1], seen(29, 0, &[]));
        assert_eq!((calls[2].op, calls[2].cmd), (29, 3));
        // ports handle (address, not checked), nr_ports 2, padding, timeout.
        assert_eq!(
            &calls[2].arg[8..],
            &[2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]
        );
        assert_eq!(calls[2].ports, [3, 70]);
        let many = [EventChannelPort(1); MAX_POLL_PORTS + 1];
        assert_eq!(x.sched_poll(&many, 0), Err(XenError::EINVAL));
        assert!(x.hypercall().take().is_empty());
        x.hypercall().reply(-1, None);
        assert_eq!(x.sched_shutdown(2), Err(XenError::EPERM));
    }
}
