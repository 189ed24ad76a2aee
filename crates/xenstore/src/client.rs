//! The xenstore client: a non-blocking multiplexing core and blocking operations on top of it.
//!
//! [`ClientCore`] holds no transport: [`ClientCore::submit`] encodes a request and queues its
//! bytes, [`ClientCore::feed`] parses incoming bytes into replies (matched by `req_id`) and watch
//! events, [`ClientCore::take_reply`] and [`ClientCore::take_watch_event`] hand them out.
//! [`Client`] owns a [`Transport`], a [`Clock`] and a caller-provided [`Wait`] hook and offers
//! the usual blocking operations, each bounded by a deadline.
//!
//! Nothing a peer sends can panic or hang the client: oversized messages and replies to unknown
//! request ids put the connection into a terminal error state ([`ConnectionError`]); replies of
//! the wrong type or with malformed payloads fail only their own request; watch events for
//! unknown tokens are counted and dropped; every loop over incoming data is bounded.
//!
//! Watches: a watch request or unwatch whose caller gave up (timeout) ends the watch
//! ([`ClientCore::forget_watch`]) so no orphan keeps queueing events. Each watch has a bounded
//! share of the event queue; a watch over it has its events replaced by one event at its own
//! path and is flagged ([`ClientCore::take_events_lost`]), so a flooding or unread watch never
//! costs the other watches their events.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use xen_hal::{Clock, DomainId, Instant};

use crate::abi::{XS_ERROR, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH, XS_WATCH_EVENT};
use crate::error::{ConnectionError, Error, WireError, XsErrno};
use crate::perms::Permissions;
use crate::transport::{ConnectInfo, Transport};
use crate::wire::{Header, Message, Reply, Request, WatchEvent, HEADER_LEN, PAYLOAD_MAX};

/// A request id (echoed by xenstored in the reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReqId(pub u32);

/// A transaction id; [`TxId::NONE`] is "outside any transaction".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub u32);

impl TxId {
    /// Outside any transaction.
    pub const NONE: TxId = TxId(0);
}

/// Default number of requests that may be in flight at once.
pub const DEFAULT_MAX_PENDING: usize = 64;
/// Default number of watch events queued before new ones are dropped (and counted).
pub const DEFAULT_MAX_EVENTS: usize = 256;
/// Default number of queued watch events of one watch: beyond it that watch's events are
/// replaced by one event at its path and flagged lost ([`ClientCore::take_events_lost`]).
pub const DEFAULT_MAX_EVENTS_PER_WATCH: usize = 64;
/// Largest number of bytes one [`ClientCore::read_from`] call takes from a transport, so that
/// a flooding peer cannot keep the client in one call forever.
pub const MAX_READ_PER_POLL: usize = 64 * 1024;

enum PendingState {
    Waiting,
    Done(Result<Reply, Error>),
    /// The caller gave up: a late reply is counted and dropped.
    Abandoned,
    /// Sent by the client itself with nobody waiting (an unwatch undoing an orphaned watch):
    /// the reply is dropped silently.
    Discard,
}

struct Pending {
    msg_type: u32,
    /// For `XS_WATCH`/`XS_UNWATCH`: the token, to keep the registered set in step.
    token: Option<String>,
    state: PendingState,
}

/// A watch this client registered (or is registering).
struct WatchEntry {
    /// The watched path, as given to `XS_WATCH`.
    path: String,
    /// Its `XS_WATCH` timed out and could not be undone at once: nothing of it is queued, and
    /// a late success is undone.
    orphaned: bool,
    /// Events of this watch were dropped since [`ClientCore::take_events_lost`] last asked.
    events_lost: bool,
}

/// Counters of peer misbehaviour that did not break the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Watch events whose token is not registered (e.g. late events after an unwatch).
    pub unknown_token_events: u64,
    /// Watch events whose payload could not be decoded.
    pub malformed_events: u64,
    /// Watch events dropped because the queue, or the watch's share of it, was full.
    pub dropped_events: u64,
    /// Late replies to requests that had timed out.
    pub late_replies: u64,
    /// Replies to an earlier client's requests on the same channel, dropped.
    pub stale_replies: u64,
}

/// The non-blocking client state machine.
pub struct ClientCore {
    next_req_id: u32,
    pending: BTreeMap<u32, Pending>,
    outgoing: VecDeque<u8>,
    incoming: Vec<u8>,
    events: VecDeque<WatchEvent>,
    /// Registered watches by token.
    tokens: BTreeMap<String, WatchEntry>,
    broken: Option<ConnectionError>,
    max_pending: usize,
    max_events: usize,
    max_events_per_watch: usize,
    stats: Stats,
    /// Whole messages received (replies and events), wrapping: tells one message from the next.
    messages_received: u64,
    /// On a channel an earlier client used, until the first reply to one of our requests:
    /// replies to ids we have no request for are that client's, not a confused peer's.
    inherited_replies: bool,
}

impl ClientCore {
    /// A client with no requests in flight; allocates its receive buffer up front.
    pub fn new() -> Result<Self, Error> {
        let mut incoming = Vec::new();
        incoming.try_reserve_exact(HEADER_LEN + PAYLOAD_MAX)?;
        Ok(ClientCore {
            next_req_id: 1,
            pending: BTreeMap::new(),
            outgoing: VecDeque::new(),
            incoming,
            events: VecDeque::new(),
            tokens: BTreeMap::new(),
            broken: None,
            max_pending: DEFAULT_MAX_PENDING,
            max_events: DEFAULT_MAX_EVENTS,
            max_events_per_watch: DEFAULT_MAX_EVENTS_PER_WATCH,
            stats: Stats::default(),
            messages_received: 0,
            inherited_replies: false,
        })
    }

