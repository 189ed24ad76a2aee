//! The platform objects under Windows locks, as `xen_bus::interface::PlatformAccess`: what the
//! children's interface tables (and the FDO itself) reach.
//!
//! - xenstore client and the children's watch table: under the FDO's store mutex (a
//!   synchronization event, PASSIVE_LEVEL only; a wait longer than [`STORE_LOCK_TIMEOUT_MS`]
//!   fails with `ServiceError::Failed` instead of hanging).
//! - grant table and event-channel table: each under a spin lock (usable up to
//!   DISPATCH_LEVEL). The event DPC runs `PlatformServices::dispatch_events`: it collects
//!   pending ports lock-free (`xen_platform::collect_pending`), looks each binding up under the
//!   lock and calls it after releasing it, so a handler may notify or unbind; one DPC
//!   dispatches at a time (the DPC can be queued again on another CPU while it runs; that run
//!   leaves its events to the running one), and an unbind waits for a handler call already
//!   running (see `xen_bus::interface::shared`).
//! - `shared_info`: no lock (the ISR's acknowledgement is one atomic swap).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, Ordering};

use nt_kernel::ntdef::*;
use nt_kernel::sync::SpinLock;
use nt_kernel::wdm::*;
use xen_bus::interface::shared::{ChildWatches, PlatformAccess, StoreOf};
use xen_bus::interface::ServiceError;
use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{DomainId, SharedMemory};
use xenstore::{Client, RingTransport};

use crate::hal::{NtClock, NtHypervisor};

/// The xenstore client of the bus driver.
pub type Store = Client<RingTransport<NtHypervisor>, NtClock, EventWait>;

/// Longest wait for the store mutex from a child's call.
pub const STORE_LOCK_TIMEOUT_MS: i64 = 30_000;

/// How long an unbind or unwatch at PASSIVE_LEVEL sleeps between looks at a running callback.
const UNBIND_POLL_MS: i64 = 1;

/// Waits for the store event (set by the store port's handler) up to the deadline.
pub struct EventWait {
    /// The extension's store event.
    pub event: *mut KEVENT,
}

impl xenstore::Wait for EventWait {
    fn wait(&mut self, deadline: xen_hal::Instant) {
        use xen_hal::Clock;
        let now = NtClock.now();
        let remaining_ns = deadline.0.saturating_sub(now.0).max(1000);
        // Relative timeouts are negative, in 100 ns units.
        let mut timeout: LARGE_INTEGER = -((remaining_ns / 100).min(i64::MAX as u64) as i64);
        // SAFETY: PASSIVE_LEVEL (xenstore is used only under the store mutex, which requires
        // it); the event lives in the device extension, which outlives the client.
        unsafe {
            KeWaitForSingleObject(
                self.event.cast(),
                Executive,
                KernelMode,
                FALSE,
                &mut timeout,
            )
        };
    }
}

/// The current IRQL (CR8 on x64).
pub fn current_irql() -> u8 {
    let cr8: u64;
    // SAFETY: ring 0 (this code runs only once the platform is up); reading CR8 has no side
    // effects.
    unsafe {
        core::arch::asm!("mov {}, cr8", out(reg) cr8, options(nomem, nostack, preserves_flags))
    };
    cr8 as u8
}

/// The platform objects (see the module documentation).
pub struct NtPlatform {
    hv: NtHypervisor,
    domid: AtomicU32,
    shared_info: SharedMemory,
    events: SpinLock<EventChannels>,
    grants: SpinLock<GrantTable>,
    store_mutex: *mut KEVENT,
    store: UnsafeCell<Option<(Store, ChildWatches)>>,
}

impl NtPlatform {
    /// The objects; the xenstore client comes later ([`NtPlatform::set_store`]).
    pub fn new(
        hv: NtHypervisor,
        shared_info: SharedMemory,
        events: EventChannels,
        grants: GrantTable,
        store_mutex: *mut KEVENT,
    ) -> NtPlatform {
        NtPlatform {
            hv,
            domid: AtomicU32::new(u32::from(DomainId::SELF.0)),
            shared_info,
            events: SpinLock::new(events),
            grants: SpinLock::new(grants),
            store_mutex,
            store: UnsafeCell::new(None),
        }
    }

