//! A minimal blkback in dom0 serving a RAM disk, following the xenbus protocol the way
//! Linux's xen-blkback does, with hooks that make it hostile for frontend tests.
//!
//! Protocol: on creation it advertises `sectors`, `sector-size`, `info` and
//! `feature-flush-cache` and goes `InitWait`. When the frontend is `Initialised` (or
//! `Connected`) it reads `ring-ref` and `event-channel` (multi-page rings only when offered
//! with [`Blkback::set_max_ring_page_order`]), maps the ring through the grant rules, binds the
//! event channel and goes `Connected`. Requests are served from the ring when the frontend notifies;
//! every segment is checked (sector range within the page, within the disk, grant mappable) and
//! a bad one fails the request with `BLKIF_RSP_ERROR`. Indirect descriptors and discard are
//! served only when offered ([`Blkback::set_features`]), else answered `BLKIF_RSP_EOPNOTSUPP`.
//! On frontend `Closing` it unmaps the ring
//! and unbinds (`Closing`); on `Closed` it goes `Closed`.

// Xen's constant names are kept verbatim, also in patterns.
#![allow(non_upper_case_globals)]

use std::mem::size_of;
use std::sync::atomic::Ordering;

use xen_hal::{DomainId, EventChannelPort, GrantRef, SharedMemory, PAGE_SIZE};
use xen_public_headers::io::blkif::{
    blkif_request, blkif_request_discard, blkif_request_indirect, blkif_request_segment,
    blkif_response, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST, BLKIF_MAX_SEGMENTS_PER_REQUEST,
    BLKIF_OP_DISCARD, BLKIF_OP_FLUSH_DISKCACHE, BLKIF_OP_INDIRECT, BLKIF_OP_READ, BLKIF_OP_WRITE,
    BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_ERROR, BLKIF_RSP_OKAY,
};
use xen_public_headers::io::xenbus::{
    XenbusState, XenbusStateClosed, XenbusStateClosing, XenbusStateConnected, XenbusStateInitWait,
    XenbusStateInitialised, XenbusStateInitialising, XenbusStateUnknown,
};
use xen_ring::BackRing;
use zerocopy::{FromBytes, IntoBytes};

use crate::grant::MapHandle;
use crate::world::{Backend, Sim};
use crate::xenstored::ConnId;

/// Bytes per sector of the RAM disk.
pub const SECTOR_SIZE: usize = 512;
const SECTORS_PER_PAGE: u8 = (PAGE_SIZE / SECTOR_SIZE) as u8;

/// Ways to make the backend misbehave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hostile {
    /// Answer every request with an id the frontend never used.
    pub wrong_id: bool,
    /// After the next responses, publish a `rsp_prod` a whole ring beyond them.
    pub overflow_rsp_prod: bool,
    /// Write this instead of a state number the next time the state changes.
    pub garbage_state: Option<String>,
}

/// Optional features, off by default (what is not offered is answered `EOPNOTSUPP`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlkFeatures {
    /// `feature-max-indirect-segments` (0: no `BLKIF_OP_INDIRECT`); at most
    /// `BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST` pages of segments.
    pub max_indirect_segments: u32,
    /// `feature-discard` (the RAM disk zeroes discarded sectors).
    pub discard: bool,
}

/// Counters of what the backend did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlkbackStats {
    /// Requests answered `BLKIF_RSP_OKAY`.
    pub ok: u64,
    /// Requests answered `BLKIF_RSP_ERROR`.
    pub errors: u64,
    /// Requests answered `BLKIF_RSP_EOPNOTSUPP`.
    pub unsupported: u64,
    /// Flushes served.
    pub flushes: u64,
    /// Discards served.
    pub discards: u64,
    /// Notifications sent to the frontend.
    pub notifications: u64,
}

struct Connection {
    ring: BackRing<blkif_request, blkif_response>,
    ring_maps: Vec<MapHandle>,
    port: EventChannelPort,
}

fn unmap_all(sim: &mut Sim, maps: &[MapHandle]) {
    for handle in maps {
        let _ = sim.hv.grant_unmap(DomainId::DOM0, *handle);
    }
}

/// The backend of one virtual block device.
pub struct Blkback {
    frontend: DomainId,
    backend_path: String,
    frontend_path: Option<String>,
    conn: ConnId,
    disk: Vec<u8>,
    state: XenbusState,
    connection: Option<Connection>,
    hostile: Hostile,
    stats: BlkbackStats,
    last_error: Option<String>,
    /// A request arrived while no notification was expected (serve on the next poll).
    more: bool,
    max_ring_page_order: u32,
    removed: bool,
    features: BlkFeatures,
}

fn bad(why: impl Into<String>) -> String {
    why.into()
}

impl Blkback {
    /// A backend at `backend_path` for `frontend`'s device, serving `sectors` sectors of RAM.
    /// It watches its directory and starts on the next pump round.
    pub fn new(sim: &mut Sim, frontend: DomainId, backend_path: &str, sectors: u64) -> Blkback {
        let conn = sim.xenstored.connect(0);
        let _ = sim.xenstored.watch(conn, backend_path, "backend");
        let bytes = usize::try_from(sectors)
            .unwrap_or(0)
            .saturating_mul(SECTOR_SIZE);
        Blkback {
            frontend,
            backend_path: backend_path.to_string(),
            frontend_path: None,
            conn,
            disk: vec![0; bytes],
            state: XenbusStateUnknown,
            connection: None,
            hostile: Hostile::default(),
            stats: BlkbackStats::default(),
            last_error: None,
            more: false,
            max_ring_page_order: 0,
            removed: false,
            features: BlkFeatures::default(),
        }
    }

