//! Guest connections over the `xenstore_domain_interface` page: requests in, replies and
//! watch events out, `XS_ERROR` with the error's name on failure.
//!
//! Ring indices come from the guest and are checked: a producer more than a ring ahead of the
//! consumer, or a message header announcing more than `XENSTORE_PAYLOAD_MAX`, breaks the
//! connection (C xenstored stops talking to such a domain too).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use xen_hal::{DomainId, EventChannelPort, Pfn, SharedMemory};
use zerocopy::{FromBytes, IntoBytes};

use super::{ConnId, Perm, Perms, StoreError, Xenstored};
use crate::abi;
use crate::hv::Hv;

/// A hostile edit of the next reply bytes (header included) sent to a guest.
pub type ReplyMutator = Box<dyn FnMut(&mut Vec<u8>)>;

/// State of a guest's ring connection.
pub(crate) struct RingConn {
    pfn: Pfn,
    /// Dom0's end of the store event channel.
    port: EventChannelPort,
    input: Vec<u8>,
    output: VecDeque<u8>,
    pub(crate) broken: Option<String>,
    mutator: Option<ReplyMutator>,
    /// Only read requests after the guest notified (true), or on every pump round.
    pub(crate) strict_notify: bool,
    pub(crate) requests: u64,
}

/// One decoded request.
struct Request {
    ty: u32,
    req_id: u32,
    tx_id: u32,
    payload: Vec<u8>,
}

fn strings(payload: &[u8]) -> Result<Vec<&str>, StoreError> {
    // Every argument is nul-terminated.
    if payload.last() != Some(&0) {
        return Err(StoreError::EINVAL);
    }
    payload[..payload.len() - 1]
        .split(|b| *b == 0)
        .map(|s| std::str::from_utf8(s).map_err(|_| StoreError::EINVAL))
        .collect()
}

fn one_arg(payload: &[u8]) -> Result<&str, StoreError> {
    let args = strings(payload)?;
    match args.as_slice() {
        [one] => Ok(one),
        _ => Err(StoreError::EINVAL),
    }
}

fn two_args(payload: &[u8]) -> Result<(&str, &str), StoreError> {
    let args = strings(payload)?;
    match args.as_slice() {
        [a, b] => Ok((a, b)),
        _ => Err(StoreError::EINVAL),
    }
}

fn nul_list<S: AsRef<str>>(items: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(item.as_ref().as_bytes());
        out.push(0);
    }
    out
}

