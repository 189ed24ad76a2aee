//! A minimal network frontend (written here; the real one comes later) against the simulated
//! netback: xenbus handshake with the `xenbus` vif negotiation, TX and RX rings with grants
//! and one event channel, packets both ways, malformed transmits refused, disconnect clean.

mod common;

use common::blkfront::{record_event, take_events, Platform};
use xen_grant::GrantError;
use xen_hal::{DomainId, EventChannelPort, GrantRef, OwnedPages, PAGE_SIZE};
use xen_public_headers::io::netif::{
    netif_extra_info, netif_extra_info_gso, netif_rx_request, netif_rx_response, netif_tx_request,
    netif_tx_response, NETTXF_extra_info, NETTXF_more_data, NETIF_RSP_ERROR, NETIF_RSP_NULL,
    NETIF_RSP_OKAY, XEN_NETIF_EXTRA_TYPE_GSO, XEN_NETIF_GSO_TYPE_TCPV4,
};
use xen_ring::FrontRing;
use xen_sim::{GuestMemory, World};
use xenbus::negotiate::{negotiate_vif, VifBackendOffer, VifFrontendLimits};
use xenbus::{
    publish, read_backend, switch_state, wait_for_state, DeviceRef, FrontendState, Publication,
    XenbusState,
};
use zerocopy::IntoBytes;

const RX_BUFFERS: u16 = 8;

