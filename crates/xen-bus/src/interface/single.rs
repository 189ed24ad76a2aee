//! [`PlatformAccess`] with `RefCell`s, for single-threaded users (host tests against xen-sim,
//! the testbed guest). Re-entry (a callback that calls back into the services while they are
//! busy) is refused with [`ServiceError::Failed`], never a panic: every borrow is a
//! `try_borrow_mut`.

use core::cell::RefCell;

use xen_evtchn::EventChannels;
use xen_grant::GrantTable;
use xen_hal::{Clock, DomainId, Hypervisor};
use xenstore::{Client, Transport, Wait};

use super::shared::{ChildWatches, PlatformAccess, PlatformServices};
use super::ServiceError;

/// The platform objects behind `RefCell`s.
pub struct RefCellPlatform<H: Hypervisor, T: Transport, C: Clock, W: Wait> {
    hv: H,
    store: RefCell<(Client<T, C, W>, ChildWatches)>,
    grants: RefCell<GrantTable>,
    channels: RefCell<EventChannels>,
    domid: DomainId,
}

/// The child services for single-threaded users.
pub type SingleThreadServices<H, T, C, W> = PlatformServices<RefCellPlatform<H, T, C, W>>;

impl<H: Hypervisor, T: Transport, C: Clock, W: Wait> RefCellPlatform<H, T, C, W> {
    /// The objects of domain `domid`.
    pub fn new(
        hv: H,
        store: Client<T, C, W>,
        grants: GrantTable,
        channels: EventChannels,
        domid: DomainId,
    ) -> Self {
        RefCellPlatform {
            hv,
            store: RefCell::new((store, ChildWatches::new())),
            grants: RefCell::new(grants),
            channels: RefCell::new(channels),
            domid,
        }
    }

    /// The event channels (the upcall handler dispatches through them).
    pub fn channels(&self) -> &RefCell<EventChannels> {
        &self.channels
    }

    /// Reads what xenstore already sent (watch events), without blocking.
    pub fn poll_store(&self) -> Result<(), ServiceError> {
        let mut store = self
            .store
            .try_borrow_mut()
            .map_err(|_| ServiceError::Failed)?;
        store.0.pump().map_err(ServiceError::from)
    }
}

impl<H: Hypervisor, T: Transport, C: Clock, W: Wait> PlatformAccess
    for RefCellPlatform<H, T, C, W>
{
    type Hv = H;
    type Transport = T;
    type Clock = C;
    type Wait = W;

    fn with_store<R>(
        &self,
        f: impl FnOnce(&mut Client<T, C, W>, &mut ChildWatches) -> R,
    ) -> Result<R, ServiceError> {
        let mut guard = self
            .store
            .try_borrow_mut()
            .map_err(|_| ServiceError::Failed)?;
        let (store, watches) = &mut *guard;
        Ok(f(store, watches))
    }

    fn with_grants<R>(&self, f: impl FnOnce(&mut GrantTable) -> R) -> Result<R, ServiceError> {
        let mut grants = self
            .grants
            .try_borrow_mut()
            .map_err(|_| ServiceError::Failed)?;
        Ok(f(&mut grants))
    }

    fn with_events<R>(&self, f: impl FnOnce(&mut EventChannels) -> R) -> Result<R, ServiceError> {
        let mut channels = self
            .channels
            .try_borrow_mut()
            .map_err(|_| ServiceError::Failed)?;
        Ok(f(&mut channels))
    }

    fn hypervisor(&self) -> &H {
        &self.hv
    }

    fn own_domid(&self) -> DomainId {
        self.domid
    }

    /// One context: single-threaded users never run a callback alongside an unbind.
    fn context_id(&self) -> usize {
        1
    }
}