    /// The RAM disk.
    pub fn disk(&self) -> &[u8] {
        &self.disk
    }

    /// The RAM disk, writable (to prepare content).
    pub fn disk_mut(&mut self) -> &mut [u8] {
        &mut self.disk
    }

    /// The backend's xenbus state.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// Whether the ring is mapped and the event channel bound.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// Whether the device was detached and its directories removed.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// What it did.
    pub fn stats(&self) -> BlkbackStats {
        self.stats
    }

    /// Why it gave up on the frontend, if it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Makes the backend misbehave.
    pub fn set_hostile(&mut self, hostile: Hostile) {
        self.hostile = hostile;
    }

    fn read(&self, sim: &mut Sim, path: &str) -> Option<String> {
        sim.xenstored
            .read(self.conn, 0, path)
            .ok()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    }

    fn write(&self, sim: &mut Sim, key: &str, value: &str) {
        let path = format!("{}/{key}", self.backend_path);
        let _ = sim.xenstored.write(self.conn, 0, &path, value.as_bytes());
    }

    fn switch_state(&mut self, sim: &mut Sim, state: XenbusState) {
        self.state = state;
        let text = match self.hostile.garbage_state.take() {
            Some(garbage) => garbage,
            None => state.to_string(),
        };
        self.write(sim, "state", &text);
    }

    fn frontend_state(&self, sim: &mut Sim) -> Option<XenbusState> {
        let path = format!("{}/state", self.frontend_path.as_ref()?);
        self.read(sim, &path)?.trim().parse().ok()
    }

    /// Linux blkback's probe: features, then `InitWait`.
    fn probe(&mut self, sim: &mut Sim) {
        let Some(frontend) = self.read(sim, &format!("{}/frontend", self.backend_path)) else {
            return;
        };
        if self.frontend_path.is_none() {
            let _ = sim
                .xenstored
                .watch(self.conn, &format!("{frontend}/state"), "frontend");
        }
        self.frontend_path = Some(frontend);
        let sectors = (self.disk.len() / SECTOR_SIZE).to_string();
        self.write(sim, "sectors", &sectors);
        self.write(sim, "sector-size", &SECTOR_SIZE.to_string());
        self.write(sim, "physical-sector-size", &SECTOR_SIZE.to_string());
        self.write(sim, "info", "0");
        self.write(sim, "feature-flush-cache", "1");
        self.write(sim, "feature-barrier", "0");
        if self.max_ring_page_order > 0 {
            let order = self.max_ring_page_order.to_string();
            self.write(sim, "max-ring-page-order", &order);
        }
        if self.features.max_indirect_segments > 0 {
            let max = self.features.max_indirect_segments.to_string();
            self.write(sim, "feature-max-indirect-segments", &max);
        }
        if self.features.discard {
            self.write(sim, "feature-discard", "1");
            self.write(sim, "discard-granularity", &SECTOR_SIZE.to_string());
            self.write(sim, "discard-alignment", "0");
            self.write(sim, "discard-secure", "0");
        }
        self.switch_state(sim, XenbusStateInitWait);
    }