/// Encodes a message: `xsd_sockmsg` header (type, req_id, tx_id, len) and payload.
pub fn encode(ty: u32, req_id: u32, tx_id: u32, payload: &[u8]) -> Vec<u8> {
    let header = abi::xsd_sockmsg {
        r#type: ty,
        req_id,
        tx_id,
        len: payload.len() as u32,
    };
    let mut out = Vec::with_capacity(abi::XSD_SOCKMSG_SIZE + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

impl Xenstored {
    /// Serves domain `domid`'s ring at guest frame `pfn`, notified through dom0's `port`.
    pub fn attach_ring(&mut self, domid: u16, pfn: Pfn, port: EventChannelPort) -> ConnId {
        let id = self.connect(domid);
        if let Some(c) = self.conns.get_mut(&id) {
            c.ring = Some(RingConn {
                pfn,
                port,
                input: Vec::new(),
                output: VecDeque::new(),
                broken: None,
                mutator: None,
                strict_notify: true,
                requests: 0,
            });
        }
        id
    }

    /// The ring connection of `domid`, if any.
    pub fn ring_conn(&self, domid: u16) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|(_, c)| c.domid == domid && c.ring.is_some())
            .map(|(id, _)| *id)
    }

    /// Why the ring connection of `domid` was dropped, if it was.
    pub fn ring_broken(&self, domid: u16) -> Option<String> {
        let id = self.ring_conn(domid)?;
        self.conns.get(&id)?.ring.as_ref()?.broken.clone()
    }

    /// Requests served on the ring of `domid`.
    pub fn ring_requests(&self, domid: u16) -> u64 {
        self.ring_conn(domid)
            .and_then(|id| self.conns.get(&id))
            .and_then(|c| c.ring.as_ref())
            .map_or(0, |r| r.requests)
    }

    /// Hostile hook: raw bytes appended to what the guest will read on its ring.
    pub fn inject_raw(&mut self, domid: u16, bytes: &[u8]) {
        if let Some(r) = self.ring_of(domid) {
            r.output.extend(bytes.iter().copied());
        }
    }

    /// Hostile hook: edit the next reply (header and payload) before it is sent.
    pub fn mutate_next_reply(&mut self, domid: u16, mutator: ReplyMutator) {
        if let Some(r) = self.ring_of(domid) {
            r.mutator = Some(mutator);
        }
    }

    /// Whether requests are read only after a notification (default) or on every round.
    pub fn set_strict_notify(&mut self, domid: u16, strict: bool) {
        if let Some(r) = self.ring_of(domid) {
            r.strict_notify = strict;
        }
    }

    fn ring_of(&mut self, domid: u16) -> Option<&mut RingConn> {
        let id = self.ring_conn(domid)?;
        self.conns.get_mut(&id)?.ring.as_mut()
    }

    /// Serves every guest ring once; true if anything moved.
    pub(crate) fn service_rings(&mut self, hv: &mut Hv) -> bool {
        let ids: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|(_, c)| c.ring.is_some())
            .map(|(id, _)| *id)
            .collect();
        let mut progress = false;
        for id in ids {
            progress |= self.service_ring(hv, id);
        }
        progress
    }

    /// Stops serving a ring and, as C xenstored does for clients that were offered
    /// `XENSTORE_SERVER_FEATURE_ERROR`, reports `error` in the page.
    fn break_ring(&mut self, id: ConnId, why: String, error: u32, page: Option<&SharedMemory>) {
        if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.ring.as_mut()) {
            r.broken.get_or_insert(why);
        }
        if let Some(page) = page {
            let _ = page.store_u32(abi::XS_RING_ERROR, error, Ordering::Release);
        }
    }

    fn service_ring(&mut self, hv: &mut Hv, id: ConnId) -> bool {
        let Some(c) = self.conns.get(&id) else {
            return false;
        };
        let domid = c.domid;
        let Some(r) = c.ring.as_ref() else {
            return false;
        };
        let (pfn, port, strict) = (r.pfn, r.port, r.strict_notify);
        if r.broken.is_some() {
            return false;
        }
        let kicked = hv.evtchn_take_pending(DomainId::DOM0, port);
        let page = hv
            .domain(DomainId(domid))
            .ok()
            .and_then(|d| d.memory.as_ref())
            .and_then(|m| m.frame(pfn));
        let Some(page) = page else {
            self.break_ring(id, "the xenstore ring page was freed".into(), 0, None);
            return false;
        };
        let mut progress = false;
        let mut notify = false;
        if kicked || !strict {
            match self.read_requests(id, &page) {
                Ok(n) => {
                    if n > 0 {
                        progress = true;
                        notify = true;
                    }
                }
                Err(why) => {
                    self.break_ring(id, why, abi::XENSTORE_ERROR_RINGIDX, Some(&page));
                    return true;
                }
            }
        }
        match self.process_input(id) {
            Ok(n) => progress |= n > 0,
            Err(why) => {
                self.break_ring(id, why, abi::XENSTORE_ERROR_PROTO, Some(&page));
                return true;
            }
        }
        self.encode_events(id);
        match self.write_output(id, &page) {
            Ok(n) => {
                if n > 0 {
                    progress = true;
                    notify = true;
                }
            }
            Err(why) => {
                self.break_ring(id, why, abi::XENSTORE_ERROR_RINGIDX, Some(&page));
                return true;
            }
        }
        if notify {
            let _ = hv.evtchn_send(DomainId::DOM0, port);
        }
        progress
    }

    fn read_requests(&mut self, id: ConnId, page: &SharedMemory) -> Result<usize, String> {
        let bad = |_| "ring access out of bounds".to_string();
        let cons = page
            .load_u32(abi::XS_RING_REQ_CONS, Ordering::SeqCst)
            .map_err(bad)?;
        let prod = page
            .load_u32(abi::XS_RING_REQ_PROD, Ordering::Acquire)
            .map_err(bad)?;
        let avail = prod.wrapping_sub(cons);
        if avail > abi::XS_RING_BYTES {
            return Err(format!(
                "request producer {prod} runs {avail} bytes ahead of {cons}"
            ));
        }
        let mut bytes = vec![0u8; avail as usize];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let index = (cons.wrapping_add(i as u32) % abi::XS_RING_BYTES) as usize;
            *byte = page.read_u8(abi::XS_RING_REQ + index).map_err(bad)?;
        }
        page.store_u32(abi::XS_RING_REQ_CONS, prod, Ordering::Release)
            .map_err(bad)?;
        if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.ring.as_mut()) {
            r.input.extend_from_slice(&bytes);
        }
        Ok(bytes.len())
    }

    fn process_input(&mut self, id: ConnId) -> Result<usize, String> {
        let mut served = 0;
        loop {
            let Some(r) = self.conns.get_mut(&id).and_then(|c| c.ring.as_mut()) else {
                return Ok(served);
            };
            if r.input.len() < abi::XSD_SOCKMSG_SIZE {
                return Ok(served);
            }
            let Ok(header) = abi::xsd_sockmsg::read_from_bytes(&r.input[..abi::XSD_SOCKMSG_SIZE])
            else {
                return Ok(served);
            };
            let (ty, req_id, tx_id, len) = (header.r#type, header.req_id, header.tx_id, header.len);
            if len > abi::XS_PAYLOAD_MAX {
                return Err(format!("request payload of {len} bytes"));
            }
            let total = abi::XSD_SOCKMSG_SIZE + len as usize;
            if r.input.len() < total {
                return Ok(served);
            }
            let payload = r.input[abi::XSD_SOCKMSG_SIZE..total].to_vec();
            r.input.drain(..total);
            r.requests += 1;
            let request = Request {
                ty,
                req_id,
                tx_id,
                payload,
            };
            let reply = self.dispatch(id, &request);
            let mut bytes = match reply {
                Ok(payload) if payload.len() <= abi::XENSTORE_PAYLOAD_MAX => {
                    encode(request.ty, request.req_id, request.tx_id, &payload)
                }
                Ok(_) => encode(abi::XS_ERROR, req_id, tx_id, b"E2BIG\0"),
                Err(e) => {
                    let mut name = e.name().as_bytes().to_vec();
                    name.push(0);
                    encode(abi::XS_ERROR, req_id, tx_id, &name)
                }
            };
            if let Some(r) = self.conns.get_mut(&id).and_then(|c| c.ring.as_mut()) {
                if let Some(mut mutate) = r.mutator.take() {
                    mutate(&mut bytes);
                }
                r.output.extend(bytes);
            }
            // The reply to XS_WATCH goes before the watch's first event.
            self.encode_events(id);
            served += 1;
        }
    }

    fn encode_events(&mut self, id: ConnId) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let events: Vec<_> = c.events.drain(..).collect();
        if let Some(r) = c.ring.as_mut() {
            for e in events {
                let payload = nul_list(&[e.path, e.token]);
                r.output.extend(encode(abi::XS_WATCH_EVENT, 0, 0, &payload));
            }
        }
    }

    fn write_output(&mut self, id: ConnId, page: &SharedMemory) -> Result<usize, String> {
        let bad = |_| "ring access out of bounds".to_string();
        let Some(r) = self.conns.get_mut(&id).and_then(|c| c.ring.as_mut()) else {
            return Ok(0);
        };
        if r.output.is_empty() {
            return Ok(0);
        }
        let cons = page
            .load_u32(abi::XS_RING_RSP_CONS, Ordering::Acquire)
            .map_err(bad)?;
        let prod = page
            .load_u32(abi::XS_RING_RSP_PROD, Ordering::SeqCst)
            .map_err(bad)?;
        let used = prod.wrapping_sub(cons);
        if used > abi::XS_RING_BYTES {
            return Err(format!(
                "reply consumer {cons} is {used} bytes behind {prod}"
            ));
        }
        let n = ((abi::XS_RING_BYTES - used) as usize).min(r.output.len());
        for i in 0..n {
            let index = (prod.wrapping_add(i as u32) % abi::XS_RING_BYTES) as usize;
            let byte = r.output.pop_front().unwrap_or(0);
            page.write_u8(abi::XS_RING_RSP + index, byte).map_err(bad)?;
        }
        page.store_u32(
            abi::XS_RING_RSP_PROD,
            prod.wrapping_add(n as u32),
            Ordering::Release,
        )
        .map_err(bad)?;
        Ok(n)
    }

    fn dispatch(&mut self, id: ConnId, request: &Request) -> Result<Vec<u8>, StoreError> {
        let ok = || b"OK\0".to_vec();
        let tx = request.tx_id;
        let p = &request.payload;
        match request.ty {
            abi::XS_READ => self.read(id, tx, one_arg(p)?),
            abi::XS_WRITE => {
                let nul = p.iter().position(|b| *b == 0).ok_or(StoreError::EINVAL)?;
                let path = std::str::from_utf8(&p[..nul]).map_err(|_| StoreError::EINVAL)?;
                self.write(id, tx, path, &p[nul + 1..]).map(|_| ok())
            }
            abi::XS_MKDIR => self.mkdir(id, tx, one_arg(p)?).map(|_| ok()),
            abi::XS_RM => self.rm(id, tx, one_arg(p)?).map(|_| ok()),
            abi::XS_DIRECTORY => Ok(nul_list(&self.directory(id, tx, one_arg(p)?)?)),
            abi::XS_DIRECTORY_PART => {
                let (path, offset) = two_args(p)?;
                let offset: usize = offset.parse().map_err(|_| StoreError::EINVAL)?;
                let children = nul_list(&self.directory(id, tx, path)?);
                let absolute = Self::canonical(self.domid(id)?, path, false)?;
                let generation = self.tree.generation(&absolute).unwrap_or(0);
                let mut out = format!("{generation}").into_bytes();
                out.push(0);
                let rest = children.get(offset..).ok_or(StoreError::EINVAL)?;
                let room = abi::XENSTORE_PAYLOAD_MAX - out.len() - 1;
                if rest.len() <= room {
                    out.extend_from_slice(rest);
                    out.push(0);
                } else {
                    // Cut after the last whole name that fits.
                    let cut = rest[..room]
                        .iter()
                        .rposition(|b| *b == 0)
                        .map_or(0, |i| i + 1);
                    out.extend_from_slice(&rest[..cut]);
                }
                Ok(out)
            }
            abi::XS_GET_PERMS => {
                let perms = self.get_perms(id, tx, one_arg(p)?)?;
                let texts: Vec<String> = perms.0.iter().map(ToString::to_string).collect();
                Ok(nul_list(&texts))
            }
            abi::XS_SET_PERMS => {
                let args = strings(p)?;
                let (path, perms) = args.split_first().ok_or(StoreError::EINVAL)?;
                let perms = perms
                    .iter()
                    .map(|t| Perm::parse(t).ok_or(StoreError::EINVAL))
                    .collect::<Result<Vec<_>, _>>()?;
                self.set_perms(id, tx, path, Perms(perms)).map(|_| ok())
            }
            abi::XS_WATCH => {
                let (path, token) = two_args(p)?;
                self.watch(id, path, token).map(|_| ok())
            }
            abi::XS_UNWATCH => {
                let (path, token) = two_args(p)?;
                self.unwatch(id, path, token).map(|_| ok())
            }
            abi::XS_RESET_WATCHES => self.reset_watches(id).map(|_| ok()),
            abi::XS_TRANSACTION_START => {
                if tx != 0 {
                    return Err(StoreError::EINVAL);
                }
                let tx = self.transaction_start(id)?;
                Ok(format!("{tx}\0").into_bytes())
            }
            abi::XS_TRANSACTION_END => {
                let commit = match one_arg(p)? {
                    "T" => true,
                    "F" => false,
                    _ => return Err(StoreError::EINVAL),
                };
                self.transaction_end(id, tx, commit).map(|_| ok())
            }
            abi::XS_GET_DOMAIN_PATH => {
                let domid: u16 = one_arg(p)?.parse().map_err(|_| StoreError::EINVAL)?;
                Ok(format!("{}\0", super::domain_path(domid)).into_bytes())
            }
            abi::XS_CONTROL
            | abi::XS_INTRODUCE
            | abi::XS_RELEASE
            | abi::XS_IS_DOMAIN_INTRODUCED
            | abi::XS_RESUME
            | abi::XS_SET_TARGET => Err(StoreError::EACCES),
            _ => Err(StoreError::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use xen_hal::{Hypervisor, PhysicalMapper};

    use crate::abi;
    use crate::world::World;

    #[test]
    fn requests_are_read_only_after_a_notification() {
        let world = World::new();
        let guest = world.create_guest(2, "g");
        let page = guest.memory.map_frames(guest.store_pfn, 1).unwrap();
        assert_eq!(
            page.load_u32(abi::XS_RING_SERVER_FEATURES, Ordering::SeqCst),
            Ok(3)
        );
        // An XS_READ of "name" written into the ring by hand.
        let request = super::encode(abi::XS_READ, 7, 0, b"name\0");
        page.write_bytes(abi::XS_RING_REQ, &request).unwrap();
        page.store_u32(
            abi::XS_RING_REQ_PROD,
            request.len() as u32,
            Ordering::Release,
        )
        .unwrap();
        world.run_until_idle().unwrap();
        assert_eq!(
            page.load_u32(abi::XS_RING_RSP_PROD, Ordering::SeqCst),
            Ok(0)
        );
        guest.hypervisor.evtchn_send(guest.store_port).unwrap();
        world.run_until_idle().unwrap();
        let expected = super::encode(abi::XS_READ, 7, 0, b"g");
        assert_eq!(
            page.load_u32(abi::XS_RING_RSP_PROD, Ordering::SeqCst),
            Ok(expected.len() as u32)
        );
        let mut reply = vec![0u8; expected.len()];
        page.read_bytes(abi::XS_RING_RSP, &mut reply).unwrap();
        assert_eq!(reply, expected);
        // xenstored notified the guest.
        assert!(world.with_sim(|sim| sim.hv.evtchn_is_pending(guest.domid, guest.store_port)));
        // Lenient mode serves without a notification.
        world.with_sim(|sim| sim.xenstored.set_strict_notify(2, false));
        let second = super::encode(abi::XS_READ, 8, 0, b"nothing\0");
        page.write_bytes(abi::XS_RING_REQ + request.len(), &second)
            .unwrap();
        page.store_u32(
            abi::XS_RING_REQ_PROD,
            (request.len() + second.len()) as u32,
            Ordering::Release,
        )
        .unwrap();
        world.run_until_idle().unwrap();
        let mut error = vec![0u8; abi::XSD_SOCKMSG_SIZE + 7];
        page.read_bytes(abi::XS_RING_RSP + expected.len(), &mut error)
            .unwrap();
        assert_eq!(error, super::encode(abi::XS_ERROR, 8, 0, b"ENOENT\0"));
    }

    proptest::proptest! {
        /// Whatever a guest puts in its ring page, xenstored neither panics nor loops: it
        /// serves what parses and breaks the connection on what cannot.
        #[test]
        fn garbage_from_a_guest_never_panics_xenstored(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024),
            req_prod_extra in 0u32..3000,
            rsp_cons in proptest::prelude::any::<u32>(),
        ) {
            let world = World::new();
            let guest = world.create_guest(2, "g");
            let page = guest.memory.map_frames(guest.store_pfn, 1).unwrap();
            page.write_bytes(abi::XS_RING_REQ, &bytes).unwrap();
            page.store_u32(abi::XS_RING_RSP_CONS, rsp_cons, Ordering::Release).unwrap();
            page.store_u32(
                abi::XS_RING_REQ_PROD,
                (bytes.len() as u32).wrapping_add(req_prod_extra % 2 * req_prod_extra),
                Ordering::Release,
            )
            .unwrap();
            guest.hypervisor.evtchn_send(guest.store_port).unwrap();
            proptest::prop_assert!(world.run_until_idle().is_ok());
            // dom0's own client is unaffected.
            proptest::prop_assert_eq!(world.xs_read("/local/domain/2/name").unwrap(), b"g".to_vec());
        }
    }
}
