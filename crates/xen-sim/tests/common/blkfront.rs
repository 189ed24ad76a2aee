//! A minimal block frontend for the end-to-end tests, built only from the portable crates:
//! the guest platform (shared_info + `xen-evtchn`, grant table + `xen-grant`, xenstore client)
//! and a blkfront (handshake with the `xenbus` helpers, `xen-ring` FrontRing with an `IdTable`
//! shadow, granted data pages, event-channel notifications). The real block frontend comes
//! later.

use std::cell::RefCell;

use xen_evtchn::{EventChannels, EvtchnError};
use xen_grant::{GrantError, GrantTable};
use xen_hal::{
    DomainId, EventChannelPort, GrantRef, Hypervisor, OwnedPages, PhysicalMapper, VcpuId, PAGE_SIZE,
};
use xen_public_headers::io::blkif::{
    blkif_request, blkif_response, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_RSP_OKAY,
};
use xen_public_headers::io::protocols::XEN_IO_PROTO_ABI_NATIVE;
use xen_public_headers::memory::XENMAPSPACE_shared_info;
use xen_ring::ids::{IdError, IdTable};
use xen_ring::{FrontRing, RingError};
use xen_sim::{Guest, GuestMemory, SimHypervisor, World};

use xenbus::negotiate::{negotiate_vbd, VbdBackendOffer, VbdFrontendLimits, VbdGeometry};
use xenbus::{
    publish, read_backend, read_state, switch_state, wait_for_state, DeviceRef, FrontendState,
    Publication, XenbusError, XenbusState,
};

use super::GuestStore;

/// Raw xenbus states (numbers from `io/xenbus.h`), as the simulated blkback reports them.
#[allow(unused_imports)]
pub use xen_public_headers::io::xenbus::{
    XenbusStateClosed as CLOSED, XenbusStateConnected as CONNECTED,
};

thread_local! {
    /// (context, port) of every event handler call.
    static EVENTS: RefCell<Vec<(usize, u32)>> = const { RefCell::new(Vec::new()) };
}

/// The event handler the test frontends bind: records (context, port).
pub extern "C" fn record_event(context: usize, port: u32) {
    EVENTS.with(|e| e.borrow_mut().push((context, port)));
}

/// Takes the events handled so far for `port`.
pub fn take_events(port: EventChannelPort) -> usize {
    EVENTS.with(|e| {
        let mut events = e.borrow_mut();
        let n = events.iter().filter(|(_, p)| *p == port.0).count();
        events.retain(|(_, p)| *p != port.0);
        n
    })
}

/// Anything that can go wrong in the frontend, by the crate that reported it.
#[derive(Debug, PartialEq)]
pub enum FrontError {
    /// The xenstore client.
    Xs(xenstore::Error),
    /// The grant table.
    Grant(GrantError),
    /// Event channels.
    Evtchn(EvtchnError),
    /// The shared ring (a broken or hostile backend).
    Ring(RingError),
    /// A response id (a broken or hostile backend).
    Id(IdError),
    /// A xenbus helper (typed xenstore, state, path and value errors).
    Xenbus(XenbusError),
    /// The backend gave up (state Closing/Closed) during the handshake.
    BackendClosed(XenbusState),
    /// Waited too long.
    Timeout,
    /// The backend answered a request with an error status.
    Status(i16),
    /// The backend does not serve the size we asked.
    Backend(String),
}

macro_rules! from {
    ($variant:ident, $ty:ty) => {
        impl From<$ty> for FrontError {
            fn from(e: $ty) -> Self {
                FrontError::$variant(e)
            }
        }
    };
}
from!(Xs, xenstore::Error);
from!(Grant, GrantError);
from!(Evtchn, EvtchnError);
from!(Ring, RingError);
from!(Id, IdError);
from!(Xenbus, XenbusError);

/// Bound of every wait loop (rounds of the pump).
const MAX_WAIT_ROUNDS: usize = 200;
/// Deadline of a wait for a backend state (simulated time).
const STATE_TIMEOUT_MS: u64 = 20;

/// What the bus driver sets up once per guest: shared_info and event channels, the grant
/// table, the xenstore client.
pub struct Platform<'m, H: Hypervisor + Clone = SimHypervisor> {
    /// The guest's hypercall interface (the simulator's typed one, or raw ABI marshalling).
    pub hv: H,
    pub world: World,
    pub guest: Guest,
    pub memory: &'m GuestMemory,
    _shared_info: OwnedPages<&'m GuestMemory>,
    _table_page: OwnedPages<&'m GuestMemory>,
    pub evtchn: EventChannels,
    pub grants: GrantTable,
    pub xs: GuestStore<H>,
    pub upcalls: u32,
}