    /// Starts a connection on a transport that [`Transport::connect`] described: request ids
    /// continue from the transport's base, and on a channel an earlier client used,
    /// `XS_RESET_WATCHES` is queued as the first request (ending that client's watches and
    /// transactions; its reply is not waited for) and replies to requests of that client are
    /// dropped ([`Stats::stale_replies`]) until the first reply to one of ours (xenstored
    /// answers a connection's requests in order, so none of that client's come after).
    pub fn start_connection(&mut self, info: ConnectInfo) -> Result<(), Error> {
        if let Some(base) = info.request_id_base {
            self.next_req_id = base;
        }
        if info.inherited {
            self.inherited_replies = true;
            self.enqueue(
                &Request::ResetWatches,
                TxId::NONE,
                None,
                PendingState::Discard,
            )?;
        }
        Ok(())
    }

    /// Sets the limits on requests in flight and queued watch events.
    pub fn set_limits(&mut self, max_pending: usize, max_events: usize) {
        self.max_pending = max_pending.max(1);
        self.max_events = max_events;
    }

    /// Sets how many events of one watch may be queued (at least 1) before that watch's
    /// events are replaced by one at its path and flagged lost.
    pub fn set_events_per_watch(&mut self, max: usize) {
        self.max_events_per_watch = max.max(1);
    }

    /// The terminal error, once the connection has entered it.
    pub fn error(&self) -> Option<ConnectionError> {
        self.broken
    }

    /// Counters of tolerated peer misbehaviour.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests submitted whose replies have not been taken (including abandoned ones).
    pub fn pending_count(&self) -> usize {
        self.pending.len()
    }

    /// Bytes queued for the transport.
    pub fn outgoing_len(&self) -> usize {
        self.outgoing.len()
    }

    /// Whether a watch with `token` is registered (or being registered).
    pub fn has_watch_token(&self, token: &str) -> bool {
        self.tokens.contains_key(token)
    }

    fn check_usable(&self) -> Result<(), Error> {
        match self.broken {
            Some(e) => Err(Error::Connection(e)),
            None => Ok(()),
        }
    }

    /// Puts the connection into its terminal state (first cause wins) and fails every waiter.
    pub fn break_connection(&mut self, cause: ConnectionError) {
        if self.broken.is_none() {
            self.broken = Some(cause);
        }
        let cause = self.broken.unwrap_or(cause);
        for p in self.pending.values_mut() {
            if matches!(p.state, PendingState::Waiting) {
                p.state = PendingState::Done(Err(Error::Connection(cause)));
            }
        }
        self.outgoing.clear();
    }

    fn allocate_req_id(&mut self) -> u32 {
        // At most max_pending ids are taken, so this finds a free one quickly.
        loop {
            let id = self.next_req_id;
            self.next_req_id = self.next_req_id.wrapping_add(1);
            if !self.pending.contains_key(&id) {
                return id;
            }
        }
    }

    /// Encodes `request` (in transaction `tx`) and queues it for sending.
    pub fn submit(&mut self, request: &Request<'_>, tx: TxId) -> Result<ReqId, Error> {
        self.check_usable()?;
        if self.pending.len() >= self.max_pending {
            return Err(Error::TooManyRequests);
        }
        let (token, watch) = match request {
            Request::Watch { token, path } => {
                if self.tokens.contains_key(*token) {
                    return Err(Error::WatchToken);
                }
                let entry = WatchEntry {
                    path: crate::wire::try_string(path)?,
                    orphaned: false,
                    events_lost: false,
                };
                (
                    Some(crate::wire::try_string(token)?),
                    Some((crate::wire::try_string(token)?, entry)),
                )
            }
            Request::Unwatch { token, .. } => {
                if self.tokens.get(*token).is_none_or(|e| e.orphaned) {
                    return Err(Error::WatchToken);
                }
                (Some(crate::wire::try_string(token)?), None)
            }
            _ => (None, None),
        };
        let id = self.enqueue(request, tx, token, PendingState::Waiting)?;
        if let Some((token, entry)) = watch {
            self.tokens.insert(token, entry);
        }
        Ok(ReqId(id))
    }

    /// Encodes `request` and queues it, with a pending entry in `state`.
    fn enqueue(
        &mut self,
        request: &Request<'_>,
        tx: TxId,
        token: Option<String>,
        state: PendingState,
    ) -> Result<u32, Error> {
        self.check_usable()?;
        if self.pending.len() >= self.max_pending {
            return Err(Error::TooManyRequests);
        }
        let len = request.payload_len().map_err(Error::Request)?;
        self.outgoing.try_reserve(HEADER_LEN + len)?;
        let id = self.allocate_req_id();
        let bytes = request.to_vec(id, tx.0)?;
        self.pending.insert(
            id,
            Pending {
                msg_type: request.msg_type(),
                token,
                state,
            },
        );
        self.outgoing.extend(bytes);
        Ok(id)
    }

