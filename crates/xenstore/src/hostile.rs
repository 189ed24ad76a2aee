//! Hostile-xenstored scenarios driven by arbitrary bytes (the `xenstore_wire` fuzz target and
//! its regression tests).
//!
//! The bytes are what a broken or malicious xenstored sends: they go through the codec, into a
//! [`ClientCore`] with requests and a watch outstanding (in chunks whose sizes the bytes also
//! choose), and into a blocking [`Client`] whose operation must end (reply, typed error or
//! timeout). Invariants are asserted; any panic is a finding.

use alloc::vec::Vec;

use xen_hal::fake::FakeClock;
use xen_hal::Clock;

use crate::client::{Client, ClientCore, ReqId, TxId};
use crate::error::{Error, TransportError};
use crate::fake::ClockRef;
use crate::transport::Transport;
use crate::wire::{Message, Reply, Request};

/// Decodes `data` as one message in every way the crate knows.
pub fn codec(data: &[u8]) {
    let unchecked = Message::new_unchecked(data);
    let _ = (
        unchecked.header(),
        unchecked.payload(),
        unchecked.total_len(),
    );
    if let Ok(msg) = Message::new_checked(data) {
        assert!(msg.total_len() <= data.len());
        let _ = Request::parse(&msg);
        if let Ok(reply) = Reply::from_message(&msg) {
            decode_all(&reply);
        }
    }
}

fn decode_all(reply: &Reply) {
    let _ = reply.expect_ok();
    let _ = reply.strings(usize::MAX);
    let _ = reply.single_string();
    let _ = reply.transaction_id();
    let _ = reply.permissions(usize::MAX);
    let _ = reply.watch_event();
    let _ = reply.clone().into_result();
}

/// Feeds `data` to a client core with five requests and a watch outstanding. The first byte
/// (if any) sets the chunk size.
pub fn client_core(data: &[u8]) {
    let Ok(mut core) = ClientCore::new() else {
        return;
    };
    core.set_limits(16, 8);
    let requests = [
        Request::Read { path: "a" },
        Request::Directory { path: "d" },
        Request::TransactionStart,
        Request::GetPerms { path: "p" },
        Request::Watch {
            path: "w",
            token: "t",
        },
    ];
    let mut ids: Vec<ReqId> = Vec::new();
    for r in &requests {
        if let Ok(id) = core.submit(r, TxId::NONE) {
            ids.push(id);
        }
    }
    let (chunk, body) = match data.split_first() {
        Some((&c, rest)) => (usize::from(c).max(1), rest),
        None => (1, data),
    };
    let mut first_error: Option<Error> = None;
    for piece in body.chunks(chunk) {
        match core.feed(piece) {
            Ok(()) => assert!(core.error().is_none()),
            Err(e) => {
                // Terminal: the state says so and every later call repeats the cause.
                assert!(core.error().is_some());
                if let Some(first) = first_error {
                    assert_eq!(first, e);
                }
                first_error = Some(e);
            }
        }
    }
    let mut events = 0;
    while core.take_watch_event().is_some() {
        events += 1;
    }
    assert!(events <= 8);
    for id in ids {
        if let Some(Ok(reply)) = core.take_reply(id) {
            decode_all(&reply);
        }
    }
}

/// A transport that hands out the scenario's bytes in small pieces and swallows writes.
struct Scripted<'a> {
    rest: &'a [u8],
}

impl Transport for Scripted<'_> {
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        Ok(data.len())
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        let n = buf.len().min(self.rest.len()).min(37);
        let (head, tail) = self.rest.split_at(n);
        buf.get_mut(..n)
            .ok_or(TransportError::Io(0))?
            .copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

/// Runs blocking operations against a server that sends `data`: each must end.
pub fn blocking_client(data: &[u8]) {
    let clock = FakeClock::new();
    let Ok(mut client) = Client::new(Scripted { rest: data }, ClockRef(&clock), |_| {
        clock.stall_us(1000)
    }) else {
        return;
    };
    client.set_timeout_ms(5);
    client.set_transaction_attempts(2);
    let _ = client.read("a");
    let _ = client.directory("d");
    let _ = client.watch("w", "t");
    let _ = client.transaction(|tx| tx.write("x", b"1"));
    let _ = client.take_watch_event();
    // Every wait above was bounded by the 5 ms deadline of the fake clock.
    assert!(clock.now().0 <= 200_000_000);
}

/// All scenarios on the same bytes.
pub fn peer_bytes(data: &[u8]) {
    codec(data);
    client_core(data);
    blocking_client(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Header;

    fn message(msg_type: u32, req_id: u32, payload: &[u8]) -> Vec<u8> {
        let mut h = [0u8; 16];
        Header {
            msg_type,
            req_id,
            tx_id: 0,
            len: payload.len() as u32,
        }
        .emit(&mut h);
        [&h[..], payload].concat()
    }

    #[test]
    fn known_shapes_do_not_panic() {
        peer_bytes(&[]);
        peer_bytes(&[0]);
        let mut stream = alloc::vec![3u8];
        stream.extend(message(2, 1, b"value"));
        stream.extend(message(15, 0, b"w\0t\0"));
        stream.extend(message(16, 2, b"EBOGUS\0"));
        stream.extend(message(6, 3, b"\0"));
        stream.extend(message(3, 4, b"q9\0"));
        stream.extend(message(4, 5, b"OK\0"));
        stream.extend(message(2, 99, b""));
        peer_bytes(&stream);
        let mut oversized = alloc::vec![16u8];
        oversized.extend(message(2, 1, &[]));
        oversized[13..17].copy_from_slice(&u32::MAX.to_le_bytes());
        peer_bytes(&oversized);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_peer_bytes(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
            peer_bytes(&data);
        }
    }
}
