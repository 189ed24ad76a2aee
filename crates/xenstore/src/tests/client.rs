//! The blocking and non-blocking client against the fake xenstored, including hostile replies.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use xen_hal::fake::FakeClock;
use xen_hal::{Clock, DomainId};

use super::client;
use crate::abi::{XS_READ, XS_WRITE};
use crate::error::{ConnectionError, Error, WireError, XsErrno};
use crate::fake::FakeXenstored;
use crate::perms::{Access, Permission, Permissions};
use crate::transport::Transport;
use crate::wire::{Header, Request, HEADER_LEN};
use crate::{ClientCore, TxId};

fn header_bytes(msg_type: u32, req_id: u32, len: u32) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    Header {
        msg_type,
        req_id,
        tx_id: 0,
        len,
    }
    .emit(&mut h);
    h
}

#[test]
fn read_write_directory_rm_with_partial_io() {
    let mut store = FakeXenstored::new(5);
    store.write_chunk = Some(3);
    store.read_chunk = Some(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    assert_eq!(c.read_string("domid").unwrap(), "5");
    c.write("data/a", b"hello").unwrap();
    c.write("data/b", b"").unwrap();
    assert_eq!(c.read("data/a").unwrap(), b"hello");
    assert_eq!(c.read("/local/domain/5/data/a").unwrap(), b"hello");
    let mut dir = c.directory("data").unwrap();
    dir.sort();
    assert_eq!(dir, vec!["a", "b"]);
    c.mkdir("data/c").unwrap();
    assert_eq!(c.read("data/c").unwrap(), b"");
    c.rm("data").unwrap();
    assert_eq!(c.read("data/a"), Err(Error::Xs(XsErrno::ENOENT)));
    assert_eq!(c.directory("data"), Err(Error::Xs(XsErrno::ENOENT)));
    assert_eq!(c.get_domain_path(DomainId(7)).unwrap(), "/local/domain/7");
    assert!(c.core().error().is_none());
}

#[test]
fn long_directories_are_read_in_parts() {
    let mut store = FakeXenstored::new(5);
    let mut expected = Vec::new();
    for i in 0..700u32 {
        // 700 names of 12 bytes: about 8.4 KiB, three parts.
        let name = alloc::format!("child-{i:05}");
        store.set(&alloc::format!("big/{name}"), b"");
        expected.push(name);
    }
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    let before = c.transport().requests_handled;
    let mut got = c.directory("big").unwrap();
    got.sort();
    assert_eq!(got, expected);
    // One refused XS_DIRECTORY, then three parts.
    assert_eq!(c.transport().requests_handled - before, 4);

    // A write between two parts changes the generation: the listing starts over.
    c.transport().schedule_set(5, "elsewhere", b"x");
    let before = c.transport().requests_handled;
    let mut got = c.directory("big").unwrap();
    got.sort();
    assert_eq!(got, expected);
    assert!(c.transport().requests_handled - before > 4);
}

#[test]
fn errors_map_to_typed_names() {
    let mut store = FakeXenstored::new(5);
    store.set("/local/domain/0/secret", b"x");
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    assert_eq!(c.read("missing"), Err(Error::Xs(XsErrno::ENOENT)));
    assert_eq!(
        c.read("/local/domain/0/secret"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(
        c.write("/local/domain/0/secret", b"y"),
        Err(Error::Xs(XsErrno::EACCES))
    );
    assert_eq!(c.read(""), Err(Error::Request(WireError::InvalidArgument)));
}

#[test]
fn permissions_round_trip() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.write("data/p", b"1").unwrap();
    let perms = c.get_perms("data/p").unwrap();
    assert_eq!(perms.owner, DomainId(5));
    let new = Permissions {
        owner: DomainId(5),
        others: Access::None,
        acl: vec![Permission {
            domid: DomainId(0),
            access: Access::Read,
        }],
    };
    c.set_perms("data/p", &new).unwrap();
    assert_eq!(c.get_perms("data/p").unwrap(), new);
}

#[test]
fn watches_fire_and_unknown_tokens_are_counted() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let store_ptr: *mut FakeXenstored = &mut store;
    let _ = store_ptr;
    let mut c = client(&mut store, &clock);
    c.watch("device", "tok").unwrap();
    let deadline = c.deadline_after_ms(50);
    let first = c.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (first.path.as_str(), first.token.as_str()),
        ("device", "tok")
    );
    c.write("device/vbd/768/state", b"1").unwrap();
    let ev = c.wait_watch_event(deadline).unwrap();
    assert_eq!(ev.path, "device/vbd/768/state");
    assert_eq!(c.watch("other", "tok"), Err(Error::WatchToken));
    // An event with a token nobody registered.
    c.transport()
        .inject(&[&header_bytes(15, 0, 4)[..], b"a\0x\0"].concat());
    assert_eq!(c.take_watch_event().unwrap(), None);
    assert_eq!(c.core().stats().unknown_token_events, 1);
    // A malformed event (no NUL at all).
    c.transport()
        .inject(&[&header_bytes(15, 0, 2)[..], b"ab"].concat());
    assert_eq!(c.take_watch_event().unwrap(), None);
    assert_eq!(c.core().stats().malformed_events, 1);
    // Waiting for one token leaves other tokens' events queued.
    c.watch("backend", "other").unwrap();
    c.write("device/x", b"1").unwrap();
    let ev = c.wait_watch_event_for("tok", deadline).unwrap();
    assert_eq!(ev.path, "device/x");
    let ev = c.take_watch_event().unwrap().unwrap();
    assert_eq!((ev.path.as_str(), ev.token.as_str()), ("backend", "other"));
    c.unwatch("backend", "other").unwrap();
    c.unwatch("device", "tok").unwrap();
    c.write("device/vbd/768/state", b"2").unwrap();
    assert_eq!(c.take_watch_event().unwrap(), None);
    assert_eq!(c.unwatch("device", "tok"), Err(Error::WatchToken));
    // Waiting with no event times out at the deadline.
    let deadline = c.deadline_after_ms(5);
    assert_eq!(c.wait_watch_event(deadline), Err(Error::Timeout));
    assert!(clock.now() >= deadline);
}

