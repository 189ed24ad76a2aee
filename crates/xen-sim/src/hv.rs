//! The simulated hypervisor: domains, their memory, shared-info pages and event channels.
//!
//! Semantics follow Xen 4.17 with the 2-level event channel ABI: a port is raised by setting its
//! bit in `evtchn_pending`, and unless it is masked in `evtchn_mask`, its selector bit in
//! `vcpu_info[0].evtchn_pending_sel` and `evtchn_upcall_pending`. Errors are the errno values
//! Xen returns for the same misuse.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use xen_hal::fake::HeapPages;

use crate::memory::GuestMemory;
use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Pfn, SharedMemory, XenError,
    PAGE_SIZE,
};

use crate::abi;
use crate::grant::GrantState;

/// Event channels Xen allocates at once (`EVTCHNS_PER_BUCKET` with 64-byte `struct evtchn`).
pub const PORTS_PER_BUCKET: usize = 64;

/// `ESRCH`: no such domain.
pub const ESRCH: XenError = XenError(3);

/// A page that belongs to Xen: kept by the simulator until the guest asks for it to be placed
/// in its physical address space, then the guest's frame (looked up on every access).
pub(crate) enum XenPage {
    /// Not placed in the guest yet: the simulator's own zeroed page.
    Internal(HeapPages),
    /// Placed at this guest frame (`XENMEM_add_to_physmap`).
    Guest(Pfn),
}

/// State of one event channel port of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortState {
    /// Not allocated.
    Free,
    /// Port 0: never allocated.
    Reserved,
    /// Allocated, waiting for `remote` to bind.
    Unbound { remote: DomainId },
    /// Connected.
    Interdomain {
        remote: DomainId,
        remote_port: EventChannelPort,
    },
}

/// One simulated domain.
pub(crate) struct Domain {
    pub(crate) id: DomainId,
    /// Guest RAM (None for dom0, whose memory the simulator does not model).
    pub(crate) memory: Option<Rc<GuestMemory>>,
    pub(crate) shared_info: XenPage,
    pub(crate) ports: Vec<PortState>,
    pub(crate) grant: GrantState,
    pub(crate) params: BTreeMap<u32, u64>,
    pub(crate) shutdowns: Vec<u32>,
}

/// A misuse of the simulated machine by a guest that real hardware would not report as an
/// error (e.g. freeing a page Xen still uses). Tests assert there are none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation(pub String);

/// The hypervisor's state: all domains and grant mappings.
pub struct Hv {
    pub(crate) domains: BTreeMap<u16, Domain>,
    pub(crate) violations: Vec<Violation>,
    pub(crate) mappings: crate::grant::Mappings,
}

fn internal_page() -> XenPage {
    match HeapPages::new(1) {
        Ok(pages) => XenPage::Internal(pages),
        // The host ran out of memory: nothing sensible is left for a test to do.
        Err(_) => panic!("xen-sim: host out of memory"),
    }
}

impl Domain {
    fn new(id: DomainId, memory: Option<Rc<GuestMemory>>, grant_frames: u32) -> Domain {
        Domain {
            id,
            memory,
            shared_info: internal_page(),
            ports: vec![PortState::Reserved],
            grant: GrantState::new(grant_frames),
            params: BTreeMap::new(),
            shutdowns: Vec::new(),
        }
    }

    /// A window onto a Xen page of this domain, wherever it lives now.
    pub(crate) fn page(&self, page: &XenPage) -> Option<SharedMemory> {
        match page {
            XenPage::Internal(pages) => Some(pages.memory()),
            XenPage::Guest(pfn) => self.memory.as_ref()?.frame(*pfn),
        }
    }

    pub(crate) fn shared_info(&self) -> Option<SharedMemory> {
        self.page(&self.shared_info)
    }

    /// The state of `port`. Like Xen, ports are valid in whole buckets of
    /// [`PORTS_PER_BUCKET`]: an unallocated port inside a bucket in use is free (closed), one
    /// beyond is `EINVAL`.
    fn port(&self, port: EventChannelPort) -> Result<PortState, XenError> {
        let p = usize::try_from(port.0).map_err(|_| XenError::EINVAL)?;
        if let Some(state) = self.ports.get(p) {
            return Ok(*state);
        }
        if p < self.ports.len().div_ceil(PORTS_PER_BUCKET) * PORTS_PER_BUCKET {
            Ok(PortState::Free)
        } else {
            Err(XenError::EINVAL)
        }
    }