    fn connect(&mut self, sim: &mut Sim) -> Result<(), String> {
        let front = self
            .frontend_path
            .clone()
            .ok_or_else(|| bad("no frontend"))?;
        if let Some(protocol) = self.read(sim, &format!("{front}/protocol")) {
            if protocol != "x86_64-abi" {
                return Err(format!("unsupported protocol {protocol}"));
            }
        }
        let grefs = self.ring_refs(sim, &front)?;
        let port: u32 = self
            .read(sim, &format!("{front}/event-channel"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| bad("reading event-channel"))?;
        let mut ring_maps = Vec::with_capacity(grefs.len());
        for gref in &grefs {
            match sim
                .hv
                .grant_map(DomainId::DOM0, self.frontend, GrantRef(*gref), false)
            {
                Ok(handle) => ring_maps.push(handle),
                Err(e) => {
                    unmap_all(sim, &ring_maps);
                    return Err(format!("mapping ring-ref {gref}: {e:?}"));
                }
            }
        }
        let ring = self
            .ring_window(sim, &ring_maps)
            .and_then(|mem| BackRing::attach(mem).map_err(|e| format!("ring: {e:?}")));
        let ring = match ring {
            Ok(ring) => ring,
            Err(e) => {
                unmap_all(sim, &ring_maps);
                return Err(e);
            }
        };
        let local = match sim.hv.evtchn_bind_interdomain(
            DomainId::DOM0,
            self.frontend,
            EventChannelPort(port),
        ) {
            Ok(local) => local,
            Err(e) => {
                unmap_all(sim, &ring_maps);
                return Err(format!("binding event-channel {port}: {e:?}"));
            }
        };
        self.connection = Some(Connection {
            ring,
            ring_maps,
            port: local,
        });
        self.more = true;
        Ok(())
    }

    /// The grant references of the ring: `ring-ref`, or with `ring-page-order` (if we offered
    /// `max-ring-page-order`) `ring-ref0..ring-ref<2^order - 1>`.
    fn ring_refs(&self, sim: &mut Sim, front: &str) -> Result<Vec<u32>, String> {
        let number = |this: &Self, sim: &mut Sim, key: &str| -> Result<Option<u32>, String> {
            match this.read(sim, &format!("{front}/{key}")) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("reading {key}")),
            }
        };
        let order = number(self, sim, "ring-page-order")?.unwrap_or(0);
        if order == 0 {
            let gref = number(self, sim, "ring-ref")?.ok_or_else(|| bad("reading ring-ref"))?;
            return Ok(vec![gref]);
        }
        if order > self.max_ring_page_order {
            return Err(format!("ring-page-order {order} above our maximum"));
        }
        (0..1u32 << order)
            .map(|i| {
                number(self, sim, &format!("ring-ref{i}"))?
                    .ok_or_else(|| format!("reading ring-ref{i}"))
            })
            .collect()
    }

    /// One window over the mapped ring pages. Real blkback maps them into contiguous virtual
    /// memory; the simulator can only do so when the granted frames are consecutive frames of
    /// one guest allocation (a frontend allocating its ring in one piece).
    fn ring_window(&self, sim: &mut Sim, maps: &[MapHandle]) -> Result<SharedMemory, String> {
        let mut first = None;
        for (i, handle) in maps.iter().enumerate() {
            let pfn = sim
                .hv
                .grant_frame(*handle)
                .ok_or_else(|| bad("ring mapping vanished"))?;
            let base = *first.get_or_insert(pfn.0);
            if pfn.0 != base + i as u64 {
                return Err(bad(
                    "multi-page ring not in consecutive frames (simulator limit)",
                ));
            }
        }
        let base = first.ok_or_else(|| bad("no ring page"))?;
        sim.hv
            .domain(self.frontend)
            .ok()
            .and_then(|d| d.memory.as_ref())
            .and_then(|m| m.frames(xen_hal::Pfn(base), maps.len()))
            .ok_or_else(|| bad("ring pages not in one allocation (simulator limit)"))
    }

    fn disconnect(&mut self, sim: &mut Sim) {
        if let Some(c) = self.connection.take() {
            let _ = sim.hv.evtchn_close(DomainId::DOM0, c.port);
            unmap_all(sim, &c.ring_maps);
        }
    }

    /// Offers optional features (indirect descriptors, discard). Takes effect at the next probe
    /// (set them before the first pump).
    pub fn set_features(&mut self, features: BlkFeatures) {
        let per_page = (PAGE_SIZE / size_of::<blkif_request_segment>()) as u32;
        let max = per_page * BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST as u32;
        self.features = BlkFeatures {
            max_indirect_segments: features.max_indirect_segments.min(max),
            ..features
        };
    }

    /// Offers multi-page rings up to `2^order` pages (`max-ring-page-order`); 0 (the default)
    /// offers none. Takes effect at the next probe (set it before the first pump).
    pub fn set_max_ring_page_order(&mut self, order: u32) {
        self.max_ring_page_order = order.min(xen_ring::MAX_RING_PAGE_ORDER);
    }

    fn fatal(&mut self, sim: &mut Sim, why: String) {
        // As xenbus_dev_fatal: record the error where the toolstack looks, then close.
        self.write(sim, "error", &why);
        self.last_error = Some(why);
        self.disconnect(sim);
        self.switch_state(sim, XenbusStateClosing);
    }

    fn frontend_changed(&mut self, sim: &mut Sim) {
        let Some(state) = self.frontend_state(sim) else {
            return;
        };
        match state {
            XenbusStateInitialising if self.state == XenbusStateClosed => self.probe(sim),
            XenbusStateInitialised | XenbusStateConnected => {
                if self.state != XenbusStateInitWait {
                    return;
                }
                match self.connect(sim) {
                    Ok(()) => self.switch_state(sim, XenbusStateConnected),
                    Err(why) => self.fatal(sim, why),
                }
            }
            XenbusStateClosing => {
                self.disconnect(sim);
                if self.state != XenbusStateClosing {
                    self.switch_state(sim, XenbusStateClosing);
                }
            }
            XenbusStateClosed => {
                self.disconnect(sim);
                if self.state != XenbusStateClosed {
                    self.switch_state(sim, XenbusStateClosed);
                }
                // Taken offline by the toolstack (`xl block-detach`): the device goes away and
                // the toolstack removes both directories once the backend is Closed.
                let online = self.read(sim, &format!("{}/online", self.backend_path));
                if online.as_deref() == Some("0") {
                    if let Some(front) = self.frontend_path.clone() {
                        let _ = sim.xenstored.rm(self.conn, 0, &front);
                    }
                    let _ = sim.xenstored.rm(self.conn, 0, &self.backend_path);
                    self.removed = true;
                }
            }
            _ => {}
        }
    }

    /// Serves one request; returns the status to answer with.
    fn serve(&mut self, sim: &mut Sim, request: &blkif_request) -> i16 {
        let result = match request.operation {
            BLKIF_OP_FLUSH_DISKCACHE => {
                self.stats.flushes += 1;
                Ok(())
            }
            BLKIF_OP_READ | BLKIF_OP_WRITE => {
                let count = usize::from(request.nr_segments);
                if count == 0 || count > BLKIF_MAX_SEGMENTS_PER_REQUEST {
                    Err(format!("{count} segments"))
                } else {
                    let segments = request.seg.get(..count).unwrap_or(&[]);
                    let write = request.operation == BLKIF_OP_WRITE;
                    self.transfer(sim, write, request.sector_number, segments)
                }
            }
            BLKIF_OP_INDIRECT if self.features.max_indirect_segments > 0 => {
                self.indirect(sim, request)
            }
            BLKIF_OP_DISCARD if self.features.discard => self.discard(request),
            _ => return BLKIF_RSP_EOPNOTSUPP,
        };
        match result {
            Ok(()) => BLKIF_RSP_OKAY,
            Err(_) => BLKIF_RSP_ERROR,
        }
    }

    /// `BLKIF_OP_INDIRECT`: the segments live in granted pages named by the request.
    fn indirect(&mut self, sim: &mut Sim, request: &blkif_request) -> Result<(), String> {
        let indirect = blkif_request_indirect::read_from_prefix(request.as_bytes())
            .map(|(r, _)| r)
            .map_err(|_| bad("indirect request"))?;
        let count = usize::from(indirect.nr_segments);
        if count == 0 || count > self.features.max_indirect_segments as usize {
            return Err(format!("{count} indirect segments"));
        }
        let write = match indirect.indirect_op {
            BLKIF_OP_READ => false,
            BLKIF_OP_WRITE => true,
            op => return Err(format!("indirect op {op}")),
        };
        let per_page = PAGE_SIZE / size_of::<blkif_request_segment>();
        let pages = count.div_ceil(per_page);
        let grefs = indirect
            .indirect_grefs
            .get(..pages)
            .ok_or_else(|| bad("too many indirect pages"))?;
        let mut segments = Vec::with_capacity(count);
        for (i, gref) in grefs.iter().enumerate() {
            let handle = sim
                .hv
                .grant_map(DomainId::DOM0, self.frontend, GrantRef(*gref), true)
                .map_err(|e| format!("indirect grant {gref}: {e:?}"))?;
            let page = sim.hv.grant_memory(handle);
            let in_page = (count - i * per_page).min(per_page);
            let copied = page.map_err(|e| format!("{e:?}")).and_then(|page| {
                (0..in_page)
                    .map(|j| {
                        page.read_obj::<blkif_request_segment>(
                            j * size_of::<blkif_request_segment>(),
                        )
                        .map_err(|_| bad("indirect page"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            });
            let _ = sim.hv.grant_unmap(DomainId::DOM0, handle);
            segments.extend(copied?);
        }
        self.transfer(sim, write, indirect.sector_number, &segments)
    }

    /// `BLKIF_OP_DISCARD`: the RAM disk zeroes the range.
    fn discard(&mut self, request: &blkif_request) -> Result<(), String> {
        let discard = blkif_request_discard::read_from_prefix(request.as_bytes())
            .map(|(r, _)| r)
            .map_err(|_| bad("discard request"))?;
        let end = discard
            .sector_number
            .checked_add(discard.nr_sectors)
            .filter(|end| *end <= (self.disk.len() / SECTOR_SIZE) as u64)
            .ok_or_else(|| bad("discard beyond the disk"))?;
        let range = discard.sector_number as usize * SECTOR_SIZE..end as usize * SECTOR_SIZE;
        self.disk
            .get_mut(range)
            .ok_or_else(|| bad("discard range"))?
            .fill(0);
        self.stats.discards += 1;
        Ok(())
    }

    fn transfer(
        &mut self,
        sim: &mut Sim,
        write: bool,
        sector: u64,
        segments: &[blkif_request_segment],
    ) -> Result<(), String> {
        let count = segments.len();
        let mut sector = sector;
        // Validate everything before touching the disk.
        let mut plan = Vec::with_capacity(count);
        for seg in segments {
            if seg.first_sect > seg.last_sect || seg.last_sect >= SECTORS_PER_PAGE {
                return Err(format!("segment {}..={}", seg.first_sect, seg.last_sect));
            }
            let sectors = u64::from(seg.last_sect - seg.first_sect) + 1;
            let end = sector
                .checked_add(sectors)
                .ok_or_else(|| bad("sector overflow"))?;
            if end > (self.disk.len() / SECTOR_SIZE) as u64 {
                return Err(format!("sectors {sector}..{end} beyond the disk"));
            }
            plan.push((seg.gref, seg.first_sect, sectors, sector));
            sector = end;
        }
        // A disk write reads guest memory: map read-only, as blkback does.
        let mut handles = Vec::with_capacity(count);
        let mut result = Ok(());
        for (gref, ..) in &plan {
            match sim
                .hv
                .grant_map(DomainId::DOM0, self.frontend, GrantRef(*gref), write)
            {
                Ok(h) => handles.push(h),
                Err(e) => {
                    result = Err(format!("grant {gref}: {e:?}"));
                    break;
                }
            }
        }
        if result.is_ok() {
            for ((_, first, sectors, disk_sector), handle) in plan.iter().zip(&handles) {
                let page = match sim.hv.grant_memory(*handle) {
                    Ok(page) => page,
                    Err(e) => {
                        result = Err(format!("{e:?}"));
                        break;
                    }
                };
                let offset = usize::from(*first) * SECTOR_SIZE;
                let len = *sectors as usize * SECTOR_SIZE;
                let at = *disk_sector as usize * SECTOR_SIZE;
                let Some(disk) = self.disk.get_mut(at..at + len) else {
                    result = Err(bad("disk range"));
                    break;
                };
                let copied = if write {
                    page.read_bytes(offset, disk)
                } else {
                    page.write_bytes(offset, disk)
                };
                if copied.is_err() {
                    result = Err(bad("page range"));
                    break;
                }
            }
        }
        for handle in handles {
            let _ = sim.hv.grant_unmap(DomainId::DOM0, handle);
        }
        result
    }

    fn serve_ring(&mut self, sim: &mut Sim) -> Result<bool, String> {
        let Some(mut c) = self.connection.take() else {
            return Ok(false);
        };
        let result = self.serve_connection(sim, &mut c);
        self.connection = Some(c);
        result
    }

    fn serve_connection(&mut self, sim: &mut Sim, c: &mut Connection) -> Result<bool, String> {
        let kicked = sim.hv.evtchn_take_pending(DomainId::DOM0, c.port);
        if !kicked && !self.more {
            return Ok(false);
        }
        self.more = false;
        // The frontend must keep the ring pages while they are mapped.
        for handle in &c.ring_maps {
            sim.hv
                .grant_memory(*handle)
                .map_err(|e| format!("ring page: {e:?}"))?;
        }
        let mut served = 0u32;
        // Bounded: at most one ring's worth per poll; the rest on the next round.
        while served < c.ring.size() {
            let Some(request) = c.ring.next_request().map_err(|e| format!("{e:?}"))? else {
                break;
            };
            let status = self.serve(sim, &request);
            match status {
                BLKIF_RSP_OKAY => self.stats.ok += 1,
                BLKIF_RSP_ERROR => self.stats.errors += 1,
                _ => self.stats.unsupported += 1,
            }
            let id = if self.hostile.wrong_id {
                request.id ^ 0x5A5A_0000_0000
            } else {
                request.id
            };
            let response = blkif_response {
                id,
                operation: request.operation,
                status,
                ..Default::default()
            };
            c.ring
                .push_response(&response)
                .map_err(|e| format!("{e:?}"))?;
            served += 1;
        }
        if served == 0 {
            return Ok(false);
        }
        let notify = c
            .ring
            .push_responses_and_check_notify()
            .map_err(|e| format!("{e:?}"))?;
        if self.hostile.overflow_rsp_prod {
            self.hostile.overflow_rsp_prod = false;
            if let Some(Ok(mem)) = c.ring_maps.first().map(|h| sim.hv.grant_memory(*h)) {
                let bogus = c.ring.rsp_prod_pvt().wrapping_add(c.ring.size() + 3);
                let _ = mem.store_u32(xen_ring::layout::RSP_PROD, bogus, Ordering::Release);
            }
        }
        if notify || self.hostile.wrong_id {
            let _ = sim.hv.evtchn_send(DomainId::DOM0, c.port);
            self.stats.notifications += 1;
        }
        if c.ring
            .final_check_for_requests()
            .map_err(|e| format!("{e:?}"))?
        {
            self.more = true;
        }
        Ok(true)
    }
}

impl Backend for Blkback {
    fn poll(&mut self, sim: &mut Sim) -> bool {
        let events = sim.xenstored.take_events(self.conn);
        if self.removed {
            return false;
        }
        let mut progress = !events.is_empty();
        if self.state == XenbusStateUnknown {
            // The toolstack wrote the directory: probe.
            let ours: Option<XenbusState> = self
                .read(sim, &format!("{}/state", self.backend_path))
                .and_then(|s| s.trim().parse().ok());
            if ours == Some(XenbusStateInitialising) {
                self.probe(sim);
                progress = true;
            }
        }
        if events.iter().any(|e| e.token == "frontend") {
            self.frontend_changed(sim);
        }
        match self.serve_ring(sim) {
            Ok(moved) => progress |= moved,
            Err(why) => {
                self.fatal(sim, why);
                progress = true;
            }
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi;
    use crate::world::{Guest, World};
    use std::cell::RefCell;
    use std::rc::Rc;
    use xen_hal::{Hypervisor, PageAllocator, PageRange};
    use xen_ring::FrontRing;

    /// A frontend written by hand: grant entries poked into the table, xenstore written
    /// through a guest connection.
    struct Front {
        table: PageRange,
        conn: ConnId,
        guest: Guest,
    }

    impl Front {
        fn new(world: &World, guest: &Guest) -> Front {
            let table = guest.memory.alloc_pages(1).unwrap();
            guest
                .hypervisor
                .add_to_physmap(abi::XENMAPSPACE_grant_table, 0, table.pfn)
                .unwrap();
            let conn = world.with_sim(|sim| sim.xenstored.connect(guest.domid.0));
            Front {
                table,
                conn,
                guest: guest.clone(),
            }
        }
        fn grant(&self, gref: u32, frame: u64, readonly: bool) {
            let off = gref as usize * 8;
            let mut flags = abi::GTF_permit_access;
            if readonly {
                flags |= abi::GTF_readonly;
            }
            self.table
                .memory
                .store_u32(off + 4, frame as u32, Ordering::SeqCst)
                .unwrap();
            self.table
                .memory
                .store_u32(off, u32::from(flags), Ordering::SeqCst)
                .unwrap();
        }
        fn write(&self, world: &World, path: &str, value: &str) {
            world
                .with_sim(|sim| sim.xenstored.write(self.conn, 0, path, value.as_bytes()))
                .unwrap();
        }
    }

    #[test]
    fn serves_reads_and_writes_and_rejects_bad_segments() {
        let world = World::new();
        let guest = world.create_guest(3, "g");
        let (paths, blkback) = world.attach_vbd(3, 768, 64);
        world.run_until_idle().unwrap();
        assert_eq!(blkback.borrow().state(), XenbusStateInitWait);
        assert_eq!(
            world
                .xs_read_string(&format!("{}/sectors", paths.backend))
                .unwrap(),
            "64"
        );
        let front = Front::new(&world, &guest);
        let ring_page = guest.memory.alloc_pages(1).unwrap();
        let mut ring: FrontRing<blkif_request, blkif_response> =
            FrontRing::init(ring_page.memory).unwrap();
        front.grant(8, ring_page.pfn.0, false);
        let port = guest
            .hypervisor
            .evtchn_alloc_unbound(DomainId::DOM0)
            .unwrap();
        let fe = &paths.frontend;
        front.write(&world, &format!("{fe}/ring-ref"), "8");
        front.write(&world, &format!("{fe}/event-channel"), &port.0.to_string());
        front.write(&world, &format!("{fe}/state"), "3");
        world.run_until_idle().unwrap();
        assert_eq!(blkback.borrow().state(), XenbusStateConnected);
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            1
        );

        let data = guest.memory.alloc_pages(1).unwrap();
        data.memory.fill(0, PAGE_SIZE, 0xA5).unwrap();
        front.grant(9, data.pfn.0, true);
        let mut req = blkif_request {
            operation: BLKIF_OP_WRITE,
            nr_segments: 1,
            id: 77,
            sector_number: 4,
            ..Default::default()
        };
        req.seg[0].gref = 9;
        req.seg[0].first_sect = 1;
        req.seg[0].last_sect = 2;
        ring.push_request(&req).unwrap();
        // Bad segment: last_sect past the page.
        let mut bad_req = req;
        bad_req.id = 78;
        bad_req.seg[0].last_sect = 8;
        ring.push_request(&bad_req).unwrap();
        // Writable map of a read-only grant fails: a READ into grant 9.
        let mut read_ro = req;
        read_ro.id = 79;
        read_ro.operation = BLKIF_OP_READ;
        ring.push_request(&read_ro).unwrap();
        assert!(ring.push_requests_and_check_notify().unwrap());
        guest.hypervisor.evtchn_send(port).unwrap();
        world.run_until_idle().unwrap();
        let statuses: Vec<(u64, i16)> = std::iter::from_fn(|| ring.next_response().unwrap())
            .map(|r| (r.id, r.status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                (77, BLKIF_RSP_OKAY),
                (78, BLKIF_RSP_ERROR),
                (79, BLKIF_RSP_ERROR)
            ]
        );
        let b = blkback.borrow();
        assert!(b.disk()[4 * 512..6 * 512].iter().all(|x| *x == 0xA5));
        assert!(b.disk()[6 * 512..7 * 512].iter().all(|x| *x == 0));
        drop(b);
        // Only the ring stays mapped.
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            1
        );
        front.write(&world, &format!("{fe}/state"), "5");
        world.run_until_idle().unwrap();
        assert_eq!(blkback.borrow().state(), XenbusStateClosing);
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            0
        );
        assert!(world.violations().is_empty());
        let _ = &front.guest;
    }

    #[allow(clippy::type_complexity)]
    fn connected(
        order: u32,
    ) -> (
        World,
        Guest,
        Front,
        Rc<RefCell<Blkback>>,
        crate::VbdPaths,
        PageRange,
        EventChannelPort,
    ) {
        connected_with(order, BlkFeatures::default())
    }

    #[allow(clippy::type_complexity)]
    fn connected_with(
        order: u32,
        features: BlkFeatures,
    ) -> (
        World,
        Guest,
        Front,
        Rc<RefCell<Blkback>>,
        crate::VbdPaths,
        PageRange,
        EventChannelPort,
    ) {
        let world = World::new();
        let guest = world.create_guest(3, "g");
        let (paths, blkback) = world.attach_vbd(3, 768, 64);
        blkback.borrow_mut().set_max_ring_page_order(order);
        blkback.borrow_mut().set_features(features);
        world.run_until_idle().unwrap();
        let front = Front::new(&world, &guest);
        let pages = 1usize << order;
        let ring_page = guest.memory.alloc_pages(pages).unwrap();
        let fe = paths.frontend.clone();
        if order == 0 {
            front.grant(8, ring_page.pfn.0, false);
            front.write(&world, &format!("{fe}/ring-ref"), "8");
        } else {
            front.write(&world, &format!("{fe}/ring-page-order"), &order.to_string());
            for i in 0..pages {
                front.grant(8 + i as u32, ring_page.pfn.0 + i as u64, false);
                front.write(&world, &format!("{fe}/ring-ref{i}"), &(8 + i).to_string());
            }
        }
        let port = guest
            .hypervisor
            .evtchn_alloc_unbound(DomainId::DOM0)
            .unwrap();
        front.write(&world, &format!("{fe}/event-channel"), &port.0.to_string());
        front.write(&world, &format!("{fe}/state"), "3");
        world.run_until_idle().unwrap();
        (world, guest, front, blkback, paths, ring_page, port)
    }

    #[test]
    fn multi_page_rings_when_offered() {
        let (world, guest, front, blkback, paths, ring_page, port) = connected(2);
        assert_eq!(
            world
                .xs_read_string(&format!("{}/max-ring-page-order", paths.backend))
                .unwrap(),
            "2"
        );
        assert_eq!(
            blkback.borrow().state(),
            XenbusStateConnected,
            "{:?}",
            blkback.borrow().last_error()
        );
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            4
        );
        let mut ring: FrontRing<blkif_request, blkif_response> =
            FrontRing::init(ring_page.memory).unwrap();
        assert_eq!(ring.size(), 128);
        // 100 flushes fill most of the 4-page ring in one go.
        for id in 0..100 {
            ring.push_request(&blkif_request {
                operation: BLKIF_OP_FLUSH_DISKCACHE,
                id,
                ..Default::default()
            })
            .unwrap();
        }
        ring.push_requests_and_check_notify().unwrap();
        guest.hypervisor.evtchn_send(port).unwrap();
        world.run_until_idle().unwrap();
        let ids: Vec<u64> = std::iter::from_fn(|| ring.next_response().unwrap())
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, (0..100).collect::<Vec<_>>());
        front.write(&world, &format!("{}/state", paths.frontend), "6");
        world.run_until_idle().unwrap();
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            0
        );
    }

    #[test]
    fn hostile_frontend_request_overflow_closes_the_device() {
        let (world, guest, _front, blkback, paths, ring_page, port) = connected(0);
        assert_eq!(blkback.borrow().state(), XenbusStateConnected);
        // req_prod a ring and a half ahead of anything answered.
        ring_page
            .memory
            .store_u32(xen_ring::layout::REQ_PROD, 48, Ordering::Release)
            .unwrap();
        guest.hypervisor.evtchn_send(port).unwrap();
        world.run_until_idle().unwrap();
        let b = blkback.borrow();
        assert_eq!(b.state(), XenbusStateClosing);
        assert!(b
            .last_error()
            .is_some_and(|e| e.contains("RequestProducerOverflow")));
        assert!(world
            .xs_read_string(&format!("{}/error", paths.backend))
            .unwrap()
            .contains("Overflow"));
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            0
        );
    }

    #[test]
    fn non_consecutive_multi_page_ring_is_refused_not_crashed() {
        let world = World::new();
        let guest = world.create_guest(3, "g");
        let (paths, blkback) = world.attach_vbd(3, 768, 64);
        blkback.borrow_mut().set_max_ring_page_order(1);
        world.run_until_idle().unwrap();
        let front = Front::new(&world, &guest);
        let a = guest.memory.alloc_pages(1).unwrap();
        let b = guest.memory.alloc_pages(1).unwrap();
        front.grant(8, a.pfn.0, false);
        front.grant(9, b.pfn.0, false);
        let fe = &paths.frontend;
        front.write(&world, &format!("{fe}/ring-page-order"), "1");
        front.write(&world, &format!("{fe}/ring-ref0"), "8");
        front.write(&world, &format!("{fe}/ring-ref1"), "9");
        front.write(&world, &format!("{fe}/event-channel"), "5");
        front.write(&world, &format!("{fe}/state"), "3");
        world.run_until_idle().unwrap();
        assert_eq!(blkback.borrow().state(), XenbusStateClosing);
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            0
        );
    }

    #[test]
    fn detach_closes_and_removes_the_device() {
        let (world, _guest, front, blkback, paths, _ring_page, _port) = connected(0);
        world.detach_vbd(&paths).unwrap();
        world.run_until_idle().unwrap();
        // The frontend reacts to the backend's Closing.
        front.write(&world, &format!("{}/state", paths.frontend), "5");
        world.run_until_idle().unwrap();
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            0
        );
        front.write(&world, &format!("{}/state", paths.frontend), "6");
        world.run_until_idle().unwrap();
        assert!(blkback.borrow().is_removed());
        assert!(world.xs_read(&paths.backend).is_err());
        assert!(world.xs_read(&paths.frontend).is_err());
        assert_eq!(
            world.xs_directory("/local/domain/3/device/vbd").unwrap(),
            Vec::<String>::new()
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Whatever requests a frontend puts on the ring, blkback answers each one (errors for
        /// bad ones), never panics, and keeps no data grant mapped.
        #[test]
        fn random_requests_get_answers_not_crashes(
            requests in proptest::collection::vec(
                (0u8..8, 0u8..16, proptest::prelude::any::<u64>(), 0u64..80,
                 proptest::collection::vec((0u32..20, 0u8..10, 0u8..10), 11)),
                1..20,
            )
        ) {
            let (world, guest, front, blkback, _paths, ring_page, port) = connected(0);
            let data = guest.memory.alloc_pages(1).unwrap();
            front.grant(10, data.pfn.0, false);
            front.grant(11, data.pfn.0, true);
            let mut ring: FrontRing<blkif_request, blkif_response> =
                FrontRing::init(ring_page.memory).unwrap();
            for (operation, nr_segments, id, sector, segs) in &requests {
                let mut req = blkif_request {
                    operation: *operation,
                    nr_segments: *nr_segments,
                    id: *id,
                    sector_number: *sector,
                    ..Default::default()
                };
                for (wire, (gref, first, last)) in req.seg.iter_mut().zip(segs) {
                    wire.gref = *gref;
                    wire.first_sect = *first;
                    wire.last_sect = *last;
                }
                ring.push_request(&req).unwrap();
            }
            ring.push_requests_and_check_notify().unwrap();
            guest.hypervisor.evtchn_send(port).unwrap();
            proptest::prop_assert!(world.run_until_idle().is_ok());
            let answered: Vec<blkif_response> =
                std::iter::from_fn(|| ring.next_response().unwrap()).collect();
            proptest::prop_assert_eq!(answered.len(), requests.len());
            for (response, request) in answered.iter().zip(&requests) {
                proptest::prop_assert_eq!(response.id, request.2);
                proptest::prop_assert!(matches!(
                    response.status,
                    BLKIF_RSP_OKAY | BLKIF_RSP_ERROR | BLKIF_RSP_EOPNOTSUPP
                ));
            }
            proptest::prop_assert_eq!(blkback.borrow().state(), XenbusStateConnected);
            // Only the ring stays mapped.
            proptest::prop_assert_eq!(world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)), 1);
            let _ = &front;
        }
    }

    #[test]
    fn indirect_and_discard_when_offered() {
        let features = BlkFeatures {
            max_indirect_segments: 32,
            discard: true,
        };
        let (world, guest, front, blkback, paths, ring_page, port) = connected_with(0, features);
        let be = &paths.backend;
        assert_eq!(
            world
                .xs_read_string(&format!("{be}/feature-max-indirect-segments"))
                .unwrap(),
            "32"
        );
        assert_eq!(
            world
                .xs_read_string(&format!("{be}/feature-discard"))
                .unwrap(),
            "1"
        );
        let mut ring: FrontRing<blkif_request, blkif_response> =
            FrontRing::init(ring_page.memory).unwrap();
        // 6 data pages (48 sectors) described by one indirect page.
        let data = guest.memory.alloc_pages(6).unwrap();
        for i in 0..6 {
            data.memory
                .fill(i * PAGE_SIZE, PAGE_SIZE, 0x40 + i as u8)
                .unwrap();
            front.grant(20 + i as u32, data.pfn.0 + i as u64, true);
        }
        let table = guest.memory.alloc_pages(1).unwrap();
        for i in 0..6 {
            let seg = blkif_request_segment {
                gref: 20 + i as u32,
                first_sect: 0,
                last_sect: 7,
                ..Default::default()
            };
            table.memory.write_obj(i * 8, &seg).unwrap();
        }
        front.grant(19, table.pfn.0, true);
        let mut indirect = blkif_request_indirect {
            operation: BLKIF_OP_INDIRECT,
            indirect_op: BLKIF_OP_WRITE,
            nr_segments: 6,
            id: 5,
            sector_number: 8,
            ..Default::default()
        };
        indirect.indirect_grefs[0] = 19;
        let mut request = blkif_request::default();
        request.as_mut_bytes()[..size_of::<blkif_request_indirect>()]
            .copy_from_slice(indirect.as_bytes());
        ring.push_request(&request).unwrap();
        // More segments than offered.
        indirect.nr_segments = 33;
        indirect.id = 6;
        request.as_mut_bytes()[..size_of::<blkif_request_indirect>()]
            .copy_from_slice(indirect.as_bytes());
        ring.push_request(&request).unwrap();
        // Discard sectors 8..24.
        let discard = blkif_request_discard {
            operation: BLKIF_OP_DISCARD,
            id: 7,
            sector_number: 8,
            nr_sectors: 16,
            ..Default::default()
        };
        let mut request = blkif_request::default();
        request.as_mut_bytes()[..size_of::<blkif_request_discard>()]
            .copy_from_slice(discard.as_bytes());
        ring.push_request(&request).unwrap();
        ring.push_requests_and_check_notify().unwrap();
        guest.hypervisor.evtchn_send(port).unwrap();
        world.run_until_idle().unwrap();
        let answers: Vec<(u64, i16)> = std::iter::from_fn(|| ring.next_response().unwrap())
            .map(|r| (r.id, r.status))
            .collect();
        assert_eq!(
            answers,
            vec![
                (5, BLKIF_RSP_OKAY),
                (6, BLKIF_RSP_ERROR),
                (7, BLKIF_RSP_OKAY)
            ]
        );
        let b = blkback.borrow();
        // Sectors 8..24 were written then discarded; 24..56 keep the data.
        assert!(b.disk()[8 * 512..24 * 512].iter().all(|x| *x == 0));
        assert!(b.disk()[24 * 512..32 * 512].iter().all(|x| *x == 0x42));
        assert!(b.disk()[48 * 512..56 * 512].iter().all(|x| *x == 0x45));
        assert!(b.disk()[56 * 512..].iter().all(|x| *x == 0));
        assert_eq!(b.stats().discards, 1);
        drop(b);
        assert_eq!(
            world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
            1
        );
        let _ = &front;
    }

    #[test]
    fn indirect_and_discard_are_unsupported_unless_offered() {
        let (world, guest, _front, _blkback, paths, ring_page, port) = connected(0);
        assert!(world
            .xs_read(&format!("{}/feature-max-indirect-segments", paths.backend))
            .is_err());
        let mut ring: FrontRing<blkif_request, blkif_response> =
            FrontRing::init(ring_page.memory).unwrap();
        for operation in [BLKIF_OP_INDIRECT, BLKIF_OP_DISCARD] {
            ring.push_request(&blkif_request {
                operation,
                ..Default::default()
            })
            .unwrap();
        }
        ring.push_requests_and_check_notify().unwrap();
        guest.hypervisor.evtchn_send(port).unwrap();
        world.run_until_idle().unwrap();
        let statuses: Vec<i16> = std::iter::from_fn(|| ring.next_response().unwrap())
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, vec![BLKIF_RSP_EOPNOTSUPP, BLKIF_RSP_EOPNOTSUPP]);
    }
}
