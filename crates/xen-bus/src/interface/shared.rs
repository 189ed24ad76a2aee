//! [`BusServices`] over the platform objects, for any OS: [`PlatformServices`] needs only
//! [`PlatformAccess`], i.e. "run this with the xenstore client / grant table / event channels
//! under your lock". xenpci implements it with a sleeping lock around the xenstore client
//! (PASSIVE_LEVEL) and a spin lock around the platform (grants and event channels, usable up
//! to DISPATCH_LEVEL); [`super::single`] implements it with `RefCell`s for single-threaded
//! users (host tests, the testbed guest).
//!
//! Locking: `evtchn_notify` takes no lock (it is a hypercall), so event handlers running in the
//! bus's DPC under the event-table lock may notify; `evtchn_bind`/`evtchn_unbind` take the
//! event-table lock and must not be called from a handler.
//!
//! Children's watches live in a [`ChildWatches`] table kept beside the xenstore client (under
//! the same lock); the bus's xenstore worker calls [`PlatformServices::dispatch_watch_events`]
//! after handling its own tokens, and the callbacks run with no lock held.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use xen_evtchn::{EventChannels, EventHandler};
use xen_grant::GrantTable;
use xen_hal::{Clock, DomainId, EventChannelPort, GrantRef, Hypervisor, Pfn, XenError};
use xenstore::{Client, Transport, TxId, Wait};

use super::{BusServices, ServiceError, WatchCallback};

/// Most watches the children may hold together.
pub const MAX_WATCHES: usize = 256;

/// The prefix of the xenstore tokens of children's watches (the bus's worker leaves events
/// with these tokens to [`PlatformServices::dispatch_watch_events`]).
pub const CHILD_WATCH_TOKEN_PREFIX: &str = "xen-bus-child:";

struct Watch {
    handle: u32,
    path: String,
    token: String,
    callback: WatchCallback,
    context: usize,
}

/// The children's watches (kept beside the xenstore client, under its lock).
pub struct ChildWatches {
    entries: Vec<Watch>,
    next_handle: u32,
}

impl Default for ChildWatches {
    fn default() -> Self {
        ChildWatches::new()
    }
}

impl ChildWatches {
    /// No watches.
    pub const fn new() -> ChildWatches {
        ChildWatches {
            entries: Vec::new(),
            next_handle: 1,
        }
    }

    /// How many watches the children hold.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the children hold no watch.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The xenstore client type of a platform.
pub type StoreOf<P> = Client<
    <P as PlatformAccess>::Transport,
    <P as PlatformAccess>::Clock,
    <P as PlatformAccess>::Wait,
>;

/// Access to the platform objects under the OS's locks. Each method fails with
/// [`ServiceError::Failed`] if the lock cannot be taken (re-entry from a callback, or an IRQL
/// too high for a sleeping lock); it never blocks forever.
pub trait PlatformAccess {
    /// The hypercall interface.
    type Hv: Hypervisor;
    /// The xenstore transport.
    type Transport: Transport;
    /// The xenstore client's clock.
    type Clock: Clock;
    /// The xenstore client's wait.
    type Wait: Wait;

    /// Runs `f` with the xenstore client and the children's watch table (PASSIVE_LEVEL).
    fn with_store<R>(
        &self,
        f: impl FnOnce(&mut StoreOf<Self>, &mut ChildWatches) -> R,
    ) -> Result<R, ServiceError>;
    /// Runs `f` with the grant table.
    fn with_grants<R>(&self, f: impl FnOnce(&mut GrantTable) -> R) -> Result<R, ServiceError>;
    /// Runs `f` with the event channels.
    fn with_events<R>(&self, f: impl FnOnce(&mut EventChannels) -> R) -> Result<R, ServiceError>;
    /// The hypercall interface (a cheap handle).
    fn hypervisor(&self) -> &Self::Hv;
    /// Our domain id.
    fn own_domid(&self) -> DomainId;
}

/// The child services over a platform.
pub struct PlatformServices<P: PlatformAccess> {
    platform: P,
}

impl<P: PlatformAccess> PlatformServices<P> {
    /// Services over `platform`.
    pub fn new(platform: P) -> Self {
        PlatformServices { platform }
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Delivers pending watch events of the children's watches to their callbacks; returns how
    /// many callbacks ran. At most `limit` events per watch are taken per call. The callbacks
    /// run after the store lock is released (they may call back into the services).
    pub fn dispatch_watch_events(&self, limit: usize) -> Result<usize, ServiceError> {
        let calls = self.platform.with_store(|store, watches| {
            let mut calls: Vec<(WatchCallback, usize, u32)> = Vec::new();
            for watch in &watches.entries {
                let mut taken = 0;
                while taken < limit && store.core().take_watch_event_for(&watch.token).is_some() {
                    taken += 1;
                }
                if taken > 0 {
                    calls
                        .try_reserve(1)
                        .map_err(|_| ServiceError::NoResources)?;
                    calls.push((watch.callback, watch.context, watch.handle));
                }
            }
            Ok::<_, ServiceError>(calls)
        })??;
        for (callback, context, handle) in &calls {
            callback(*context, *handle);
        }
        Ok(calls.len())
    }
}

fn owned(s: &str) -> Result<String, ServiceError> {
    let mut out = String::new();
    out.try_reserve_exact(s.len())
        .map_err(|_| ServiceError::NoResources)?;
    out.push_str(s);
    Ok(out)
}

impl<P: PlatformAccess> BusServices for PlatformServices<P> {
    fn store_read(&self, tx: u32, path: &str) -> Result<Vec<u8>, ServiceError> {
        self.platform
            .with_store(|store, _| {
                if tx == 0 {
                    store.read(path)
                } else {
                    store.in_transaction(TxId(tx)).read(path)
                }
            })?
            .map_err(ServiceError::from)
    }

