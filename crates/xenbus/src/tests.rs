//! End-to-end helper tests over the real xenstore client and the fake xenstored.

use alloc::vec::Vec;

use xen_hal::fake::FakeClock;
use xen_hal::{Clock, DomainId, EventChannelPort, GrantRef};
use xen_public_headers::io::protocols::XEN_IO_PROTO_ABI_NATIVE;
use xenstore::fake::{ClockRef, FakeXenstored};
use xenstore::{Access, Client, Error, Permission};

use crate::handshake::{read_own_domid, state_watch_token};
use crate::keys::{common, vbd};
use crate::negotiate::{negotiate_vbd, VbdBackendOffer, VbdFrontendLimits, VbdGeometry};
use crate::*;

const FRONT: &str = "device/vbd/768";
const BACK: &str = "/local/domain/0/backend/vbd/5/768";

fn toolstack(store: &mut FakeXenstored) {
    // The backend directory belongs to dom0 and is readable by the frontend's domain.
    store.set(BACK, b"");
    store.set_perms_direct(
        BACK,
        &[
            Permission {
                domid: DomainId(0),
                access: Access::None,
            },
            Permission {
                domid: DomainId(5),
                access: Access::Read,
            },
        ],
    );
    store.set(&alloc::format!("{FRONT}/backend"), BACK.as_bytes());
    store.set(&alloc::format!("{FRONT}/backend-id"), b"0");
    store.set(&alloc::format!("{FRONT}/state"), b"1");
    store.set(&alloc::format!("{BACK}/state"), b"2");
    store.set(&alloc::format!("{BACK}/max-ring-page-order"), b"2");
    store.set(&alloc::format!("{BACK}/feature-flush-cache"), b"1");
    store.set(&alloc::format!("{BACK}/feature-persistent"), b"0");
    store.set(
        &alloc::format!("{BACK}/feature-max-indirect-segments"),
        b"256",
    );
    store.set(&alloc::format!("{BACK}/sectors"), b"2097152");
    store.set(&alloc::format!("{BACK}/sector-size"), b"512");
    store.set(&alloc::format!("{BACK}/info"), b"0");
}

macro_rules! client {
    ($store:expr, $clock:expr) => {{
        let clock: &FakeClock = $clock;
        let mut c = Client::new($store, ClockRef(clock), move |_| clock.stall_us(1000)).unwrap();
        c.set_timeout_ms(100);
        c
    }};
}

#[test]
fn blkfront_handshake_end_to_end() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    // The first commit conflicts: the publication must be retried as a whole.
    store.fail_commits = 1;
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);

    let me = read_own_domid(&mut c).unwrap();
    assert_eq!(me, DomainId(5));
    let device = DeviceRef::new("vbd", 768).unwrap();
    let backend = read_backend(&mut c, &device, Some(me)).unwrap();
    assert_eq!(backend.path, BACK);
    assert_eq!(backend.id, DomainId(0));
    assert_eq!(
        read_state(&mut c, &backend.path).unwrap(),
        XenbusState::InitWait
    );

    let offer = VbdBackendOffer::read(&mut c, &backend.path).unwrap();
    let ours = VbdFrontendLimits {
        max_ring_page_order: 1,
        max_indirect_segments: 32,
        flush_cache: true,
        barrier: true,
        discard: true,
        persistent: true,
        max_queues: 1,
    };
    let agreed = negotiate_vbd(&ours, &offer);
    assert_eq!(agreed.ring_page_order, 1);
    assert_eq!(agreed.indirect_segments, 32);
    assert!(agreed.flush_cache && !agreed.barrier && !agreed.discard && !agreed.persistent);

    let mut state = FrontendState::new();
    switch_state(&mut c, FRONT, &mut state, XenbusState::Initialising).unwrap();
    let mut p = Publication::new();
    p.ring("", &[GrantRef(10), GrantRef(11)], agreed.ring_page_order)
        .unwrap()
        .event_channel(common::EVENT_CHANNEL, EventChannelPort(7))
        .unwrap()
        .protocol(XEN_IO_PROTO_ABI_NATIVE)
        .unwrap();
    agreed.advertise(&mut p).unwrap();
    state.transition(XenbusState::Initialised).unwrap();
    publish(&mut c, FRONT, &p, Some(XenbusState::Initialised)).unwrap();
    assert_eq!(c.last_transaction_retries(), 1);

    assert_eq!(
        read_state(&mut c, &backend.path).unwrap(),
        XenbusState::InitWait
    );
    let before = clock.now();
    // The backend connects a little while after we start waiting.
    c.transport()
        .schedule_set(12, &alloc::format!("{BACK}/state"), b"4");
    let reached =
        wait_for_state(&mut c, &backend.path, 1000, |s| s == XenbusState::Connected).unwrap();
    assert_eq!(reached, XenbusState::Connected);
    // The backend connected while we waited (the wait hook ran), not before.
    assert!(clock.now() > before);
    assert!(!c
        .core()
        .has_watch_token(&state_watch_token(&backend.path).unwrap()));
    let geometry = VbdGeometry::read(&mut c, &backend.path).unwrap();
    assert_eq!(geometry.sectors, 2_097_152);
    assert_eq!(geometry.physical_sector_size, 512);
    switch_state(&mut c, FRONT, &mut state, XenbusState::Connected).unwrap();
    drop(c);

    for (key, value) in [
        ("ring-page-order", &b"1"[..]),
        ("ring-ref0", b"10"),
        ("ring-ref1", b"11"),
        ("event-channel", b"7"),
        ("protocol", b"x86_64-abi"),
        ("state", b"4"),
    ] {
        assert_eq!(
            store.get(&alloc::format!("{FRONT}/{key}")).as_deref(),
            Some(value),
            "{key}"
        );
    }
    // Not supported by the backend, so not advertised.
    assert_eq!(
        store.get(&alloc::format!("{FRONT}/{}", vbd::FEATURE_PERSISTENT)),
        None
    );
    assert_eq!(store.get(&alloc::format!("{FRONT}/ring-ref")), None);
    assert_eq!(store.eagain_commits, 1);
}