#[test]
fn transactions_commit_and_retry_on_eagain() {
    let mut store = FakeXenstored::new(5);
    store.fail_commits = 2;
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.write("counter", b"1").unwrap();
    let mut runs = 0;
    let value = c
        .transaction(|tx| {
            runs += 1;
            let v = tx.read_string("counter")?;
            let n: u32 = v.parse().unwrap_or(0);
            tx.write("counter", alloc::format!("{}", n + 1).as_bytes())?;
            tx.write("other", b"x")?;
            Ok(n + 1)
        })
        .unwrap();
    assert_eq!(value, 2);
    assert_eq!(runs, 3);
    assert_eq!(c.last_transaction_retries(), 2);
    assert_eq!(c.read("counter").unwrap(), b"2");
    assert_eq!(c.read("other").unwrap(), b"x");

    // A body error aborts: nothing is written.
    let r: Result<(), Error> = c.transaction(|tx| {
        tx.write("aborted", b"1")?;
        Err(Error::Timeout)
    });
    assert_eq!(r, Err(Error::Timeout));
    assert_eq!(c.read("aborted"), Err(Error::Xs(XsErrno::ENOENT)));
}

#[test]
fn transaction_conflict_from_another_writer_retries() {
    let mut store = FakeXenstored::new(5);
    store.set("counter", b"10");
    // Another domain writes the counter right after the first transaction starts.
    store.concurrent_write = Some((String::from("counter"), b"11".to_vec()));
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    let mut runs = 0;
    c.transaction(|tx| {
        runs += 1;
        let v: u32 = tx.read_string("counter")?.parse().unwrap_or(0);
        tx.write("counter", alloc::format!("{}", v + 1).as_bytes())
    })
    .unwrap();
    assert_eq!(runs, 2);
    assert_eq!(c.last_transaction_retries(), 1);
    assert_eq!(c.read("counter").unwrap(), b"12");
}

#[test]
fn transaction_retries_are_bounded() {
    let mut store = FakeXenstored::new(5);
    store.fail_commits = 100;
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.set_transaction_attempts(4);
    let mut runs = 0;
    let r = c.transaction(|tx| {
        runs += 1;
        tx.write("x", b"1")
    });
    assert_eq!(r, Err(Error::TransactionRetriesExhausted));
    assert_eq!(runs, 4);
}

#[test]
fn timeouts_are_typed_and_late_replies_tolerated() {
    let mut store = FakeXenstored::new(5);
    store.hold = true;
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    let start = clock.now();
    assert_eq!(c.read("domid"), Err(Error::Timeout));
    assert!(clock.now() >= start.after_ms(100));
    c.transport().hold = false;
    // The late reply to the abandoned request is dropped, the next request works.
    assert_eq!(c.read_string("domid").unwrap(), "5");
    assert_eq!(c.core().stats().late_replies, 1);
    assert!(c.core().error().is_none());
}

