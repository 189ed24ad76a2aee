//! A minimal netback in dom0, following the xenbus protocol the way Linux's xen-netback does:
//! copy-mode receive, multi-slot transmit, one queue, one event channel.
//!
//! Protocol: on creation it advertises `feature-sg`, `feature-rx-copy` (and no flip, no GSO, no
//! multi-queue, no split event channels) and goes `InitWait`. When the frontend is `Connected`
//! it requires `request-rx-copy` = 1, reads `tx-ring-ref`, `rx-ring-ref` and `event-channel`,
//! maps both rings through the grant rules, binds the event channel and goes `Connected`.
//!
//! Transmit: each packet is a first slot (size = whole packet) and, with `NETTXF_more_data`,
//! further fragment slots; `NETTXF_extra_info` adds extra-info slots (answered
//! `NETIF_RSP_NULL`, their content ignored). Every slot is checked (offset + size within the
//! page, fragments within the packet, at most `XEN_NETIF_NR_SLOTS_MIN` slots, grant mappable);
//! a bad packet is answered `NETIF_RSP_ERROR` on each of its slots and dropped. Good packets are
//! kept for the test ([`Netback::take_transmitted`]).
//!
//! Receive: packets given with [`Netback::inject`] are copied into the pages the frontend
//! posted (one slot per packet, at offset 0), answered with their length.

// Xen's constant names are kept verbatim, also in patterns.
#![allow(non_upper_case_globals)]

use std::collections::VecDeque;

use xen_hal::{DomainId, EventChannelPort, GrantRef, PAGE_SIZE};
use xen_public_headers::io::netif::{
    netif_extra_info, netif_rx_request, netif_rx_response, netif_tx_request, netif_tx_response,
    NETTXF_extra_info, NETTXF_more_data, NETIF_RSP_ERROR, NETIF_RSP_NULL, NETIF_RSP_OKAY,
    XEN_NETIF_EXTRA_FLAG_MORE, XEN_NETIF_NR_SLOTS_MIN,
};
use xen_public_headers::io::xenbus::{
    XenbusState, XenbusStateClosed, XenbusStateClosing, XenbusStateConnected, XenbusStateInitWait,
    XenbusStateInitialising, XenbusStateUnknown,
};
use xen_ring::BackRing;
use zerocopy::{FromBytes, IntoBytes};

use crate::grant::MapHandle;
use crate::world::{Backend, Sim};
use crate::xenstored::ConnId;

/// Counters of what the backend did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetbackStats {
    /// Packets the frontend transmitted that were accepted.
    pub tx_packets: u64,
    /// Transmitted packets refused as malformed.
    pub tx_errors: u64,
    /// Packets delivered to the frontend.
    pub rx_packets: u64,
    /// Injected packets dropped (larger than a page).
    pub rx_dropped: u64,
    /// Notifications sent to the frontend.
    pub notifications: u64,
}

struct Connection {
    tx: BackRing<netif_tx_request, netif_tx_response>,
    rx: BackRing<netif_rx_request, netif_rx_response>,
    maps: [MapHandle; 2],
    port: EventChannelPort,
}

/// The backend of one virtual network interface.
pub struct Netback {
    frontend: DomainId,
    backend_path: String,
    frontend_path: Option<String>,
    conn: ConnId,
    state: XenbusState,
    connection: Option<Connection>,
    transmitted: VecDeque<Vec<u8>>,
    to_deliver: VecDeque<Vec<u8>>,
    stats: NetbackStats,
    last_error: Option<String>,
    /// Transmit requests may be waiting without a new notification (after a final check).
    more_tx: bool,
}

/// One slot of a packet being transmitted.
struct TxSlot {
    request: netif_tx_request,
    extra: bool,
}

impl Netback {
    /// A backend at `backend_path` for `frontend`'s interface; it starts on the next pump round.
    pub fn new(sim: &mut Sim, frontend: DomainId, backend_path: &str) -> Netback {
        let conn = sim.xenstored.connect(0);
        let _ = sim.xenstored.watch(conn, backend_path, "backend");
        Netback {
            frontend,
            backend_path: backend_path.to_string(),
            frontend_path: None,
            conn,
            state: XenbusStateUnknown,
            connection: None,
            transmitted: VecDeque::new(),
            to_deliver: VecDeque::new(),
            stats: NetbackStats::default(),
            last_error: None,
            more_tx: false,
        }
    }

    /// The backend's xenbus state.
    pub fn state(&self) -> XenbusState {
        self.state
    }

