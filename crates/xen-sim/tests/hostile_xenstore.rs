//! (d, xenstore part) A hostile xenstored: oversized and truncated replies, watch events for
//! tokens nobody registered. The client must end in typed errors, never panic or hang.

mod common;

use xen_sim::World;
use xenstore::{ConnectionError, Error, XsErrno};

#[test]
fn oversized_reply_breaks_the_connection_with_a_typed_error() {
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let mut xs = common::guest_store(&world, &guest);
    xs.write("data/a", b"1").unwrap();
    // The next reply announces 5000 payload bytes (> XENSTORE_PAYLOAD_MAX).
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| bytes[12..16].copy_from_slice(&5000u32.to_le_bytes())),
        )
    });
    let result = xs.read("data/a");
    assert_eq!(
        result,
        Err(Error::Connection(ConnectionError::OversizedMessage {
            len: 5000
        }))
    );
    // Terminal: later operations fail the same way instead of talking to a confused peer.
    assert!(matches!(xs.read("data/a"), Err(Error::Connection(_))));
    assert_eq!(
        xs.core().error(),
        Some(ConnectionError::OversizedMessage { len: 5000 })
    );
}

#[test]
fn truncated_replies_are_bad_replies_and_the_connection_survives() {
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let mut xs = common::guest_store(&world, &guest);
    xs.write("data/d/a", b"").unwrap();
    xs.write("data/d/b", b"").unwrap();
    // A directory listing cut before its last NUL.
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| {
                bytes.pop();
                let len = (bytes.len() - 16) as u32;
                bytes[12..16].copy_from_slice(&len.to_le_bytes());
            }),
        )
    });
    let listing = xs.directory("data/d");
    assert!(matches!(listing, Err(Error::BadReply(_))), "{listing:?}");
    // A transaction id with no digits.
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| {
                bytes.truncate(16);
                bytes[12..16].copy_from_slice(&0u32.to_le_bytes());
            }),
        )
    });
    let tx = xs.transaction_start();
    assert!(matches!(tx, Err(Error::BadReply(_))), "{tx:?}");
    // An error reply whose name is cut: still a typed xenstore error (unknown name).
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| {
                bytes.truncate(16 + 3);
                bytes[12..16].copy_from_slice(&3u32.to_le_bytes());
            }),
        )
    });
    let missing = xs.read("data/none");
    assert!(
        matches!(missing, Err(Error::Xs(XsErrno::Unknown(_)))),
        "{missing:?}"
    );
    // The connection is still usable.
    assert_eq!(xs.read("data/d/a").unwrap(), b"");
    assert_eq!(xs.core().error(), None);
}

#[test]
fn reply_promising_more_than_it_sends_times_out() {
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let mut xs = common::guest_store(&world, &guest);
    xs.write("data/a", b"1").unwrap();
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| bytes[12..16].copy_from_slice(&100u32.to_le_bytes())),
        )
    });
    // The reply announces 100 bytes and sends 1: the client waits for the rest until its
    // deadline, bounded by the simulated clock.
    assert_eq!(xs.read("data/a"), Err(Error::Timeout));
    // The stream is now mid-message: the next reply would be read as the missing 99 bytes.
    // Once the message has been stalled for a whole operation deadline the connection breaks
    // with a typed cause instead of handing out garbage.
    // (The second read's own reply arrives meanwhile and is taken as part of the stalled
    // message: the client must break rather than parse what follows.)
    let result = xs.read("data/a");
    let Err(Error::Connection(stalled @ ConnectionError::StalledMessage { have, want: 116 })) =
        result
    else {
        panic!("expected a stalled-message break, got {result:?}");
    };
    assert!((17..116).contains(&have), "{have}");
    assert_eq!(xs.core().error(), Some(stalled));
    assert!(matches!(
        xs.write("data/b", b"2"),
        Err(Error::Connection(_))
    ));
}