#[test]
fn a_transaction_started_too_late_is_aborted() {
    let mut store = FakeXenstored::new(5);
    store.hold = true;
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    assert_eq!(c.transaction_start(), Err(Error::Timeout));
    c.transport().hold = false;
    // The late reply opens a transaction on the server; the client aborts it on its own.
    assert_eq!(c.read_string("domid").unwrap(), "5");
    c.pump().unwrap();
    assert_eq!(c.transport().open_transactions(), 0);
    assert_eq!(c.core().pending_count(), 0);
    assert_eq!(c.core().stats().late_replies, 2);
}

#[test]
fn reconnect_fails_in_flight_requests_and_rewatches() {
    let mut old = FakeXenstored::new(5);
    let mut new = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = crate::Client::new(&mut old, crate::fake::ClockRef(&clock), |_| {
        clock.stall_us(1000)
    })
    .unwrap();
    c.set_timeout_ms(20);
    c.watch("control/shutdown", "shutdown").unwrap();
    c.watch("device", "devices").unwrap();
    while c.take_watch_event().unwrap().is_some() {}
    c.transport().hold = true;
    let id = c
        .core()
        .submit(&Request::Read { path: "domid" }, TxId::NONE)
        .unwrap();
    c.pump().unwrap();
    c.reconnect(&mut new).unwrap();
    assert_eq!(
        c.core().take_reply(id),
        Some(Err(Error::Connection(ConnectionError::Reset)))
    );
    // Both watches live on the new connection: their initial events arrive, and so do changes.
    let deadline = c.deadline_after_ms(10);
    let mut tokens: Vec<String> = Vec::new();
    for _ in 0..2 {
        tokens.push(c.wait_watch_event(deadline).unwrap().token);
    }
    tokens.sort();
    assert_eq!(tokens, ["devices", "shutdown"]);
    c.write("control/shutdown", b"poweroff").unwrap();
    let ev = c.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.token.as_str()),
        ("control/shutdown", "shutdown")
    );
    c.reset_watches().unwrap();
    assert_eq!(c.core().watches().count(), 0);
    c.write("control/shutdown", b"reboot").unwrap();
    assert_eq!(c.take_watch_event().unwrap(), None);
}

#[test]
fn requests_are_multiplexed_by_req_id() {
    let mut store = FakeXenstored::new(5);
    store.set("a", b"A");
    store.set("b", b"B");
    store.hold = true;
    let mut core = ClientCore::new().unwrap();
    let ra = core
        .submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    let rb = core
        .submit(&Request::Read { path: "b" }, TxId::NONE)
        .unwrap();
    let rw = core
        .submit(
            &Request::Write {
                path: "c",
                value: b"C",
            },
            TxId::NONE,
        )
        .unwrap();
    assert_ne!(ra, rb);
    core.write_to(&mut store).unwrap();
    assert!(core.take_reply(rb).is_none());
    store.hold = false;
    core.read_from(&mut store).unwrap();
    assert_eq!(core.take_reply(rw).unwrap().unwrap().msg_type(), XS_WRITE);
    assert_eq!(core.take_reply(rb).unwrap().unwrap().payload, b"B");
    assert_eq!(core.take_reply(ra).unwrap().unwrap().payload, b"A");
    assert_eq!(core.take_reply(ra), Some(Err(Error::UnknownRequest)));
    assert_eq!(core.pending_count(), 0);
}

#[test]
fn unknown_req_id_is_terminal() {
    let mut core = ClientCore::new().unwrap();
    let id = core
        .submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    let reply = [&header_bytes(XS_READ, id.0 + 100, 1)[..], b"x"].concat();
    let e = core.feed(&reply).unwrap_err();
    assert_eq!(
        e,
        Error::Connection(ConnectionError::UnknownReqId {
            req_id: id.0 + 100,
            msg_type: XS_READ
        })
    );
    // The waiting request fails with the same cause, and so does everything after.
    assert_eq!(core.take_reply(id), Some(Err(e)));
    assert_eq!(
        core.submit(&Request::Read { path: "a" }, TxId::NONE),
        Err(e)
    );
    assert_eq!(core.feed(b"x"), Err(e));
}

