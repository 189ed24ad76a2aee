//! [`BusServices`] over the platform objects, for any OS: [`PlatformServices`] needs only
//! [`PlatformAccess`], i.e. "run this with the xenstore client / grant table / event channels
//! under your lock". xenpci implements it with a sleeping lock around the xenstore client
//! (PASSIVE_LEVEL) and a spin lock around the platform (grants and event channels, usable up
//! to DISPATCH_LEVEL); [`super::single`] implements it with `RefCell`s for single-threaded
//! users (host tests, the testbed guest).
//!
//! Event handlers: the OS's event DPC calls [`PlatformServices::dispatch_events`], which looks
//! each pending port's handler up under the event-table lock and calls it with no lock held,
//! so a handler may notify, bind, or unbind (its own port too). One dispatcher runs at a time
//! (a [`DispatchGate`]): a dispatcher that finds another running leaves its work to it, so
//! one port's handler, and any two handlers, never run at the same time, on any CPU. (Users of
//! [`super::single`] that dispatch with `EventChannels::handle_upcall` under the table's borrow
//! instead get `Failed` from a handler that binds or unbinds.)
//!
//! Children's watches live in a [`ChildWatches`] table kept beside the xenstore client (under
//! the same lock); the bus's xenstore worker calls [`PlatformServices::dispatch_watch_events`]
//! after handling its own tokens, and the callbacks run with no lock held, one at a time (a
//! second [`DispatchGate`]).
//!
//! Unbinding: [`BusServices::evtchn_unbind`] and [`BusServices::store_unwatch`] remove the
//! binding under the lock (no call begins after that) and then wait, through
//! [`PlatformAccess::pause`], while a call of that binding that began before is still running in
//! another context. When they return, the handler or callback is not running and will not run
//! again, so the child may free its context. Called from that same handler or callback, they
//! do not wait for it (it is the caller).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use xen_evtchn::{EventChannels, EventHandler};
use xen_grant::{EndAccess, EndSummary, GrantError, GrantTable};
use xen_hal::{Clock, DomainId, EventChannelPort, GrantRef, Hypervisor, Pfn, XenError};
use xen_platform::Collected;
use xenstore::{Client, Transport, TxId, Wait};

pub use super::gate::DispatchGate;
use super::{BusServices, ServiceError, WatchCallback};

/// Ports taken per [`PlatformServices::dispatch_events`] round.
pub const PORTS_PER_ROUND: usize = 64;
/// Rounds per [`PlatformServices::dispatch_events`] call (then it asks to be run again).
pub const ROUNDS_PER_DISPATCH: usize = 8;
/// Passes per [`PlatformServices::dispatch_watch_events`] call (then it asks to be run again).
const WATCH_PASSES_PER_DISPATCH: usize = 4;

/// What one [`PlatformServices::dispatch_watch_events`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WatchDispatch {
    /// Callbacks called.
    pub calls: usize,
    /// Events may be left (a watch reached the per-call limit, or the pass bound was reached
    /// while another pass was asked for): run again.
    pub more: bool,
}

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
    /// An id of the running context (the current thread), distinct between contexts that can
    /// run at the same time: an unbind called from the handler it would wait for is told
    /// apart by it (and does not wait for itself).
    fn context_id(&self) -> usize;
    /// Called while an unbind or unwatch waits for a running callback to return (on another
    /// CPU): spin, or sleep briefly where the caller's IRQL allows.
    fn pause(&self) {
        core::hint::spin_loop();
    }
}

/// The child services over a platform.
pub struct PlatformServices<P: PlatformAccess> {
    platform: P,
    /// Event dispatch: one dispatcher at a time, and the port whose handler runs.
    events: DispatchGate,
    /// Watch dispatch: one dispatcher at a time, and the watch whose callback runs.
    watches: DispatchGate,
}

impl<P: PlatformAccess> PlatformServices<P> {
    /// Services over `platform`.
    pub fn new(platform: P) -> Self {
        PlatformServices {
            platform,
            events: DispatchGate::new(),
            watches: DispatchGate::new(),
        }
    }

