//! The simulated machine: dom0 with xenstored and backends, guest domains with their own
//! memory and hypervisor interface, and the pump that lets dom0 work.

use std::cell::RefCell;
use std::rc::Rc;

use crate::memory::GuestMemory;
use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor, PageAllocator, Pfn,
    VcpuId, XenError, XenVersion,
};

use crate::abi;
use crate::clock::SimClock;
use crate::hv::{Hv, Violation};
use crate::xenstored::{Access, ConnId, Perms, StoreError, WatchEvent, Xenstored};

/// Everything dom0 and Xen hold: the hypervisor state and xenstored.
pub struct Sim {
    /// Xen.
    pub hv: Hv,
    /// The xenstore daemon.
    pub xenstored: Xenstored,
}

/// A dom0 service driven by the pump (backends).
pub trait Backend {
    /// Does whatever is pending (watch events, ring requests); true if anything moved.
    fn poll(&mut self, sim: &mut Sim) -> bool;
}

pub(crate) struct WorldInner {
    pub(crate) sim: RefCell<Sim>,
    backends: RefCell<Vec<Rc<RefCell<dyn Backend>>>>,
    /// Whether `sched_yield` / `sched_poll` of a guest run the pump.
    auto_pump: std::cell::Cell<bool>,
    clock: SimClock,
}

/// Simulated time one guest wait takes (see [`World::waiter`]).
pub const WAIT_STEP_NS: u64 = 100_000;

/// Rounds after which [`World::run_until_idle`] gives up.
pub const MAX_PUMP_ROUNDS: usize = 1000;

/// The pump did not come to rest within [`MAX_PUMP_ROUNDS`] rounds (a livelock between a
/// backend and a guest, or a hostile hook that keeps producing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotIdle;

/// The simulated machine. Cloning gives another handle onto the same machine.
#[derive(Clone)]
pub struct World {
    inner: Rc<WorldInner>,
    dom0: ConnId,
}

/// A guest domain as its own code sees it: memory and a hypervisor.
#[derive(Clone)]
pub struct Guest {
    /// Its domain id.
    pub domid: DomainId,
    /// Its RAM: pages its crates allocate and that Xen and backends find by frame number.
    pub memory: Rc<GuestMemory>,
    /// Its hypercall interface.
    pub hypervisor: SimHypervisor,
    /// Frame of the xenstore ring page (also in `HVM_PARAM_STORE_PFN`).
    pub store_pfn: Pfn,
    /// Its end of the xenstore event channel (also in `HVM_PARAM_STORE_EVTCHN`).
    pub store_port: EventChannelPort,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    /// A machine with dom0 running xenstored.
    pub fn new() -> World {
        let mut xenstored = Xenstored::new();
        let dom0 = xenstored.connect(0);
        World {
            inner: Rc::new(WorldInner {
                sim: RefCell::new(Sim {
                    hv: Hv::new(),
                    xenstored,
                }),
                backends: RefCell::new(Vec::new()),
                auto_pump: std::cell::Cell::new(true),
                clock: SimClock::new(),
            }),
            dom0,
        }
    }

    /// Runs `f` on the machine's state (hypervisor and xenstored). `f` must not call a
    /// guest's [`SimHypervisor`] (the state is borrowed for the call).
    pub fn with_sim<T>(&self, f: impl FnOnce(&mut Sim) -> T) -> T {
        f(&mut self.inner.sim.borrow_mut())
    }

