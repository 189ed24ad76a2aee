//! The unbind and concurrency guarantees of [`PlatformServices`] with real threads: a platform
//! under `std` mutexes (as xenpci's is under kernel locks), handlers that block until told.

extern crate std;

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::fake::{FakeClock, HeapPages};
use xen_hal::{
    DomainId, EventChannelPort, EventChannelStatus, GrantTableSize, Hypervisor, Instant, Pfn,
    VcpuId, XenError, XenVersion,
};
use xen_platform::Collected;
use xenstore::fake::FakeXenstored;
use xenstore::Client;

use super::shared::{ChildWatches, PlatformAccess, PlatformServices, StoreOf};
use super::{BusServices, ServiceError};

/// A hypervisor that hands out ports and accepts every port operation.
struct PortsHv {
    next: AtomicU32,
}

impl Hypervisor for PortsHv {
    fn xen_version(&self) -> Result<XenVersion, XenError> {
        Err(XenError::ENOSYS)
    }
    fn hvm_get_param(&self, _: u32) -> Result<u64, XenError> {
        Err(XenError::ENOSYS)
    }
    fn hvm_set_param(&self, _: u32, _: u64) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn add_to_physmap(&self, _: u32, _: u64, _: Pfn) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn grant_table_query_size(&self) -> Result<GrantTableSize, XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_alloc_unbound(&self, _: DomainId) -> Result<EventChannelPort, XenError> {
        Ok(EventChannelPort(self.next.fetch_add(1, Ordering::SeqCst)))
    }
    fn evtchn_bind_interdomain(
        &self,
        _: DomainId,
        _: EventChannelPort,
    ) -> Result<EventChannelPort, XenError> {
        Err(XenError::ENOSYS)
    }
    fn evtchn_send(&self, _: EventChannelPort) -> Result<(), XenError> {
        Ok(())
    }
    fn evtchn_close(&self, _: EventChannelPort) -> Result<(), XenError> {
        Ok(())
    }
    fn evtchn_unmask(&self, _: EventChannelPort) -> Result<(), XenError> {
        Ok(())
    }
    fn evtchn_bind_vcpu(&self, _: EventChannelPort, _: VcpuId) -> Result<(), XenError> {
        Ok(())
    }
    fn evtchn_status(&self, _: EventChannelPort) -> Result<EventChannelStatus, XenError> {
        Err(XenError::ENOSYS)
    }
    fn sched_shutdown(&self, _: u32) -> Result<(), XenError> {
        Err(XenError::ENOSYS)
    }
    fn sched_yield(&self) -> Result<(), XenError> {
        Ok(())
    }
    fn sched_poll(&self, _: &[EventChannelPort], _: u64) -> Result<(), XenError> {
        Ok(())
    }
}

fn no_wait(_: Instant) {}

type Store = Client<FakeXenstored, FakeClock, fn(Instant)>;

/// The platform objects under mutexes; `pause` reports the first wait of an unbinder.
struct ThreadPlatform {
    hv: PortsHv,
    store: Mutex<(Store, ChildWatches)>,
    grants: Mutex<GrantTable>,
    events: Mutex<EventChannels>,
    waiting: Mutex<Option<Sender<&'static str>>>,
    _pages: (HeapPages, HeapPages),
}

impl ThreadPlatform {
    fn new() -> ThreadPlatform {
        let shared_info = HeapPages::new(1).unwrap();
        let grant_frame = HeapPages::new(1).unwrap();
        let events = EventChannels::new(shared_info.memory(), 64).unwrap();
        let grants = GrantTable::from_frames(alloc::vec![grant_frame.memory()]).unwrap();
        let store = Client::new(
            FakeXenstored::new(5),
            FakeClock::new(),
            no_wait as fn(Instant),
        )
        .unwrap();
        ThreadPlatform {
            hv: PortsHv {
                next: AtomicU32::new(1),
            },
            store: Mutex::new((store, ChildWatches::new())),
            grants: Mutex::new(grants),
            events: Mutex::new(events),
            waiting: Mutex::new(None),
            _pages: (shared_info, grant_frame),
        }
    }

    /// `message` is sent on `to` at the first `pause`.
    fn report_wait(&self, to: Sender<&'static str>) {
        *self.waiting.lock().unwrap() = Some(to);
    }

