//! Test fakes (feature `test-utils`): an in-memory xenstored speaking the wire protocol, the
//! server side of the ring page, and a hypervisor that only counts event channel sends.
//!
//! The fake xenstored is small on purpose (the full simulator is `xen-sim`): nodes with values
//! and permissions, relative paths under `/local/domain/<domid>`, watches with the initial
//! event, transactions on snapshots with EAGAIN on conflict, and knobs for hostile behaviour.

use alloc::borrow::ToOwned;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::Cell;
use core::sync::atomic::Ordering;

use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor, Pfn, SharedMemory,
    VcpuId, XenError, XenVersion,
};

use crate::abi::{XS_ERROR, XS_WATCH_EVENT};
use crate::error::{TransportError, XsErrno};
use crate::perms::{Access, Permission};
use crate::transport::{layout, Transport};
use crate::wire::{Header, Message, Request, HEADER_LEN, PAYLOAD_MAX};

#[derive(Clone, Debug)]
struct Node {
    value: Vec<u8>,
    perms: Vec<Permission>,
}

type Tree = BTreeMap<String, Node>;

struct FakeTransaction {
    tree: Tree,
    base_generation: u64,
    changed: Vec<String>,
}

/// An in-memory xenstored for one client domain, usable directly as a [`Transport`].
pub struct FakeXenstored {
    tree: Tree,
    generation: u64,
    transactions: BTreeMap<u32, FakeTransaction>,
    next_tx: u32,
    watches: Vec<(String, String)>,
    inbox: Vec<u8>,
    outbox: VecDeque<u8>,
    domid: u16,
    /// The next this many commits fail with EAGAIN (on top of real conflicts).
    pub fail_commits: u32,
    /// At most this many bytes are accepted per `write` call (partial writes).
    pub write_chunk: Option<usize>,
    /// At most this many bytes are returned per `read` call.
    pub read_chunk: Option<usize>,
    /// While set, requests are buffered but not answered (timeouts).
    pub hold: bool,
    /// Requests answered so far.
    pub requests_handled: u64,
    /// Commits that failed with EAGAIN so far.
    pub eagain_commits: u64,
    /// Written (as dom0) right after the next transaction starts: a concurrent writer.
    pub concurrent_write: Option<(String, Vec<u8>)>,
    /// Writes (as the toolstack) performed once the client has polled `read` that many times:
    /// a peer that changes state while the client waits.
    scheduled: Vec<(u64, String, Vec<u8>)>,
    reads: u64,
}

fn parent_of(path: &str) -> Option<&str> {
    let idx = path.rfind('/')?;
    if idx == 0 {
        if path.len() > 1 {
            Some("/")
        } else {
            None
        }
    } else {
        path.get(..idx)
    }
}

fn is_at_or_below(path: &str, base: &str) -> bool {
    if base == "/" {
        return path.starts_with('/');
    }
    path == base || (path.starts_with(base) && path.as_bytes().get(base.len()) == Some(&b'/'))
}

impl FakeXenstored {
    /// A store holding `/`, `/local`, `/local/domain`, and `/local/domain/<domid>` (owned by
    /// the client, with its `domid` node), for a client of domain `domid`.
    pub fn new(domid: u16) -> Self {
        let mut store = FakeXenstored {
            tree: BTreeMap::new(),
            generation: 0,
            transactions: BTreeMap::new(),
            next_tx: 1,
            watches: Vec::new(),
            inbox: Vec::new(),
            outbox: VecDeque::new(),
            domid,
            fail_commits: 0,
            write_chunk: None,
            read_chunk: None,
            hold: false,
            requests_handled: 0,
            eagain_commits: 0,
            concurrent_write: None,
            scheduled: Vec::new(),
            reads: 0,
        };
        let dom0 = alloc::vec![Permission {
            domid: DomainId(0),
            access: Access::None,
        }];
        for p in ["/", "/local", "/local/domain"] {
            store.tree.insert(
                p.to_owned(),
                Node {
                    value: Vec::new(),
                    perms: dom0.clone(),
                },
            );
        }
        let home = format!("/local/domain/{domid}");
        let own = alloc::vec![Permission {
            domid: DomainId(domid),
            access: Access::None,
        }];
        store.tree.insert(
            home.clone(),
            Node {
                value: Vec::new(),
                perms: own.clone(),
            },
        );
        store.tree.insert(
            format!("{home}/domid"),
            Node {
                value: format!("{domid}").into_bytes(),
                perms: own,
            },
        );
        store
    }