struct MiniNetfront<'m> {
    nodename: String,
    backend: String,
    backend_id: DomainId,
    state: FrontendState,
    tx: FrontRing<netif_tx_request, netif_tx_response>,
    rx: FrontRing<netif_rx_request, netif_rx_response>,
    rings: Vec<(OwnedPages<&'m GuestMemory>, GrantRef)>,
    rx_buffers: Vec<(OwnedPages<&'m GuestMemory>, GrantRef)>,
    port: EventChannelPort,
    next_tx_id: u16,
}

impl<'m> MiniNetfront<'m> {
    /// netfront's probe + talk_to_netback: rings, one event channel, keys and Connected in
    /// one transaction; then RX buffers posted.
    fn connect(p: &mut Platform<'m>) -> MiniNetfront<'m> {
        let device = DeviceRef::new("vif", 0).unwrap();
        let nodename = device.dir().unwrap();
        let backend = read_backend(&mut p.xs, &device, Some(DomainId(p.guest.domid.0))).unwrap();
        let mut state = FrontendState::new();
        state.transition(XenbusState::Initialising).unwrap();
        wait_for_state(&mut p.xs, &backend.path, 20, |s| s == XenbusState::InitWait).unwrap();
        let offer = VifBackendOffer::read(&mut p.xs, &backend.path).unwrap();
        let ours = VifFrontendLimits {
            sg: true,
            gso_tcpv4: false,
            gso_tcpv6: false,
            ipv6_csum_offload: false,
            split_event_channels: false,
            max_queues: 1,
        };
        let negotiated = negotiate_vif(&ours, &offer).unwrap();
        assert!(negotiated.sg);
        let hv = p.hv.clone();
        let mut rings = Vec::new();
        for _ in 0..2 {
            let page = OwnedPages::new(p.memory, 1).unwrap();
            let gref = p
                .grants
                .grant_access(backend.id, page.pfn(), false)
                .unwrap();
            rings.push((page, gref));
        }
        let tx = FrontRing::init(rings[0].0.memory()).unwrap();
        let rx = FrontRing::init(rings[1].0.memory()).unwrap();
        let port = p.evtchn.alloc_unbound(&hv, backend.id).unwrap();
        p.evtchn.bind_handler(&hv, port, record_event, 2).unwrap();
        let mut publication = Publication::new();
        publication
            .set_u64("tx-ring-ref", u64::from(rings[0].1 .0))
            .unwrap()
            .set_u64("rx-ring-ref", u64::from(rings[1].1 .0))
            .unwrap()
            .event_channel("event-channel", port)
            .unwrap();
        negotiated.advertise(&mut publication).unwrap();
        publish(
            &mut p.xs,
            &nodename,
            &publication,
            Some(XenbusState::Connected),
        )
        .unwrap();
        state.transition(XenbusState::Connected).unwrap();
        wait_for_state(&mut p.xs, &backend.path, 20, |s| {
            s == XenbusState::Connected
        })
        .unwrap();
        let mut front = MiniNetfront {
            nodename,
            backend: backend.path,
            backend_id: backend.id,
            state,
            tx,
            rx,
            rings,
            rx_buffers: Vec::new(),
            port,
            next_tx_id: 0,
        };
        for id in 0..RX_BUFFERS {
            let page = OwnedPages::new(p.memory, 1).unwrap();
            let gref = p
                .grants
                .grant_access(front.backend_id, page.pfn(), false)
                .unwrap();
            front.rx_buffers.push((page, gref));
            front.post_rx(id);
        }
        if front.rx.push_requests_and_check_notify().unwrap() {
            p.evtchn.notify(&p.hv, port).unwrap();
        }
        front
    }

    fn post_rx(&mut self, id: u16) {
        let gref = self.rx_buffers[usize::from(id)].1;
        self.rx
            .push_request(&netif_rx_request {
                id,
                pad: 0,
                gref: gref.0,
            })
            .unwrap();
    }

    /// Sends `slots` (pages with offset/size, the first carrying the packet size) and waits
    /// for every slot's answer; returns the statuses.
    fn transmit(
        &mut self,
        p: &mut Platform<'m>,
        slots: &[(usize, &[u8])],
        packet_size: u16,
    ) -> Vec<i16> {
        let mut grants = Vec::new();
        let mut pages = Vec::new();
        for (i, (offset, data)) in slots.iter().enumerate() {
            let page = OwnedPages::new(p.memory, 1).unwrap();
            // A malformed slot may claim more than its page holds: write what fits.
            let fits = data.len().min(PAGE_SIZE.saturating_sub(*offset));
            page.memory().write_bytes(*offset, &data[..fits]).unwrap();
            let gref = p
                .grants
                .grant_access(self.backend_id, page.pfn(), true)
                .unwrap();
            let more = if i + 1 < slots.len() {
                NETTXF_more_data
            } else {
                0
            };
            let size = if i == 0 {
                packet_size
            } else {
                data.len() as u16
            };
            self.tx
                .push_request(&netif_tx_request {
                    gref: gref.0,
                    offset: *offset as u16,
                    flags: more,
                    id: self.next_tx_id,
                    size,
                })
                .unwrap();
            self.next_tx_id = self.next_tx_id.wrapping_add(1);
            grants.push(gref);
            pages.push(page);
        }
        if self.tx.push_requests_and_check_notify().unwrap() {
            p.evtchn.notify(&p.hv, self.port).unwrap();
        }
        let mut statuses = Vec::new();
        for _ in 0..100 {
            p.wait();
            take_events(self.port);
            while let Some(rsp) = self.tx.next_response().unwrap() {
                statuses.push(rsp.status);
            }
            self.tx.final_check_for_responses().unwrap();
            if statuses.len() == slots.len() {
                break;
            }
        }
        for gref in grants {
            p.grants.end_access(gref).unwrap();
        }
        statuses
    }

    /// Waits for one received packet; reposts its buffer.
    fn receive(&mut self, p: &mut Platform<'m>) -> Option<Vec<u8>> {
        for _ in 0..100 {
            if let Some(rsp) = self.rx.next_response().unwrap() {
                self.rx.final_check_for_responses().unwrap();
                let id = rsp.id;
                let (page, _) = self.rx_buffers.get(usize::from(id))?;
                let len = usize::try_from(rsp.status).ok()?;
                let mut packet = vec![0u8; len];
                page.memory()
                    .read_bytes(usize::from(rsp.offset), &mut packet)
                    .ok()?;
                self.post_rx(id);
                if self.rx.push_requests_and_check_notify().unwrap() {
                    p.evtchn.notify(&p.hv, self.port).unwrap();
                }
                return Some(packet);
            }
            self.rx.final_check_for_responses().unwrap();
            p.wait();
            take_events(self.port);
        }
        None
    }

    fn disconnect(mut self, p: &mut Platform<'m>) {
        switch_state(
            &mut p.xs,
            &self.nodename,
            &mut self.state,
            XenbusState::Closing,
        )
        .unwrap();
        wait_for_state(&mut p.xs, &self.backend, 20, |s| s == XenbusState::Closing).unwrap();
        switch_state(
            &mut p.xs,
            &self.nodename,
            &mut self.state,
            XenbusState::Closed,
        )
        .unwrap();
        wait_for_state(&mut p.xs, &self.backend, 20, |s| s == XenbusState::Closed).unwrap();
        let hv = p.hv.clone();
        p.evtchn.close(&hv, self.port).unwrap();
        for (_, gref) in self.rx_buffers.drain(..).chain(self.rings.drain(..)) {
            p.grants.end_access(gref).unwrap();
        }
    }
}

#[test]
fn packets_both_ways_then_a_clean_disconnect() {
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (paths, netback) = world.attach_vif(4, 0, "00:16:3e:00:00:04");
    let mut p = Platform::new(&world, &guest, &memory);
    assert_eq!(
        p.xs.read_string("device/vif/0/mac").unwrap(),
        "00:16:3e:00:00:04"
    );
    let mut front = MiniNetfront::connect(&mut p);
    assert!(netback.borrow().is_connected());

    // TX: one slot, then a 6000-byte packet over two slots (the second at an offset).
    let small: Vec<u8> = (0..60).collect();
    assert_eq!(
        front.transmit(&mut p, &[(0, &small)], 60),
        vec![NETIF_RSP_OKAY]
    );
    let big: Vec<u8> = (0..6000u32).map(|i| (i * 7) as u8).collect();
    let statuses = front.transmit(&mut p, &[(0, &big[..4000]), (100, &big[4000..])], 6000);
    assert_eq!(statuses, vec![NETIF_RSP_OKAY, NETIF_RSP_OKAY]);
    assert_eq!(netback.borrow_mut().take_transmitted(), vec![small, big]);

    // Malformed: a slot running off its page; fragments larger than the packet.
    let junk = [0u8; 200];
    assert_eq!(
        front.transmit(&mut p, &[(4000, &junk)], 200),
        vec![NETIF_RSP_ERROR]
    );
    assert_eq!(
        front.transmit(&mut p, &[(0, &junk[..10]), (0, &junk)], 50),
        vec![NETIF_RSP_ERROR, NETIF_RSP_ERROR]
    );
    assert!(netback.borrow_mut().take_transmitted().is_empty());
    assert_eq!(netback.borrow().stats().tx_errors, 2);

    // An extra-info slot (GSO) after the first slot: answered NETIF_RSP_NULL, packet kept.
    let page = OwnedPages::new(p.memory, 1).unwrap();
    page.memory().write_bytes(0, &[0xAB; 100]).unwrap();
    let gref = p
        .grants
        .grant_access(front.backend_id, page.pfn(), true)
        .unwrap();
    front
        .tx
        .push_request(&netif_tx_request {
            gref: gref.0,
            offset: 0,
            flags: NETTXF_extra_info,
            id: 900,
            size: 100,
        })
        .unwrap();
    let mut extra = netif_extra_info {
        r#type: XEN_NETIF_EXTRA_TYPE_GSO,
        ..Default::default()
    };
    extra.set_gso(netif_extra_info_gso {
        size: 1448,
        r#type: XEN_NETIF_GSO_TYPE_TCPV4,
        ..Default::default()
    });
    let mut slot = netif_tx_request::default();
    slot.as_mut_bytes()[..8].copy_from_slice(extra.as_bytes());
    front.tx.push_request(&slot).unwrap();
    if front.tx.push_requests_and_check_notify().unwrap() {
        p.evtchn.notify(&p.hv, front.port).unwrap();
    }
    p.wait();
    let answers: Vec<(u16, i16)> = std::iter::from_fn(|| front.tx.next_response().unwrap())
        .map(|r| (r.id, r.status))
        .collect();
    assert_eq!(answers[0], (900, NETIF_RSP_OKAY));
    assert_eq!(answers[1].1, NETIF_RSP_NULL);
    front.tx.final_check_for_responses().unwrap();
    p.grants.end_access(gref).unwrap();
    assert_eq!(
        netback.borrow_mut().take_transmitted(),
        vec![vec![0xAB; 100]]
    );

    // RX: more packets than posted buffers; buffers are reposted as packets arrive.
    for i in 0..(RX_BUFFERS as usize * 3) {
        netback.borrow_mut().inject(&vec![i as u8; 64 + i]);
    }
    for i in 0..(RX_BUFFERS as usize * 3) {
        let packet = front.receive(&mut p).expect("packet delivered");
        assert_eq!(packet, vec![i as u8; 64 + i]);
    }
    assert_eq!(netback.borrow().pending_rx(), 0);
    // A packet larger than a page is dropped by this backend (no multi-slot receive).
    netback.borrow_mut().inject(&vec![1; PAGE_SIZE + 1]);
    world.run_until_idle().unwrap();
    assert_eq!(netback.borrow().stats().rx_dropped, 1);

    // While connected, dom0 maps exactly the two rings; buffers are granted, not mapped.
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        2
    );
    assert!(matches!(
        p.grants.end_access(front.rings[0].1),
        Err(GrantError::StillInUse(_))
    ));
    front.disconnect(&mut p);
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
    assert_eq!(p.grants.in_use(), 0);
    assert_eq!(
        world.with_sim(|sim| sim.hv.granted_refs(DomainId(4))),
        vec![]
    );
    let _ = paths;
}

#[test]
fn frontend_without_rx_copy_is_refused() {
    let world = World::new();
    let guest = world.create_guest(4, "vm4");
    let memory = guest.memory.clone();
    let (paths, netback) = world.attach_vif(4, 0, "00:16:3e:00:00:04");
    let mut p = Platform::new(&world, &guest, &memory);
    world.run_until_idle().unwrap();
    // Rings published but no request-rx-copy: Linux netback refuses such a frontend.
    p.xs.write("device/vif/0/tx-ring-ref", b"9").unwrap();
    p.xs.write("device/vif/0/rx-ring-ref", b"10").unwrap();
    p.xs.write("device/vif/0/event-channel", b"5").unwrap();
    p.xs.write("device/vif/0/state", b"4").unwrap();
    world.run_until_idle().unwrap();
    assert_eq!(netback.borrow().state(), 5);
    assert!(netback
        .borrow()
        .last_error()
        .is_some_and(|e| e.contains("rx-copy")));
    assert!(world
        .xs_read_string(&format!("{}/error", paths.backend))
        .is_ok());
    assert_eq!(
        world.with_sim(|sim| sim.hv.live_mappings(DomainId::DOM0)),
        0
    );
}