    /// Ends the watch with `token` without waiting: `XS_UNWATCH` is queued with nobody waiting
    /// for its reply, and from now on the watch's events are dropped and its queued ones
    /// removed. For callers that give up on a watch on an error path (a watch that failed or
    /// timed out, an unwatch that timed out). An unknown token is fine (nothing to do).
    ///
    /// If the unwatch cannot be queued (too many requests in flight, no memory, connection
    /// broken) the error is returned and the watch stays orphaned: its events are dropped and
    /// its token refused, and a late success of its `XS_WATCH` is undone then.
    pub fn forget_watch(&mut self, token: &str) -> Result<(), Error> {
        let Some(entry) = self.tokens.get(token) else {
            return Ok(());
        };
        let queued = crate::wire::try_string(&entry.path).and_then(|path| {
            let request = Request::Unwatch { path: &path, token };
            self.enqueue(&request, TxId::NONE, None, PendingState::Discard)
        });
        self.events.retain(|e| e.token != token);
        match queued {
            Ok(_) => {
                self.tokens.remove(token);
                // Replies still due for this token's requests no longer touch the registry.
                for p in self.pending.values_mut() {
                    if p.token.as_deref() == Some(token) {
                        p.token = None;
                    }
                }
                Ok(())
            }
            Err(e) => {
                if let Some(entry) = self.tokens.get_mut(token) {
                    entry.orphaned = true;
                }
                Err(e)
            }
        }
    }