    /// Creates an HVM guest `domid` named `name` the way the toolstack does: memory, a grant
    /// table of up to 64 frames (its reserved xenstore entry seeded), the xenstore ring page and
    /// event channel in its HVM params,
    /// its `/local/domain/<domid>` directory with libxl's permissions, and introduces it to
    /// xenstored.
    pub fn create_guest(&self, domid: u16, name: &str) -> Guest {
        let id = DomainId(domid);
        let memory = Rc::new(GuestMemory::small_frames());
        let ring = match memory.alloc_pages(1) {
            Ok(range) => range,
            Err(_) => panic!("xen-sim: cannot allocate the xenstore ring page"),
        };
        // What C xenstored 4.17 offers when it introduces a domain.
        let features =
            abi::XENSTORE_SERVER_FEATURE_RECONNECTION | abi::XENSTORE_SERVER_FEATURE_ERROR;
        let _ = ring.memory.store_u32(
            abi::XS_RING_SERVER_FEATURES,
            features,
            std::sync::atomic::Ordering::Release,
        );
        let (store_port, dom0_port) = self.with_sim(|sim| {
            sim.hv.add_domain(id, memory.clone(), 64);
            let guest_port = sim
                .hv
                .evtchn_alloc_unbound(DomainId::DOM0, id, DomainId::DOM0)
                .unwrap_or(EventChannelPort(0));
            let dom0_port = sim
                .hv
                .evtchn_bind_interdomain(DomainId::DOM0, id, guest_port)
                .unwrap_or(EventChannelPort(0));
            // Binding raised dom0's end; nothing is waiting yet.
            sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port);
            if let Ok(d) = sim.hv.domain_mut(id) {
                // As libxc's xc_dom_gnttab_hvm_seed: the xenstore ring is granted to
                // xenstored's domain in the reserved entry, before the guest runs.
                if let Ok(frame) = u32::try_from(ring.pfn.0) {
                    d.grant.seed(abi::GNTTAB_RESERVED_XENSTORE, 0, frame);
                }
                d.params.insert(abi::HVM_PARAM_STORE_PFN, ring.pfn.0);
                d.params
                    .insert(abi::HVM_PARAM_STORE_EVTCHN, u64::from(guest_port.0));
            }
            (guest_port, dom0_port)
        });
        let home = crate::xenstored::domain_path(domid);
        let read_only = Perms::owned_by(0).with(domid, Access::Read);
        let read_write = Perms::owned_by(domid);
        self.xs_write(&home, b"").ok();
        self.xs_set_perms(&home, read_only.clone()).ok();
        self.xs_write(&format!("{home}/name"), name.as_bytes()).ok();
        self.xs_write(&format!("{home}/domid"), domid.to_string().as_bytes())
            .ok();
        for dir in ["device", "control", "memory"] {
            let path = format!("{home}/{dir}");
            self.xs_write(&path, b"").ok();
            self.xs_set_perms(&path, read_only.clone()).ok();
        }
        for dir in [
            "data",
            "drivers",
            "feature",
            "attr",
            "error",
            "control/shutdown",
        ] {
            let path = format!("{home}/{dir}");
            self.xs_write(&path, b"").ok();
            self.xs_set_perms(&path, read_write.clone()).ok();
        }
        self.with_sim(|sim| {
            sim.xenstored.attach_ring(domid, ring.pfn, dom0_port);
            sim.xenstored.fire_special("@introduceDomain");
        });
        Guest {
            domid: id,
            memory,
            hypervisor: SimHypervisor {
                world: self.inner.clone(),
                domid: id,
            },
            store_pfn: ring.pfn,
            store_port,
        }
    }

    /// Adds a backend to the pump.
    pub fn add_backend(&self, backend: Rc<RefCell<dyn Backend>>) {
        self.inner.backends.borrow_mut().push(backend);
    }

    /// One round: xenstored serves the rings, then every backend polls. True if anything moved.
    pub fn step(&self) -> bool {
        step(&self.inner)
    }

    /// Lets dom0 work until nothing moves (at most [`MAX_PUMP_ROUNDS`] rounds); returns the
    /// number of rounds that did something.
    pub fn run_until_idle(&self) -> Result<usize, NotIdle> {
        run_until_idle(&self.inner)
    }

    /// The machine's clock (moves only when a guest waits).
    pub fn clock(&self) -> SimClock {
        self.inner.clock.clone()
    }

    /// A wait hook for the blocking APIs of the crates under test: each call lets dom0 work
    /// until idle, then moves the clock forward by [`WAIT_STEP_NS`] so deadlines expire.
    pub fn waiter(&self) -> impl FnMut(xen_hal::Instant) + 'static {
        let world = self.clone();
        move |_deadline| {
            let _ = world.run_until_idle();
            world.inner.clock.advance_ns(WAIT_STEP_NS);
        }
    }

    /// A wait hook like [`World::waiter`] that also runs `after` once dom0 is idle (the
    /// guest's upcall handling: `if world.upcall_pending(..) { channels.handle_upcall(..) }`).
    pub fn waiter_then(&self, mut after: impl FnMut() + 'static) -> impl FnMut(xen_hal::Instant) {
        let mut wait = self.waiter();
        move |deadline| {
            wait(deadline);
            after();
        }
    }

    /// Whether guest `sched_yield` / `sched_poll` run the pump (default: yes).
    pub fn set_auto_pump(&self, on: bool) {
        self.inner.auto_pump.set(on);
    }

    /// Violations of the machine's rules by guests (tests assert none).
    pub fn violations(&self) -> Vec<Violation> {
        self.with_sim(|sim| sim.hv.violations.clone())
    }

    /// Whether the guest's `vcpu_info[0].evtchn_upcall_pending` is set (an interrupt would be
    /// delivered).
    pub fn upcall_pending(&self, domid: DomainId) -> bool {
        self.with_sim(|sim| {
            sim.hv
                .domain(domid)
                .ok()
                .and_then(|d| d.shared_info())
                .and_then(|s| s.read_u8(abi::VCPU_INFO_UPCALL_PENDING).ok())
                .is_some_and(|v| v != 0)
        })
    }

    /// `SCHEDOP_shutdown` reasons the guest issued.
    pub fn shutdowns(&self, domid: DomainId) -> Vec<u32> {
        self.with_sim(|sim| {
            sim.hv
                .domain(domid)
                .map(|d| d.shutdowns.clone())
                .unwrap_or_default()
        })
    }

    /// What `xl shutdown` / `xl reboot` do: write `control/shutdown` of the guest
    /// (`poweroff`, `reboot`, `suspend`, ...). The guest acknowledges by clearing it.
    pub fn xl_shutdown(&self, domid: u16, request: &str) -> Result<(), StoreError> {
        self.xs_write(
            &format!("{}/control/shutdown", crate::xenstored::domain_path(domid)),
            request.as_bytes(),
        )
    }

    // ---- dom0's xenstore client (the toolstack and tests) ----------------------------------

    /// dom0 writes `path`.
    pub fn xs_write(&self, path: &str, value: &[u8]) -> Result<(), StoreError> {
        self.with_sim(|sim| sim.xenstored.write(self.dom0, 0, path, value))
    }

    /// dom0 reads `path`.
    pub fn xs_read(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        self.with_sim(|sim| sim.xenstored.read(self.dom0, 0, path))
    }

    /// dom0 reads `path` as text.
    pub fn xs_read_string(&self, path: &str) -> Result<String, StoreError> {
        self.xs_read(path)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    /// dom0 removes `path`.
    pub fn xs_rm(&self, path: &str) -> Result<(), StoreError> {
        self.with_sim(|sim| sim.xenstored.rm(self.dom0, 0, path))
    }

    /// dom0 lists `path`.
    pub fn xs_directory(&self, path: &str) -> Result<Vec<String>, StoreError> {
        self.with_sim(|sim| sim.xenstored.directory(self.dom0, 0, path))
    }

    /// dom0 sets permissions of `path`.
    pub fn xs_set_perms(&self, path: &str, perms: Perms) -> Result<(), StoreError> {
        self.with_sim(|sim| sim.xenstored.set_perms(self.dom0, 0, path, perms))
    }

    /// dom0 watches `path` with `token` (events: [`World::xs_take_events`]).
    pub fn xs_watch(&self, path: &str, token: &str) -> Result<(), StoreError> {
        self.with_sim(|sim| sim.xenstored.watch(self.dom0, path, token))
    }

    /// Watch events for dom0's test client so far.
    pub fn xs_take_events(&self) -> Vec<WatchEvent> {
        self.with_sim(|sim| sim.xenstored.take_events(self.dom0))
    }
}