    fn pump(&self) {
        self.store.lock().unwrap().0.pump().unwrap();
    }
}

impl PlatformAccess for ThreadPlatform {
    type Hv = PortsHv;
    type Transport = FakeXenstored;
    type Clock = FakeClock;
    type Wait = fn(Instant);

    fn with_store<R>(
        &self,
        f: impl FnOnce(&mut StoreOf<Self>, &mut ChildWatches) -> R,
    ) -> Result<R, ServiceError> {
        let mut guard = self.store.lock().map_err(|_| ServiceError::Failed)?;
        let (store, watches) = &mut *guard;
        Ok(f(store, watches))
    }
    fn with_grants<R>(&self, f: impl FnOnce(&mut GrantTable) -> R) -> Result<R, ServiceError> {
        Ok(f(&mut *self
            .grants
            .lock()
            .map_err(|_| ServiceError::Failed)?))
    }
    fn with_events<R>(&self, f: impl FnOnce(&mut EventChannels) -> R) -> Result<R, ServiceError> {
        Ok(f(&mut *self
            .events
            .lock()
            .map_err(|_| ServiceError::Failed)?))
    }
    fn hypervisor(&self) -> &PortsHv {
        &self.hv
    }
    fn own_domid(&self) -> DomainId {
        DomainId(5)
    }
    fn context_id(&self) -> usize {
        std::thread_local!(static ID: u8 = const { 0 });
        ID.with(|id| core::ptr::from_ref(id) as usize)
    }
    fn pause(&self) {
        if let Some(to) = self.waiting.lock().unwrap().take() {
            let _ = to.send("waiting");
        }
        std::thread::yield_now();
    }
}

type Services = PlatformServices<ThreadPlatform>;

/// What a handler saw; the first call blocks until released.
struct Probe {
    calls: AtomicUsize,
    inside: AtomicUsize,
    most_inside: AtomicUsize,
    block_next: AtomicBool,
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
    /// Set by the test once unbind/unwatch returned.
    unbound: AtomicBool,
    /// A call ran (in part) after unbind/unwatch returned.
    called_after_unbind: AtomicBool,
}

impl Probe {
    /// A probe (leaked: handlers reach it through their context) and its controls.
    fn new() -> (&'static Probe, Receiver<()>, Sender<()>) {
        let (entered_tx, entered_rx) = channel();
        let (release_tx, release_rx) = channel();
        let probe = alloc::boxed::Box::leak(alloc::boxed::Box::new(Probe {
            calls: AtomicUsize::new(0),
            inside: AtomicUsize::new(0),
            most_inside: AtomicUsize::new(0),
            block_next: AtomicBool::new(true),
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
            unbound: AtomicBool::new(false),
            called_after_unbind: AtomicBool::new(false),
        }));
        (probe, entered_rx, release_tx)
    }