    /// Sends queued bytes as far as the transport takes them.
    pub fn write_to<T: Transport + ?Sized>(&mut self, transport: &mut T) -> Result<(), Error> {
        self.check_usable()?;
        // Each round either empties a slice or stops on a short write: bounded by the queue.
        while !self.outgoing.is_empty() {
            let (front, _) = self.outgoing.as_slices();
            match transport.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.outgoing.drain(..n.min(front.len()));
                }
                Err(e) => {
                    self.break_connection(e.into());
                    return Err(Error::Connection(e.into()));
                }
            }
        }
        Ok(())
    }

    /// Reads what the transport has (at most [`MAX_READ_PER_POLL`] bytes) and parses it.
    /// Returns the number of bytes read.
    pub fn read_from<T: Transport + ?Sized>(&mut self, transport: &mut T) -> Result<usize, Error> {
        self.check_usable()?;
        let mut chunk = [0u8; 1024];
        let mut total = 0;
        while total < MAX_READ_PER_POLL {
            let n = match transport.read(&mut chunk) {
                Ok(n) => n.min(chunk.len()),
                Err(e) => {
                    self.break_connection(e.into());
                    return Err(Error::Connection(e.into()));
                }
            };
            if n == 0 {
                break;
            }
            total += n;
            self.feed(chunk.get(..n).unwrap_or(&[]))?;
        }
        Ok(total)
    }

    /// Parses incoming bytes (any split of the stream is fine).
    pub fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Error> {
        self.check_usable()?;
        // Every round consumes at least one byte or completes a message: bounded by the input.
        while !bytes.is_empty() || self.message_complete() {
            if self.message_complete() {
                self.dispatch()?;
                continue;
            }
            let want = self.bytes_wanted();
            let take = want.min(bytes.len());
            let (head, tail) = bytes.split_at(take);
            // The buffer was reserved for a whole message up front; this never reallocates.
            self.incoming.extend_from_slice(head);
            bytes = tail;
            if self.incoming.len() == HEADER_LEN {
                if let Err(e) = self.header() {
                    self.break_connection(e);
                    return Err(Error::Connection(e));
                }
            }
        }
        Ok(())
    }

    fn header(&self) -> Result<Header, ConnectionError> {
        let Some(bytes) = self.incoming.first_chunk::<HEADER_LEN>() else {
            return Err(ConnectionError::OversizedMessage { len: 0 });
        };
        Header::parse(bytes).map_err(|_| {
            let msg = Message::new_unchecked(bytes);
            ConnectionError::OversizedMessage {
                len: msg.payload_len(),
            }
        })
    }

    /// The message being received, when part of it has arrived: (bytes held, bytes its header
    /// announces, header included; the header size while the header itself is incomplete).
    pub fn partial_message(&self) -> Option<(usize, usize)> {
        if self.incoming.is_empty() {
            return None;
        }
        Some((
            self.incoming.len(),
            self.incoming.len() + self.bytes_wanted(),
        ))
    }

    fn bytes_wanted(&self) -> usize {
        if self.incoming.len() < HEADER_LEN {
            return HEADER_LEN - self.incoming.len();
        }
        let total = HEADER_LEN + Message::new_unchecked(&self.incoming).payload_len() as usize;
        total.saturating_sub(self.incoming.len())
    }

    fn message_complete(&self) -> bool {
        self.incoming.len() >= HEADER_LEN && self.bytes_wanted() == 0
    }

    /// Whole messages received so far (wrapping): a change means the message now being received
    /// is a different one.
    pub fn messages_received(&self) -> u64 {
        self.messages_received
    }

    fn dispatch(&mut self) -> Result<(), Error> {
        self.messages_received = self.messages_received.wrapping_add(1);
        let message = Message::new_unchecked(self.incoming.as_slice());
        let header = message.header();
        if header.msg_type == XS_WATCH_EVENT {
            let event = Reply::from_message(&message).and_then(|r| r.watch_event());
            self.incoming.clear();
            match event {
                Ok(event) => self.queue_event(event),
                Err(_) => self.stats.malformed_events += 1,
            }
            return Ok(());
        }
        let reply = Reply::from_message(&message);
        self.incoming.clear();
        let Some(pending) = self.pending.get_mut(&header.req_id) else {
            if self.inherited_replies {
                self.stats.stale_replies += 1;
                return Ok(());
            }
            let e = ConnectionError::UnknownReqId {
                req_id: header.req_id,
                msg_type: header.msg_type,
            };
            self.break_connection(e);
            return Err(Error::Connection(e));
        };
        self.inherited_replies = false;
        match pending.state {
            PendingState::Waiting => {}
            PendingState::Discard => {
                self.pending.remove(&header.req_id);
                return Ok(());
            }
            PendingState::Abandoned => {
                self.stats.late_replies += 1;
                let token = pending.token.take();
                let msg_type = pending.msg_type;
                self.pending.remove(&header.req_id);
                // Only an orphaned watch (its undo could not be queued when it timed out)
                // still has its token here: undo a late success now, forget a failure.
                if let Some(token) = token {
                    if msg_type == XS_WATCH && header.msg_type == XS_WATCH {
                        // Best effort: on failure the watch stays orphaned (events dropped).
                        let _ = self.forget_watch(&token);
                    } else {
                        self.tokens.remove(&token);
                    }
                }
                // A transaction started too late for its caller would stay open on the server
                // (and count against its quota): abort it, ignoring the outcome.
                if msg_type == XS_TRANSACTION_START && header.msg_type == XS_TRANSACTION_START {
                    if let Ok(tx) = reply.and_then(|r| r.transaction_id()) {
                        if let Ok(id) =
                            self.submit(&Request::TransactionEnd { commit: false }, TxId(tx))
                        {
                            self.abandon(id);
                        }
                    }
                }
                return Ok(());
            }
            PendingState::Done(_) => {
                // A second reply to the same request: the peer is confused.
                let e = ConnectionError::UnknownReqId {
                    req_id: header.req_id,
                    msg_type: header.msg_type,
                };
                self.break_connection(e);
                return Err(Error::Connection(e));
            }
        }
        let result = reply.and_then(|reply| {
            if reply.msg_type() == XS_ERROR {
                Err(Error::Xs(XsErrno::from_name(&reply.payload)))
            } else if reply.msg_type() != pending.msg_type {
                Err(Error::WrongReplyType {
                    expected: pending.msg_type,
                    got: reply.msg_type(),
                })
            } else {
                Ok(reply)
            }
        });
        let msg_type = pending.msg_type;
        let ok = result.is_ok();
        let token = pending.token.take();
        pending.state = PendingState::Done(result);
        if let Some(token) = token {
            self.update_tokens(msg_type, token, ok);
        }
        Ok(())
    }

    /// Queues a watch event of a registered watch. A watch over its share of the queue has its
    /// queued events replaced by one event at its own path — as xenstored's first event after
    /// registration, "look at everything below" — and is flagged
    /// ([`ClientCore::take_events_lost`]). A full queue is made room in the same way, at the
    /// expense of the watch with the most events queued, so a watch's events are never dropped
    /// for another's; only when no watch has two events queued (more watches than half the
    /// queue) is the new event dropped, and its watch flagged.
    fn queue_event(&mut self, event: WatchEvent) {
        match self.tokens.get(&event.token) {
            Some(entry) if !entry.orphaned => {}
            _ => {
                self.stats.unknown_token_events += 1;
                return;
            }
        }
        // Bounded by the queue's limit.
        let queued = self
            .events
            .iter()
            .filter(|e| e.token == event.token)
            .count();
        if queued >= self.max_events_per_watch {
            self.collapse_events(&event.token, 1);
            return;
        }
        if self.events.len() >= self.max_events {
            // Quadratic in the queue's length, but only when it is full; after that the
            // collapsed watch has one event queued and the queue room again.
            let largest = self
                .events
                .iter()
                .map(|e| {
                    let n = self.events.iter().filter(|o| o.token == e.token).count();
                    (n, e.token.as_str())
                })
                .max_by_key(|(n, _)| *n);
            let victim = match largest {
                Some((n, t)) if n >= 2 || t == event.token => crate::wire::try_string(t).ok(),
                _ => None,
            };
            match victim {
                Some(victim) if victim == event.token => {
                    self.collapse_events(&victim, 1);
                    return;
                }
                Some(victim) => self.collapse_events(&victim, 0),
                None => {}
            }
        }
        if self.events.len() < self.max_events && self.events.try_reserve(1).is_ok() {
            self.events.push_back(event);
            return;
        }
        self.stats.dropped_events = self.stats.dropped_events.saturating_add(1);
        if let Some(entry) = self.tokens.get_mut(&event.token) {
            entry.events_lost = true;
        }
    }

    /// Replaces the queued events of `token` by one event at its watched path, flags the
    /// watch, and counts the replaced events plus `also_dropped`.
    fn collapse_events(&mut self, token: &str, also_dropped: usize) {
        let Some(entry) = self.tokens.get_mut(token) else {
            return;
        };
        entry.events_lost = true;
        let before = self.events.len();
        self.events.retain(|e| e.token != token);
        let removed = before - self.events.len();
        self.stats.dropped_events = self
            .stats
            .dropped_events
            .saturating_add((removed + also_dropped) as u64);
        if self.events.len() < self.max_events && self.events.try_reserve(1).is_ok() {
            if let (Ok(path), Ok(token)) = (
                crate::wire::try_string(&entry.path),
                crate::wire::try_string(token),
            ) {
                self.events.push_back(WatchEvent { path, token });
            }
        }
    }

    /// Whether events of the watch with `token` were dropped (its share of the queue or the
    /// queue was full) since the last call; clears the flag. A watcher that sees `true` must
    /// look at everything below its path again (the bus rescans its devices).
    pub fn take_events_lost(&mut self, token: &str) -> bool {
        match self.tokens.get_mut(token) {
            Some(entry) => core::mem::take(&mut entry.events_lost),
            None => false,
        }
    }

    fn update_tokens(&mut self, msg_type: u32, token: String, ok: bool) {
        // A failed watch was never registered; a successful unwatch ends the registration.
        let registered = (msg_type == XS_WATCH && ok) || (msg_type == XS_UNWATCH && !ok);
        if !registered {
            self.tokens.remove(&token);
        }
    }

    /// Takes the reply of `id` if it has arrived: `None` while it is still outstanding.
    /// An unknown id gives `Some(Err(Error::UnknownRequest))`.
    pub fn take_reply(&mut self, id: ReqId) -> Option<Result<Reply, Error>> {
        match self.pending.get(&id.0).map(|p| &p.state) {
            None => Some(Err(Error::UnknownRequest)),
            Some(PendingState::Waiting)
            | Some(PendingState::Abandoned)
            | Some(PendingState::Discard) => None,
            Some(PendingState::Done(_)) => match self.pending.remove(&id.0) {
                Some(Pending {
                    state: PendingState::Done(result),
                    ..
                }) => Some(result),
                _ => Some(Err(Error::UnknownRequest)),
            },
        }
    }

    /// Gives up on `id`: a late reply is dropped (and counted) instead of breaking the connection.
    ///
    /// Giving up on an `XS_WATCH` gives up on the watch: it is ended at once
    /// ([`ClientCore::forget_watch`]), so a late success leaves nothing registered. Giving up
    /// on an `XS_UNWATCH` drops the watch's events from now on.
    pub fn abandon(&mut self, id: ReqId) {
        let Some(p) = self.pending.get_mut(&id.0) else {
            return;
        };
        match p.state {
            PendingState::Done(_) => {
                self.pending.remove(&id.0);
                return;
            }
            PendingState::Discard => return,
            _ => p.state = PendingState::Abandoned,
        }
        let Some(token) = p.token.take() else {
            return;
        };
        match p.msg_type {
            XS_WATCH => {
                if self.forget_watch(&token).is_err() {
                    // Orphaned: the late reply undoes it.
                    if let Some(p) = self.pending.get_mut(&id.0) {
                        p.token = Some(token);
                    }
                }
            }
            _ => {
                // The unwatch is on its way already.
                self.tokens.remove(&token);
                self.events.retain(|e| e.token != token);
            }
        }
    }

    /// Takes the oldest queued watch event.
    pub fn take_watch_event(&mut self) -> Option<WatchEvent> {
        self.events.pop_front()
    }

    /// Takes the oldest queued watch event carrying `token`, leaving other events queued.
    pub fn take_watch_event_for(&mut self, token: &str) -> Option<WatchEvent> {
        let index = self.events.iter().position(|e| e.token == token)?;
        self.events.remove(index)
    }

    /// Forgets every watch token locally (after `XS_RESET_WATCHES` or a reconnect).
    pub fn clear_watch_tokens(&mut self) {
        self.tokens.clear();
        self.events.clear();
    }

    /// The registered watches as `(token, path)` (orphaned ones left out).
    pub fn watches(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tokens
            .iter()
            .filter(|(_, e)| !e.orphaned)
            .map(|(t, e)| (t.as_str(), e.path.as_str()))
    }

    /// Starts over on a new connection (after resume from suspend, or a transport failure):
    /// requests in flight fail with [`ConnectionError::Reset`], partial input and output are
    /// dropped, the terminal state is cleared. Registered watches are kept so they can be
    /// registered again ([`Client::reconnect`]).
    pub fn reset(&mut self) {
        self.pending
            .retain(|_, p| !matches!(p.state, PendingState::Abandoned | PendingState::Discard));
        self.tokens.retain(|_, e| !e.orphaned);
        for p in self.pending.values_mut() {
            if matches!(p.state, PendingState::Waiting) {
                p.state = PendingState::Done(Err(Error::Connection(ConnectionError::Reset)));
            }
        }
        self.outgoing.clear();
        self.incoming.clear();
        self.broken = None;
        self.inherited_replies = false;
    }
}

