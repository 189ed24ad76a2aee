//! The frontend half of a ring: produces requests, consumes responses.

use core::marker::PhantomData;
use core::sync::atomic::{fence, Ordering};

use xen_hal::SharedMemory;

use crate::error::RingError;
use crate::layout::{RingEntry, RingLayout, SharedRing, REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};
use crate::slot::Slot;

/// The frontend's view of a shared ring (`struct *_front_ring` of `io/ring.h`).
///
/// Requests are written into the ring privately, in place with [`FrontRing::push_request_with`]
/// or as whole values with [`FrontRing::push_request`], and published with
/// [`FrontRing::push_requests_and_check_notify`].
///
/// Responses are taken in batches, as `io/ring.h` users do: [`FrontRing::unconsumed_responses`]
/// (or [`FrontRing::final_check_for_responses`]) reads the backend's `rsp_prod` once, checks it
/// and remembers how far it allows consuming; [`FrontRing::take_response`] then copies out one
/// response after another up to there without touching the shared index again.
/// [`FrontRing::next_response`] does both steps for one response. A backend that publishes
/// more responses than requests were published wedges the ring in
/// [`RingError::ResponseProducerOverflow`].
#[derive(Debug)]
pub struct FrontRing<Req, Rsp> {
    ring: SharedRing<Req, Rsp>,
    /// Next request slot to fill (private).
    req_prod_pvt: u32,
    /// The `req_prod` this side last published (kept privately: the shared copy is writable
    /// by the peer).
    req_prod: u32,
    /// Next response to consume.
    rsp_cons: u32,
    /// End of the checked batch: responses below it may be taken without re-reading
    /// `rsp_prod` (set by `unconsumed_responses`, never beyond a checked `rsp_prod`).
    rsp_limit: u32,
    failed: Option<RingError>,
    _entries: PhantomData<fn(Req) -> Rsp>,
}

impl<Req: RingEntry, Rsp: RingEntry> FrontRing<Req, Rsp> {
    /// Initialises a fresh shared ring over all of `mem` (`SHARED_RING_INIT` +
    /// `FRONT_RING_INIT`): the region is zeroed, every index is 0 and both event indices are 1.
    pub fn init(mem: SharedMemory) -> Result<Self, RingError> {
        Self::init_at(mem, 0)
    }

    /// As [`FrontRing::init`], but all indices start at `start` (events at `start + 1`), so
    /// that tests can begin near `u32::MAX`.
    pub fn init_at(mem: SharedMemory, start: u32) -> Result<Self, RingError> {
        let ring = SharedRing::new(mem)?;
        // Zero everything, entries included, so no stale data reaches the backend.
        mem.fill(0, mem.len(), 0)?;
        ring.store(REQ_PROD, start, Ordering::Relaxed)?;
        ring.store(RSP_PROD, start, Ordering::Relaxed)?;
        ring.store(REQ_EVENT, start.wrapping_add(1), Ordering::Relaxed)?;
        ring.store(RSP_EVENT, start.wrapping_add(1), Ordering::Relaxed)?;
        // Publish the initialised header before the caller hands the ring to the backend.
        fence(Ordering::SeqCst);
        Ok(Self::with_indices(ring, start, start))
    }

    /// Attaches to a ring that is already initialised (for instance one kept across a
    /// suspend/resume): the requests published and not yet answered (`req_prod - rsp_prod`)
    /// stay outstanding; responses already published count as consumed.
    pub fn attach(mem: SharedMemory) -> Result<Self, RingError> {
        let ring = SharedRing::new(mem)?;
        let req_prod = ring.load(REQ_PROD, Ordering::Acquire)?;
        let rsp_prod = ring.load(RSP_PROD, Ordering::Acquire)?;
        if req_prod.wrapping_sub(rsp_prod) > ring.layout.entries() {
            return Err(RingError::InconsistentIndices { req_prod, rsp_prod });
        }
        Ok(Self::with_indices(ring, req_prod, rsp_prod))
    }

    fn with_indices(ring: SharedRing<Req, Rsp>, req_prod: u32, rsp_cons: u32) -> Self {
        FrontRing {
            ring,
            req_prod_pvt: req_prod,
            req_prod,
            rsp_cons,
            rsp_limit: rsp_cons,
            failed: None,
            _entries: PhantomData,
        }
    }

    /// The ring's layout.
    pub fn layout(&self) -> RingLayout {
        self.ring.layout
    }

    /// Number of entries (`RING_SIZE`).
    pub fn size(&self) -> u32 {
        self.ring.layout.entries()
    }

    /// The private request producer index (next slot to fill).
    pub fn req_prod_pvt(&self) -> u32 {
        self.req_prod_pvt
    }

    /// The response consumer index (next response to read).
    pub fn rsp_cons(&self) -> u32 {
        self.rsp_cons
    }

    /// The terminal error, if the ring is wedged.
    pub fn error(&self) -> Option<RingError> {
        self.failed
    }

    fn check(&self) -> Result<(), RingError> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Records `e` as terminal if it is, and returns it.
    fn fail(&mut self, e: RingError) -> RingError {
        if e.is_terminal() {
            self.failed = Some(e);
        }
        e
    }

    /// Number of request slots free (`RING_FREE_REQUESTS`); 0 once the ring is wedged.
    pub fn free_requests(&self) -> u32 {
        if self.failed.is_some() {
            return 0;
        }
        self.size()
            .saturating_sub(self.req_prod_pvt.wrapping_sub(self.rsp_cons))
    }