fn step(inner: &WorldInner) -> bool {
    let mut progress = match inner.sim.try_borrow_mut() {
        Ok(mut sim) => {
            let sim = &mut *sim;
            sim.xenstored.service_rings(&mut sim.hv)
        }
        Err(_) => return false,
    };
    let backends: Vec<_> = inner.backends.borrow().clone();
    for backend in backends {
        // A backend the test is holding (borrowed) sits this round out.
        let (Ok(mut sim), Ok(mut backend)) = (inner.sim.try_borrow_mut(), backend.try_borrow_mut())
        else {
            continue;
        };
        progress |= backend.poll(&mut sim);
    }
    progress
}

fn run_until_idle(inner: &WorldInner) -> Result<usize, NotIdle> {
    for busy in 0..MAX_PUMP_ROUNDS {
        if !step(inner) {
            return Ok(busy);
        }
    }
    Err(NotIdle)
}

/// The hypercall interface of one guest domain, with Xen's semantics.
#[derive(Clone)]
pub struct SimHypervisor {
    world: Rc<WorldInner>,
    domid: DomainId,
}

impl SimHypervisor {
    fn hv<T>(&self, f: impl FnOnce(&mut Hv, DomainId) -> T) -> T {
        f(&mut self.world.sim.borrow_mut().hv, self.domid)
    }