    /// Whether the rings are mapped and the event channel bound.
    pub fn is_connected(&self) -> bool {
        self.connection.is_some()
    }

    /// What it did.
    pub fn stats(&self) -> NetbackStats {
        self.stats
    }

    /// Why it gave up on the frontend, if it did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// Packets the frontend transmitted, oldest first.
    pub fn take_transmitted(&mut self) -> Vec<Vec<u8>> {
        self.transmitted.drain(..).collect()
    }

    /// Queues a packet for the frontend (delivered as receive buffers are posted).
    pub fn inject(&mut self, packet: &[u8]) {
        self.to_deliver.push_back(packet.to_vec());
    }

    /// Injected packets not delivered yet.
    pub fn pending_rx(&self) -> usize {
        self.to_deliver.len()
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
        self.write(sim, "state", &state.to_string());
    }

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
        for (key, value) in [
            ("feature-sg", "1"),
            ("feature-gso-tcpv4", "0"),
            ("feature-gso-tcpv6", "0"),
            ("feature-rx-copy", "1"),
            ("feature-rx-flip", "0"),
            ("feature-split-event-channels", "0"),
        ] {
            self.write(sim, key, value);
        }
        self.switch_state(sim, XenbusStateInitWait);
    }

    fn number(&self, sim: &mut Sim, front: &str, key: &str) -> Result<u32, String> {
        self.read(sim, &format!("{front}/{key}"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("reading {key}"))
    }

    fn map_ring(&self, sim: &mut Sim, gref: u32) -> Result<MapHandle, String> {
        sim.hv
            .grant_map(DomainId::DOM0, self.frontend, GrantRef(gref), false)
            .map_err(|e| format!("mapping ring {gref}: {e:?}"))
    }

    fn connect(&mut self, sim: &mut Sim) -> Result<(), String> {
        let front = self
            .frontend_path
            .clone()
            .ok_or_else(|| "no frontend".to_string())?;
        if self.number(sim, &front, "request-rx-copy").ok() != Some(1) {
            return Err("frontend does not request rx-copy".into());
        }
        let tx_ref = self.number(sim, &front, "tx-ring-ref")?;
        let rx_ref = self.number(sim, &front, "rx-ring-ref")?;
        let port = self.number(sim, &front, "event-channel")?;
        let tx_map = self.map_ring(sim, tx_ref)?;
        let rx_map = match self.map_ring(sim, rx_ref) {
            Ok(m) => m,
            Err(e) => {
                let _ = sim.hv.grant_unmap(DomainId::DOM0, tx_map);
                return Err(e);
            }
        };
        let rings = sim
            .hv
            .grant_memory(tx_map)
            .and_then(|tx| Ok((tx, sim.hv.grant_memory(rx_map)?)))
            .map_err(|e| format!("{e:?}"))
            .and_then(|(tx, rx)| {
                Ok((
                    BackRing::attach(tx).map_err(|e| format!("tx ring: {e:?}"))?,
                    BackRing::attach(rx).map_err(|e| format!("rx ring: {e:?}"))?,
                ))
            });
        let bound = rings.and_then(|rings| {
            sim.hv
                .evtchn_bind_interdomain(DomainId::DOM0, self.frontend, EventChannelPort(port))
                .map(|local| (rings, local))
                .map_err(|e| format!("binding event-channel {port}: {e:?}"))
        });
        match bound {
            Ok(((tx, rx), local)) => {
                self.connection = Some(Connection {
                    tx,
                    rx,
                    maps: [tx_map, rx_map],
                    port: local,
                });
                self.more_tx = true;
                Ok(())
            }
            Err(e) => {
                let _ = sim.hv.grant_unmap(DomainId::DOM0, tx_map);
                let _ = sim.hv.grant_unmap(DomainId::DOM0, rx_map);
                Err(e)
            }
        }
    }

    fn disconnect(&mut self, sim: &mut Sim) {
        if let Some(c) = self.connection.take() {
            let _ = sim.hv.evtchn_close(DomainId::DOM0, c.port);
            for handle in c.maps {
                let _ = sim.hv.grant_unmap(DomainId::DOM0, handle);
            }
        }
    }

    fn fatal(&mut self, sim: &mut Sim, why: String) {
        self.write(sim, "error", &why);
        self.last_error = Some(why);
        self.disconnect(sim);
        self.switch_state(sim, XenbusStateClosing);
    }

    fn frontend_changed(&mut self, sim: &mut Sim) {
        let Some(front) = self.frontend_path.clone() else {
            return;
        };
        let Some(state) = self
            .read(sim, &format!("{front}/state"))
            .and_then(|s| s.trim().parse::<XenbusState>().ok())
        else {
            return;
        };
        match state {
            XenbusStateInitialising if self.state == XenbusStateClosed => self.probe(sim),
            XenbusStateConnected if self.state == XenbusStateInitWait => match self.connect(sim) {
                Ok(()) => self.switch_state(sim, XenbusStateConnected),
                Err(why) => self.fatal(sim, why),
            },
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
            }
            _ => {}
        }
    }

    /// Copies a validated packet out of its slots; `Err` for anything malformed.
    fn gather(&self, sim: &mut Sim, slots: &[TxSlot]) -> Result<Vec<u8>, String> {
        let data: Vec<&netif_tx_request> = slots
            .iter()
            .filter(|s| !s.extra)
            .map(|s| &s.request)
            .collect();
        let first = data.first().ok_or_else(|| "no data slot".to_string())?;
        if data.len() > XEN_NETIF_NR_SLOTS_MIN {
            return Err(format!("{} slots", data.len()));
        }
        let total = usize::from(first.size);
        let fragments: usize = data.iter().skip(1).map(|r| usize::from(r.size)).sum();
        let first_len = total
            .checked_sub(fragments)
            .ok_or_else(|| "fragments exceed the packet".to_string())?;
        let mut packet = Vec::with_capacity(total);
        for (i, request) in data.iter().enumerate() {
            let len = if i == 0 {
                first_len
            } else {
                usize::from(request.size)
            };
            let offset = usize::from(request.offset);
            if offset + len > PAGE_SIZE {
                return Err(format!("slot {i}: {offset}+{len} beyond the page"));
            }
            let handle = sim
                .hv
                .grant_map(DomainId::DOM0, self.frontend, GrantRef(request.gref), true)
                .map_err(|e| format!("grant {}: {e:?}", request.gref))?;
            let mut bytes = vec![0u8; len];
            let copied = sim
                .hv
                .grant_memory(handle)
                .map_err(|e| format!("{e:?}"))
                .and_then(|page| {
                    page.read_bytes(offset, &mut bytes)
                        .map_err(|_| "page range".to_string())
                });
            let _ = sim.hv.grant_unmap(DomainId::DOM0, handle);
            copied?;
            packet.extend_from_slice(&bytes);
        }
        Ok(packet)
    }

    fn serve_tx(&mut self, sim: &mut Sim, c: &mut Connection) -> Result<bool, String> {
        let mut moved = false;
        let mut packets = 0;
        while packets < c.tx.size() {
            let Some(first) = c.tx.next_request().map_err(|e| format!("{e:?}"))? else {
                break;
            };
            packets += 1;
            moved = true;
            let mut slots = vec![TxSlot {
                request: first,
                extra: false,
            }];
            let mut malformed = false;
            // Extra-info slots follow the first slot, chained by XEN_NETIF_EXTRA_FLAG_MORE.
            let mut more_extra = first.flags & NETTXF_extra_info != 0;
            let mut more_data = first.flags & NETTXF_more_data != 0;
            // Bounded: a packet never needs more slots than a ring holds.
            while (more_extra || more_data) && slots.len() < c.tx.size() as usize {
                let Some(next) = c.tx.next_request().map_err(|e| format!("{e:?}"))? else {
                    // The frontend published part of a packet: malformed.
                    malformed = true;
                    break;
                };
                if more_extra {
                    // The slot holds a netif_extra_info instead of a request.
                    let extra = netif_extra_info::read_from_prefix(next.as_bytes())
                        .map(|(e, _)| e)
                        .unwrap_or_default();
                    more_extra = extra.flags & XEN_NETIF_EXTRA_FLAG_MORE != 0;
                    slots.push(TxSlot {
                        request: next,
                        extra: true,
                    });
                } else {
                    more_data = next.flags & NETTXF_more_data != 0;
                    slots.push(TxSlot {
                        request: next,
                        extra: false,
                    });
                }
            }
            let status = if malformed || more_data || more_extra {
                NETIF_RSP_ERROR
            } else {
                match self.gather(sim, &slots) {
                    Ok(packet) => {
                        self.transmitted.push_back(packet);
                        self.stats.tx_packets += 1;
                        NETIF_RSP_OKAY
                    }
                    Err(_) => NETIF_RSP_ERROR,
                }
            };
            if status == NETIF_RSP_ERROR {
                self.stats.tx_errors += 1;
            }
            for slot in &slots {
                let response = netif_tx_response {
                    id: slot.request.id,
                    status: if slot.extra { NETIF_RSP_NULL } else { status },
                };
                c.tx.push_response(&response)
                    .map_err(|e| format!("{e:?}"))?;
            }
        }
        if moved
            && c.tx
                .push_responses_and_check_notify()
                .map_err(|e| format!("{e:?}"))?
        {
            let _ = sim.hv.evtchn_send(DomainId::DOM0, c.port);
            self.stats.notifications += 1;
        }
        Ok(moved)
    }

    fn serve_rx(&mut self, sim: &mut Sim, c: &mut Connection) -> Result<bool, String> {
        let mut moved = false;
        let mut delivered = 0;
        while delivered < c.rx.size() {
            let Some(packet) = self.to_deliver.front() else {
                break;
            };
            if packet.len() > PAGE_SIZE || packet.len() > i16::MAX as usize {
                self.to_deliver.pop_front();
                self.stats.rx_dropped += 1;
                continue;
            }
            let Some(request) = c.rx.next_request().map_err(|e| format!("{e:?}"))? else {
                break;
            };
            delivered += 1;
            moved = true;
            let packet = self.to_deliver.pop_front().unwrap_or_default();
            let status =
                match sim
                    .hv
                    .grant_map(DomainId::DOM0, self.frontend, GrantRef(request.gref), false)
                {
                    Ok(handle) => {
                        let copied = sim
                            .hv
                            .grant_memory(handle)
                            .ok()
                            .and_then(|page| page.write_bytes(0, &packet).ok());
                        let _ = sim.hv.grant_unmap(DomainId::DOM0, handle);
                        match copied {
                            Some(()) => packet.len() as i16,
                            None => NETIF_RSP_ERROR,
                        }
                    }
                    Err(_) => NETIF_RSP_ERROR,
                };
            if status >= 0 {
                self.stats.rx_packets += 1;
            }
            let response = netif_rx_response {
                id: request.id,
                offset: 0,
                flags: 0,
                status,
            };
            c.rx.push_response(&response)
                .map_err(|e| format!("{e:?}"))?;
        }
        if moved
            && c.rx
                .push_responses_and_check_notify()
                .map_err(|e| format!("{e:?}"))?
        {
            let _ = sim.hv.evtchn_send(DomainId::DOM0, c.port);
            self.stats.notifications += 1;
        }
        Ok(moved)
    }

    fn serve(&mut self, sim: &mut Sim) -> Result<bool, String> {
        let Some(mut c) = self.connection.take() else {
            return Ok(false);
        };
        // Transmit is served when the frontend notifies (or a final check saw more); receive
        // whenever packets wait and buffers are posted.
        let kicked = sim.hv.evtchn_take_pending(DomainId::DOM0, c.port);
        let serve_tx = kicked || self.more_tx;
        self.more_tx = false;
        let mut result = Ok(false);
        for handle in c.maps {
            if let Err(e) = sim.hv.grant_memory(handle) {
                result = Err(format!("ring page: {e:?}"));
            }
        }
        if result.is_ok() {
            let tx = if serve_tx {
                self.serve_tx(sim, &mut c)
            } else {
                Ok(false)
            };
            result = tx.and_then(|tx| {
                let rx = self.serve_rx(sim, &mut c)?;
                // Re-arm request events so the frontend's next push notifies.
                if serve_tx
                    && c.tx
                        .final_check_for_requests()
                        .map_err(|e| format!("{e:?}"))?
                {
                    self.more_tx = true;
                }
                c.rx.final_check_for_requests()
                    .map_err(|e| format!("{e:?}"))?;
                Ok(tx || rx)
            });
        }
        self.connection = Some(c);
        result
    }
}

impl Backend for Netback {
    fn poll(&mut self, sim: &mut Sim) -> bool {
        let events = sim.xenstored.take_events(self.conn);
        let mut progress = !events.is_empty();
        if self.state == XenbusStateUnknown {
            let ours = self
                .read(sim, &format!("{}/state", self.backend_path))
                .and_then(|s| s.trim().parse::<XenbusState>().ok());
            if ours == Some(XenbusStateInitialising) {
                self.probe(sim);
                progress = true;
            }
        }
        if events.iter().any(|e| e.token == "frontend") {
            self.frontend_changed(sim);
        }
        match self.serve(sim) {
            Ok(moved) => progress |= moved,
            Err(why) => {
                self.fatal(sim, why);
                progress = true;
            }
        }
        progress
    }
}