#[test]
fn oversized_header_is_terminal_even_split_bytewise() {
    let mut core = ClientCore::new().unwrap();
    let id = core
        .submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    let bad = header_bytes(XS_READ, id.0, 4097);
    let mut result = Ok(());
    for b in bad {
        result = core.feed(&[b]);
    }
    assert_eq!(
        result,
        Err(Error::Connection(ConnectionError::OversizedMessage {
            len: 4097
        }))
    );
    assert!(core.error().is_some());
}

#[test]
fn wrong_type_and_bad_payloads_fail_only_their_request() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    // Submit by hand, answer by injection.
    c.transport().hold = true;
    let id = c
        .core()
        .submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    c.transport()
        .inject(&[&header_bytes(XS_WRITE, id.0, 3)[..], b"OK\0"].concat());
    let deadline = c.deadline_after_ms(10);
    assert_eq!(
        c.wait_reply(id, deadline),
        Err(Error::WrongReplyType {
            expected: XS_READ,
            got: XS_WRITE
        })
    );
    // An error reply with a name outside Xen's table.
    let id = c
        .core()
        .submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    c.transport()
        .inject(&[&header_bytes(16, id.0, 7)[..], b"EQUOTA\0"].concat());
    match c.wait_reply(id, deadline) {
        Err(Error::Xs(XsErrno::Unknown(u))) => assert_eq!(u.as_bytes(), b"EQUOTA"),
        other => panic!("{other:?}"),
    }
    // A transaction start whose id is not a number.
    let id = c
        .core()
        .submit(&Request::TransactionStart, TxId::NONE)
        .unwrap();
    c.transport()
        .inject(&[&header_bytes(6, id.0, 3)[..], b"zz\0"].concat());
    let r = c.wait_reply(id, deadline).and_then(|r| r.transaction_id());
    assert_eq!(r, Err(Error::BadReply(WireError::BadNumber)));
    assert!(c.core().error().is_none());
    // Drop what the held store will answer later: it would be a reply to consumed ids.
    c.transport().hold = false;
}

#[test]
fn too_many_requests_is_refused_not_queued_forever() {
    let mut core = ClientCore::new().unwrap();
    core.set_limits(2, 4);
    core.submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    core.submit(&Request::Read { path: "a" }, TxId::NONE)
        .unwrap();
    assert_eq!(
        core.submit(&Request::Read { path: "a" }, TxId::NONE),
        Err(Error::TooManyRequests)
    );
}

#[test]
fn watch_event_queue_is_bounded() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.core().set_limits(8, 4);
    c.core().set_events_per_watch(2);
    c.watch("x", "t").unwrap();
    // The initial event and x/0 fit; x/1 replaces both with one at the watched path, x/2
    // fits, x/3 replaces again, x/4 fits.
    for i in 0..5u8 {
        c.write(&alloc::format!("x/{i}"), b"1").unwrap();
    }
    let mut got: Vec<String> = Vec::new();
    while let Some(ev) = c.take_watch_event().unwrap() {
        got.push(ev.path);
    }
    assert_eq!(got, ["x", "x/4"]);
    assert_eq!(c.core().stats().dropped_events, 6);
    assert!(c.take_events_lost("t"));
}

/// A byte stream over two in-memory queues, served by a fake xenstored.
struct Loopback {
    store: FakeXenstored,
}

impl crate::transport::ByteStream for Loopback {
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, crate::TransportError> {
        self.store.read(buf)
    }
    fn write_some(&mut self, data: &[u8]) -> Result<usize, crate::TransportError> {
        self.store.write(data)
    }
}

#[test]
fn stream_transport_carries_the_same_protocol() {
    let clock = FakeClock::new();
    let transport = crate::StreamTransport::new(Loopback {
        store: FakeXenstored::new(3),
    });
    let mut c = crate::Client::new(transport, crate::fake::ClockRef(&clock), |_| {
        clock.stall_us(1000)
    })
    .unwrap();
    c.write("k", b"v").unwrap();
    assert_eq!(c.read("k").unwrap(), b"v");
    assert_eq!(c.read_string("domid").unwrap(), "3");
}