    /// Whether no request slot is free (`RING_FULL`).
    pub fn is_full(&self) -> bool {
        self.free_requests() == 0
    }

    /// Requests published and not yet answered.
    pub fn outstanding(&self) -> u32 {
        self.req_prod.wrapping_sub(self.rsp_cons)
    }

    /// Fills the slot at `req_prod_pvt` in place through `fill` and advances it; returns what
    /// `fill` returned. If `fill` fails the slot is not used (nothing was published). The
    /// backend sees the request only after [`FrontRing::push_requests_and_check_notify`].
    pub fn push_request_with<R>(
        &mut self,
        fill: impl FnOnce(&mut Slot<'_, Req>) -> Result<R, RingError>,
    ) -> Result<R, RingError> {
        self.check()?;
        if self.free_requests() == 0 {
            return Err(RingError::Full);
        }
        let mut slot = match self.ring.request(self.req_prod_pvt).map(Slot::new) {
            Ok(slot) => slot,
            Err(e) => return Err(self.fail(e)),
        };
        match fill(&mut slot) {
            Ok(value) => {
                self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
                Ok(value)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Copies `request` into the slot at `req_prod_pvt` (volatile) and advances it. The
    /// backend sees it only after [`FrontRing::push_requests_and_check_notify`].
    pub fn push_request(&mut self, request: &Req) -> Result<(), RingError> {
        self.check()?;
        if self.free_requests() == 0 {
            return Err(RingError::Full);
        }
        if let Err(e) = self
            .ring
            .request(self.req_prod_pvt)
            .map(|entry| entry.write(request))
        {
            return Err(self.fail(e));
        }
        self.req_prod_pvt = self.req_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes the pushed requests (`RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`) and returns
    /// whether the backend asked to be notified: its `req_event` lies in `(old, new]`.
    pub fn push_requests_and_check_notify(&mut self) -> Result<bool, RingError> {
        self.check()?;
        let (old, new) = (self.req_prod, self.req_prod_pvt);
        match self.ring.publish(REQ_PROD, REQ_EVENT, old, new) {
            Ok(notify) => {
                self.req_prod = new;
                Ok(notify)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Number of responses published and not yet consumed, after checking the backend's
    /// `rsp_prod` against the requests outstanding (one read of `rsp_prod`). They can then be
    /// taken with [`FrontRing::take_response`].
    pub fn unconsumed_responses(&mut self) -> Result<u32, RingError> {
        self.check()?;
        let rsp_prod = match self.ring.load(RSP_PROD, Ordering::Acquire) {
            Ok(value) => value,
            Err(e) => return Err(self.fail(e)),
        };
        let available = rsp_prod.wrapping_sub(self.rsp_cons);
        if available > self.outstanding() || available > self.size() {
            return Err(self.fail(RingError::ResponseProducerOverflow {
                rsp_prod,
                rsp_cons: self.rsp_cons,
                req_prod: self.req_prod,
            }));
        }
        self.rsp_limit = rsp_prod;
        Ok(available)
    }

    /// Copies out the next response of the batch last checked by
    /// [`FrontRing::unconsumed_responses`] or [`FrontRing::final_check_for_responses`], without
    /// reading `rsp_prod` again; `None` when that batch is used up. The copy is a snapshot:
    /// validate its fields before use.
    pub fn take_response(&mut self) -> Result<Option<Rsp>, RingError> {
        self.check()?;
        if self.rsp_cons == self.rsp_limit {
            return Ok(None);
        }
        self.read_response()
    }

    /// As [`FrontRing::take_response`], copying the response straight into `dst` (its final
    /// place: no further move of the copy); returns whether there was one. `dst` is left as
    /// it was if there was none.
    #[inline]
    pub fn take_response_into(&mut self, dst: &mut Rsp) -> Result<bool, RingError> {
        self.check()?;
        if self.rsp_cons == self.rsp_limit {
            return Ok(false);
        }
        match self
            .ring
            .response(self.rsp_cons)
            .map(|entry| entry.read_into(dst))
        {
            Ok(()) => {
                self.rsp_cons = self.rsp_cons.wrapping_add(1);
                Ok(true)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Copies out the next response, if the backend has published one (volatile reads after an
    /// acquire load of `rsp_prod`). The copy is a snapshot: validate its fields before use.
    pub fn next_response(&mut self) -> Result<Option<Rsp>, RingError> {
        if self.unconsumed_responses()? == 0 {
            return Ok(None);
        }
        self.read_response()
    }

    fn read_response(&mut self) -> Result<Option<Rsp>, RingError> {
        match self.ring.response(self.rsp_cons).map(|entry| entry.read()) {
            Ok(response) => {
                self.rsp_cons = self.rsp_cons.wrapping_add(1);
                Ok(Some(response))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// `RING_FINAL_CHECK_FOR_RESPONSES`: returns whether responses are waiting; if none are,
    /// first asks the backend to notify on the next one (`rsp_event = rsp_cons + 1`) and checks
    /// again, so that no response slips between the check and the request.
    pub fn final_check_for_responses(&mut self) -> Result<bool, RingError> {
        if self.unconsumed_responses()? > 0 {
            return Ok(true);
        }
        if let Err(e) = self
            .ring
            .store(RSP_EVENT, self.rsp_cons.wrapping_add(1), Ordering::Relaxed)
        {
            return Err(self.fail(e));
        }
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_responses()? > 0)
    }
}
