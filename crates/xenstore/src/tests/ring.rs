//! The ring transport against a ring-side peer bridged to the fake xenstored.

use core::cell::RefCell;

use xen_hal::fake::{FakeClock, HeapPages};
use xen_hal::{Clock, EventChannelPort};

use crate::error::{ConnectionError, Error, TransportError, XsErrno};
use crate::fake::{ClockRef, FakeXenstored, NotifyCounter, RingPeer};
use crate::transport::{layout, RingTransport, Transport};
use crate::Client;

/// Moves bytes between the ring peer and the fake store (what xenstored does on an event).
pub(crate) fn serve(
    peer: &RingPeer,
    store: &RefCell<FakeXenstored>,
    backlog: &RefCell<alloc::vec::Vec<u8>>,
) {
    let requests = peer.take_requests(usize::MAX);
    let mut store = store.borrow_mut();
    store.write(&requests).unwrap();
    let mut buf = [0u8; 8192];
    let n = store.read(&mut buf).unwrap();
    let mut backlog = backlog.borrow_mut();
    backlog.extend_from_slice(&buf[..n]);
    let sent = peer.put_responses(&backlog);
    backlog.drain(..sent);
}

fn run_session(start: u32) {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    peer.set_indices(start, start, start, start);
    let store = RefCell::new(FakeXenstored::new(9));
    let backlog = RefCell::new(alloc::vec::Vec::new());
    let notify = NotifyCounter::new();
    let clock = FakeClock::new();
    let transport = RingTransport::new(pages.memory(), &notify, EventChannelPort(3)).unwrap();
    let mut c = Client::new(transport, ClockRef(&clock), |_| {
        clock.stall_us(100);
        serve(&peer, &store, &backlog);
    })
    .unwrap();
    c.set_timeout_ms(1000);
    // Values bigger than the ring force partial writes and reads across the wrap point.
    let big = alloc::vec![b'z'; 3000];
    for i in 0..4u8 {
        let path = alloc::format!("data/k{i}");
        c.write(&path, &big).unwrap();
        assert_eq!(c.read(&path).unwrap(), big);
    }
    assert_eq!(c.read("nope"), Err(Error::Xs(XsErrno::ENOENT)));
    assert!(notify.sends() > 0);
    assert_eq!(c.transport().notifications(), notify.sends());
    // Indices moved well past the start (and past u32::MAX when started near it).
    let moved = peer.index(layout::REQ_PROD).wrapping_sub(start);
    assert!(moved > 4 * 3000, "{moved}");
}

#[test]
fn ring_session_from_zero() {
    run_session(0);
}

#[test]
fn ring_session_across_u32_max() {
    run_session(u32::MAX - 5);
    run_session(u32::MAX - 1500);
}

#[test]
fn response_index_overflow_is_terminal() {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    peer.set_indices(0, 0, u32::MAX - 10, 1020);
    let notify = NotifyCounter::new();
    let mut t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    let mut buf = [0u8; 16];
    let e = TransportError::RingIndexOverflow {
        response: true,
        cons: u32::MAX - 10,
        prod: 1020,
    };
    assert_eq!(t.read(&mut buf), Err(e));
    // Terminal: even writes fail now, with the same cause.
    assert_eq!(t.write(b"x"), Err(e));
    assert_eq!(t.error(), Some(e));

    // A client sees a terminal connection error at once, not a hang.
    let clock = FakeClock::new();
    assert!(matches!(
        Client::new(t, ClockRef(&clock), |_| clock.stall_us(1000)),
        Err(Error::Connection(ConnectionError::Transport(got))) if got == e
    ));
    // Also when the indices go bad under a running client.
    let peer_start = RingPeer::new(pages.memory());
    peer_start.set_indices(0, 0, 0, 0);
    let t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    let mut c = Client::new(t, ClockRef(&clock), |_| clock.stall_us(1000)).unwrap();
    peer_start.set_indices(0, 0, u32::MAX - 10, 1020);
    assert_eq!(
        c.read("x"),
        Err(Error::Connection(ConnectionError::Transport(e)))
    );
}

#[test]
fn request_index_overflow_is_terminal() {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    peer.set_indices(100, 100 + 1025, 0, 0);
    let notify = NotifyCounter::new();
    let mut t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    assert!(matches!(
        t.write(b"abc"),
        Err(TransportError::RingIndexOverflow {
            response: false,
            ..
        })
    ));
    assert_eq!(notify.sends(), 0);
}

#[test]
fn full_ring_takes_partial_writes() {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    peer.set_indices(u32::MAX - 3, u32::MAX - 3, 0, 0);
    let notify = NotifyCounter::new();
    let mut t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    let data: alloc::vec::Vec<u8> = (0..1500u32).map(|i| i as u8).collect();
    assert_eq!(t.write(&data), Ok(1024));
    assert_eq!(t.write(&data[1024..]), Ok(0));
    let got = peer.take_requests(600);
    assert_eq!(got, &data[..600]);
    assert_eq!(t.write(&data[1024..]), Ok(476));
    let got = peer.take_requests(usize::MAX);
    assert_eq!(got, &data[600..]);
}