impl<'m> Platform<'m> {
    pub fn new(world: &World, guest: &Guest, memory: &'m GuestMemory) -> Platform<'m> {
        Platform::with_hypervisor(world, guest, memory, guest.hypervisor.clone())
    }
}

impl<'m, H: Hypervisor + Clone> Platform<'m, H> {
    /// The platform over a given hypercall interface.
    pub fn with_hypervisor(
        world: &World,
        guest: &Guest,
        memory: &'m GuestMemory,
        hypervisor: H,
    ) -> Platform<'m, H> {
        let hv = &hypervisor;
        let shared_info = OwnedPages::new(memory, 1).unwrap();
        hv.add_to_physmap(XENMAPSPACE_shared_info, 0, shared_info.pfn())
            .unwrap();
        let window = memory.map_frames(shared_info.pfn(), 1).unwrap();
        let evtchn = EventChannels::new(window, 64).unwrap();
        evtchn.mask_all().unwrap();
        let table_page = OwnedPages::new(memory, 1).unwrap();
        let grants = GrantTable::setup(hv, memory, &[table_page.pfn()]).unwrap();
        let xs = super::guest_store_with(world, guest, hypervisor.clone());
        Platform {
            hv: hypervisor,
            world: world.clone(),
            guest: guest.clone(),
            memory,
            _shared_info: shared_info,
            _table_page: table_page,
            evtchn,
            grants,
            xs,
            upcalls: 0,
        }
    }

    /// One wait: dom0 works, then the guest takes its upcall if Xen raised one.
    pub fn wait(&mut self) {
        self.world.run_until_idle().unwrap();
        if self.world.upcall_pending(self.guest.domid) {
            self.upcalls += 1;
            self.evtchn.handle_upcall(VcpuId(0)).unwrap();
        }
    }
}

/// Shadow of an in-flight request: the grants to end when it completes.
struct Shadow {
    operation: u8,
    grefs: Vec<GrantRef>,
}

/// One data page of a request.
pub struct Segment<'m> {
    pub page: OwnedPages<&'m GuestMemory>,
    pub first_sect: u8,
    pub last_sect: u8,
}

/// The minimal block frontend.
pub struct MiniBlkfront<'m> {
    pub device: DeviceRef,
    pub nodename: String,
    pub backend: String,
    pub backend_id: DomainId,
    pub state: FrontendState,
    pub sectors: u64,
    pub flush: bool,
    ring_page: Option<OwnedPages<&'m GuestMemory>>,
    ring: Option<FrontRing<blkif_request, blkif_response>>,
    pub ring_ref: Option<GrantRef>,
    pub port: Option<EventChannelPort>,
    ids: IdTable<Shadow>,
    /// Set when the backend misbehaved: every later request fails with it.
    pub broken: Option<FrontError>,
}

impl<'m> MiniBlkfront<'m> {
    /// Reads and validates the device's backend (`xenbus::read_backend`).
    pub fn probe<H: Hypervisor + Clone>(
        p: &mut Platform<'m, H>,
        devid: u32,
    ) -> Result<Self, FrontError> {
        let device = DeviceRef::new("vbd", devid)?;
        let domid = xenbus::handshake::read_own_domid(&mut p.xs)?;
        let backend = read_backend(&mut p.xs, &device, Some(domid))?;
        let mut state = FrontendState::new();
        // The toolstack created us Initialising.
        state
            .transition(XenbusState::Initialising)
            .map_err(XenbusError::from)?;
        Ok(MiniBlkfront {
            nodename: device.dir()?,
            device,
            backend: backend.path,
            backend_id: backend.id,
            state,
            sectors: 0,
            flush: false,
            ring_page: None,
            ring: None,
            ring_ref: None,
            port: None,
            ids: IdTable::new(32).map_err(|_| FrontError::Backend("alloc".into()))?,
            broken: None,
        })
    }

    pub fn backend_state<H: Hypervisor + Clone>(
        &self,
        p: &mut Platform<'m, H>,
    ) -> Result<XenbusState, FrontError> {
        Ok(read_state(&mut p.xs, &self.backend)?)
    }

    /// Waits (watch-driven, bounded by the simulated clock) until the backend reaches `want`;
    /// a backend that closes instead ends the wait with `BackendClosed`.
    pub fn wait_backend<H: Hypervisor + Clone>(
        &self,
        p: &mut Platform<'m, H>,
        want: XenbusState,
    ) -> Result<(), FrontError> {
        let closing = |s: XenbusState| matches!(s, XenbusState::Closing | XenbusState::Closed);
        let reached = wait_for_state(&mut p.xs, &self.backend, STATE_TIMEOUT_MS, |s| {
            s == want || (!closing(want) && closing(s))
        })?;
        if reached != want {
            return Err(FrontError::BackendClosed(reached));
        }
        Ok(())
    }