#[test]
fn publication_is_atomic_when_the_transaction_fails() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    store.fail_commits = 100;
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);
    c.set_transaction_attempts(3);
    let mut p = Publication::new();
    p.ring("", &[GrantRef(1)], 0).unwrap();
    assert_eq!(
        publish(&mut c, FRONT, &p, Some(XenbusState::Initialised)),
        Err(XenbusError::Store(Error::TransactionRetriesExhausted))
    );
    drop(c);
    // Nothing of the publication is visible.
    assert_eq!(store.get(&alloc::format!("{FRONT}/ring-ref")), None);
    assert_eq!(
        store.get(&alloc::format!("{FRONT}/state")).as_deref(),
        Some(&b"1"[..])
    );
}

#[test]
fn hostile_backend_details_are_typed_errors() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    let clock = FakeClock::new();
    let device = DeviceRef::new("vbd", 768).unwrap();
    let cases: [(&str, &[u8], XenbusError); 5] = [
        (
            "backend",
            b"/local/domain/0/backend/vbd/5/768/../../x",
            XenbusError::BadBackendPath(PathError::Shape),
        ),
        (
            "backend",
            b"/local/domain/0/backend/vbd/6/768",
            XenbusError::Mismatch(Mismatch::FrontendDomain {
                expected: 5,
                in_path: 6,
            }),
        ),
        (
            "backend",
            b"\xff\xfe",
            XenbusError::BadBackendPath(PathError::Shape),
        ),
        (
            "backend-id",
            b"3",
            XenbusError::Mismatch(Mismatch::BackendId {
                published: 3,
                in_path: 0,
            }),
        ),
        (
            "backend-id",
            b"zero",
            XenbusError::BadValue(common::BACKEND_ID),
        ),
    ];
    for (key, value, expected) in cases {
        let mut s = FakeXenstored::new(5);
        toolstack(&mut s);
        s.set(&alloc::format!("{FRONT}/{key}"), value);
        let mut c = client!(&mut s, &clock);
        assert_eq!(
            read_backend(&mut c, &device, Some(DomainId(5))),
            Err(expected),
            "{key}"
        );
    }
    let mut c = client!(&mut store, &clock);
    c.write(&alloc::format!("{BACK}/state"), b"banana")
        .unwrap_err();
    drop(c);
    store.set(&alloc::format!("{BACK}/state"), b"banana");
    store.set(&alloc::format!("{BACK}/sector-size"), b"100");
    let mut c = client!(&mut store, &clock);
    assert_eq!(
        read_state(&mut c, BACK),
        Err(XenbusError::BadState(state::StateError::NotANumber))
    );
    assert_eq!(
        wait_for_state(&mut c, BACK, 50, |s| s == XenbusState::Connected),
        Err(XenbusError::BadState(state::StateError::NotANumber))
    );
    assert_eq!(
        VbdGeometry::read(&mut c, BACK),
        Err(XenbusError::BadValue(vbd::SECTOR_SIZE))
    );
    // A missing state node reads as Unknown.
    assert_eq!(
        read_state(&mut c, "device/vbd/999").unwrap(),
        XenbusState::Unknown
    );
}