    fn set_port(&mut self, port: EventChannelPort, state: PortState) {
        if let Some(slot) = usize::try_from(port.0)
            .ok()
            .and_then(|p| self.ports.get_mut(p))
        {
            *slot = state;
        }
    }

    fn alloc_port(&mut self, state: PortState) -> Result<EventChannelPort, XenError> {
        if let Some(free) = self.ports.iter().position(|p| *p == PortState::Free) {
            self.ports[free] = state;
            return Ok(EventChannelPort(free as u32));
        }
        if self.ports.len() >= abi::EVTCHN_2L_NR_CHANNELS {
            return Err(XenError::ENOSPC);
        }
        self.ports.push(state);
        Ok(EventChannelPort(self.ports.len() as u32 - 1))
    }

    /// `evtchn_2l_set_pending`: pending bit, then (unless masked) selector and upcall flag.
    fn raise(&self, port: EventChannelPort) -> Result<(), String> {
        let shared = self
            .shared_info()
            .ok_or_else(|| format!("d{}: shared_info page was freed", self.id.0))?;
        let word = (port.0 / 64) as usize;
        let bit = 1u64 << (port.0 % 64);
        let pending = abi::SHARED_INFO_EVTCHN_PENDING + word * 8;
        let mask = abi::SHARED_INFO_EVTCHN_MASK + word * 8;
        let fail = |_| format!("d{}: shared_info access out of bounds", self.id.0);
        if shared.fetch_or_u64(pending, bit).map_err(fail)? & bit != 0 {
            return Ok(());
        }
        if shared.load_u64(mask, Ordering::SeqCst).map_err(fail)? & bit != 0 {
            return Ok(());
        }
        let sel_bit = 1u64 << word;
        if shared
            .fetch_or_u64(abi::VCPU_INFO_PENDING_SEL, sel_bit)
            .map_err(fail)?
            & sel_bit
            == 0
        {
            shared
                .write_u8(abi::VCPU_INFO_UPCALL_PENDING, 1)
                .map_err(fail)?;
        }
        Ok(())
    }
}

impl Hv {
    pub(crate) fn new() -> Hv {
        let mut domains = BTreeMap::new();
        domains.insert(0, Domain::new(DomainId::DOM0, None, 1));
        Hv {
            domains,
            violations: Vec::new(),
            mappings: Default::default(),
        }
    }

    pub(crate) fn add_domain(
        &mut self,
        id: DomainId,
        memory: Rc<GuestMemory>,
        max_grant_frames: u32,
    ) {
        self.domains
            .insert(id.0, Domain::new(id, Some(memory), max_grant_frames));
    }

    pub(crate) fn domain(&self, id: DomainId) -> Result<&Domain, XenError> {
        self.domains.get(&id.0).ok_or(ESRCH)
    }

    pub(crate) fn domain_mut(&mut self, id: DomainId) -> Result<&mut Domain, XenError> {
        self.domains.get_mut(&id.0).ok_or(ESRCH)
    }

    fn violation(&mut self, what: String) {
        self.violations.push(Violation(what));
    }

    fn resolve(caller: DomainId, dom: DomainId) -> DomainId {
        if dom == DomainId::SELF {
            caller
        } else {
            dom
        }
    }

    // ---- memory ----------------------------------------------------------------------------

    /// `XENMEM_add_to_physmap` for `caller`.
    pub(crate) fn add_to_physmap(
        &mut self,
        caller: DomainId,
        space: u32,
        idx: u64,
        gpfn: Pfn,
    ) -> Result<(), XenError> {
        let domain = self.domain_mut(caller)?;
        let target = match &domain.memory {
            Some(memory) => memory.frame(gpfn),
            None => return Err(XenError::EINVAL),
        };
        // The simulator can only place Xen pages over guest RAM it knows (pages of the guest's
        // allocator); real Xen would accept any hole in the physical map.
        let target = target.ok_or(XenError::EINVAL)?;
        let page = match space {
            abi::XENMAPSPACE_shared_info => {
                if idx != 0 {
                    return Err(XenError::EINVAL);
                }
                &mut domain.shared_info
            }
            abi::XENMAPSPACE_grant_table => {
                if idx & abi::XENMAPIDX_grant_table_status != 0 {
                    // Grant table v1 has no status frames.
                    return Err(XenError::EINVAL);
                }
                let idx = u32::try_from(idx).map_err(|_| XenError::EINVAL)?;
                domain.grant.grow_to(idx)?
            }
            _ => return Err(XenError::ENOSYS),
        };
        // Xen's frame keeps its content: what the guest sees at gpfn from now on is that page.
        let mut content = vec![0u8; PAGE_SIZE];
        let current = match &*page {
            XenPage::Internal(pages) => Some(pages.memory()),
            XenPage::Guest(pfn) => domain.memory.as_ref().and_then(|m| m.frame(*pfn)),
        };
        if let Some(current) = current {
            let _ = current.read_bytes(0, &mut content);
        }
        target
            .write_bytes(0, &content)
            .map_err(|_| XenError::EFAULT)?;
        *page = XenPage::Guest(gpfn);
        Ok(())
    }