#[cfg(feature = "std")]
#[test]
fn unix_socket_transport_talks_to_a_server_thread() {
    extern crate std;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let (client_end, mut server_end) = UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let mut store = FakeXenstored::new(4);
        let mut buf = [0u8; 512];
        // Serves until the client closes its end.
        loop {
            let n = match server_end.read(&mut buf) {
                Ok(0) | Err(_) => return store.requests_handled,
                Ok(n) => n,
            };
            store.write(&buf[..n]).unwrap();
            let mut out = [0u8; 8192];
            let m = store.read(&mut out).unwrap();
            server_end.write_all(&out[..m]).unwrap();
        }
    });
    let transport = crate::StreamTransport::unix(client_end).unwrap();
    let start = std::time::Instant::now();
    struct StdClock(std::time::Instant);
    impl Clock for StdClock {
        fn now(&self) -> xen_hal::Instant {
            xen_hal::Instant(self.0.elapsed().as_nanos() as u64)
        }
        fn stall_us(&self, us: u32) {
            std::thread::sleep(std::time::Duration::from_micros(u64::from(us)));
        }
    }
    let mut c = crate::Client::new(transport, StdClock(start), |_| {
        std::thread::sleep(std::time::Duration::from_micros(200))
    })
    .unwrap();
    c.set_timeout_ms(5000);
    c.write("data/x", b"over-a-socket").unwrap();
    assert_eq!(c.read("data/x").unwrap(), b"over-a-socket");
    assert_eq!(c.read("nothing"), Err(Error::Xs(XsErrno::ENOENT)));
    drop(c);
    assert_eq!(server.join().unwrap(), 3);
}

/// The bytes of a watch event for `path` with `token`.
fn watch_event_bytes(path: &str, token: &str) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(path.as_bytes());
    payload.push(0);
    payload.extend_from_slice(token.as_bytes());
    payload.push(0);
    let mut bytes = header_bytes(crate::abi::XS_WATCH_EVENT, 0, payload.len() as u32).to_vec();
    bytes.extend_from_slice(&payload);
    bytes
}

#[test]
fn slow_messages_pass_and_a_message_stalled_for_a_whole_deadline_breaks_the_connection() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.watch("data", "tok").unwrap();
    let _initial = c.wait_watch_event(c.deadline_after_ms(50)).unwrap();
    let event = watch_event_bytes("data/x", "tok");
    let (head, tail) = event.split_at(HEADER_LEN + 3);

    // Slow: two short waits (20 ms each) time out with the message half there — normal on a
    // ring whose peer writes in pieces, well inside the 100 ms operation deadline.
    c.transport().inject(head);
    for _ in 0..2 {
        let deadline = c.deadline_after_ms(20);
        assert_eq!(c.wait_watch_event(deadline), Err(Error::Timeout));
    }
    assert_eq!(
        c.core().partial_message(),
        Some((HEADER_LEN + 3, event.len()))
    );
    c.transport().inject(tail);
    let got = c.wait_watch_event(c.deadline_after_ms(20)).unwrap();
    assert_eq!((got.path.as_str(), got.token.as_str()), ("data/x", "tok"));
    assert_eq!(c.core().error(), None);
    assert_eq!(c.read_string("domid").unwrap(), "5");

    // Stalled: short waits keep timing out until the message has been stuck for 100 ms; then
    // the connection breaks with the stall's shape instead of reading on.
    c.transport().inject(head);
    let mut waits = 0;
    let result = loop {
        waits += 1;
        assert!(waits < 50, "the stall was never detected");
        match c.wait_watch_event(c.deadline_after_ms(20)) {
            Err(Error::Timeout) => continue,
            other => break other,
        }
    };
    let stalled = ConnectionError::StalledMessage {
        have: (HEADER_LEN + 3) as u32,
        want: event.len() as u32,
    };
    assert_eq!(result, Err(Error::Connection(stalled)));
    assert!(
        waits >= 5,
        "broke after {waits} waits of 20 ms, before the 100 ms deadline"
    );
    assert_eq!(c.core().error(), Some(stalled));
    assert_eq!(c.read("domid"), Err(Error::Connection(stalled)));
}

#[test]
fn a_steady_stream_of_split_messages_never_counts_as_a_stall() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.watch("data", "tok").unwrap();
    let _initial = c.wait_watch_event(c.deadline_after_ms(50)).unwrap();
    // Every pump ends inside a message that the next pump completes: each message takes 30 ms,
    // the stream goes on for 600 ms, six times the 100 ms deadline.
    let event = watch_event_bytes("data/x", "tok");
    let (head, tail) = event.split_at(HEADER_LEN + 3);
    c.transport().inject(head);
    c.pump().unwrap();
    for round in 0..20 {
        clock.stall_us(30_000);
        c.transport().inject(&[tail, head].concat());
        assert_eq!(c.pump(), Ok(()), "round {round}");
        let got = c.take_watch_event().unwrap().unwrap();
        assert_eq!(got.path, "data/x");
        assert_eq!(
            c.core().partial_message(),
            Some((HEADER_LEN + 3, event.len()))
        );
    }
    assert_eq!(c.core().error(), None);
    // The last message stops arriving: it alone is timed, and breaks the connection after one
    // deadline.
    clock.stall_us(99_000);
    assert_eq!(c.pump(), Ok(()));
    clock.stall_us(2_000);
    assert_eq!(
        c.pump(),
        Err(Error::Connection(ConnectionError::StalledMessage {
            have: (HEADER_LEN + 3) as u32,
            want: event.len() as u32,
        }))
    );
}