/// One garbage advertisement must not fail the negotiation: it counts as absent (feature off,
/// limit at its default), as Linux's frontends read it, and is named for the log.
#[test]
fn garbage_advertisements_fall_back_to_the_defaults() {
    use crate::keys::vif;
    use crate::negotiate::{negotiate_vif, VifBackendOffer, VifFrontendLimits};
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    store.set(&alloc::format!("{BACK}/max-ring-page-order"), b"two");
    store.set(&alloc::format!("{BACK}/feature-flush-cache"), b"yes");
    // Out of range for the u32 it is.
    store.set(
        &alloc::format!("{BACK}/multi-queue-max-queues"),
        b"4294967296",
    );
    store.set(&alloc::format!("{BACK}/feature-rx-copy"), b"1");
    store.set(&alloc::format!("{BACK}/feature-sg"), b"1\0garbage");
    store.set(&alloc::format!("{BACK}/feature-gso-tcpv4"), b"1");
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);

    let offer = VbdBackendOffer::read(&mut c, BACK).unwrap();
    assert_eq!(offer.max_ring_page_order, None);
    assert_eq!(offer.flush_cache, None);
    assert_eq!(offer.max_queues, None);
    // The good ones are still read.
    assert_eq!(offer.max_indirect_segments, Some(256));
    assert_eq!(offer.persistent, Some(false));
    assert_eq!(
        offer.unparsable.keys().collect::<Vec<_>>(),
        [
            common::MAX_RING_PAGE_ORDER,
            vbd::FEATURE_FLUSH_CACHE,
            common::MULTI_QUEUE_MAX_QUEUES
        ]
    );
    let ours = VbdFrontendLimits {
        max_ring_page_order: 4,
        max_indirect_segments: 32,
        flush_cache: true,
        barrier: false,
        discard: false,
        persistent: false,
        max_queues: 4,
    };
    let agreed = negotiate_vbd(&ours, &offer);
    assert_eq!(agreed.ring_page_order, 0);
    assert!(!agreed.flush_cache);
    assert_eq!(agreed.queues, 1);
    assert_eq!(agreed.indirect_segments, 32);

    let offer = VifBackendOffer::read(&mut c, BACK).unwrap();
    assert_eq!(offer.sg, None);
    assert_eq!(offer.gso_tcpv4, Some(true));
    assert_eq!(
        offer.unparsable.keys().collect::<Vec<_>>(),
        [vif::FEATURE_SG, common::MULTI_QUEUE_MAX_QUEUES]
    );
    let ours = VifFrontendLimits {
        sg: true,
        gso_tcpv4: true,
        gso_tcpv6: false,
        ipv6_csum_offload: false,
        split_event_channels: false,
        max_queues: 2,
    };
    let agreed = negotiate_vif(&ours, &offer).unwrap();
    assert!(!agreed.sg && agreed.gso_tcpv4);
    assert_eq!(agreed.queues, 1);

    // A clean offer names nothing.
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    let mut c = client!(&mut store, &clock);
    assert!(VbdBackendOffer::read(&mut c, BACK)
        .unwrap()
        .unparsable
        .is_empty());
}

#[test]
fn waiting_for_a_silent_backend_times_out() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);
    let start = clock.now();
    assert_eq!(
        wait_for_state(&mut c, BACK, 30, |s| s == XenbusState::Connected),
        Err(XenbusError::Store(Error::Timeout))
    );
    assert!(clock.now() >= start.after_ms(30));
    assert!(!c.core().has_watch_token(&state_watch_token(BACK).unwrap()));
}

#[test]
fn a_watch_that_timed_out_leaves_no_orphan_behind() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    store.hold = true;
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);
    let token = state_watch_token(BACK).unwrap();
    // xenstored is slow: the watch request itself times out.
    assert_eq!(
        wait_for_state(&mut c, BACK, 1000, |s| s == XenbusState::Connected),
        Err(XenbusError::Store(Error::Timeout))
    );
    c.transport().hold = false;
    // Its late success is undone: neither the client nor the server keeps the watch, the
    // backend's state changes queue nothing, and the next wait can watch again.
    assert_eq!(read_own_domid(&mut c).unwrap(), DomainId(5));
    c.pump().unwrap();
    assert!(!c.core().has_watch_token(&token));
    assert_eq!(c.transport().watches().count(), 0);
    c.transport().set(&alloc::format!("{BACK}/state"), b"3");
    assert_eq!(c.take_watch_event().unwrap(), None);
    c.transport()
        .schedule_set(3, &alloc::format!("{BACK}/state"), b"4");
    assert_eq!(
        wait_for_state(&mut c, BACK, 1000, |s| s == XenbusState::Connected),
        Ok(XenbusState::Connected)
    );
    assert!(!c.core().has_watch_token(&token));
    assert_eq!(c.transport().watches().count(), 0);
}