    fn call(&self) {
        if self.unbound.load(Ordering::SeqCst) {
            self.called_after_unbind.store(true, Ordering::SeqCst);
        }
        let inside = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_inside.fetch_max(inside, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.block_next.swap(false, Ordering::SeqCst) {
            // No unwrap here: a panic cannot unwind out of an `extern "C"` handler (it would
            // abort the test run); a test that failed drops its end and this returns.
            if let Ok(entered) = self.entered.lock() {
                let _ = entered.send(());
            }
            if let Ok(release) = self.release.lock() {
                let _ = release.recv();
            }
        }
        // Still inside the call: unbind must not have returned yet.
        if self.unbound.load(Ordering::SeqCst) {
            self.called_after_unbind.store(true, Ordering::SeqCst);
        }
        self.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

extern "C" fn probe_event(context: usize, _port: u32) {
    // The context is the address of a leaked `Probe`, looked up in the registry.
    probe_at(context).call();
}

extern "C" fn probe_watch(context: usize, _handle: u32) {
    probe_at(context).call();
}

/// The leaked probes by address (no unsafe pointer casts in the handlers).
static PROBES: Mutex<Vec<&'static Probe>> = Mutex::new(Vec::new());

fn register(probe: &'static Probe) -> usize {
    PROBES.lock().unwrap().push(probe);
    core::ptr::from_ref(probe) as usize
}

fn probe_at(context: usize) -> &'static Probe {
    PROBES
        .lock()
        .unwrap()
        .iter()
        .copied()
        .find(|p| core::ptr::from_ref(*p) as usize == context)
        .unwrap()
}

/// A `collect` over a queue of ports the test fills.
fn from_queue(
    queue: &Mutex<VecDeque<EventChannelPort>>,
) -> impl FnMut(&mut [EventChannelPort]) -> Option<Collected> + '_ {
    move |out| {
        let mut queue = queue.lock().unwrap();
        let mut count = 0;
        for slot in out.iter_mut() {
            match queue.pop_front() {
                Some(port) => {
                    *slot = port;
                    count += 1;
                }
                None => break,
            }
        }
        Some(Collected {
            count,
            more: !queue.is_empty(),
        })
    }
}

#[test]
fn evtchn_unbind_does_not_return_while_the_handler_runs() {
    let services = Arc::new(Services::new(ThreadPlatform::new()));
    let (probe, entered, release) = Probe::new();
    let port = services
        .evtchn_bind(DomainId(0), probe_event, register(probe))
        .unwrap();
    let queue = Arc::new(Mutex::new(VecDeque::from([port])));
    let dispatcher = {
        let (services, queue) = (services.clone(), queue.clone());
        std::thread::spawn(move || services.dispatch_events(from_queue(&queue)))
    };
    entered.recv().unwrap();
    // The handler is running (blocked). Unbind from another thread.
    let (report, order) = channel();
    services.platform().report_wait(report.clone());
    let unbinder = {
        let services = services.clone();
        std::thread::spawn(move || {
            let result = services.evtchn_unbind(port);
            probe.unbound.store(true, Ordering::SeqCst);
            report.send("returned").unwrap();
            result
        })
    };
    // The unbinder must wait for the handler, not return past it.
    assert_eq!(order.recv().unwrap(), "waiting");
    release.send(()).unwrap();
    assert_eq!(order.recv().unwrap(), "returned");
    assert!(!dispatcher.join().unwrap());
    assert_eq!(unbinder.join().unwrap(), Ok(()));
    // No call after unbind returned, even for an event collected later.
    queue.lock().unwrap().push_back(port);
    services.dispatch_events(from_queue(&queue));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    assert!(!probe.called_after_unbind.load(Ordering::SeqCst));
}

#[test]
fn a_port_handler_never_runs_on_two_cpus_at_once() {
    let services = Arc::new(Services::new(ThreadPlatform::new()));
    let (probe, entered, release) = Probe::new();
    let port = services
        .evtchn_bind(DomainId(0), probe_event, register(probe))
        .unwrap();
    let queue = Arc::new(Mutex::new(VecDeque::from([port])));
    let first = {
        let (services, queue) = (services.clone(), queue.clone());
        std::thread::spawn(move || services.dispatch_events(from_queue(&queue)))
    };
    entered.recv().unwrap();
    // The port fires again and a second DPC runs on another CPU while the handler runs: it
    // leaves the event to the running dispatcher.
    queue.lock().unwrap().push_back(port);
    assert!(!services.dispatch_events(from_queue(&queue)));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    release.send(()).unwrap();
    assert!(!first.join().unwrap());
    // The running dispatcher took the second event in another pass: not lost.
    assert_eq!(probe.calls.load(Ordering::SeqCst), 2);
    assert!(queue.lock().unwrap().is_empty());
    assert_eq!(probe.most_inside.load(Ordering::SeqCst), 1);
}

static SELF_UNBINDER: OnceLock<Arc<Services>> = OnceLock::new();
static SELF_UNBIND_RESULT: Mutex<Option<Result<(), ServiceError>>> = Mutex::new(None);

extern "C" fn unbind_own_port(_context: usize, port: u32) {
    let services = SELF_UNBINDER.get().unwrap();
    *SELF_UNBIND_RESULT.lock().unwrap() = Some(services.evtchn_unbind(EventChannelPort(port)));
}

#[test]
fn a_handler_may_unbind_its_own_port() {
    let services = Arc::new(Services::new(ThreadPlatform::new()));
    assert!(SELF_UNBINDER.set(services.clone()).is_ok());
    let port = services
        .evtchn_bind(DomainId(0), unbind_own_port, 0)
        .unwrap();
    let queue = Arc::new(Mutex::new(VecDeque::from([port])));
    let (done_tx, done) = channel();
    {
        let (services, queue) = (services.clone(), queue.clone());
        std::thread::spawn(move || {
            services.dispatch_events(from_queue(&queue));
            done_tx.send(()).unwrap();
        });
    }
    // Bounded only so a deadlock fails the test instead of hanging it.
    done.recv_timeout(Duration::from_secs(30))
        .expect("a handler unbinding its own port deadlocked");
    assert_eq!(*SELF_UNBIND_RESULT.lock().unwrap(), Some(Ok(())));
    assert!(!services
        .platform()
        .with_events(|c| c.is_open(port))
        .unwrap());
}

#[test]
fn store_unwatch_does_not_return_while_the_callback_runs() {
    let services = Arc::new(Services::new(ThreadPlatform::new()));
    let (probe, entered, release) = Probe::new();
    let handle = services
        .store_watch("device", probe_watch, register(probe))
        .unwrap();
    // xenstored fires every new watch once.
    services.platform().pump();
    let dispatcher = {
        let services = services.clone();
        std::thread::spawn(move || services.dispatch_watch_events(16))
    };
    entered.recv().unwrap();
    let (report, order) = channel();
    services.platform().report_wait(report.clone());
    let unwatcher = {
        let services = services.clone();
        std::thread::spawn(move || {
            let result = services.store_unwatch(handle);
            probe.unbound.store(true, Ordering::SeqCst);
            report.send("returned").unwrap();
            result
        })
    };
    assert_eq!(order.recv().unwrap(), "waiting");
    release.send(()).unwrap();
    assert_eq!(order.recv().unwrap(), "returned");
    assert_eq!(dispatcher.join().unwrap().map(|d| d.calls), Ok(1));
    assert_eq!(unwatcher.join().unwrap(), Ok(()));
    assert_eq!(probe.calls.load(Ordering::SeqCst), 1);
    assert!(!probe.called_after_unbind.load(Ordering::SeqCst));
}

#[test]
fn grant_end_defers_what_the_backend_maps_and_the_bus_frees_it_later() {
    use xen_grant::{EndSummary, RefState};
    use xen_public_headers::grant_table::{GTF_permit_access, GTF_writing};

    let services = Services::new(ThreadPlatform::new());
    let frame = services.platform()._pages.1.memory();
    let r = services.grant_access(DomainId(0), Pfn(5), false).unwrap();
    // The backend maps it (what Xen does on its map: set the in-use bit).
    let offset = r.0 as usize * 8;
    frame
        .store_u16(offset, GTF_permit_access | GTF_writing, Ordering::SeqCst)
        .unwrap();
    assert_eq!(services.grant_end(r), Err(ServiceError::Busy));
    let state = |r| services.platform().with_grants(|g| g.state(r)).unwrap();
    // The bus keeps it: deferred, not left granted with nobody to end it.
    assert_eq!(state(r), Ok(RefState::Deferred));
    // Every other reference handed out: the table is full.
    let mut others = Vec::new();
    while let Ok(o) = services
        .platform()
        .with_grants(|g| g.grant_access(DomainId(0), Pfn(6), true))
        .unwrap()
    {
        others.push(o);
    }
    // The backend unmaps: the next grant finds the deferred reference freed.
    frame
        .store_u16(offset, GTF_permit_access, Ordering::SeqCst)
        .unwrap();
    assert_eq!(services.grant_access(DomainId(0), Pfn(7), false), Ok(r));
    // And the worker's retry frees what the backend let go of.
    let other = others[0];
    frame
        .store_u16(
            other.0 as usize * 8,
            GTF_permit_access | GTF_writing,
            Ordering::SeqCst,
        )
        .unwrap();
    assert_eq!(services.grant_end(other), Err(ServiceError::Busy));
    frame
        .store_u16(other.0 as usize * 8, GTF_permit_access, Ordering::SeqCst)
        .unwrap();
    assert_eq!(
        services.retry_deferred_grants(),
        Ok(EndSummary {
            freed: 1,
            deferred: 0
        })
    );
    assert_eq!(state(other), Ok(RefState::Free));
}