    /// The client's domain id.
    pub fn domid(&self) -> u16 {
        self.domid
    }

    fn absolute(&self, path: &str) -> String {
        if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/local/domain/{}/{}", self.domid, path)
        }
    }

    /// Writes a node as the toolstack would (new nodes inherit their parent's permissions),
    /// firing watches.
    pub fn set(&mut self, path: &str, value: &[u8]) {
        let path = self.absolute(path);
        let mut tree = core::mem::take(&mut self.tree);
        Self::create(&mut tree, &path, None);
        if let Some(node) = tree.get_mut(&path) {
            node.value = value.to_owned();
        }
        self.tree = tree;
        self.generation += 1;
        self.fire(&path);
    }

    /// Sets a node's permissions directly.
    pub fn set_perms_direct(&mut self, path: &str, perms: &[Permission]) {
        let path = self.absolute(path);
        if let Some(node) = self.tree.get_mut(&path) {
            node.perms = perms.to_owned();
        }
    }

    /// Writes `path = value` (as [`FakeXenstored::set`]) once the client has called `read`
    /// `after_reads` more times.
    pub fn schedule_set(&mut self, after_reads: u64, path: &str, value: &[u8]) {
        self.scheduled
            .push((self.reads + after_reads, path.to_owned(), value.to_owned()));
    }

    /// The watches the client has registered, as `(path, token)`.
    pub fn watches(&self) -> impl Iterator<Item = (&str, &str)> {
        self.watches.iter().map(|(p, t)| (p.as_str(), t.as_str()))
    }

    /// Transactions started and not yet ended.
    pub fn open_transactions(&self) -> usize {
        self.transactions.len()
    }

    /// Reads a node directly.
    pub fn get(&self, path: &str) -> Option<Vec<u8>> {
        self.tree.get(&self.absolute(path)).map(|n| n.value.clone())
    }

    /// Removes a node and its descendants directly, firing watches.
    pub fn remove(&mut self, path: &str) {
        let path = self.absolute(path);
        let mut tree = core::mem::take(&mut self.tree);
        Self::remove_in(&mut tree, &path);
        self.tree = tree;
        self.generation += 1;
        self.fire(&path);
    }

    /// Appends raw bytes to what the client will read (hostile replies, fuzzing).
    pub fn inject(&mut self, bytes: &[u8]) {
        self.outbox.extend(bytes.iter().copied());
    }

    /// Answers buffered requests (after `hold` is cleared).
    pub fn process(&mut self) {
        if self.hold {
            return;
        }
        // Each round removes one whole message from the inbox: bounded by its length.
        loop {
            let Some(header) = self.inbox.first_chunk::<HEADER_LEN>() else {
                return;
            };
            let header = match Header::parse(header) {
                Ok(h) => h,
                Err(_) => {
                    // Like xenstored: a protocol violation ends the connection's input.
                    self.inbox.clear();
                    return;
                }
            };
            let total = HEADER_LEN + header.len as usize;
            if self.inbox.len() < total {
                return;
            }
            let message: Vec<u8> = self.inbox.drain(..total).collect();
            self.handle(&message);
        }
    }

    fn reply(&mut self, header: &Header, msg_type: u32, payload: &[u8]) {
        let mut bytes = [0u8; HEADER_LEN];
        Header {
            msg_type,
            req_id: header.req_id,
            tx_id: header.tx_id,
            len: payload.len() as u32,
        }
        .emit(&mut bytes);
        self.outbox.extend(bytes);
        self.outbox.extend(payload.iter().copied());
    }

    fn error(&mut self, header: &Header, errno: XsErrno) {
        let name = errno.name().unwrap_or("EINVAL");
        let mut payload = name.as_bytes().to_owned();
        payload.push(0);
        self.reply(header, XS_ERROR, &payload);
    }

    fn can(&self, tree: &Tree, path: &str, write: bool) -> bool {
        if self.domid == 0 {
            return true;
        }
        // Permissions of the node, or of its nearest existing ancestor.
        let mut p = Some(path);
        while let Some(q) = p {
            if let Some(node) = tree.get(q) {
                let Some((first, rest)) = node.perms.split_first() else {
                    return false;
                };
                if first.domid.0 == self.domid {
                    return true;
                }
                let access = rest
                    .iter()
                    .find(|e| e.domid.0 == self.domid)
                    .map(|e| e.access)
                    .unwrap_or(first.access);
                return match access {
                    Access::Both => true,
                    Access::Read => !write,
                    Access::Write => write,
                    Access::None => false,
                };
            }
            p = parent_of(q);
        }
        false
    }

    fn create(tree: &mut Tree, path: &str, owner: Option<u16>) {
        if tree.contains_key(path) {
            return;
        }
        if let Some(parent) = parent_of(path) {
            Self::create(tree, parent, owner);
        }
        let mut perms = parent_of(path)
            .and_then(|p| tree.get(p))
            .map(|n| n.perms.clone())
            .unwrap_or_default();
        match (perms.first_mut(), owner) {
            (Some(first), Some(owner)) => first.domid = DomainId(owner),
            (Some(_), None) => {}
            (None, owner) => perms.push(Permission {
                domid: DomainId(owner.unwrap_or(0)),
                access: Access::None,
            }),
        }
        tree.insert(
            path.to_owned(),
            Node {
                value: Vec::new(),
                perms,
            },
        );
    }

    fn remove_in(tree: &mut Tree, path: &str) {
        let doomed: Vec<String> = tree
            .keys()
            .filter(|k| is_at_or_below(k, path))
            .cloned()
            .collect();
        for k in doomed {
            tree.remove(&k);
        }
    }

    fn fire(&mut self, changed: &str) {
        let mut events = Vec::new();
        for (wpath, token) in &self.watches {
            let abs = self.absolute(wpath);
            if is_at_or_below(changed, &abs) || is_at_or_below(&abs, changed) {
                // Relative watches get relative event paths.
                let reported = if wpath.starts_with('/') {
                    changed.to_owned()
                } else {
                    let home = format!("/local/domain/{}/", self.domid);
                    changed.strip_prefix(&home).unwrap_or(changed).to_owned()
                };
                events.push((reported, token.clone()));
            }
        }
        for (path, token) in events {
            let mut payload = path.into_bytes();
            payload.push(0);
            payload.extend_from_slice(token.as_bytes());
            payload.push(0);
            let header = Header {
                msg_type: XS_WATCH_EVENT,
                req_id: 0,
                tx_id: 0,
                len: 0,
            };
            self.reply(&header, XS_WATCH_EVENT, &payload);
        }
    }

    fn handle(&mut self, bytes: &[u8]) {
        self.requests_handled += 1;
        let message = Message::new_unchecked(bytes);
        let header = message.header();
        let request = match Request::parse(&message) {
            Ok(r) => r,
            Err(_) => return self.error(&header, XsErrno::EINVAL),
        };
        let tx = header.tx_id;
        // Work on the transaction's snapshot or on the live tree.
        let mut tree = if tx == 0 {
            core::mem::take(&mut self.tree)
        } else {
            match self.transactions.get_mut(&tx) {
                Some(t) => core::mem::take(&mut t.tree),
                None => return self.error(&header, XsErrno::ENOENT),
            }
        };
        let mut changed: Option<String> = None;
        let result: Result<(u32, Vec<u8>), XsErrno> = (|| {
            let msg_type = header.msg_type;
            let ok = (msg_type, b"OK\0".to_vec());
            match &request {
                Request::Read { path } => {
                    let path = self.absolute(path);
                    let node = tree.get(&path).ok_or(XsErrno::ENOENT)?;
                    if !self.can(&tree, &path, false) {
                        return Err(XsErrno::EACCES);
                    }
                    Ok((msg_type, node.value.clone()))
                }
                Request::Write { path, value } => {
                    let path = self.absolute(path);
                    if !self.can(&tree, &path, true) {
                        return Err(XsErrno::EACCES);
                    }
                    Self::create(&mut tree, &path, Some(self.domid));
                    if let Some(node) = tree.get_mut(&path) {
                        node.value = value.to_vec();
                    }
                    changed = Some(path);
                    Ok(ok)
                }
                Request::Mkdir { path } => {
                    let path = self.absolute(path);
                    if !self.can(&tree, &path, true) {
                        return Err(XsErrno::EACCES);
                    }
                    if !tree.contains_key(&path) {
                        Self::create(&mut tree, &path, Some(self.domid));
                        changed = Some(path);
                    }
                    Ok(ok)
                }
                Request::Rm { path } => {
                    let path = self.absolute(path);
                    if !tree.contains_key(&path) {
                        let parent_exists = parent_of(&path).is_some_and(|p| tree.contains_key(p));
                        return if parent_exists {
                            Ok(ok)
                        } else {
                            Err(XsErrno::ENOENT)
                        };
                    }
                    if !self.can(&tree, &path, true) {
                        return Err(XsErrno::EACCES);
                    }
                    Self::remove_in(&mut tree, &path);
                    changed = Some(path);
                    Ok(ok)
                }
                Request::Directory { path } | Request::DirectoryPart { path, .. } => {
                    let path = self.absolute(path);
                    if !tree.contains_key(&path) {
                        return Err(XsErrno::ENOENT);
                    }
                    if !self.can(&tree, &path, false) {
                        return Err(XsErrno::EACCES);
                    }
                    let mut out = Vec::new();
                    for k in tree.keys() {
                        if k != &path && parent_of(k) == Some(path.as_str()) {
                            let name = k.rsplit('/').next().unwrap_or("");
                            out.extend_from_slice(name.as_bytes());
                            out.push(0);
                        }
                    }
                    let Request::DirectoryPart { offset, .. } = &request else {
                        if out.len() > PAYLOAD_MAX {
                            return Err(XsErrno::E2BIG);
                        }
                        return Ok((msg_type, out));
                    };
                    // `<generation>\0` then whole names from `offset` while they fit, and one
                    // more NUL (an empty name) when the list ends in this part.
                    let mut part = format!("{}", self.generation).into_bytes();
                    part.push(0);
                    let offset = *offset as usize;
                    let rest = out.get(offset..).unwrap_or(&[]);
                    let room = PAYLOAD_MAX - part.len() - 1;
                    let mut taken = 0;
                    for name in rest.split_inclusive(|&b| b == 0) {
                        if taken + name.len() > room {
                            break;
                        }
                        taken += name.len();
                    }
                    part.extend_from_slice(&rest[..taken]);
                    if taken == rest.len() {
                        part.push(0);
                    }
                    Ok((msg_type, part))
                }
                Request::GetPerms { path } => {
                    let path = self.absolute(path);
                    let node = tree.get(&path).ok_or(XsErrno::ENOENT)?;
                    if !self.can(&tree, &path, false) {
                        return Err(XsErrno::EACCES);
                    }
                    let mut out = Vec::new();
                    for p in &node.perms {
                        let mut buf = [0u8; crate::perms::PERMISSION_STRING_MAX];
                        let n = p.emit(&mut buf);
                        out.extend_from_slice(&buf[..n]);
                        out.push(0);
                    }
                    Ok((msg_type, out))
                }
                Request::SetPerms { path, perms } => {
                    let path = self.absolute(path);
                    if !tree.contains_key(&path) {
                        return Err(XsErrno::ENOENT);
                    }
                    if !self.can(&tree, &path, true) {
                        return Err(XsErrno::EACCES);
                    }
                    if let Some(node) = tree.get_mut(&path) {
                        node.perms = perms.to_vec();
                    }
                    changed = Some(path);
                    Ok(ok)
                }
                Request::GetDomainPath { domid } => {
                    let mut out = format!("/local/domain/{}", domid.0).into_bytes();
                    out.push(0);
                    Ok((msg_type, out))
                }
                _ => Err(XsErrno::EINVAL),
            }
        })();
        // Put the tree back.
        if tx == 0 {
            self.tree = tree;
        } else if let Some(t) = self.transactions.get_mut(&tx) {
            t.tree = tree;
            if let Some(c) = &changed {
                t.changed.push(c.clone());
            }
        }
        // Operations that are not about nodes.
        let result = match (&request, result) {
            (Request::Watch { path, token }, _) => {
                if self.watches.iter().any(|(_, t)| t == token) {
                    Err(XsErrno::EEXIST)
                } else {
                    self.watches.push(((*path).to_owned(), (*token).to_owned()));
                    self.reply(&header, header.msg_type, b"OK\0");
                    // The initial event, after the acknowledgement.
                    let mut payload = (*path).as_bytes().to_owned();
                    payload.push(0);
                    payload.extend_from_slice(token.as_bytes());
                    payload.push(0);
                    self.reply(&header, XS_WATCH_EVENT, &payload);
                    return;
                }
            }
            (Request::Unwatch { path, token }, _) => {
                let before = self.watches.len();
                self.watches.retain(|(p, t)| !(p == path && t == token));
                if self.watches.len() == before {
                    Err(XsErrno::ENOENT)
                } else {
                    Ok((header.msg_type, b"OK\0".to_vec()))
                }
            }
            (Request::ResetWatches, _) => {
                self.watches.clear();
                Ok((header.msg_type, b"OK\0".to_vec()))
            }
            (Request::TransactionStart, _) => {
                let id = self.next_tx;
                self.next_tx = self.next_tx.wrapping_add(1).max(1);
                self.transactions.insert(
                    id,
                    FakeTransaction {
                        tree: self.tree.clone(),
                        base_generation: self.generation,
                        changed: Vec::new(),
                    },
                );
                let mut out = format!("{id}").into_bytes();
                out.push(0);
                self.reply(&header, header.msg_type, &out);
                if let Some((path, value)) = self.concurrent_write.take() {
                    self.set(&path, &value);
                }
                return;
            }
            (Request::TransactionEnd { commit }, _) => match self.transactions.remove(&tx) {
                None => Err(XsErrno::ENOENT),
                Some(_) if !commit => Ok((header.msg_type, b"OK\0".to_vec())),
                Some(t) => {
                    if self.fail_commits > 0 || t.base_generation != self.generation {
                        self.fail_commits = self.fail_commits.saturating_sub(1);
                        self.eagain_commits += 1;
                        Err(XsErrno::EAGAIN)
                    } else {
                        self.tree = t.tree;
                        if !t.changed.is_empty() {
                            self.generation += 1;
                        }
                        self.reply(&header, header.msg_type, b"OK\0");
                        for c in t.changed {
                            self.fire(&c);
                        }
                        return;
                    }
                }
            },
            (_, r) => r,
        };
        match result {
            Ok((msg_type, payload)) => {
                self.reply(&header, msg_type, &payload);
                if tx == 0 {
                    if let Some(c) = changed {
                        self.generation += 1;
                        self.fire(&c);
                    }
                }
            }
            Err(e) => self.error(&header, e),
        }
    }
}