    fn switch_state<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
        to: XenbusState,
    ) -> Result<(), FrontError> {
        Ok(switch_state(
            &mut p.xs,
            &self.nodename,
            &mut self.state,
            to,
        )?)
    }

    /// Linux blkfront's `talk_to_blkback` + `connect`: ring and event channel, keys written in
    /// a transaction, Initialised, then Connected once the backend is.
    pub fn connect<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<(), FrontError> {
        self.wait_backend(p, XenbusState::InitWait)?;
        // Negotiate before allocating anything: min(ours, theirs), garbage is an error.
        let offer = VbdBackendOffer::read(&mut p.xs, &self.backend)?;
        let ours = VbdFrontendLimits {
            max_ring_page_order: 0,
            max_indirect_segments: 0,
            flush_cache: true,
            barrier: false,
            discard: false,
            persistent: false,
            max_queues: 1,
        };
        let negotiated = negotiate_vbd(&ours, &offer);
        let ring_page =
            OwnedPages::new(p.memory, 1).map_err(|_| FrontError::Backend("alloc".into()))?;
        let ring = FrontRing::init(ring_page.memory())?;
        let ring_ref = p
            .grants
            .grant_access(self.backend_id, ring_page.pfn(), false)?;
        let hv = p.hv.clone();
        let port = p.evtchn.alloc_unbound(&hv, self.backend_id)?;
        p.evtchn.bind_handler(&hv, port, record_event, 1)?;
        self.ring_page = Some(ring_page);
        self.ring = Some(ring);
        self.ring_ref = Some(ring_ref);
        self.port = Some(port);
        let mut publication = Publication::new();
        publication
            .ring("", &[ring_ref], 0)?
            .event_channel("event-channel", port)?
            .protocol(XEN_IO_PROTO_ABI_NATIVE)?;
        negotiated.advertise(&mut publication)?;
        // Keys and the Initialised state in one transaction.
        publish(
            &mut p.xs,
            &self.nodename,
            &publication,
            Some(XenbusState::Initialised),
        )?;
        self.state
            .transition(XenbusState::Initialised)
            .map_err(XenbusError::from)?;
        self.wait_backend(p, XenbusState::Connected)?;
        let geometry = VbdGeometry::read(&mut p.xs, &self.backend)?;
        self.sectors = geometry.sectors;
        self.flush = negotiated.flush_cache;
        self.switch_state(p, XenbusState::Connected)
    }

    /// Pushes one request over `segments` and waits (bounded) for its response.
    pub fn submit<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
        operation: u8,
        sector: u64,
        segments: &[Segment<'m>],
    ) -> Result<(), FrontError> {
        if let Some(e) = &self.broken {
            return Err(FrontError::Backend(format!("broken: {e:?}")));
        }
        let readonly = operation == BLKIF_OP_WRITE;
        let mut grefs = Vec::new();
        let mut request = blkif_request {
            operation,
            nr_segments: segments.len() as u8,
            sector_number: sector,
            ..Default::default()
        };
        for (seg, wire) in segments.iter().zip(request.seg.iter_mut()) {
            let gref = p
                .grants
                .grant_access(self.backend_id, seg.page.pfn(), readonly)?;
            grefs.push(gref);
            wire.gref = gref.0;
            wire.first_sect = seg.first_sect;
            wire.last_sect = seg.last_sect;
        }
        let id = self.ids.allocate(Shadow { operation, grefs })?;
        request.id = u64::from(id);
        let ring = self
            .ring
            .as_mut()
            .ok_or(FrontError::Backend("no ring".into()))?;
        ring.push_request(&request)?;
        let port = self.port.ok_or(FrontError::Backend("no port".into()))?;
        if ring.push_requests_and_check_notify()? {
            p.evtchn.notify(&p.hv, port)?;
        }
        for _ in 0..MAX_WAIT_ROUNDS {
            p.wait();
            if take_events(port) == 0 {
                continue;
            }
            match self.complete(p) {
                Ok(Some(status)) if status == BLKIF_RSP_OKAY => return Ok(()),
                Ok(Some(status)) => return Err(FrontError::Status(status)),
                Ok(None) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(FrontError::Timeout)
    }

    /// Takes one response: checks its id against the shadow, ends the grants.
    fn complete<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<Option<i16>, FrontError> {
        let ring = self
            .ring
            .as_mut()
            .ok_or(FrontError::Backend("no ring".into()))?;
        let response = match ring.next_response() {
            Ok(Some(response)) => response,
            Ok(None) => {
                ring.final_check_for_responses()?;
                return Ok(None);
            }
            Err(e) => {
                self.broken = Some(FrontError::Ring(e));
                return Err(FrontError::Ring(e));
            }
        };
        // As RING_FINAL_CHECK_FOR_RESPONSES after a batch: ask for an event on the next one,
        // or the backend will (rightly) not notify again.
        if let Err(e) = ring.final_check_for_responses() {
            self.broken = Some(FrontError::Ring(e));
            return Err(FrontError::Ring(e));
        }
        let shadow = match self.ids.complete(response.id) {
            Ok(shadow) => shadow,
            Err(e) => {
                self.broken = Some(FrontError::Id(e));
                return Err(FrontError::Id(e));
            }
        };
        if response.operation != shadow.operation {
            self.broken = Some(FrontError::Backend("operation mismatch".into()));
        }
        for gref in shadow.grefs {
            p.grants.end_access(gref)?;
        }
        Ok(Some(response.status))
    }

    /// Writes `data` (whole sectors) at `sector`, one page per segment.
    pub fn write<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
        sector: u64,
        data: &[u8],
    ) -> Result<(), FrontError> {
        let segments = pages_for(p.memory, data.len());
        for (seg, chunk) in segments.iter().zip(data.chunks(PAGE_SIZE)) {
            seg.page.memory().write_bytes(0, chunk).unwrap();
        }
        self.submit(p, BLKIF_OP_WRITE, sector, &segments)
    }

    /// Reads `count` sectors at `sector`.
    pub fn read<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
        sector: u64,
        count: usize,
    ) -> Result<Vec<u8>, FrontError> {
        let len = count * 512;
        let segments = pages_for(p.memory, len);
        self.submit(p, BLKIF_OP_READ, sector, &segments)?;
        let mut out = vec![0u8; len];
        for (seg, chunk) in segments.iter().zip(out.chunks_mut(PAGE_SIZE)) {
            seg.page.memory().read_bytes(0, chunk).unwrap();
        }
        Ok(out)
    }

    /// `BLKIF_OP_FLUSH_DISKCACHE` with no segment.
    pub fn flush<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<(), FrontError> {
        self.submit(p, BLKIF_OP_FLUSH_DISKCACHE, 0, &[])
    }

    /// Requests still waiting for a response.
    pub fn in_flight(&self) -> usize {
        self.ids.in_flight()
    }

    /// Linux blkfront's close: Closing, wait for the backend to let go, Closed; then end the
    /// ring grant and close the event channel.
    pub fn disconnect<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<(), FrontError> {
        self.switch_state(p, XenbusState::Closing)?;
        self.wait_backend(p, XenbusState::Closing)?;
        self.switch_state(p, XenbusState::Closed)?;
        match self.wait_backend(p, XenbusState::Closed) {
            Ok(()) => {}
            // Detached: the toolstack removed the backend directory once it was Closed (Linux's
            // xenbus_read_driver_state reads such a backend as Unknown, i.e. gone).
            Err(FrontError::Xenbus(XenbusError::Store(xenstore::Error::Xs(
                xenstore::XsErrno::ENOENT | xenstore::XsErrno::EACCES,
            )))) => {}
            Err(e) => return Err(e),
        }
        self.release(p)
    }

    /// One backend state change, answered only by `xenbus::state::backend_changed` (a driver's
    /// watch callback): moves our state where the state machine says. Only the closing half is
    /// acted on here (the rings are already up); returns the backend state that was read.
    pub fn follow_backend<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<XenbusState, FrontError> {
        let theirs = self.backend_state(p)?;
        let ours = self.state.get();
        let action = xenbus::state::backend_changed(ours, theirs);
        if let Some(to) = xenbus::state::action_target(action, ours, false) {
            if matches!(to, XenbusState::Closing | XenbusState::Closed) {
                self.switch_state(p, to)?;
            }
        }
        Ok(theirs)
    }

    /// Ends the ring grant and closes the event channel (after the backend let go of them).
    pub fn release<H: Hypervisor + Clone>(
        &mut self,
        p: &mut Platform<'m, H>,
    ) -> Result<(), FrontError> {
        let hv = p.hv.clone();
        if let Some(port) = self.port.take() {
            p.evtchn.close(&hv, port)?;
        }
        if let Some(r) = self.ring_ref.take() {
            p.grants.end_access(r)?;
        }
        self.ring = None;
        self.ring_page = None;
        Ok(())
    }
}

/// Pages for `len` bytes, each a full-page segment (sectors 0..=7, the last one cut).
pub fn pages_for<'m>(memory: &'m GuestMemory, len: usize) -> Vec<Segment<'m>> {
    (0..len.div_ceil(PAGE_SIZE))
        .map(|i| {
            let bytes = (len - i * PAGE_SIZE).min(PAGE_SIZE);
            Segment {
                page: OwnedPages::new(memory, 1).unwrap(),
                first_sect: 0,
                last_sect: (bytes.div_ceil(512) - 1) as u8,
            }
        })
        .collect()
}