#[test]
fn a_watch_that_timed_out_is_undone_when_it_succeeds_late() {
    let mut store = FakeXenstored::new(5);
    store.hold = true;
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    assert_eq!(c.watch("backend/x", "late"), Err(Error::Timeout));
    c.transport().hold = false;
    // The late OK (and the initial event) arrive with the next reply.
    assert_eq!(c.read_string("domid").unwrap(), "5");
    c.pump().unwrap();
    assert!(!c.core().has_watch_token("late"));
    assert_eq!(c.transport().watches().count(), 0);
    // Nothing of the orphan reaches the queue, and the token can be used again.
    c.write("backend/x/state", b"4").unwrap();
    assert_eq!(c.take_watch_event().unwrap(), None);
    c.watch("backend/x", "late").unwrap();
    let ev = c.wait_watch_event(c.deadline_after_ms(10)).unwrap();
    assert_eq!((ev.path.as_str(), ev.token.as_str()), ("backend/x", "late"));
}

#[test]
fn an_unwatch_that_timed_out_stops_queueing_events_at_once() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.watch("data", "tok").unwrap();
    let _initial = c.wait_watch_event(c.deadline_after_ms(10)).unwrap();
    c.transport().hold = true;
    assert_eq!(c.unwatch("data", "tok"), Err(Error::Timeout));
    assert!(!c.core().has_watch_token("tok"));
    c.transport().hold = false;
    c.transport().set("data/y", b"1");
    assert_eq!(c.read_string("domid").unwrap(), "5");
    assert_eq!(c.take_watch_event().unwrap(), None);
    assert_eq!(c.transport().watches().count(), 0);
}

#[test]
fn a_flooding_watch_cannot_starve_the_others() {
    let mut store = FakeXenstored::new(5);
    let clock = FakeClock::new();
    let mut c = client(&mut store, &clock);
    c.core().set_limits(8, 16);
    c.watch("device", "devices").unwrap();
    c.watch("backend", "flood").unwrap();
    let _ = c
        .wait_watch_event_for("devices", c.deadline_after_ms(10))
        .unwrap();
    // Nobody takes the flood's events (an orphaned or slow watcher).
    for i in 0..40u32 {
        c.transport().set(&alloc::format!("backend/{i}"), b"x");
    }
    c.transport().set("device/vbd/768", b"");
    c.pump().unwrap();
    let ev = c.core().take_watch_event_for("devices").unwrap();
    assert_eq!(ev.path, "device/vbd/768");
    assert!(!c.take_events_lost("devices"));
    // The flood lost events and says so; what is left of it ends in one event at the watched
    // path (look at everything below), as on registration.
    assert!(c.take_events_lost("flood"));
    assert!(!c.take_events_lost("flood"));
    let mut flood: Vec<String> = Vec::new();
    while let Some(ev) = c.take_watch_event().unwrap() {
        assert_eq!(ev.token, "flood");
        flood.push(ev.path);
    }
    assert!(flood.len() <= 16, "{}", flood.len());
    assert!(flood.iter().any(|p| p == "backend"), "{flood:?}");
    assert!(c.core().stats().dropped_events > 0);
    // The queue exactly full of the flood when a `device` event comes: the flood makes room.
    for i in 0..16u32 {
        c.transport().set(&alloc::format!("backend/{i}"), b"y");
    }
    c.pump().unwrap();
    assert!(!c.take_events_lost("flood"));
    c.transport().set("device/vif/0", b"");
    c.pump().unwrap();
    let ev = c.core().take_watch_event_for("devices").unwrap();
    assert_eq!(ev.path, "device/vif/0");
    assert!(!c.take_events_lost("devices"));
    assert!(c.take_events_lost("flood"));
    let ev = c.core().take_watch_event_for("flood").unwrap();
    assert_eq!(ev.path, "backend");
    assert_eq!(c.take_watch_event().unwrap(), None);
}