impl Transport for FakeXenstored {
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        let n = self.write_chunk.map_or(data.len(), |c| c.min(data.len()));
        self.inbox.extend_from_slice(&data[..n]);
        self.process();
        Ok(n)
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.reads += 1;
        let now = self.reads;
        let due: Vec<(u64, String, Vec<u8>)> = self
            .scheduled
            .iter()
            .filter(|(at, _, _)| *at <= now)
            .cloned()
            .collect();
        self.scheduled.retain(|(at, _, _)| *at > now);
        for (_, path, value) in due {
            self.set(&path, &value);
        }
        self.process();
        let n = self
            .read_chunk
            .map_or(buf.len(), |c| c.min(buf.len()))
            .min(self.outbox.len());
        for (dst, src) in buf.iter_mut().zip(self.outbox.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }
}

/// A hypervisor whose only working call is `evtchn_send`, which it counts.
#[derive(Default)]
pub struct NotifyCounter {
    sends: Cell<u64>,
}

impl NotifyCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of `evtchn_send` calls.
    pub fn sends(&self) -> u64 {
        self.sends.get()
    }
}

impl Hypervisor for &NotifyCounter {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        Err(XenError::ENOSYS)
    }
    fn hvm_get_param(&self, _index: u32) -> Result<u64, XenError> {
        Err(XenError::ENOSYS)
    }
    fn hvm_set_param(&self, _index: u32, _value: u64) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn add_to_physmap(&self, _space: u32, _idx: u64, _gpfn: Pfn) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_alloc_unbound(&self, _remote: DomainId) -> Result<EventChannelPort, XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_bind_interdomain(
        &self,
        _remote: DomainId,
        _remote_port: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_send(&self, _port: EventChannelPort) -> Result<(), XenError> {
        self.sends.set(self.sends.get() + 1);
        Ok(())
    }
    fn evtchn_close(&self, _port: EventChannelPort) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_unmask(&self, _port: EventChannelPort) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_bind_vcpu(&self, _port: EventChannelPort, _vcpu: VcpuId) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_status(&self, _port: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        Err(XenError::ENOSYS)
    }
    fn sched_shutdown(&self, _reason: u32) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn sched_yield(&self) -> Result<(), XenError> {
        Ok(())
    }
    fn sched_poll(&self, _ports: &[EventChannelPort], _timeout_ns: u64) -> Result<(), XenError> {
        Ok(())
    }
}