/// How the blocking client waits for the transport: called with the deadline when nothing is
/// ready yet. It may return early (spuriously); it should sleep until an event arrives or a
/// short time passes (e.g. `SCHEDOP_poll` on the xenstore event channel, or a short stall).
pub trait Wait {
    /// Waits for progress, at most until `deadline`.
    fn wait(&mut self, deadline: Instant);
}

impl<F: FnMut(Instant)> Wait for F {
    fn wait(&mut self, deadline: Instant) {
        self(deadline)
    }
}

/// Largest children list (in bytes) read with `XS_DIRECTORY_PART`.
pub const MAX_DIRECTORY_BYTES: usize = 256 * 1024;
/// Most `XS_DIRECTORY_PART` requests of one listing (a real server fills each part to about
/// `XENSTORE_PAYLOAD_MAX`; a peer that dribbles names one by one is cut off).
pub const MAX_DIRECTORY_PARTS: usize = 128;
/// Times a `XS_DIRECTORY_PART` listing restarts because the node changed meanwhile.
pub const MAX_DIRECTORY_RESTARTS: usize = 4;

/// Default deadline of one blocking operation.
pub const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default number of attempts of [`Client::transaction`].
pub const DEFAULT_TRANSACTION_ATTEMPTS: u32 = 8;

/// A blocking xenstore client over a transport.
///
/// Every operation waits at most its deadline ([`Client::set_timeout_ms`]) and then fails with
/// [`Error::Timeout`]; the clock must advance for waits to end.
pub struct Client<T: Transport, C: Clock, W: Wait> {
    core: ClientCore,
    transport: T,
    clock: C,
    wait: W,
    timeout_ns: u64,
    transaction_attempts: u32,
    last_transaction_retries: u32,
    /// When the message now part-received was first seen part-received, and which message it
    /// was ([`ClientCore::messages_received`] then).
    partial_since: Option<(Instant, u64)>,
}

