//! The backend half of a ring: consumes requests, produces responses (for simulated backends).

use core::marker::PhantomData;
use core::sync::atomic::{fence, Ordering};

use xen_hal::SharedMemory;

use crate::error::RingError;
use crate::layout::{RingEntry, RingLayout, SharedRing, REQ_EVENT, REQ_PROD, RSP_EVENT, RSP_PROD};
use crate::slot::Slot;

/// The backend's view of a shared ring (`struct *_back_ring` of `io/ring.h`).
///
/// The host-test simulator's blkback and netback use it. Requests are taken in batches as on the
/// frontend: [`BackRing::unconsumed_requests`] reads and checks `req_prod` once,
/// [`BackRing::take_request`] copies requests out up to the checked point; responses are filled
/// in place with [`BackRing::push_response_with`]. The frontend is the peer here: a
/// `req_prod` more than a ring's worth ahead of the responses wedges the ring in
/// [`RingError::RequestProducerOverflow`].
#[derive(Debug)]
pub struct BackRing<Req, Rsp> {
    ring: SharedRing<Req, Rsp>,
    /// Next response slot to fill (private).
    rsp_prod_pvt: u32,
    /// The `rsp_prod` this side last published.
    rsp_prod: u32,
    /// Next request to consume.
    req_cons: u32,
    /// End of the checked batch (set by `unconsumed_requests`): requests below it may be taken
    /// without re-reading `req_prod`.
    req_limit: u32,
    failed: Option<RingError>,
    _entries: PhantomData<fn(Req) -> Rsp>,
}

impl<Req: RingEntry, Rsp: RingEntry> BackRing<Req, Rsp> {
    /// Attaches to a ring the frontend initialised (`BACK_RING_ATTACH` at the shared
    /// `rsp_prod`): requests published beyond it are pending.
    pub fn attach(mem: SharedMemory) -> Result<Self, RingError> {
        let ring = SharedRing::new(mem)?;
        let rsp_prod = ring.load(RSP_PROD, Ordering::Acquire)?;
        Ok(BackRing {
            ring,
            rsp_prod_pvt: rsp_prod,
            rsp_prod,
            req_cons: rsp_prod,
            req_limit: rsp_prod,
            failed: None,
            _entries: PhantomData,
        })
    }

    /// The ring's layout.
    pub fn layout(&self) -> RingLayout {
        self.ring.layout
    }

    /// Number of entries (`RING_SIZE`).
    pub fn size(&self) -> u32 {
        self.ring.layout.entries()
    }

    /// The request consumer index (next request to read).
    pub fn req_cons(&self) -> u32 {
        self.req_cons
    }

