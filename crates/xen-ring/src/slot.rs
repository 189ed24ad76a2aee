//! In-place filling of one ring entry.

use core::marker::PhantomData;

use xen_hal::SharedObject;
use zerocopy::{Immutable, IntoBytes};

use crate::error::RingError;
use crate::layout::RingEntry;

/// The entry a producer is filling, written straight into shared memory (no value of `T` is
/// built and copied first). Handed out by [`crate::FrontRing::push_request_with`] and
/// [`crate::BackRing::push_response_with`]; the entry becomes visible to the peer only when the
/// producer publishes.
///
/// The slot is private to the producer until then, so what is written is what is published;
/// nothing is ever read back from it.
#[derive(Debug)]
pub struct Slot<'a, T> {
    entry: SharedObject<T>,
    _ring: PhantomData<&'a mut ()>,
}

impl<T: RingEntry> Slot<'_, T> {
    pub(crate) fn new(entry: SharedObject<T>) -> Self {
        Slot {
            entry,
            _ring: PhantomData,
        }
    }

    /// Writes the whole entry (one copy in the widest aligned units).
    #[inline]
    pub fn write(&mut self, value: &T) -> Result<(), RingError> {
        self.entry.write(value);
        Ok(())
    }

    /// Writes `value` at byte `field_offset` of the entry (use `core::mem::offset_of!`), for
    /// filling only the fields a request uses, such as the first `nr_segments` segments of a
    /// `blkif_request`; an aligned field of up to 8 bytes is one store, as in C. A value
    /// reaching past the entry is refused with [`RingError::OutsideEntry`] and nothing is
    /// written.
    #[inline]
    pub fn write_at<V: IntoBytes + Immutable>(
        &mut self,
        field_offset: usize,
        value: &V,
    ) -> Result<(), RingError> {
        self.entry
            .write_at(field_offset, value)
            .map_err(|e| RingError::OutsideEntry {
                offset: e.offset,
                len: e.len,
            })
    }

    /// Zeroes the whole entry (before filling a few fields of an otherwise zero entry).
    #[inline]
    pub fn zero(&mut self) -> Result<(), RingError> {
        self.entry.write(&T::new_zeroed());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use core::sync::atomic::Ordering;

    use xen_hal::fake::HeapPages;

    use crate::layout::{REQ_PROD, RSP_PROD};
    use crate::{BackRing, FrontRing, RingError};

    type Front = FrontRing<[u64; 14], [u64; 2]>;
    type Back = BackRing<[u64; 14], [u64; 2]>;

    #[test]
    fn requests_filled_in_place_reach_the_backend() {
        let pages = HeapPages::new(1).unwrap();
        let mut front = Front::init(pages.memory()).unwrap();
        let mut back = Back::attach(pages.memory()).unwrap();
        for n in 0..3u64 {
            let got = front
                .push_request_with(|slot| {
                    slot.write_at(0, &[n, 100 + n])?;
                    slot.write_at(13 * 8, &(200 + n))?;
                    Ok(n * 2)
                })
                .unwrap();
            assert_eq!(got, n * 2);
        }
        front.push_requests_and_check_notify().unwrap();
        assert_eq!(back.unconsumed_requests(), Ok(3));
        for n in 0..3u64 {
            let request = back.take_request().unwrap().unwrap();
            assert_eq!((request[0], request[1], request[13]), (n, 100 + n, 200 + n));
            // Fields not written keep the zeroes of `init`.
            assert!(request[2..13].iter().all(|&w| w == 0));
            back.push_response_with(|slot| slot.write(&[request[0], 1]))
                .unwrap();
        }
        assert_eq!(back.take_request(), Ok(None));
        back.push_responses_and_check_notify().unwrap();
        assert_eq!(front.unconsumed_responses(), Ok(3));
        for n in 0..3u64 {
            assert_eq!(front.take_response(), Ok(Some([n, 1])));
        }
        assert_eq!(front.take_response(), Ok(None));
    }

    #[test]
    fn a_field_outside_the_entry_or_a_failed_fill_uses_no_slot() {
        let pages = HeapPages::new(1).unwrap();
        let mut front = Front::init(pages.memory()).unwrap();
        let before = front.req_prod_pvt();
        assert_eq!(
            front.push_request_with(|slot| slot.write_at(13 * 8, &[1u64, 2])),
            Err(RingError::OutsideEntry {
                offset: 104,
                len: 16
            })
        );
        assert_eq!(
            front.push_request_with(|slot| slot.write_at(usize::MAX, &1u8)),
            Err(RingError::OutsideEntry {
                offset: usize::MAX,
                len: 1
            })
        );
        assert_eq!(front.req_prod_pvt(), before);
        // A caller's mistake does not wedge the ring.
        assert_eq!(front.error(), None);
        front.push_request_with(|slot| slot.zero()).unwrap();
        assert_eq!(front.req_prod_pvt(), before.wrapping_add(1));
    }

    #[test]
    fn a_batch_reads_the_producer_index_once() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        let mut front = Front::init(mem).unwrap();
        let mut back = Back::attach(mem).unwrap();
        for _ in 0..4 {
            front.push_request(&[9; 14]).unwrap();
        }
        front.push_requests_and_check_notify().unwrap();
        assert_eq!(back.unconsumed_requests(), Ok(4));
        back.take_request().unwrap().unwrap();
        back.push_response(&[0, 0]).unwrap();
        back.push_responses_and_check_notify().unwrap();
        assert_eq!(front.unconsumed_responses(), Ok(1));
        // The backend now claims far more responses than requests: the batch already checked
        // is taken without seeing it, and the next check wedges the ring.
        mem.store_u32(RSP_PROD, 1000, Ordering::Release).unwrap();
        assert_eq!(front.take_response(), Ok(Some([0, 0])));
        assert_eq!(front.take_response(), Ok(None));
        let wedged = front.unconsumed_responses().unwrap_err();
        assert!(wedged.is_peer_fault());
        assert_eq!(front.take_response(), Err(wedged));
        assert_eq!(front.push_request_with(|slot| slot.zero()), Err(wedged));

        // The same on the backend side with a frontend that overruns `req_prod`: the three
        // requests left of the checked batch are taken, nothing more.
        mem.store_u32(REQ_PROD, 500, Ordering::Release).unwrap();
        for _ in 0..3 {
            assert_eq!(back.take_request(), Ok(Some([9; 14])));
        }
        assert_eq!(back.take_request(), Ok(None));
        let wedged = back.unconsumed_requests().unwrap_err();
        assert!(wedged.is_peer_fault());
        assert_eq!(back.take_request(), Err(wedged));
    }
}