    fn store_write(&self, tx: u32, path: &str, value: &[u8]) -> Result<(), ServiceError> {
        self.platform
            .with_store(|store, _| {
                if tx == 0 {
                    store.write(path, value)
                } else {
                    store.in_transaction(TxId(tx)).write(path, value)
                }
            })?
            .map_err(ServiceError::from)
    }

    fn transaction_start(&self) -> Result<u32, ServiceError> {
        let tx = self
            .platform
            .with_store(|store, _| store.transaction_start())??;
        Ok(tx.0)
    }

    fn transaction_end(&self, tx: u32, commit: bool) -> Result<(), ServiceError> {
        if tx == 0 {
            return Err(ServiceError::InvalidParameter);
        }
        Ok(self
            .platform
            .with_store(|store, _| store.transaction_end(TxId(tx), commit))??)
    }

    fn store_watch(
        &self,
        path: &str,
        callback: WatchCallback,
        context: usize,
    ) -> Result<u32, ServiceError> {
        let path = owned(path)?;
        self.platform.with_store(|store, watches| {
            if watches.entries.len() >= MAX_WATCHES {
                return Err(ServiceError::NoResources);
            }
            let handle = watches.next_handle;
            let mut token = String::new();
            token
                .try_reserve(CHILD_WATCH_TOKEN_PREFIX.len() + 10)
                .map_err(|_| ServiceError::NoResources)?;
            write!(token, "{CHILD_WATCH_TOKEN_PREFIX}{handle}")
                .map_err(|_| ServiceError::NoResources)?;
            watches
                .entries
                .try_reserve(1)
                .map_err(|_| ServiceError::NoResources)?;
            store.watch(&path, &token)?;
            watches.next_handle = handle.wrapping_add(1).max(1);
            watches.entries.push(Watch {
                handle,
                path,
                token,
                callback,
                context,
            });
            Ok(handle)
        })?
    }

    fn store_unwatch(&self, handle: u32) -> Result<(), ServiceError> {
        self.platform.with_store(|store, watches| {
            let index = watches
                .entries
                .iter()
                .position(|w| w.handle == handle)
                .ok_or(ServiceError::InvalidParameter)?;
            let watch = watches.entries.swap_remove(index);
            // Gone from our table either way; stale events are dropped by token.
            let result = store.unwatch(&watch.path, &watch.token);
            while store.core().take_watch_event_for(&watch.token).is_some() {}
            result.map_err(ServiceError::from)
        })?
    }

    fn grant_access(
        &self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, ServiceError> {
        Ok(self
            .platform
            .with_grants(|g| g.grant_access(domid, pfn, readonly))??)
    }

    fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError> {
        Ok(self.platform.with_grants(|g| g.end_access(reference))??)
    }

    fn evtchn_bind(
        &self,
        remote: DomainId,
        handler: EventHandler,
        context: usize,
    ) -> Result<EventChannelPort, ServiceError> {
        let hv = self.platform.hypervisor();
        self.platform.with_events(|channels| {
            let port = channels.alloc_unbound(hv, remote)?;
            if let Err(e) = channels.bind_handler(hv, port, handler, context) {
                // Best effort: the port was never handed out.
                let _ = channels.close(hv, port);
                return Err(e.into());
            }
            Ok(port)
        })?
    }

    /// `EVTCHNOP_send` only: no lock is taken, so a handler the bus's event DPC calls (with
    /// the event table locked) may notify. Xen refuses ports that are not ours or not bound.
    fn evtchn_notify(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        self.platform
            .hypervisor()
            .evtchn_send(port)
            .map_err(|e| match e {
                XenError::EINVAL | XenError::ENOENT => ServiceError::InvalidParameter,
                _ => ServiceError::Failed,
            })
    }

    fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let hv = self.platform.hypervisor();
        // Closing masks the port and drops its handler first.
        Ok(self.platform.with_events(|c| c.close(hv, port))??)
    }

    fn own_domid(&self) -> DomainId {
        self.platform.own_domid()
    }
}