/// The xenstored side of a ring page: consumes `req`, produces `rsp`.
pub struct RingPeer {
    page: SharedMemory,
}

impl RingPeer {
    /// The server side of the interface page `page`.
    pub fn new(page: SharedMemory) -> Self {
        RingPeer { page }
    }

    /// Sets all four indices (tests of wrap-around near `u32::MAX`).
    pub fn set_indices(&self, req_cons: u32, req_prod: u32, rsp_cons: u32, rsp_prod: u32) {
        let _ = self
            .page
            .store_u32(layout::REQ_CONS, req_cons, Ordering::SeqCst);
        let _ = self
            .page
            .store_u32(layout::REQ_PROD, req_prod, Ordering::SeqCst);
        let _ = self
            .page
            .store_u32(layout::RSP_CONS, rsp_cons, Ordering::SeqCst);
        let _ = self
            .page
            .store_u32(layout::RSP_PROD, rsp_prod, Ordering::SeqCst);
    }

    /// Reads one index word.
    pub fn index(&self, offset: usize) -> u32 {
        self.page.load_u32(offset, Ordering::SeqCst).unwrap_or(0)
    }

    /// Consumes up to `max` request bytes.
    pub fn take_requests(&self, max: usize) -> Vec<u8> {
        let cons = self.index(layout::REQ_CONS);
        let prod = self.index(layout::REQ_PROD);
        let n = (prod.wrapping_sub(cons) as usize)
            .min(layout::RING_SIZE)
            .min(max);
        let mut out = alloc::vec![0u8; n];
        for (i, b) in out.iter_mut().enumerate() {
            let idx = (cons.wrapping_add(i as u32) as usize) & (layout::RING_SIZE - 1);
            *b = self.page.read_u8(layout::REQ + idx).unwrap_or(0);
        }
        let _ = self.page.store_u32(
            layout::REQ_CONS,
            cons.wrapping_add(n as u32),
            Ordering::SeqCst,
        );
        out
    }