    pub(crate) fn grant_table_query_size(
        &self,
        caller: DomainId,
    ) -> Result<GrantTableSize, XenError> {
        let domain = self.domain(caller)?;
        Ok(GrantTableSize {
            nr_frames: domain.grant.nr_frames(),
            max_nr_frames: domain.grant.max_frames(),
        })
    }

    // ---- event channels ----------------------------------------------------------------------

    /// `EVTCHNOP_alloc_unbound` by `caller` for domain `dom`, bindable by `remote`.
    pub fn evtchn_alloc_unbound(
        &mut self,
        caller: DomainId,
        dom: DomainId,
        remote: DomainId,
    ) -> Result<EventChannelPort, XenError> {
        let dom = Self::resolve(caller, dom);
        let remote = Self::resolve(caller, remote);
        self.domain(dom)?;
        if dom != caller && caller != DomainId::DOM0 {
            return Err(XenError::EPERM);
        }
        // Like Xen, the remote domain need not exist yet: it is only checked when it binds.
        self.domain_mut(dom)?
            .alloc_port(PortState::Unbound { remote })
    }

    /// `EVTCHNOP_bind_interdomain` by `caller`.
    pub fn evtchn_bind_interdomain(
        &mut self,
        caller: DomainId,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        let remote = Self::resolve(caller, remote);
        self.domain(caller)?;
        let rstate = self.domain(remote)?.port(remote_port)?;
        match rstate {
            PortState::Unbound { remote: allowed } if allowed == caller => {}
            _ => return Err(XenError::EINVAL),
        }
        let local = self
            .domain_mut(caller)?
            .alloc_port(PortState::Interdomain {
                remote,
                remote_port,
            })?;
        self.domain_mut(remote)?.set_port(
            remote_port,
            PortState::Interdomain {
                remote: caller,
                remote_port: local,
            },
        );
        // Xen raises the local port once bound, so that an event sent before is not lost.
        self.raise(caller, local);
        Ok(local)
    }

    fn raise(&mut self, dom: DomainId, port: EventChannelPort) {
        let result = match self.domains.get(&dom.0) {
            Some(domain) => domain.raise(port),
            None => Ok(()),
        };
        if let Err(what) = result {
            self.violation(what);
        }
    }

    /// `EVTCHNOP_send` by `caller`.
    pub fn evtchn_send(
        &mut self,
        caller: DomainId,
        port: EventChannelPort,
    ) -> Result<(), XenError> {
        match self.domain(caller)?.port(port)? {
            PortState::Interdomain {
                remote,
                remote_port,
            } => {
                self.raise(remote, remote_port);
                Ok(())
            }
            // Xen silently drops a notification on an unbound port.
            PortState::Unbound { .. } => Ok(()),
            PortState::Free | PortState::Reserved => Err(XenError::EINVAL),
        }
    }

    /// `EVTCHNOP_close` by `caller`: the peer's port goes back to unbound (bindable by us).
    pub fn evtchn_close(
        &mut self,
        caller: DomainId,
        port: EventChannelPort,
    ) -> Result<(), XenError> {
        match self.domain(caller)?.port(port)? {
            PortState::Free | PortState::Reserved => return Err(XenError::EINVAL),
            PortState::Unbound { .. } => {}
            PortState::Interdomain {
                remote,
                remote_port,
            } => {
                if let Ok(peer) = self.domain_mut(remote) {
                    peer.set_port(remote_port, PortState::Unbound { remote: caller });
                }
            }
        }
        let domain = self.domain_mut(caller)?;
        domain.set_port(port, PortState::Free);
        // Closing clears the pending bit, as Xen's evtchn_2l_clear_pending does on free.
        if let Some(shared) = domain.shared_info() {
            let word = (port.0 / 64) as usize;
            let _ = shared.fetch_and_u64(
                abi::SHARED_INFO_EVTCHN_PENDING + word * 8,
                !(1 << (port.0 % 64)),
            );
        }
        Ok(())
    }