    /// The private response producer index (next slot to fill).
    pub fn rsp_prod_pvt(&self) -> u32 {
        self.rsp_prod_pvt
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

    fn fail(&mut self, e: RingError) -> RingError {
        if e.is_terminal() {
            self.failed = Some(e);
        }
        e
    }

    /// Requests consumed and not yet answered.
    pub fn pending_responses(&self) -> u32 {
        self.req_cons.wrapping_sub(self.rsp_prod_pvt)
    }

    /// Number of requests published and not yet consumed (`RING_HAS_UNCONSUMED_REQUESTS`:
    /// limited by the slots not taken by unanswered requests), after checking the frontend's
    /// `req_prod` (`RING_REQUEST_PROD_OVERFLOW`; one read of `req_prod`). They can then be taken
    /// with [`BackRing::take_request`].
    pub fn unconsumed_requests(&mut self) -> Result<u32, RingError> {
        self.check()?;
        let req_prod = match self.ring.load(REQ_PROD, Ordering::Acquire) {
            Ok(value) => value,
            Err(e) => return Err(self.fail(e)),
        };
        if req_prod.wrapping_sub(self.rsp_prod_pvt) > self.size() {
            return Err(self.fail(RingError::RequestProducerOverflow {
                req_prod,
                rsp_prod_pvt: self.rsp_prod_pvt,
            }));
        }
        let published = req_prod.wrapping_sub(self.req_cons);
        let room = self.size().saturating_sub(self.pending_responses());
        let count = published.min(room);
        self.req_limit = self.req_cons.wrapping_add(count);
        Ok(count)
    }

    /// Copies out the next request of the batch last checked by
    /// [`BackRing::unconsumed_requests`] or [`BackRing::final_check_for_requests`], without
    /// reading `req_prod` again; `None` when that batch is used up.
    pub fn take_request(&mut self) -> Result<Option<Req>, RingError> {
        self.check()?;
        if self.req_cons == self.req_limit {
            return Ok(None);
        }
        self.read_request()
    }

    /// As [`BackRing::take_request`], copying the request straight into `dst` (its final
    /// place); returns whether there was one. `dst` is left as it was if there was none.
    #[inline]
    pub fn take_request_into(&mut self, dst: &mut Req) -> Result<bool, RingError> {
        self.check()?;
        if self.req_cons == self.req_limit {
            return Ok(false);
        }
        match self
            .ring
            .request(self.req_cons)
            .map(|entry| entry.read_into(dst))
        {
            Ok(()) => {
                self.req_cons = self.req_cons.wrapping_add(1);
                Ok(true)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Copies out the next request, if the frontend has published one.
    pub fn next_request(&mut self) -> Result<Option<Req>, RingError> {
        if self.unconsumed_requests()? == 0 {
            return Ok(None);
        }
        self.read_request()
    }

    fn read_request(&mut self) -> Result<Option<Req>, RingError> {
        match self.ring.request(self.req_cons).map(|entry| entry.read()) {
            Ok(request) => {
                self.req_cons = self.req_cons.wrapping_add(1);
                Ok(Some(request))
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Fills the slot at `rsp_prod_pvt` in place through `fill` and advances it; only as many
    /// responses as requests were consumed can be pushed. If `fill` fails the slot is not used.
    pub fn push_response_with<R>(
        &mut self,
        fill: impl FnOnce(&mut Slot<'_, Rsp>) -> Result<R, RingError>,
    ) -> Result<R, RingError> {
        self.check()?;
        if self.pending_responses() == 0 {
            return Err(RingError::NoRequestToAnswer);
        }
        let mut slot = match self.ring.response(self.rsp_prod_pvt).map(Slot::new) {
            Ok(slot) => slot,
            Err(e) => return Err(self.fail(e)),
        };
        match fill(&mut slot) {
            Ok(value) => {
                self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
                Ok(value)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Copies `response` into the slot at `rsp_prod_pvt`; only as many responses as requests
    /// were consumed can be pushed.
    pub fn push_response(&mut self, response: &Rsp) -> Result<(), RingError> {
        self.check()?;
        if self.pending_responses() == 0 {
            return Err(RingError::NoRequestToAnswer);
        }
        if let Err(e) = self
            .ring
            .response(self.rsp_prod_pvt)
            .map(|entry| entry.write(response))
        {
            return Err(self.fail(e));
        }
        self.rsp_prod_pvt = self.rsp_prod_pvt.wrapping_add(1);
        Ok(())
    }

    /// Publishes the pushed responses (`RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`) and returns
    /// whether the frontend asked to be notified: its `rsp_event` lies in `(old, new]`.
    pub fn push_responses_and_check_notify(&mut self) -> Result<bool, RingError> {
        self.check()?;
        let (old, new) = (self.rsp_prod, self.rsp_prod_pvt);
        match self.ring.publish(RSP_PROD, RSP_EVENT, old, new) {
            Ok(notify) => {
                self.rsp_prod = new;
                Ok(notify)
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// `RING_FINAL_CHECK_FOR_REQUESTS`: returns whether requests are waiting; if none are,
    /// first sets `req_event = req_cons + 1` and checks again.
    pub fn final_check_for_requests(&mut self) -> Result<bool, RingError> {
        if self.unconsumed_requests()? > 0 {
            return Ok(true);
        }
        if let Err(e) = self
            .ring
            .store(REQ_EVENT, self.req_cons.wrapping_add(1), Ordering::Relaxed)
        {
            return Err(self.fail(e));
        }
        fence(Ordering::SeqCst);
        Ok(self.unconsumed_requests()? > 0)
    }
}