    /// Produces as many response bytes as fit; returns how many.
    pub fn put_responses(&self, data: &[u8]) -> usize {
        let cons = self.index(layout::RSP_CONS);
        let prod = self.index(layout::RSP_PROD);
        let used = (prod.wrapping_sub(cons) as usize).min(layout::RING_SIZE);
        let n = data.len().min(layout::RING_SIZE - used);
        for (i, b) in data[..n].iter().enumerate() {
            let idx = (prod.wrapping_add(i as u32) as usize) & (layout::RING_SIZE - 1);
            let _ = self.page.write_u8(layout::RSP + idx, *b);
        }
        let _ = self.page.store_u32(
            layout::RSP_PROD,
            prod.wrapping_add(n as u32),
            Ordering::SeqCst,
        );
        n
    }

    /// Sets `server_features` and `error`.
    pub fn set_error(&self, features: u32, error: u32) {
        let _ = self
            .page
            .store_u32(layout::SERVER_FEATURES, features, Ordering::SeqCst);
        let _ = self.page.store_u32(layout::ERROR, error, Ordering::SeqCst);
    }
}

/// A [`xen_hal::Clock`] borrowed from a test (so the test and the client share one clock).
pub struct ClockRef<'a, C: xen_hal::Clock>(pub &'a C);

impl<C: xen_hal::Clock> xen_hal::Clock for ClockRef<'_, C> {
    fn now(&self) -> xen_hal::Instant {
        self.0.now()
    }
    fn stall_us(&self, us: u32) {
        self.0.stall_us(us)
    }
}
