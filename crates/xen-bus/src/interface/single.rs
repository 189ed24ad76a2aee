//! [`BusServices`] over the platform objects for single-threaded users (host tests against
//! xen-sim, the testbed guest): the xenstore client, grant table and event channels behind
//! `RefCell`s. xenpci itself serves the same trait over the same objects behind spin locks.
//!
//! Re-entrancy (a callback that calls back into the services while they are busy) is refused
//! with [`ServiceError::Failed`], never a panic: every borrow is `try_borrow`.

use alloc::string::String;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt::Write as _;

use xen_evtchn::{EventChannels, EventHandler};
use xen_grant::GrantTable;
use xen_hal::{Clock, DomainId, EventChannelPort, GrantRef, Hypervisor, Pfn};
use xenstore::{Client, Transport, TxId, Wait};

use super::{BusServices, ServiceError, WatchCallback};

/// Most watches the children may hold together.
pub const MAX_WATCHES: usize = 256;

struct Watch {
    handle: u32,
    path: String,
    token: String,
    callback: WatchCallback,
    context: usize,
}

/// The services over `RefCell`ed platform objects.
pub struct SingleThreadServices<H: Hypervisor, T: Transport, C: Clock, W: Wait> {
    hv: H,
    store: RefCell<Client<T, C, W>>,
    grants: RefCell<GrantTable>,
    channels: RefCell<EventChannels>,
    watches: RefCell<Vec<Watch>>,
    next_handle: Cell<u32>,
    domid: DomainId,
}

fn busy<E>(_: E) -> ServiceError {
    ServiceError::Failed
}

impl<H: Hypervisor, T: Transport, C: Clock, W: Wait> SingleThreadServices<H, T, C, W> {
    /// Services over the given objects for domain `domid`.
    pub fn new(
        hv: H,
        store: Client<T, C, W>,
        grants: GrantTable,
        channels: EventChannels,
        domid: DomainId,
    ) -> Self {
        SingleThreadServices {
            hv,
            store: RefCell::new(store),
            grants: RefCell::new(grants),
            channels: RefCell::new(channels),
            watches: RefCell::new(Vec::new()),
            next_handle: Cell::new(1),
            domid,
        }
    }

    /// The xenstore client (for the bus's own use between calls).
    pub fn store(&self) -> &RefCell<Client<T, C, W>> {
        &self.store
    }

    /// The grant table.
    pub fn grants(&self) -> &RefCell<GrantTable> {
        &self.grants
    }

    /// The event channels (the bus's upcall handler dispatches through them).
    pub fn channels(&self) -> &RefCell<EventChannels> {
        &self.channels
    }

    /// Delivers pending watch events to the children's callbacks (the bus's xenstore worker
    /// calls this); events for other tokens are left to the bus. Returns how many callbacks
    /// ran. At most `limit` events are taken per call.
    pub fn dispatch_watch_events(&self, limit: usize) -> Result<usize, ServiceError> {
        let mut calls: Vec<(WatchCallback, usize, u32)> = Vec::new();
        {
            let mut store = self.store.try_borrow_mut().map_err(busy)?;
            let watches = self.watches.try_borrow().map_err(busy)?;
            for watch in watches.iter() {
                let mut taken = 0;
                while taken < limit {
                    match store.core().take_watch_event_for(&watch.token) {
                        Some(_) => taken += 1,
                        None => break,
                    }
                }
                if taken > 0 {
                    calls
                        .try_reserve(1)
                        .map_err(|_| ServiceError::NoResources)?;
                    calls.push((watch.callback, watch.context, watch.handle));
                }
            }
        }
        // Called with nothing borrowed: callbacks may call back into the services.
        for (callback, context, handle) in &calls {
            callback(*context, *handle);
        }
        Ok(calls.len())
    }

    /// Takes the events xenstore already sent without blocking (reads the ring).
    pub fn poll_store(&self) -> Result<(), ServiceError> {
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        store.pump().map_err(ServiceError::from)
    }
}