#[test]
fn watch_events_for_unknown_tokens_are_dropped_and_counted() {
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let mut xs = common::guest_store(&world, &guest);
    xs.watch("data/w", "mine").unwrap();
    let deadline = xs.deadline_after_ms(10);
    assert_eq!(xs.wait_watch_event(deadline).unwrap().token, "mine");
    // xenstored sends an event for a token the guest never registered, and a malformed one.
    let mut forged = Vec::new();
    let payload = b"data/w\0forged\0";
    for word in [xen_sim::abi::XS_WATCH_EVENT, 0, 0, payload.len() as u32] {
        forged.extend_from_slice(&word.to_le_bytes());
    }
    forged.extend_from_slice(payload);
    let mut malformed = Vec::new();
    for word in [xen_sim::abi::XS_WATCH_EVENT, 0, 0, 3] {
        malformed.extend_from_slice(&word.to_le_bytes());
    }
    malformed.extend_from_slice(b"\xff\xfe\0");
    world.with_sim(|sim| {
        sim.xenstored.inject_raw(9, &forged);
        sim.xenstored.inject_raw(9, &malformed);
    });
    world.xs_write("/local/domain/9/data/w", b"1").unwrap();
    world.run_until_idle().unwrap();
    let deadline = xs.deadline_after_ms(10);
    let event = xs.wait_watch_event(deadline).unwrap();
    assert_eq!(
        (event.path.as_str(), event.token.as_str()),
        ("data/w", "mine")
    );
    assert_eq!(xs.take_watch_event().unwrap(), None);
    let stats = xs.core().stats();
    assert_eq!(stats.unknown_token_events, 1);
    assert!(stats.malformed_events + stats.unknown_token_events >= 2);
    assert_eq!(xs.core().error(), None);
}

#[test]
fn reply_to_a_request_never_sent_breaks_the_connection() {
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let mut xs = common::guest_store(&world, &guest);
    xs.write("data/a", b"1").unwrap();
    world.with_sim(|sim| {
        sim.xenstored.mutate_next_reply(
            9,
            Box::new(|bytes: &mut Vec<u8>| bytes[4..8].copy_from_slice(&0xdead_u32.to_le_bytes())),
        )
    });
    let result = xs.read("data/a");
    assert!(
        matches!(
            result,
            Err(Error::Connection(ConnectionError::UnknownReqId {
                req_id: 0xdead,
                ..
            }))
        ),
        "{result:?}"
    );
}

#[test]
fn hostile_guest_indices_break_only_its_own_xenstored_connection() {
    use std::sync::atomic::Ordering;
    use xen_hal::{Hypervisor, PhysicalMapper};
    let world = World::new();
    let guest = world.create_guest(9, "vm9");
    let other = world.create_guest(10, "vm10");
    let page = guest.memory.map_frames(guest.store_pfn, 1).unwrap();
    // req_prod two rings ahead of req_cons.
    page.store_u32(xen_sim::abi::XS_RING_REQ_PROD, 2048, Ordering::SeqCst)
        .unwrap();
    guest.hypervisor.evtchn_send(guest.store_port).unwrap();
    world.run_until_idle().unwrap();
    let broken = world.with_sim(|sim| sim.xenstored.ring_broken(9));
    assert!(broken.is_some_and(|why| why.contains("ahead")));
    // Reported in the page, as offered by XENSTORE_SERVER_FEATURE_ERROR.
    assert_eq!(
        page.load_u32(xen_sim::abi::XS_RING_ERROR, Ordering::SeqCst),
        Ok(xen_sim::abi::XENSTORE_ERROR_RINGIDX)
    );
    // The guest's own client sees the server error as a typed transport error, as soon as
    // it connects.
    let transport =
        xenstore::RingTransport::new(page, guest.hypervisor.clone(), guest.store_port).unwrap();
    let refused = xenstore::Client::new(transport, world.clock(), world.waiter()).map(|_| ());
    assert!(
        matches!(
            refused,
            Err(xenstore::Error::Connection(ConnectionError::Transport(
                xenstore::TransportError::ServerError(2)
            )))
        ),
        "{refused:?}"
    );
    // The other guest is still served.
    let mut xs = common::guest_store(&world, &other);
    xs.write("data/ok", b"1").unwrap();
    assert_eq!(xs.read("data/ok").unwrap(), b"1");
}