    /// `EVTCHNOP_unmask` by `caller`: clears the mask bit and re-raises a pending event.
    pub fn evtchn_unmask(
        &mut self,
        caller: DomainId,
        port: EventChannelPort,
    ) -> Result<(), XenError> {
        let domain = self.domain(caller)?;
        domain.port(port)?;
        let shared = match domain.shared_info() {
            Some(shared) => shared,
            None => return Err(XenError::EFAULT),
        };
        let word = (port.0 / 64) as usize;
        let bit = 1u64 << (port.0 % 64);
        let mask = abi::SHARED_INFO_EVTCHN_MASK + word * 8;
        let pending = abi::SHARED_INFO_EVTCHN_PENDING + word * 8;
        let was_masked = shared
            .fetch_and_u64(mask, !bit)
            .map_err(|_| XenError::EFAULT)?
            & bit
            != 0;
        let is_pending = shared
            .load_u64(pending, Ordering::SeqCst)
            .map_err(|_| XenError::EFAULT)?
            & bit
            != 0;
        if was_masked && is_pending {
            let sel_bit = 1u64 << word;
            let old = shared
                .fetch_or_u64(abi::VCPU_INFO_PENDING_SEL, sel_bit)
                .map_err(|_| XenError::EFAULT)?;
            if old & sel_bit == 0 {
                shared
                    .write_u8(abi::VCPU_INFO_UPCALL_PENDING, 1)
                    .map_err(|_| XenError::EFAULT)?;
            }
        }
        Ok(())
    }

    /// `EVTCHNOP_status` by `caller` for `dom`'s port.
    pub fn evtchn_status(
        &self,
        caller: DomainId,
        dom: DomainId,
        port: EventChannelPort,
    ) -> Result<EventChannelStatus, XenError> {
        let dom = Self::resolve(caller, dom);
        if dom != caller && caller != DomainId::DOM0 {
            return Err(XenError::EPERM);
        }
        Ok(match self.domain(dom)?.port(port)? {
            PortState::Free | PortState::Reserved => EventChannelStatus::Closed,
            PortState::Unbound { remote } => EventChannelStatus::Unbound { remote },
            PortState::Interdomain {
                remote,
                remote_port,
            } => EventChannelStatus::Interdomain {
                remote,
                remote_port,
            },
        })
    }

    /// Whether `port` of `dom` is pending; clears it (how a backend in dom0 consumes events).
    pub fn evtchn_take_pending(&mut self, dom: DomainId, port: EventChannelPort) -> bool {
        let Some(shared) = self.domains.get(&dom.0).and_then(Domain::shared_info) else {
            return false;
        };
        let word = (port.0 / 64) as usize;
        let bit = 1u64 << (port.0 % 64);
        shared
            .fetch_and_u64(abi::SHARED_INFO_EVTCHN_PENDING + word * 8, !bit)
            .map(|old| old & bit != 0)
            .unwrap_or(false)
    }

    /// Whether `port` of `dom` is pending (without clearing it).
    pub fn evtchn_is_pending(&self, dom: DomainId, port: EventChannelPort) -> bool {
        let Some(shared) = self.domains.get(&dom.0).and_then(Domain::shared_info) else {
            return false;
        };
        let word = (port.0 / 64) as usize;
        shared
            .load_u64(abi::SHARED_INFO_EVTCHN_PENDING + word * 8, Ordering::SeqCst)
            .map(|w| w & (1 << (port.0 % 64)) != 0)
            .unwrap_or(false)
    }

    /// Number of ports of `dom` in use (allocated, bound or unbound).
    pub fn open_ports(&self, dom: DomainId) -> usize {
        self.domains.get(&dom.0).map_or(0, |d| {
            d.ports
                .iter()
                .filter(|p| matches!(p, PortState::Unbound { .. } | PortState::Interdomain { .. }))
                .count()
        })
    }
}