#[test]
fn server_error_field_is_honoured() {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    let notify = NotifyCounter::new();
    let mut t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    // The error field without the feature bit is ignored.
    peer.set_error(0, 2);
    assert_eq!(t.write(b"a"), Ok(1));
    peer.set_error(2, 2);
    assert_eq!(t.write(b"a"), Err(TransportError::ServerError(2)));
}

#[test]
fn too_small_page_is_refused() {
    let pages = HeapPages::new(1).unwrap();
    let small = pages.memory().window(0, 100).unwrap();
    let notify = NotifyCounter::new();
    assert!(matches!(
        RingTransport::new(small, &notify, EventChannelPort(1)),
        Err(TransportError::BadRingPage)
    ));
}

#[test]
fn clock_bounds_a_silent_server() {
    let pages = HeapPages::new(1).unwrap();
    let notify = NotifyCounter::new();
    let clock = FakeClock::new();
    let t = RingTransport::new(pages.memory(), &notify, EventChannelPort(1)).unwrap();
    let mut c = Client::new(t, ClockRef(&clock), |_| clock.stall_us(500)).unwrap();
    c.set_timeout_ms(20);
    assert_eq!(c.read("x"), Err(Error::Timeout));
    assert!(clock.now().0 >= 20_000_000);
}

#[test]
fn interface_layout_matches_xs_wire() {
    // xs_wire.h: two 1024-byte rings, then four u32 indices and three u32 fields.
    assert_eq!(layout::RING_SIZE, 1024);
    assert_eq!((layout::REQ, layout::RSP), (0, 1024));
    assert_eq!(
        (
            layout::REQ_CONS,
            layout::REQ_PROD,
            layout::RSP_CONS,
            layout::RSP_PROD
        ),
        (2048, 2052, 2056, 2060)
    );
    assert_eq!(
        (
            layout::SERVER_FEATURES,
            layout::CONNECTION,
            layout::ERROR,
            layout::SIZE
        ),
        (2064, 2068, 2072, 2076)
    );
    assert_eq!(crate::wire::HEADER_LEN, 16);
}

/// A client on the page, with the wait hook serving the store.
fn ring_client<'a>(
    pages: &HeapPages,
    notify: &'a NotifyCounter,
    clock: &'a FakeClock,
    peer: &'a RingPeer,
    store: &'a RefCell<FakeXenstored>,
    backlog: &'a RefCell<alloc::vec::Vec<u8>>,
) -> Client<
    RingTransport<&'a NotifyCounter>,
    ClockRef<'a, FakeClock>,
    impl FnMut(xen_hal::Instant) + 'a,
> {
    let transport = RingTransport::new(pages.memory(), notify, EventChannelPort(3)).unwrap();
    let mut c = Client::new(transport, ClockRef(clock), move |_| {
        clock.stall_us(100);
        serve(peer, store, backlog);
    })
    .unwrap();
    c.set_timeout_ms(50);
    c
}

#[test]
fn a_new_client_on_the_same_ring_inherits_nothing() {
    let pages = HeapPages::new(1).unwrap();
    let peer = RingPeer::new(pages.memory());
    let mut fake = FakeXenstored::new(9);
    fake.set("name", b"vm9");
    let store = RefCell::new(fake);
    let backlog = RefCell::new(alloc::vec::Vec::new());
    let notify = NotifyCounter::new();
    let clock = FakeClock::new();

    // A first driver instance watches `device` and goes away without unwatching.
    let mut a = ring_client(&pages, &notify, &clock, &peer, &store, &backlog);
    a.watch("device", "devices").unwrap();
    let _ = a.wait_watch_event(a.deadline_after_ms(10)).unwrap();
    drop(a);
    // A second sends a read and goes away with the reply unread in the ring...
    let mut b = ring_client(&pages, &notify, &clock, &peer, &store, &backlog);
    b.core()
        .submit(&crate::Request::Read { path: "domid" }, crate::TxId::NONE)
        .unwrap();
    b.pump().unwrap();
    drop(b);
    serve(&peer, &store, &backlog);
    assert_ne!(peer.index(layout::RSP_PROD), peer.index(layout::RSP_CONS));
    // ... and a third sends one and goes away before xenstored has even read it.
    let mut b = ring_client(&pages, &notify, &clock, &peer, &store, &backlog);
    b.core()
        .submit(&crate::Request::Read { path: "domid" }, crate::TxId::NONE)
        .unwrap();
    b.pump().unwrap();
    drop(b);

    // The new client's first request gets its own answer, not an old `read domid` one.
    let mut c = ring_client(&pages, &notify, &clock, &peer, &store, &backlog);
    assert_eq!(c.read_string("name").unwrap(), "vm9");
    assert_eq!(c.core().error(), None);
    // The old `device` watch is gone: watching again works, and events reach this client.
    c.watch("device", "devices").unwrap();
    let first = c.wait_watch_event(c.deadline_after_ms(10)).unwrap();
    assert_eq!(first.path, "device");
    store.borrow_mut().set("device/vbd/768", b"");
    let ev = c.wait_watch_event(c.deadline_after_ms(10)).unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.token.as_str()),
        ("device/vbd/768", "devices")
    );
    assert_eq!(c.take_watch_event().unwrap(), None);
    assert_eq!(store.borrow().watches().count(), 1);
    assert_eq!(c.core().stats().unknown_token_events, 0);
    assert!(c.core().stats().stale_replies >= 1);
}