impl<T: Transport, C: Clock, W: Wait> Client<T, C, W> {
    /// A client over `transport`, timing with `clock` and waiting through `wait`.
    ///
    /// The transport's [`Transport::connect`] runs first: on a ring an earlier client left,
    /// its unread replies are discarded and its watches reset (see
    /// [`ClientCore::start_connection`]).
    pub fn new(mut transport: T, clock: C, wait: W) -> Result<Self, Error> {
        let info = transport
            .connect()
            .map_err(|e| Error::Connection(e.into()))?;
        let mut core = ClientCore::new()?;
        core.start_connection(info)?;
        Ok(Client {
            core,
            transport,
            clock,
            wait,
            timeout_ns: DEFAULT_TIMEOUT_MS * 1_000_000,
            transaction_attempts: DEFAULT_TRANSACTION_ATTEMPTS,
            last_transaction_retries: 0,
            partial_since: None,
        })
    }

    /// Sets the deadline of each blocking operation.
    pub fn set_timeout_ms(&mut self, ms: u64) {
        self.timeout_ns = ms.saturating_mul(1_000_000);
    }

    /// Sets how many times [`Client::transaction`] tries before giving up (at least 1).
    pub fn set_transaction_attempts(&mut self, attempts: u32) {
        self.transaction_attempts = attempts.max(1);
    }

    /// How many EAGAIN retries the last [`Client::transaction`] needed.
    pub fn last_transaction_retries(&self) -> u32 {
        self.last_transaction_retries
    }

    /// The non-blocking core (for submitting several requests at once).
    pub fn core(&mut self) -> &mut ClientCore {
        &mut self.core
    }

    /// The transport.
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// A deadline `ms` milliseconds from now.
    pub fn deadline_after_ms(&self, ms: u64) -> Instant {
        self.clock.now().after_ms(ms)
    }

    /// Sends queued bytes and parses what has arrived, without waiting.
    ///
    /// A message that stays part-received for longer than the operation deadline breaks the
    /// connection ([`ConnectionError::StalledMessage`]): a peer that announced more bytes than
    /// it sends would otherwise have its next message read as the missing rest. Each message is
    /// timed from when it was first seen part-received, so a steady stream of messages each
    /// split across pumps is fine.
    pub fn pump(&mut self) -> Result<(), Error> {
        self.core.write_to(&mut self.transport)?;
        self.core.read_from(&mut self.transport)?;
        self.check_stall()?;
        // Reading may have freed space that a partial write was waiting for.
        self.core.write_to(&mut self.transport)
    }

    fn check_stall(&mut self) -> Result<(), Error> {
        let Some((have, want)) = self.core.partial_message() else {
            self.partial_since = None;
            return Ok(());
        };
        let now = self.clock.now();
        let message = self.core.messages_received();
        // Each message gets its own deadline: under a steady stream every pump may end inside
        // some message, but never inside the same one for long.
        let since = match self.partial_since {
            Some((since, seen)) if seen == message => since,
            _ => {
                self.partial_since = Some((now, message));
                now
            }
        };
        if now < since.after_ns(self.timeout_ns) {
            return Ok(());
        }
        let cause = ConnectionError::StalledMessage {
            have: u32::try_from(have).unwrap_or(u32::MAX),
            want: u32::try_from(want).unwrap_or(u32::MAX),
        };
        self.core.break_connection(cause);
        self.partial_since = None;
        Err(Error::Connection(cause))
    }

    /// Waits for the reply of a submitted request until `deadline`.
    pub fn wait_reply(&mut self, id: ReqId, deadline: Instant) -> Result<Reply, Error> {
        loop {
            let pumped = self.pump();
            if let Some(result) = self.core.take_reply(id) {
                return result;
            }
            pumped?;
            if self.clock.now() >= deadline {
                self.core.abandon(id);
                return Err(Error::Timeout);
            }
            self.wait.wait(deadline);
        }
    }

    /// Sends a request and waits for its reply (`XS_ERROR` replies become `Err`).
    pub fn request(&mut self, request: &Request<'_>, tx: TxId) -> Result<Reply, Error> {
        let deadline = self.clock.now().after_ns(self.timeout_ns);
        let id = self.core.submit(request, tx)?;
        self.wait_reply(id, deadline)
    }

    fn read_in(&mut self, tx: TxId, path: &str) -> Result<Vec<u8>, Error> {
        Ok(self.request(&Request::Read { path }, tx)?.payload)
    }

    fn ack(&mut self, request: &Request<'_>, tx: TxId) -> Result<(), Error> {
        self.request(request, tx)?.expect_ok()
    }

    fn directory_in(&mut self, tx: TxId, path: &str) -> Result<Vec<String>, Error> {
        match self.request(&Request::Directory { path }, tx) {
            Ok(reply) => reply.strings(PAYLOAD_MAX),
            // Too many children for one reply: read the list in parts.
            Err(Error::Xs(XsErrno::E2BIG)) => self.directory_parts(tx, path),
            Err(e) => Err(e),
        }
    }

