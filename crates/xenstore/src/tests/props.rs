//! Property tests: codec round trips, arbitrary peer bytes, ring wrap-around.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;

use proptest::prelude::*;
use xen_hal::fake::{FakeClock, HeapPages};
use xen_hal::{Clock, DomainId, EventChannelPort};

use crate::fake::{ClockRef, FakeXenstored, NotifyCounter, RingPeer};
use crate::perms::{Access, Permission, Permissions};
use crate::transport::{layout, RingTransport};
use crate::wire::{Message, Reply, Request};
use crate::{Client, ClientCore, TxId};

fn path() -> impl Strategy<Value = String> {
    "[a-z0-9/_-]{1,40}"
}

fn access() -> impl Strategy<Value = Access> {
    prop_oneof![
        Just(Access::None),
        Just(Access::Read),
        Just(Access::Write),
        Just(Access::Both)
    ]
}

fn permission() -> impl Strategy<Value = Permission> {
    (any::<u16>(), access()).prop_map(|(d, a)| Permission {
        domid: DomainId(d),
        access: a,
    })
}

#[derive(Debug, Clone)]
enum Op {
    Read(String),
    Write(String, Vec<u8>),
    Directory(String),
    DirectoryPart(String, u32),
    Mkdir(String),
    Rm(String),
    GetPerms(String),
    SetPerms(String, Vec<Permission>),
    Watch(String, String),
    Unwatch(String, String),
    Start,
    End(bool),
    DomainPath(u16),
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        path().prop_map(Op::Read),
        (path(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(p, v)| Op::Write(p, v)),
        path().prop_map(Op::Directory),
        (path(), any::<u32>()).prop_map(|(p, o)| Op::DirectoryPart(p, o)),
        path().prop_map(Op::Mkdir),
        path().prop_map(Op::Rm),
        path().prop_map(Op::GetPerms),
        (path(), proptest::collection::vec(permission(), 1..8))
            .prop_map(|(p, v)| Op::SetPerms(p, v)),
        (path(), path()).prop_map(|(p, t)| Op::Watch(p, t)),
        (path(), path()).prop_map(|(p, t)| Op::Unwatch(p, t)),
        Just(Op::Start),
        any::<bool>().prop_map(Op::End),
        any::<u16>().prop_map(Op::DomainPath),
        Just(Op::Reset),
    ]
}

fn request(op: &Op) -> Request<'_> {
    match op {
        Op::Read(p) => Request::Read { path: p },
        Op::Write(p, v) => Request::Write { path: p, value: v },
        Op::Directory(p) => Request::Directory { path: p },
        Op::DirectoryPart(p, o) => Request::DirectoryPart {
            path: p,
            offset: *o,
        },
        Op::Mkdir(p) => Request::Mkdir { path: p },
        Op::Rm(p) => Request::Rm { path: p },
        Op::GetPerms(p) => Request::GetPerms { path: p },
        Op::SetPerms(p, v) => Request::SetPerms {
            path: p,
            perms: Cow::Borrowed(v),
        },
        Op::Watch(p, t) => Request::Watch { path: p, token: t },
        Op::Unwatch(p, t) => Request::Unwatch { path: p, token: t },
        Op::Start => Request::TransactionStart,
        Op::End(c) => Request::TransactionEnd { commit: *c },
        Op::DomainPath(d) => Request::GetDomainPath {
            domid: DomainId(*d),
        },
        Op::Reset => Request::ResetWatches,
    }
}