    /// Waits while `key`'s callback runs in another context (after its binding was removed).
    fn wait_for_call(&self, gate: &DispatchGate, key: u32) {
        let me = self.platform.context_id();
        while gate.must_wait(key, me) {
            self.platform.pause();
        }
    }

    /// The event DPC's work: takes pending ports through `collect` (e.g.
    /// `xen_platform::collect_pending` over `shared_info`; `None` stops) and calls each port's
    /// handler with no lock held, at most [`ROUNDS_PER_DISPATCH`] rounds of
    /// [`PORTS_PER_ROUND`] ports. Returns whether events are left: run again (requeue the DPC).
    ///
    /// Only one call dispatches at a time: a call that finds another dispatching returns
    /// `false` at once and the running one takes another round for it, so a port's handler
    /// never runs on two CPUs at once.
    pub fn dispatch_events(
        &self,
        mut collect: impl FnMut(&mut [EventChannelPort]) -> Option<Collected>,
    ) -> bool {
        if !self.events.try_enter() {
            return false;
        }
        let mut rounds = 0;
        loop {
            let mut more = false;
            while rounds < ROUNDS_PER_DISPATCH {
                rounds += 1;
                let mut ports = [EventChannelPort(0); PORTS_PER_ROUND];
                let Some(collected) = collect(&mut ports) else {
                    break;
                };
                for port in ports.iter().take(collected.count) {
                    self.call_event_handler(*port);
                }
                more = collected.more;
                if !more {
                    break;
                }
            }
            if more {
                self.events.leave();
                return true;
            }
            if !self.events.finish_pass() {
                return false;
            }
            if rounds >= ROUNDS_PER_DISPATCH {
                // Another pass was asked for but the budget is spent: in the next run.
                self.events.leave();
                return true;
            }
        }
    }

    /// Calls `port`'s handler, if it has one (the gate is held).
    fn call_event_handler(&self, port: EventChannelPort) {
        let me = self.platform.context_id();
        let binding = self.platform.with_events(|channels| {
            let binding = channels.handler(port);
            if binding.is_some() {
                // Under the lock: an unbind either removed the binding before this lookup or
                // sees this call and waits for it.
                self.events.begin_call(port.0, me);
            }
            binding
        });
        if let Ok(Some(binding)) = binding {
            (binding.handler)(binding.context, port.0);
            self.events.end_call();
        }
    }

    /// Retries the grants whose end was deferred because the backend still mapped them (the
    /// bus's worker calls it; [`BusServices::grant_access`] too when the table runs out).
    pub fn retry_deferred_grants(&self) -> Result<EndSummary, ServiceError> {
        self.platform.with_grants(|g| g.retry_deferred())
    }

    /// The platform.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    /// Delivers pending watch events of the children's watches to their callbacks. At most
    /// `limit` events per watch are taken per pass. The callbacks run one at a time with no
    /// lock held (they may call back into the services, and unwatch their own watch); a call
    /// that finds another dispatching returns at once and the running one takes another pass
    /// for it.
    pub fn dispatch_watch_events(&self, limit: usize) -> Result<WatchDispatch, ServiceError> {
        let mut done = WatchDispatch::default();
        if !self.watches.try_enter() {
            return Ok(done);
        }
        let mut passes = 0;
        loop {
            passes += 1;
            match self.watch_pass(limit, &mut done) {
                Ok(()) => {}
                Err(e) => {
                    self.watches.leave();
                    return Err(e);
                }
            }
            if !self.watches.finish_pass() {
                return Ok(done);
            }
            if passes >= WATCH_PASSES_PER_DISPATCH {
                self.watches.leave();
                done.more = true;
                return Ok(done);
            }
        }
    }