#[test]
fn switch_state_refuses_invalid_transitions_without_writing() {
    let mut store = FakeXenstored::new(5);
    toolstack(&mut store);
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);
    let mut state = FrontendState::new();
    assert_eq!(
        switch_state(&mut c, FRONT, &mut state, XenbusState::Connected),
        Err(XenbusError::InvalidTransition(state::InvalidTransition {
            from: XenbusState::Unknown,
            to: XenbusState::Connected
        }))
    );
    assert_eq!(state.get(), XenbusState::Unknown);
    assert_eq!(c.read(&alloc::format!("{FRONT}/state")).unwrap(), b"1");
    switch_state(&mut c, FRONT, &mut state, XenbusState::Closed).unwrap();
    assert_eq!(c.read(&alloc::format!("{FRONT}/state")).unwrap(), b"6");
}

#[test]
fn enumeration_skips_garbage_and_watch_drives_diffs() {
    let mut store = FakeXenstored::new(5);
    store.set("device/vbd/768/state", b"1");
    store.set("device/vbd/832/state", b"1");
    store.set("device/vbd/abc/state", b"1");
    store.set("device/vbd/0768/state", b"1");
    store.set("device/vif/0/state", b"1");
    store.set("device/BAD TYPE/1/state", b"1");
    let clock = FakeClock::new();
    let mut c = client!(&mut store, &clock);

    assert_eq!(
        enumerate(&mut c, "nothing-here").unwrap(),
        Enumeration::default()
    );
    let first = enumerate(&mut c, path::DEVICE_ROOT).unwrap();
    let names: Vec<_> = first
        .devices
        .iter()
        .map(|d| alloc::format!("{d}"))
        .collect();
    assert_eq!(names, ["device/vbd/768", "device/vbd/832", "device/vif/0"]);
    let mut skipped: Vec<_> = first
        .skipped
        .iter()
        .map(|s| (s.entry.as_str(), s.reason))
        .collect();
    skipped.sort_by_key(|s| s.0);
    assert_eq!(
        skipped,
        [
            ("BAD TYPE", SkipReason::BadType),
            ("vbd/0768", SkipReason::BadId),
            ("vbd/abc", SkipReason::BadId),
        ]
    );

    c.watch(path::DEVICE_ROOT, "devices").unwrap();
    let deadline = c.deadline_after_ms(50);
    c.wait_watch_event_for("devices", deadline).unwrap();
    // Hotplug: a disk appears, another goes.
    c.write("device/vbd/5632/state", b"1").unwrap();
    c.rm("device/vbd/832").unwrap();
    let ev = c.wait_watch_event_for("devices", deadline).unwrap();
    assert_eq!(
        DeviceRef::from_path(&ev.path),
        Some(DeviceRef::new("vbd", 5632).unwrap())
    );
    let second = enumerate(&mut c, path::DEVICE_ROOT).unwrap();
    let d = diff(&first.devices, &second.devices).unwrap();
    assert_eq!(d.added, [DeviceRef::new("vbd", 5632).unwrap()]);
    assert_eq!(d.removed, [DeviceRef::new("vbd", 832).unwrap()]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Garbage in every node a frontend reads: typed errors or validated values, never a panic.
    #[test]
    fn garbage_in_the_store_never_panics(
        backend in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..60),
        backend_id in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        state in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        numbers in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 6),
        good_path in proptest::prelude::any::<bool>(),
    ) {
        let mut store = FakeXenstored::new(5);
        toolstack(&mut store);
        if !good_path {
            store.set(&alloc::format!("{FRONT}/backend"), &backend);
        }
        store.set(&alloc::format!("{FRONT}/backend-id"), &backend_id);
        store.set(&alloc::format!("{BACK}/state"), &state);
        for (key, value) in ["sectors", "sector-size", "info", "max-ring-page-order",
                             "feature-flush-cache", "multi-queue-max-queues"].iter().zip(&numbers) {
            store.set(&alloc::format!("{BACK}/{key}"), value);
        }
        let clock = FakeClock::new();
        let mut c = client!(&mut store, &clock);
        let device = DeviceRef::new("vbd", 768).unwrap();
        if let Ok(b) = read_backend(&mut c, &device, Some(DomainId(5))) {
            proptest::prop_assert_eq!(b.parsed.devid, 768);
            proptest::prop_assert_eq!(b.parsed.frontend_domid, DomainId(5));
            proptest::prop_assert_eq!(b.parsed.backend_domid, b.id);
        }
        if let Ok(s) = read_state(&mut c, BACK) {
            proptest::prop_assert!(s.raw() <= 8);
        }
        let _ = VbdBackendOffer::read(&mut c, BACK);
        if let Ok(g) = VbdGeometry::read(&mut c, BACK) {
            proptest::prop_assert!(g.sector_size >= 512 && g.sector_size.is_power_of_two());
        }
        let _ = wait_for_state(&mut c, BACK, 3, |s| s == XenbusState::Connected);
        proptest::prop_assert!(c.core().error().is_none());
    }
}