proptest! {
    #[test]
    fn requests_round_trip(op in op(), req_id in any::<u32>(), tx_id in any::<u32>()) {
        let req = request(&op);
        let bytes = req.to_vec(req_id, tx_id).unwrap();
        let msg = Message::new_checked(bytes.as_slice()).unwrap();
        prop_assert_eq!(msg.req_id(), req_id);
        prop_assert_eq!(msg.tx_id(), tx_id);
        prop_assert_eq!(msg.msg_type(), req.msg_type());
        prop_assert_eq!(msg.total_len(), bytes.len());
        let parsed = Request::parse(&msg).unwrap();
        prop_assert_eq!(parsed, req);
    }

    #[test]
    fn permission_lists_round_trip(perms in proptest::collection::vec(permission(), 1..20)) {
        let typed = Permissions::from_entries(&perms).unwrap();
        let mut wire = Vec::new();
        for p in typed.entries() {
            let mut buf = [0u8; crate::perms::PERMISSION_STRING_MAX];
            let n = p.emit(&mut buf);
            wire.extend_from_slice(&buf[..n]);
            wire.push(0);
        }
        prop_assert_eq!(wire.len(), typed.wire_len());
        prop_assert_eq!(Permissions::parse_list(&wire, 64).unwrap(), typed);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_codec(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(msg) = Message::new_checked(bytes.as_slice()) {
            let _ = Request::parse(&msg);
            if let Ok(reply) = Reply::from_message(&msg) {
                let _ = reply.strings(1000);
                let _ = reply.single_string();
                let _ = reply.transaction_id();
                let _ = reply.permissions(1000);
                let _ = reply.watch_event();
                let _ = reply.expect_ok();
                let _ = reply.clone().into_result();
            }
        }
        let msg = Message::new_unchecked(bytes.as_slice());
        let _ = (msg.msg_type(), msg.req_id(), msg.tx_id(), msg.payload());
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_client(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..20),
        pending in 0u32..5,
    ) {
        let mut core = ClientCore::new().unwrap();
        let mut ids = Vec::new();
        for _ in 0..pending {
            ids.push(core.submit(&Request::Read { path: "p" }, TxId::NONE).unwrap());
        }
        core.submit(&Request::Watch { path: "w", token: "t" }, TxId::NONE).unwrap();
        for chunk in &chunks {
            if core.feed(chunk).is_err() {
                prop_assert!(core.error().is_some());
                break;
            }
        }
        for id in ids {
            let _ = core.take_reply(id);
        }
        while core.take_watch_event().is_some() {}
    }

    #[test]
    fn any_split_of_a_reply_stream_gives_the_same_replies(
        values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 1..6),
        cut in proptest::collection::vec(1usize..40, 1..50),
    ) {
        // Replies in reverse order of the requests.
        let mut core = ClientCore::new().unwrap();
        let ids: Vec<_> = values
            .iter()
            .map(|_| core.submit(&Request::Read { path: "p" }, TxId::NONE).unwrap())
            .collect();
        let mut stream = Vec::new();
        for (id, value) in ids.iter().zip(&values).rev() {
            let mut h = [0u8; 16];
            crate::wire::Header { msg_type: 2, req_id: id.0, tx_id: 0, len: value.len() as u32 }
                .emit(&mut h);
            stream.extend_from_slice(&h);
            stream.extend_from_slice(value);
        }
        let mut rest = stream.as_slice();
        let mut i = 0;
        while !rest.is_empty() {
            let n = cut[i % cut.len()].min(rest.len());
            core.feed(&rest[..n]).unwrap();
            rest = &rest[n..];
            i += 1;
        }
        for (id, value) in ids.iter().zip(&values) {
            prop_assert_eq!(&core.take_reply(*id).unwrap().unwrap().payload, value);
        }
    }

    #[test]
    fn ring_transport_near_u32_max(
        start in (u32::MAX - 3000)..=u32::MAX,
        sizes in proptest::collection::vec(0usize..2500, 1..6),
    ) {
        let pages = HeapPages::new(1).unwrap();
        let peer = RingPeer::new(pages.memory());
        peer.set_indices(start, start, start, start);
        let store = RefCell::new(FakeXenstored::new(1));
        let backlog = RefCell::new(Vec::new());
        let notify = NotifyCounter::new();
        let clock = FakeClock::new();
        let transport = RingTransport::new(pages.memory(), &notify, EventChannelPort(2)).unwrap();
        let mut c = Client::new(transport, ClockRef(&clock), |_| {
            clock.stall_us(100);
            super::ring::serve(&peer, &store, &backlog);
        })
        .unwrap();
        let mut total = 0u32;
        for (i, size) in sizes.iter().enumerate() {
            let value: Vec<u8> = (0..*size).map(|b| (b * 7 + i) as u8).collect();
            let path = alloc::format!("k{i}");
            c.write(&path, &value).unwrap();
            prop_assert_eq!(c.read(&path).unwrap(), value);
            total = total.wrapping_add(1);
        }
        prop_assert!(total > 0);
        // Both rings drained: consumer caught up with producer.
        prop_assert_eq!(peer.index(layout::REQ_CONS), peer.index(layout::REQ_PROD));
        prop_assert_eq!(peer.index(layout::RSP_CONS), peer.index(layout::RSP_PROD));
        prop_assert!(c.core().error().is_none());
    }
}