impl<H: Hypervisor, T: Transport, C: Clock, W: Wait> BusServices
    for SingleThreadServices<H, T, C, W>
{
    fn store_read(&self, tx: u32, path: &str) -> Result<Vec<u8>, ServiceError> {
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        if tx == 0 {
            Ok(store.read(path)?)
        } else {
            Ok(store.in_transaction(TxId(tx)).read(path)?)
        }
    }

    fn store_write(&self, tx: u32, path: &str, value: &[u8]) -> Result<(), ServiceError> {
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        if tx == 0 {
            Ok(store.write(path, value)?)
        } else {
            Ok(store.in_transaction(TxId(tx)).write(path, value)?)
        }
    }

    fn transaction_start(&self) -> Result<u32, ServiceError> {
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        Ok(store.transaction_start()?.0)
    }

    fn transaction_end(&self, tx: u32, commit: bool) -> Result<(), ServiceError> {
        if tx == 0 {
            return Err(ServiceError::InvalidParameter);
        }
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        Ok(store.transaction_end(TxId(tx), commit)?)
    }

    fn store_watch(
        &self,
        path: &str,
        callback: WatchCallback,
        context: usize,
    ) -> Result<u32, ServiceError> {
        let mut watches = self.watches.try_borrow_mut().map_err(busy)?;
        if watches.len() >= MAX_WATCHES {
            return Err(ServiceError::NoResources);
        }
        let handle = self.next_handle.get();
        self.next_handle.set(handle.wrapping_add(1).max(1));
        let mut token = String::new();
        token
            .try_reserve(24)
            .map_err(|_| ServiceError::NoResources)?;
        write!(token, "xen-bus-child:{handle}").map_err(|_| ServiceError::NoResources)?;
        let mut owned = String::new();
        owned
            .try_reserve_exact(path.len())
            .map_err(|_| ServiceError::NoResources)?;
        owned.push_str(path);
        watches
            .try_reserve(1)
            .map_err(|_| ServiceError::NoResources)?;
        self.store
            .try_borrow_mut()
            .map_err(busy)?
            .watch(path, &token)?;
        watches.push(Watch {
            handle,
            path: owned,
            token,
            callback,
            context,
        });
        Ok(handle)
    }

    fn store_unwatch(&self, handle: u32) -> Result<(), ServiceError> {
        let mut watches = self.watches.try_borrow_mut().map_err(busy)?;
        let index = watches
            .iter()
            .position(|w| w.handle == handle)
            .ok_or(ServiceError::InvalidParameter)?;
        let watch = watches.swap_remove(index);
        let mut store = self.store.try_borrow_mut().map_err(busy)?;
        // The watch is gone from our table either way; stale events are dropped by token.
        store.unwatch(&watch.path, &watch.token)?;
        while store.core().take_watch_event_for(&watch.token).is_some() {}
        Ok(())
    }

    fn grant_access(
        &self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, ServiceError> {
        let mut grants = self.grants.try_borrow_mut().map_err(busy)?;
        Ok(grants.grant_access(domid, pfn, readonly)?)
    }

    fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError> {
        let mut grants = self.grants.try_borrow_mut().map_err(busy)?;
        Ok(grants.end_access(reference)?)
    }

    fn evtchn_bind(
        &self,
        remote: DomainId,
        handler: EventHandler,
        context: usize,
    ) -> Result<EventChannelPort, ServiceError> {
        let mut channels = self.channels.try_borrow_mut().map_err(busy)?;
        let port = channels.alloc_unbound(&self.hv, remote)?;
        if let Err(e) = channels.bind_handler(&self.hv, port, handler, context) {
            // Best effort: the port was never handed out.
            let _ = channels.close(&self.hv, port);
            return Err(e.into());
        }
        Ok(port)
    }

    fn evtchn_notify(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let channels = self.channels.try_borrow().map_err(busy)?;
        Ok(channels.notify(&self.hv, port)?)
    }

    fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let mut channels = self.channels.try_borrow_mut().map_err(busy)?;
        // Closing masks the port and drops its handler first.
        Ok(channels.close(&self.hv, port)?)
    }

    fn own_domid(&self) -> DomainId {
        self.domid
    }
}
