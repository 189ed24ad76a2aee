//! The workloads. Each is one function `fn(count) -> Result<Report, String>` listed in
//! [`WORKLOADS`]; adding a benchmark row is adding one such function (and its line in
//! `crates/xtask/src/bench.rs`).
//!
//! The ring workloads do exactly what `c/bench.c` does with `io/ring.h`: one 4 KiB blkif ring,
//! one thread playing both ends; the frontend fills every free slot in place and publishes
//! once, the backend checks the producer index once, copies and checks every request and
//! answers it in place, the frontend checks the response producer once and copies and checks
//! every response. The counters are the C program's, so equal counters mean equal work.

use std::hint::black_box;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use xen_evtchn::EventChannels;
use xen_grant::RefAllocator;
use xen_hal::fake::HeapPages;
use xen_hal::fake_hypervisor::RecordingHypervisor;
use xen_hal::{DomainId, GrantRef, SharedMemory, VcpuId};
use xen_public_headers::io::blkif::{
    blkif_request, blkif_request_segment, blkif_response, BLKIF_MAX_SEGMENTS_PER_REQUEST,
    BLKIF_OP_READ, BLKIF_OP_WRITE, BLKIF_RSP_OKAY,
};
use xen_public_headers::xen::{shared_info, vcpu_info};
use xen_ring::ids::IdTable;
use xen_ring::{BackRing, FrontRing};

