//! Push+consume throughput of a one-page ring with blkif-sized (112-byte) requests.
//!
//! Run with `cargo bench -p xen-ring`. Each iteration fills the ring from the front, lets the
//! back consume and answer every request, then consumes the responses at the front.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xen_hal::fake::HeapPages;
use xen_ring::{BackRing, FrontRing};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A stand-in with blkif_request's size (112 bytes).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Request {
    words: [u64; 14],
}

/// A stand-in with blkif_response's size (16 bytes: id, operation, status, padded).
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Response {
    id: u64,
    status: u64,
}

fn round_trips(c: &mut Criterion) {
    let pages = HeapPages::new(1).expect("one page");
    let mut front: FrontRing<Request, Response> = FrontRing::init(pages.memory()).expect("init");
    let mut back: BackRing<Request, Response> = BackRing::attach(pages.memory()).expect("attach");
    let size = u64::from(front.size());
    let mut group = c.benchmark_group("one_page_ring");
    group.throughput(Throughput::Elements(size));
    group.bench_function("fill_answer_drain_112_byte_requests", |b| {
        let mut request = Request { words: [0; 14] };
        b.iter(|| {
            while front.free_requests() > 0 {
                request.words[0] = request.words[0].wrapping_add(1);
                front.push_request(&request).expect("push");
            }
            front.push_requests_and_check_notify().expect("publish");
            while let Some(req) = back.next_request().expect("request") {
                back.push_response(&Response {
                    id: req.words[0],
                    status: 0,
                })
                .expect("respond");
            }
            back.push_responses_and_check_notify().expect("publish");
            let mut seen = 0u64;
            while let Some(rsp) = front.next_response().expect("response") {
                seen = seen.wrapping_add(rsp.id);
            }
            seen
        })
    });
    group.finish();
}

criterion_group!(benches, round_trips);
criterion_main!(benches);