    /// Reads a long children list with `XS_DIRECTORY_PART`: each reply is the node's
    /// generation, then whole names from the requested byte offset, then an empty name if the
    /// list ends there. A generation change restarts the listing; both the restarts and the
    /// total size are bounded.
    fn directory_parts(&mut self, tx: TxId, path: &str) -> Result<Vec<String>, Error> {
        'restart: for _ in 0..MAX_DIRECTORY_RESTARTS {
            let mut names: Vec<String> = Vec::new();
            let mut generation: Option<Vec<u8>> = None;
            let mut offset: usize = 0;
            for _ in 0..MAX_DIRECTORY_PARTS {
                if offset > MAX_DIRECTORY_BYTES {
                    break;
                }
                let offset_u32 =
                    u32::try_from(offset).map_err(|_| Error::BadReply(WireError::Malformed))?;
                let reply = self.request(
                    &Request::DirectoryPart {
                        path,
                        offset: offset_u32,
                    },
                    tx,
                )?;
                let (gen, list) =
                    crate::wire::split_first_string(&reply.payload).map_err(Error::BadReply)?;
                match &generation {
                    None => {
                        let mut first = Vec::new();
                        first.try_reserve_exact(gen.len())?;
                        first.extend_from_slice(gen);
                        generation = Some(first);
                    }
                    Some(g) if g.as_slice() != gen => continue 'restart,
                    Some(_) => {}
                }
                let mut consumed = 0;
                let mut ended = false;
                for name in crate::wire::Strings::new(list) {
                    let name = name.map_err(Error::BadReply)?;
                    if name.is_empty() {
                        ended = true;
                        break;
                    }
                    consumed += name.len() + 1;
                    let name = core::str::from_utf8(name)
                        .map_err(|_| Error::BadReply(WireError::Malformed))?;
                    names.try_reserve(1)?;
                    names.push(crate::wire::try_string(name)?);
                }
                if ended {
                    return Ok(names);
                }
                if consumed == 0 {
                    // No progress and no end marker: the server is broken.
                    return Err(Error::BadReply(WireError::Malformed));
                }
                offset += consumed;
            }
            return Err(Error::BadReply(WireError::PayloadTooLarge {
                len: u32::try_from(offset).unwrap_or(u32::MAX),
            }));
        }
        Err(Error::Xs(XsErrno::EAGAIN))
    }

    fn get_perms_in(&mut self, tx: TxId, path: &str) -> Result<Permissions, Error> {
        self.request(&Request::GetPerms { path }, tx)?
            .permissions(PAYLOAD_MAX)
    }

    fn set_perms_in(&mut self, tx: TxId, path: &str, perms: &Permissions) -> Result<(), Error> {
        let mut entries = Vec::new();
        entries.try_reserve_exact(perms.acl.len() + 1)?;
        entries.extend(perms.entries());
        self.ack(
            &Request::SetPerms {
                path,
                perms: alloc::borrow::Cow::Borrowed(&entries),
            },
            tx,
        )
    }

    /// Reads a node's value.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.read_in(TxId::NONE, path)
    }

    /// Reads a node's value as UTF-8 text.
    pub fn read_string(&mut self, path: &str) -> Result<String, Error> {
        let value = self.read(path)?;
        String::from_utf8(value).map_err(|_| Error::BadReply(crate::error::WireError::Malformed))
    }

    /// Writes a node (creating it and missing parents).
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error> {
        self.ack(&Request::Write { path, value }, TxId::NONE)
    }

    /// Lists a node's children.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        self.directory_in(TxId::NONE, path)
    }

    /// Creates a node (no error if it exists).
    pub fn mkdir(&mut self, path: &str) -> Result<(), Error> {
        self.ack(&Request::Mkdir { path }, TxId::NONE)
    }

    /// Removes a node and everything below it.
    pub fn rm(&mut self, path: &str) -> Result<(), Error> {
        self.ack(&Request::Rm { path }, TxId::NONE)
    }

    /// Reads a node's permissions.
    pub fn get_perms(&mut self, path: &str) -> Result<Permissions, Error> {
        self.get_perms_in(TxId::NONE, path)
    }

    /// Sets a node's permissions.
    pub fn set_perms(&mut self, path: &str, perms: &Permissions) -> Result<(), Error> {
        self.set_perms_in(TxId::NONE, path, perms)
    }

    /// The home path of a domain (`/local/domain/<domid>`).
    pub fn get_domain_path(&mut self, domid: DomainId) -> Result<String, Error> {
        self.request(&Request::GetDomainPath { domid }, TxId::NONE)?
            .single_string()
    }

    /// Registers a watch on `path` (and below) with `token`; events are queued for
    /// [`Client::take_watch_event`] / [`Client::wait_watch_event`]. xenstored fires one event
    /// right after registration. If this times out the watch is ended on the server as well
    /// (a late success leaves nothing registered).
    pub fn watch(&mut self, path: &str, token: &str) -> Result<(), Error> {
        self.ack(&Request::Watch { path, token }, TxId::NONE)
    }

    /// Removes a watch. If this times out, the watch's events are dropped from then on.
    pub fn unwatch(&mut self, path: &str, token: &str) -> Result<(), Error> {
        self.ack(&Request::Unwatch { path, token }, TxId::NONE)
    }

    /// Ends the watch with `token` without waiting (for error paths; see
    /// [`ClientCore::forget_watch`]), and sends the unwatch as far as the transport takes it.
    pub fn forget_watch(&mut self, token: &str) -> Result<(), Error> {
        self.core.forget_watch(token)?;
        self.core.write_to(&mut self.transport)
    }

    /// Whether events of the watch with `token` were dropped since the last call (see
    /// [`ClientCore::take_events_lost`]); the watcher must then look at its whole path again.
    pub fn take_events_lost(&mut self, token: &str) -> bool {
        self.core.take_events_lost(token)
    }

    /// Takes a queued watch event, after reading what has arrived.
    pub fn take_watch_event(&mut self) -> Result<Option<WatchEvent>, Error> {
        if let Some(event) = self.core.take_watch_event() {
            return Ok(Some(event));
        }
        self.pump()?;
        Ok(self.core.take_watch_event())
    }

    /// Waits until a watch event arrives or `deadline` passes ([`Error::Timeout`]).
    pub fn wait_watch_event(&mut self, deadline: Instant) -> Result<WatchEvent, Error> {
        loop {
            if let Some(event) = self.take_watch_event()? {
                return Ok(event);
            }
            if self.clock.now() >= deadline {
                return Err(Error::Timeout);
            }
            self.wait.wait(deadline);
        }
    }

    /// Waits until a watch event with `token` arrives or `deadline` passes ([`Error::Timeout`]);
    /// events of other watches stay queued.
    pub fn wait_watch_event_for(
        &mut self,
        token: &str,
        deadline: Instant,
    ) -> Result<WatchEvent, Error> {
        loop {
            if let Some(event) = self.core.take_watch_event_for(token) {
                return Ok(event);
            }
            self.pump()?;
            if let Some(event) = self.core.take_watch_event_for(token) {
                return Ok(event);
            }
            if self.clock.now() >= deadline {
                return Err(Error::Timeout);
            }
            self.wait.wait(deadline);
        }
    }

    /// Drops every watch of this connection on the server (`XS_RESET_WATCHES`, as a kernel
    /// does at start-up to clear watches left by a previous instance) and locally.
    pub fn reset_watches(&mut self) -> Result<(), Error> {
        self.ack(&Request::ResetWatches, TxId::NONE)?;
        self.core.clear_watch_tokens();
        Ok(())
    }

    /// Switches to a new transport (after resume, or to replace a failed one): requests in
    /// flight fail with [`ConnectionError::Reset`], then every registered watch is registered
    /// again on the new connection (xenstored fires each once, as on first registration). The
    /// new transport is connected as in [`Client::new`] first (on a ring: unread replies
    /// discarded, old watches reset before the re-registrations). Returns the first
    /// re-registration error, after trying them all.
    pub fn reconnect(&mut self, transport: T) -> Result<(), Error> {
        self.transport = transport;
        self.core.reset();
        self.partial_since = None;
        let info = self
            .transport
            .connect()
            .map_err(|e| Error::Connection(e.into()))?;
        self.core.start_connection(info)?;
        let mut watches: Vec<(String, String)> = Vec::new();
        for (token, path) in self.core.watches() {
            watches.try_reserve(1)?;
            watches.push((
                crate::wire::try_string(token)?,
                crate::wire::try_string(path)?,
            ));
        }
        self.core.clear_watch_tokens();
        let mut first_error = None;
        for (token, path) in &watches {
            if let Err(e) = self.watch(path, token) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Starts a transaction.
    pub fn transaction_start(&mut self) -> Result<TxId, Error> {
        let id = self
            .request(&Request::TransactionStart, TxId::NONE)?
            .transaction_id()?;
        Ok(TxId(id))
    }

    /// Ends a transaction: commit (may fail with `Error::Xs(XsErrno::EAGAIN)`) or abort.
    pub fn transaction_end(&mut self, tx: TxId, commit: bool) -> Result<(), Error> {
        self.ack(&Request::TransactionEnd { commit }, tx)
    }

    /// Operations inside an already started transaction `tx`.
    pub fn in_transaction(&mut self, tx: TxId) -> Transaction<'_, T, C, W> {
        Transaction {
            client: self,
            id: tx,
        }
    }

    /// Runs `body` in a transaction and commits it, retrying the whole transaction when the
    /// commit (or an operation inside) fails with EAGAIN, at most the configured number of
    /// attempts ([`Error::TransactionRetriesExhausted`] after that). Any other error aborts the
    /// transaction and is returned.
    pub fn transaction<R>(
        &mut self,
        mut body: impl FnMut(&mut Transaction<'_, T, C, W>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        self.last_transaction_retries = 0;
        for attempt in 0..self.transaction_attempts {
            self.last_transaction_retries = attempt;
            let tx = self.transaction_start()?;
            let result = body(&mut Transaction {
                client: self,
                id: tx,
            });
            match result {
                Ok(value) => match self.transaction_end(tx, true) {
                    Ok(()) => return Ok(value),
                    Err(Error::Xs(XsErrno::EAGAIN)) => continue,
                    Err(e) => return Err(e),
                },
                Err(e) => {
                    // Best effort: the transaction is abandoned either way.
                    let _ = self.transaction_end(tx, false);
                    if e == Error::Xs(XsErrno::EAGAIN) {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
        Err(Error::TransactionRetriesExhausted)
    }
}

/// Operations inside a transaction (see [`Client::transaction`]).
pub struct Transaction<'c, T: Transport, C: Clock, W: Wait> {
    client: &'c mut Client<T, C, W>,
    id: TxId,
}

impl<T: Transport, C: Clock, W: Wait> Transaction<'_, T, C, W> {
    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.id
    }

    /// Reads a node's value.
    pub fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        self.client.read_in(self.id, path)
    }

    /// Reads a node's value as UTF-8 text.
    pub fn read_string(&mut self, path: &str) -> Result<String, Error> {
        let value = self.read(path)?;
        String::from_utf8(value).map_err(|_| Error::BadReply(crate::error::WireError::Malformed))
    }

    /// Writes a node.
    pub fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error> {
        self.client.ack(&Request::Write { path, value }, self.id)
    }

    /// Lists a node's children.
    pub fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        self.client.directory_in(self.id, path)
    }

    /// Creates a node.
    pub fn mkdir(&mut self, path: &str) -> Result<(), Error> {
        self.client.ack(&Request::Mkdir { path }, self.id)
    }

    /// Removes a node and everything below it.
    pub fn rm(&mut self, path: &str) -> Result<(), Error> {
        self.client.ack(&Request::Rm { path }, self.id)
    }

    /// Reads a node's permissions.
    pub fn get_perms(&mut self, path: &str) -> Result<Permissions, Error> {
        self.client.get_perms_in(self.id, path)
    }

    /// Sets a node's permissions.
    pub fn set_perms(&mut self, path: &str, perms: &Permissions) -> Result<(), Error> {
        self.client.set_perms_in(self.id, path, perms)
    }
}