    /// One pass of [`PlatformServices::dispatch_watch_events`] (the gate is held).
    fn watch_pass(&self, limit: usize, done: &mut WatchDispatch) -> Result<(), ServiceError> {
        let fired = self.platform.with_store(|store, watches| {
            let mut fired: Vec<u32> = Vec::new();
            for watch in &watches.entries {
                let mut taken = 0;
                while taken < limit && store.core().take_watch_event_for(&watch.token).is_some() {
                    taken += 1;
                }
                if taken >= limit {
                    done.more = true;
                }
                // Events the client had to drop for this watch: the child looks at its whole
                // path again, as on any event, so it is called even with nothing queued.
                if store.take_events_lost(&watch.token) {
                    taken += 1;
                }
                if taken > 0 {
                    fired
                        .try_reserve(1)
                        .map_err(|_| ServiceError::NoResources)?;
                    fired.push(watch.handle);
                }
            }
            Ok::<_, ServiceError>(fired)
        })??;
        let me = self.platform.context_id();
        for handle in fired {
            // Looked up again: a watch removed since is not called.
            let call = self.platform.with_store(|_, watches| {
                let watch = watches.entries.iter().find(|w| w.handle == handle)?;
                self.watches.begin_call(handle, me);
                Some((watch.callback, watch.context))
            });
            if let Ok(Some((callback, context))) = call {
                callback(context, handle);
                self.watches.end_call();
                done.calls += 1;
            }
        }
        Ok(())
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
            if let Err(e) = store.watch(&path, &token) {
                // A watch the server may still register (a late OK) is undone, so it cannot
                // flood the event queue unseen (a timeout is undone inside the client).
                let _ = store.forget_watch(&token);
                return Err(e.into());
            }
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

    /// Waits (see the module documentation) for a call of the callback already running.
    fn store_unwatch(&self, handle: u32) -> Result<(), ServiceError> {
        let result = self.platform.with_store(|store, watches| {
            let index = watches
                .entries
                .iter()
                .position(|w| w.handle == handle)
                .ok_or(ServiceError::InvalidParameter)?;
            let watch = watches.entries.swap_remove(index);
            // Gone from our table either way; stale events are dropped by token.
            let result = store.unwatch(&watch.path, &watch.token);
            if result.is_err() {
                // Not confirmed by the server: forget the token so that its events are dropped
                // and a late registration is undone.
                let _ = store.forget_watch(&watch.token);
            }
            while store.core().take_watch_event_for(&watch.token).is_some() {}
            Ok::<_, ServiceError>(result.map_err(ServiceError::from))
        })??;
        // Removed: no call begins now; wait for one that began before.
        self.wait_for_call(&self.watches, handle);
        result
    }

    fn grant_access(
        &self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, ServiceError> {
        Ok(self.platform.with_grants(|g| {
            match g.grant_access(domid, pfn, readonly) {
                // Deferred ends the backend has let go of since are free again.
                Err(GrantError::Exhausted) if g.deferred_count() > 0 => {
                    g.retry_deferred();
                    g.grant_access(domid, pfn, readonly)
                }
                result => result,
            }
        })??)
    }

    /// `Busy` when the backend still maps the page: the reference is the bus's from then on
    /// (on its deferred list, freed once the backend unmaps it; not to be ended again).
    fn grant_end(&self, reference: GrantRef) -> Result<(), ServiceError> {
        match self
            .platform
            .with_grants(|g| g.end_access_or_defer(reference))??
        {
            EndAccess::Freed => Ok(()),
            EndAccess::Deferred => Err(ServiceError::Busy),
        }
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

    /// Waits (see the module documentation) for a call of the handler already running.
    fn evtchn_unbind(&self, port: EventChannelPort) -> Result<(), ServiceError> {
        let hv = self.platform.hypervisor();
        // Closing masks the port and drops its handler first (even when Xen then refuses).
        let result = self.platform.with_events(|c| c.close(hv, port))?;
        // Removed: no call begins now; wait for one that began before.
        self.wait_for_call(&self.events, port.0);
        Ok(result?)
    }

    fn own_domid(&self) -> DomainId {
        self.platform.own_domid()
    }
}