    /// `shared_info`, for the ISR.
    pub fn shared_info(&self) -> SharedMemory {
        self.shared_info
    }

    /// The event table's lock (teardown masks every port through it).
    pub fn events(&self) -> &SpinLock<EventChannels> {
        &self.events
    }

    /// The hypervisor.
    pub fn hv(&self) -> NtHypervisor {
        self.hv
    }

    /// The store slot.
    ///
    /// # Safety
    /// The caller holds the store mutex for as long as it uses the reference.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn store_slot(&self) -> &mut Option<(Store, ChildWatches)> {
        // SAFETY: the mutex serialises every user (caller's contract).
        unsafe { &mut *self.store.get() }
    }

    /// Publishes the connected client and our domain id.
    ///
    /// # Safety
    /// As [`NtPlatform::store_slot`].
    pub unsafe fn set_store(&self, client: Store, domid: DomainId) {
        self.domid.store(u32::from(domid.0), Ordering::Release);
        // SAFETY: caller holds the mutex.
        unsafe { *self.store_slot() = Some((client, ChildWatches::new())) };
    }
}

impl PlatformAccess for NtPlatform {
    type Hv = NtHypervisor;
    type Transport = RingTransport<NtHypervisor>;
    type Clock = NtClock;
    type Wait = EventWait;

    fn with_store<R>(
        &self,
        f: impl FnOnce(&mut StoreOf<Self>, &mut ChildWatches) -> R,
    ) -> Result<R, ServiceError> {
        if current_irql() != PASSIVE_LEVEL {
            return Err(ServiceError::Failed);
        }
        let mut timeout: LARGE_INTEGER = -(STORE_LOCK_TIMEOUT_MS * 10_000);
        // SAFETY: PASSIVE_LEVEL (checked); the event lives in the device extension, which
        // outlives this platform.
        let status = unsafe {
            KeWaitForSingleObject(
                self.store_mutex.cast(),
                Executive,
                KernelMode,
                FALSE,
                &mut timeout,
            )
        };
        if status != STATUS_SUCCESS {
            return Err(ServiceError::Failed);
        }
        // SAFETY: the mutex is held until the release below.
        let result = match unsafe { self.store_slot() } {
            Some((client, watches)) => Ok(f(client, watches)),
            None => Err(ServiceError::Failed),
        };
        // SAFETY: acquired above.
        unsafe { KeSetEvent(self.store_mutex, 0, FALSE) };
        result
    }

    fn with_grants<R>(&self, f: impl FnOnce(&mut GrantTable) -> R) -> Result<R, ServiceError> {
        if current_irql() > DISPATCH_LEVEL {
            return Err(ServiceError::Failed);
        }
        let mut grants = self.grants.lock();
        Ok(f(&mut *grants))
    }

    fn with_events<R>(&self, f: impl FnOnce(&mut EventChannels) -> R) -> Result<R, ServiceError> {
        if current_irql() > DISPATCH_LEVEL {
            return Err(ServiceError::Failed);
        }
        let mut events = self.events.lock();
        Ok(f(&mut *events))
    }

    fn hypervisor(&self) -> &NtHypervisor {
        &self.hv
    }

    fn own_domid(&self) -> DomainId {
        DomainId(self.domid.load(Ordering::Acquire) as u16)
    }

    /// The current thread (in a DPC, the thread it interrupted: not one that can be running
    /// elsewhere at the same time, which is all the unbind check needs).
    fn context_id(&self) -> usize {
        // SAFETY: no preconditions; any IRQL.
        unsafe { KeGetCurrentThread() as usize }
    }

    /// At PASSIVE_LEVEL (unwatch, or an unbind from a thread) a short sleep; above it (an
    /// unbind from a DPC) a spin: the handler it waits for runs on another CPU.
    fn pause(&self) {
        if current_irql() == PASSIVE_LEVEL {
            let mut interval: LARGE_INTEGER = -(UNBIND_POLL_MS * 10_000);
            // SAFETY: PASSIVE_LEVEL (checked); the interval lives for the call.
            unsafe { KeDelayExecutionThread(KernelMode, FALSE, &mut interval) };
        } else {
            core::hint::spin_loop();
        }
    }
}