    fn pump(&self) {
        // Re-entrancy: a guest calls this from its own code; the pump only touches dom0 state
        // and guest memory through shared-memory windows, never the guest's objects.
        if self.world.auto_pump.get() && self.world.sim.try_borrow_mut().is_ok() {
            let _ = run_until_idle(&self.world);
        }
    }
}

impl Hypervisor for SimHypervisor {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        Ok(XenVersion {
            major: 4,
            minor: 17,
        })
    }

    fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        if index >= abi::HVM_NR_PARAMS {
            return Err(XenError::EINVAL);
        }
        self.hv(|hv, me| Ok(hv.domain(me)?.params.get(&index).copied().unwrap_or(0)))
    }

    fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        if index >= abi::HVM_NR_PARAMS {
            return Err(XenError::EINVAL);
        }
        // A guest may set its own callback; the toolstack's params are not the guest's to change.
        if index != abi::HVM_PARAM_CALLBACK_IRQ {
            return Err(XenError::EPERM);
        }
        self.hv(|hv, me| {
            hv.domain_mut(me)?.params.insert(index, value);
            Ok(())
        })
    }

    fn add_to_physmap(&self, space: u32, idx: u64, gpfn: Pfn) -> Result<(), XenError> {
        self.hv(|hv, me| hv.add_to_physmap(me, space, idx, gpfn))
    }

    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        self.hv(|hv, me| hv.grant_table_query_size(me))
    }

    fn evtchn_alloc_unbound(&self, remote: DomainId) -> Result<EventChannelPort, XenError> {
        self.hv(|hv, me| hv.evtchn_alloc_unbound(me, DomainId::SELF, remote))
    }

    fn evtchn_bind_interdomain(
        &self,
        remote: DomainId,
        remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        self.hv(|hv, me| hv.evtchn_bind_interdomain(me, remote, remote_port))
    }

    fn evtchn_send(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.hv(|hv, me| hv.evtchn_send(me, port))
    }

    fn evtchn_close(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.hv(|hv, me| hv.evtchn_close(me, port))
    }

    fn evtchn_unmask(&self, port: EventChannelPort) -> Result<(), XenError> {
        self.hv(|hv, me| hv.evtchn_unmask(me, port))
    }

    fn evtchn_bind_vcpu(&self, port: EventChannelPort, vcpu: VcpuId) -> Result<(), XenError> {
        self.hv(|hv, me| {
            hv.evtchn_status(me, me, port)?;
            if vcpu.0 != 0 {
                // The simulated guests have one vCPU.
                return Err(XenError::ENOENT);
            }
            Ok(())
        })
    }

    fn evtchn_status(&self, port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        self.hv(|hv, me| hv.evtchn_status(me, me, port))
    }

    fn sched_shutdown(&self, reason: u32) -> Result<(), XenError> {
        self.hv(|hv, me| {
            hv.domain_mut(me)?.shutdowns.push(reason);
            Ok(())
        })
    }

    fn sched_yield(&self) -> Result<(), XenError> {
        self.pump();
        Ok(())
    }

    fn sched_poll(&self, ports: &[EventChannelPort], _timeout_ns: u64) -> Result<(), XenError> {
        self.hv(|hv, me| {
            for port in ports {
                hv.evtchn_status(me, me, *port)?;
            }
            Ok(())
        })?;
        self.pump();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use xen_hal::{GrantRef, PAGE_SIZE};

    use crate::grant::GrantStatus;

    fn guest() -> (World, Guest) {
        let world = World::new();
        let guest = world.create_guest(5, "guest");
        (world, guest)
    }

    #[test]
    fn params_version_and_toolstack_layout() {
        let (world, g) = guest();
        let hv = &g.hypervisor;
        assert_eq!(
            hv.xen_version().unwrap(),
            XenVersion {
                major: 4,
                minor: 17
            }
        );
        assert_eq!(
            hv.hvm_get_param(abi::HVM_PARAM_STORE_PFN).unwrap(),
            g.store_pfn.0
        );
        assert_eq!(
            hv.hvm_get_param(abi::HVM_PARAM_STORE_EVTCHN).unwrap(),
            u64::from(g.store_port.0)
        );
        assert_eq!(hv.hvm_get_param(abi::HVM_NR_PARAMS), Err(XenError::EINVAL));
        assert_eq!(
            hv.hvm_set_param(abi::HVM_PARAM_STORE_PFN, 1),
            Err(XenError::EPERM)
        );
        assert!(g.memory.frame(g.store_pfn).is_some());
        assert!(matches!(
            hv.evtchn_status(g.store_port).unwrap(),
            EventChannelStatus::Interdomain {
                remote: DomainId::DOM0,
                ..
            }
        ));
        assert_eq!(
            world.xs_read_string("/local/domain/5/name").unwrap(),
            "guest"
        );
        assert_eq!(world.xs_read_string("/local/domain/5/domid").unwrap(), "5");
    }

    #[test]
    fn events_land_in_shared_info_as_xen_sets_them() {
        let (world, g) = guest();
        let hv = &g.hypervisor;
        let page = g.memory.alloc_pages(1).unwrap();
        page.memory.fill(0, PAGE_SIZE, 0xFF).unwrap();
        hv.add_to_physmap(abi::XENMAPSPACE_shared_info, 0, page.pfn)
            .unwrap();
        // Xen's shared_info (all clear) now shows at the frame.
        assert_eq!(
            page.memory
                .load_u64(abi::SHARED_INFO_EVTCHN_PENDING, Ordering::SeqCst),
            Ok(0)
        );
        let port = hv.evtchn_alloc_unbound(DomainId::DOM0).unwrap();
        assert!(matches!(
            hv.evtchn_status(port),
            Ok(EventChannelStatus::Unbound {
                remote: DomainId::DOM0
            })
        ));
        // Only the named remote may bind.
        world.with_sim(|sim| {
            sim.hv
                .add_domain(DomainId(6), Rc::new(GuestMemory::small_frames()), 1);
            assert_eq!(
                sim.hv
                    .evtchn_bind_interdomain(DomainId(6), DomainId(5), port),
                Err(XenError::EINVAL)
            );
            assert_eq!(
                sim.hv
                    .evtchn_bind_interdomain(DomainId::DOM0, DomainId(9), port),
                Err(crate::hv::ESRCH)
            );
        });
        let dom0_port = world
            .with_sim(|sim| {
                sim.hv
                    .evtchn_bind_interdomain(DomainId::DOM0, DomainId(5), port)
            })
            .unwrap();
        // Mask the port, send: pending but no selector / upcall.
        let word = (port.0 / 64) as usize * 8;
        let bit = 1u64 << (port.0 % 64);
        page.memory
            .fetch_or_u64(abi::SHARED_INFO_EVTCHN_MASK + word, bit)
            .unwrap();
        world
            .with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port))
            .unwrap();
        assert_eq!(
            page.memory
                .load_u64(abi::SHARED_INFO_EVTCHN_PENDING + word, Ordering::SeqCst)
                .unwrap()
                & bit,
            bit
        );
        assert!(!world.upcall_pending(g.domid));
        // Unmask re-raises.
        hv.evtchn_unmask(port).unwrap();
        assert!(world.upcall_pending(g.domid));
        assert_eq!(
            page.memory
                .load_u64(abi::VCPU_INFO_PENDING_SEL, Ordering::SeqCst)
                .unwrap(),
            1 << (port.0 / 64)
        );
        // Guest to dom0.
        hv.evtchn_send(port).unwrap();
        assert!(world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port)));
        assert!(!world.with_sim(|sim| sim.hv.evtchn_take_pending(DomainId::DOM0, dom0_port)));
        // Close: the peer sees its port unbound again; the closed port is invalid for send.
        world
            .with_sim(|sim| sim.hv.evtchn_close(DomainId::DOM0, dom0_port))
            .unwrap();
        assert_eq!(
            hv.evtchn_status(port),
            Ok(EventChannelStatus::Unbound {
                remote: DomainId::DOM0
            })
        );
        assert_eq!(
            world.with_sim(|sim| sim.hv.evtchn_send(DomainId::DOM0, dom0_port)),
            Err(XenError::EINVAL)
        );
        hv.evtchn_close(port).unwrap();
        assert_eq!(hv.evtchn_close(port), Err(XenError::EINVAL));
        assert_eq!(
            hv.evtchn_send(EventChannelPort(4000)),
            Err(XenError::EINVAL)
        );
        assert_eq!(
            hv.evtchn_status(EventChannelPort(0)),
            Ok(EventChannelStatus::Closed)
        );
        assert!(world.violations().is_empty());
    }

    #[test]
    fn grant_mapping_follows_xen_rules() {
        let (world, g) = guest();
        let hv = &g.hypervisor;
        assert_eq!(
            hv.grant_table_query_size().unwrap(),
            GrantTableSize {
                nr_frames: 1,
                max_nr_frames: 64
            }
        );
        let table = g.memory.alloc_pages(2).unwrap();
        hv.add_to_physmap(abi::XENMAPSPACE_grant_table, 0, table.pfn)
            .unwrap();
        hv.add_to_physmap(abi::XENMAPSPACE_grant_table, 1, table.pfn_of(1).unwrap())
            .unwrap();
        assert_eq!(hv.grant_table_query_size().unwrap().nr_frames, 2);
        assert_eq!(
            hv.add_to_physmap(abi::XENMAPSPACE_grant_table, 64, table.pfn),
            Err(XenError::EINVAL)
        );
        let data = g.memory.alloc_pages(1).unwrap();
        data.memory.write_bytes(0, b"granted").unwrap();
        let write_entry = |gref: u32, flags: u16, domid: u16, frame: u64| {
            let frame = u32::try_from(frame).unwrap();
            let off = gref as usize * 8;
            table
                .memory
                .store_u32(off + 4, frame, Ordering::SeqCst)
                .unwrap();
            table
                .memory
                .store_u32(
                    off,
                    u32::from(flags) | (u32::from(domid) << 16),
                    Ordering::SeqCst,
                )
                .unwrap();
        };
        write_entry(8, abi::GTF_permit_access, 0, data.pfn.0);
        write_entry(9, abi::GTF_permit_access | abi::GTF_readonly, 0, data.pfn.0);
        write_entry(10, abi::GTF_permit_access, 7, data.pfn.0);
        write_entry(600, abi::GTF_permit_access, 0, data.pfn.0);
        world.with_sim(|sim| {
            let hv = &mut sim.hv;
            let d5 = DomainId(5);
            let h = hv
                .grant_map(DomainId::DOM0, d5, GrantRef(8), false)
                .unwrap();
            let mut buf = [0u8; 7];
            hv.grant_memory(h).unwrap().read_bytes(0, &mut buf).unwrap();
            assert_eq!(&buf, b"granted");
            assert_eq!(
                hv.grant_entry(d5, GrantRef(8)).unwrap().0,
                abi::GTF_permit_access | abi::GTF_reading | abi::GTF_writing
            );
            // Read-only grants only map read-only.
            assert_eq!(
                hv.grant_map(DomainId::DOM0, d5, GrantRef(9), false),
                Err(GrantStatus::GENERAL_ERROR)
            );
            let r = hv.grant_map(DomainId::DOM0, d5, GrantRef(9), true).unwrap();
            assert_eq!(
                hv.grant_entry(d5, GrantRef(9)).unwrap().0 & abi::GTF_writing,
                0
            );
            // Foreign, ended, out of table, second frame.
            assert_eq!(
                hv.grant_map(DomainId::DOM0, d5, GrantRef(10), true),
                Err(GrantStatus::GENERAL_ERROR)
            );
            assert_eq!(
                hv.grant_map(DomainId::DOM0, d5, GrantRef(11), true),
                Err(GrantStatus::GENERAL_ERROR)
            );
            assert_eq!(
                hv.grant_map(DomainId::DOM0, d5, GrantRef(1024), true),
                Err(GrantStatus::BAD_GNTREF)
            );
            let far = hv
                .grant_map(DomainId::DOM0, d5, GrantRef(600), true)
                .unwrap();
            assert_eq!(hv.live_mappings(DomainId::DOM0), 3);
            for handle in [h, r, far] {
                hv.grant_unmap(DomainId::DOM0, handle).unwrap();
            }
            assert_eq!(
                hv.grant_unmap(DomainId::DOM0, h),
                Err(GrantStatus::BAD_HANDLE)
            );
            assert_eq!(
                hv.grant_entry(d5, GrantRef(8)).unwrap().0,
                abi::GTF_permit_access
            );
            assert_eq!(hv.live_mappings(DomainId::DOM0), 0);
            assert_eq!(hv.granted_refs(d5).len(), 4);
            // The toolstack's seeded xenstore grant showed up with the table.
            assert_eq!(
                hv.grant_entry(d5, GrantRef(1)),
                Some((abi::GTF_permit_access, 0, g.store_pfn.0 as u32))
            );
        });
    }
}