/// What a workload measured.
pub struct Report {
    /// `(name, value)` pairs that the C baseline prints too.
    pub counters: Vec<(&'static str, u64)>,
    /// Nanoseconds per operation (request, copy, reference, upcall).
    pub ns_per_op: f64,
}

impl Report {
    /// `counters a=1 b=2 ...`, the line the C program prints.
    pub fn counters_line(&self) -> String {
        let mut line = String::from("counters");
        for (name, value) in &self.counters {
            line.push_str(&format!(" {name}={value}"));
        }
        line
    }
}

type Workload = fn(u64) -> Result<Report, String>;

/// Every workload by name.
const WORKLOADS: &[(&str, Workload)] = &[
    ("ring", |n| ring(n, false)),
    ("ring-ids", |n| ring(n, true)),
    ("copy-read", copy_read),
    ("copy-write", copy_write),
    ("grant-11", |n| grant(n, 11)),
    ("grant-256", |n| grant(n, 256)),
    ("evtchn-1", |n| evtchn(n, 1)),
    ("evtchn-64", |n| evtchn(n, 64)),
    ("evtchn-4096", |n| evtchn(n, 4096)),
];

/// The workload called `name`.
pub fn find(name: &str) -> Option<Workload> {
    WORKLOADS
        .iter()
        .find(|(known, _)| *known == name)
        .map(|(_, workload)| *workload)
}

/// The workload names, for usage messages.
pub fn names() -> String {
    WORKLOADS
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(" ")
}

fn text<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

const SEGMENTS: usize = offset_of!(blkif_request, seg);
const SEGMENT_SIZE: usize = size_of::<blkif_request_segment>();

#[derive(Default)]
struct RingCounters {
    requests: u64,
    responses: u64,
    sector_sum: u64,
    gref_sum: u64,
    segments: u64,
    front_sum: u64,
    notify_back: u64,
    notify_front: u64,
    bad: u64,
}

/// The ring loop; with `ids`, request ids come from an [`IdTable`] whose shadow is the
/// request's sequence number, checked and freed on every response.
fn ring(total: u64, with_ids: bool) -> Result<Report, String> {
    let pages = HeapPages::new(1).map_err(text)?;
    let mut front: FrontRing<blkif_request, blkif_response> =
        FrontRing::init(pages.memory()).map_err(text)?;
    let mut back: BackRing<blkif_request, blkif_response> =
        BackRing::attach(pages.memory()).map_err(text)?;
    let mut ids: IdTable<u64> = IdTable::new(front.size()).map_err(text)?;
    let mut c = RingCounters::default();
    let (mut issued, mut expected) = (0u64, 0u64);
    let start = Instant::now();
    while c.responses < total {
        // Frontend: fill every free slot in place, publish once.
        while front.free_requests() > 0 && issued < total {
            let seq = issued;
            issued += 1;
            let id = if with_ids {
                u64::from(ids.allocate(seq).map_err(text)?)
            } else {
                seq
            };
            let nr_segments = 1 + (seq % BLKIF_MAX_SEGMENTS_PER_REQUEST as u64) as usize;
            // Field by field, as the C frontend writes them.
            front
                .push_request_with(|slot| {
                    let operation = if seq & 1 == 1 {
                        BLKIF_OP_WRITE
                    } else {
                        BLKIF_OP_READ
                    };
                    slot.write_at(offset_of!(blkif_request, operation), &operation)?;
                    slot.write_at(offset_of!(blkif_request, nr_segments), &(nr_segments as u8))?;
                    slot.write_at(offset_of!(blkif_request, handle), &0u16)?;
                    slot.write_at(offset_of!(blkif_request, id), &id)?;
                    slot.write_at(offset_of!(blkif_request, sector_number), &(seq * 8))?;
                    for k in 0..nr_segments {
                        // One 8-byte store per segment.
                        slot.write_at(
                            SEGMENTS + k * SEGMENT_SIZE,
                            &blkif_request_segment {
                                gref: (seq + k as u64) as u32,
                                first_sect: 0,
                                last_sect: 7,
                                _pad0: [0; 2],
                            },
                        )?;
                    }
                    Ok(())
                })
                .map_err(text)?;
        }
        c.notify_back += u64::from(front.push_requests_and_check_notify().map_err(text)?);

        // Backend: check `req_prod` once, copy and check every request, answer in place.
        back.unconsumed_requests().map_err(text)?;
        let mut request = blkif_request::default();
        while back.take_request_into(&mut request).map_err(text)? {
            c.requests += 1;
            let count = usize::from(request.nr_segments);
            let Some(segments) = request.seg.get(..count).filter(|_| count > 0) else {
                c.bad += 1;
                continue;
            };
            c.sector_sum = c.sector_sum.wrapping_add(request.sector_number);
            c.segments += count as u64;
            for segment in segments {
                c.gref_sum = c.gref_sum.wrapping_add(
                    u64::from(segment.gref) + u64::from(segment.last_sect)
                        - u64::from(segment.first_sect),
                );
            }
            back.push_response_with(|slot| {
                slot.write_at(offset_of!(blkif_response, id), &request.id)?;
                slot.write_at(offset_of!(blkif_response, operation), &request.operation)?;
                slot.write_at(offset_of!(blkif_response, status), &BLKIF_RSP_OKAY)
            })
            .map_err(text)?;
        }
        c.notify_front += u64::from(back.push_responses_and_check_notify().map_err(text)?);

        // Frontend: check `rsp_prod` once, copy and check every response.
        front.unconsumed_responses().map_err(text)?;
        let mut response = blkif_response::default();
        while front.take_response_into(&mut response).map_err(text)? {
            c.responses += 1;
            if response.status != BLKIF_RSP_OKAY {
                c.bad += 1;
                continue;
            }
            if with_ids {
                match ids.complete(response.id) {
                    Ok(seq) => c.front_sum = c.front_sum.wrapping_add(seq),
                    Err(_) => c.bad += 1,
                }
            } else {
                if response.id != expected {
                    c.bad += 1;
                }
                c.front_sum = c.front_sum.wrapping_add(response.id);
            }
            expected += 1;
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    Ok(Report {
        counters: vec![
            ("requests", c.requests),
            ("responses", c.responses),
            ("sector_sum", c.sector_sum),
            ("gref_sum", c.gref_sum),
            ("segments", c.segments),
            ("front_sum", c.front_sum),
            ("notify_back", c.notify_back),
            ("notify_front", c.notify_front),
            ("bad", c.bad),
        ],
        ns_per_op: per_op(ns, total),
    })
}

fn per_op(ns: f64, count: u64) -> f64 {
    ns / count.max(1) as f64
}

const PAGE: usize = 4096;

/// A page-aligned private page, as the C program's `aligned_alloc` buffers.
#[repr(C, align(4096))]
struct PrivatePage([u8; PAGE]);

/// A private page holding the contents of the copy workloads (as `c/bench.c`).
fn pattern() -> Box<PrivatePage> {
    let mut page = Box::new(PrivatePage([0; PAGE]));
    for (i, byte) in page.0.iter_mut().enumerate() {
        *byte = (i * 7 + 1) as u8;
    }
    page
}

/// The C program's check of a copied page.
fn copy_counters(total: u64, page: &[u8]) -> Vec<(&'static str, u64)> {
    let check = page
        .iter()
        .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    vec![("bytes", total * PAGE as u64), ("check", check)]
}

/// A shared page copied out into a private buffer with `SharedMemory::read_bytes` (RX copy,
/// bounce buffer reads).
fn copy_read(total: u64) -> Result<Report, String> {
    let pages = HeapPages::new(1).map_err(text)?;
    let shared = pages.memory();
    shared.write_bytes(0, &pattern().0).map_err(text)?;
    let mut private = Box::new(PrivatePage([0; PAGE]));
    let start = Instant::now();
    for _ in 0..total {
        black_box(&shared)
            .read_bytes(0, black_box(&mut private.0[..]))
            .map_err(text)?;
    }
    let ns = start.elapsed().as_nanos() as f64;
    Ok(Report {
        counters: copy_counters(total, &private.0),
        ns_per_op: per_op(ns, total),
    })
}

/// A private buffer copied into a shared page with `SharedMemory::write_bytes`.
fn copy_write(total: u64) -> Result<Report, String> {
    let pages = HeapPages::new(1).map_err(text)?;
    let shared: SharedMemory = pages.memory();
    let private = pattern();
    let start = Instant::now();
    for _ in 0..total {
        black_box(&shared)
            .write_bytes(0, black_box(&private.0[..]))
            .map_err(text)?;
    }
    let ns = start.elapsed().as_nanos() as f64;
    let mut back = vec![0u8; PAGE];
    shared.read_bytes(0, &mut back).map_err(text)?;
    Ok(Report {
        counters: copy_counters(total, &back),
        ns_per_op: per_op(ns, total),
    })
}

/// `total` references allocated in batches of `batch` and freed again; ns per reference
/// (one allocation and one free).
fn grant(total: u64, batch: usize) -> Result<Report, String> {
    let mut allocator = RefAllocator::new(512).map_err(text)?;
    let mut refs = vec![GrantRef(0); batch];
    let rounds = total.div_ceil(batch as u64);
    let mut sum = 0u64;
    let start = Instant::now();
    for _ in 0..rounds {
        allocator.alloc_batch(&mut refs).map_err(text)?;
        for r in black_box(&refs) {
            sum = sum.wrapping_add(u64::from(r.0));
            allocator.free(*r).map_err(text)?;
        }
    }
    let ns = start.elapsed().as_nanos() as f64;
    Ok(Report {
        counters: vec![("refs", rounds * batch as u64), ("ref_sum", sum)],
        ns_per_op: per_op(ns, rounds * batch as u64),
    })
}

static DISPATCHED: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_event(_context: usize, port: u32) {
    DISPATCHED.fetch_add(u64::from(port), Ordering::Relaxed);
}

/// `total` upcalls, each finding `ports` ports pending (ports `1..=ports`, modulo 4096: port 0
/// has no handler and counts as spurious): Xen's side (pending words, selector, upcall flag)
/// is raised with whole-word stores, then `EventChannels::handle_upcall` dispatches. ns per
/// upcall.
fn evtchn(total: u64, ports: u32) -> Result<Report, String> {
    let page = HeapPages::new(1).map_err(text)?;
    let shared = page.memory();
    let hv = RecordingHypervisor::new();
    let mut channels = EventChannels::new(shared, 4096).map_err(text)?;
    let mut words = [0u64; 64];
    for port in (1..=ports).map(|p| p % 4096) {
        if port != 0 {
            let opened = channels.alloc_unbound(&hv, DomainId(0)).map_err(text)?;
            if opened.0 != port {
                return Err(format!("expected port {port}, got {}", opened.0));
            }
            channels
                .bind_handler(&hv, opened, on_event, 0)
                .map_err(text)?;
        }
        let word = words
            .get_mut(port as usize / 64)
            .ok_or("port out of range")?;
        *word |= 1 << (port % 64);
    }
    // Xen's EVTCHNOP_unmask (the fake hypervisor only records it): clear every mask bit.
    let mask = offset_of!(shared_info, evtchn_mask);
    for i in 0..words.len() {
        shared
            .store_u64(mask + i * 8, 0, Ordering::SeqCst)
            .map_err(text)?;
    }
    let pending = offset_of!(shared_info, evtchn_pending);
    let vcpu0 = offset_of!(shared_info, vcpu_info);
    let selector_at = vcpu0 + offset_of!(vcpu_info, evtchn_pending_sel);
    let flag_at = vcpu0 + offset_of!(vcpu_info, evtchn_upcall_pending);
    let selector = words
        .iter()
        .enumerate()
        .filter(|(_, w)| **w != 0)
        .fold(0u64, |s, (i, _)| s | 1 << i);
    DISPATCHED.store(0, Ordering::Relaxed);
    let (mut dispatched, mut spurious) = (0u64, 0u64);
    let start = Instant::now();
    for _ in 0..total {
        for (i, word) in words.iter().enumerate().filter(|(_, w)| **w != 0) {
            shared
                .store_u64(pending + i * 8, *word, Ordering::Relaxed)
                .map_err(text)?;
        }
        shared
            .store_u64(selector_at, selector, Ordering::Relaxed)
            .map_err(text)?;
        shared.write_u8(flag_at, 1).map_err(text)?;
        let stats = channels.handle_upcall(VcpuId(0)).map_err(text)?;
        dispatched += u64::from(stats.dispatched);
        spurious += u64::from(stats.spurious);
    }
    let ns = start.elapsed().as_nanos() as f64;
    Ok(Report {
        counters: vec![
            ("dispatched", dispatched),
            ("spurious", spurious),
            ("port_sum", DISPATCHED.load(Ordering::Relaxed)),
        ],
        ns_per_op: per_op(ns, total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_runs_and_counts_its_work() {
        for (name, workload) in WORKLOADS {
            let report = workload(100).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(report.ns_per_op >= 0.0, "{name}");
            assert!(report.counters.iter().any(|(_, v)| *v > 0), "{name}");
            assert!(
                report.counters.iter().all(|(k, v)| *k != "bad" || *v == 0),
                "{name}"
            );
        }
    }

    #[test]
    fn ring_counters_do_not_depend_on_the_id_scheme() {
        let plain = ring(1000, false).unwrap().counters;
        let with_ids = ring(1000, true).unwrap().counters;
        assert_eq!(plain, with_ids);
    }
}
