//! The layout of a shared ring: header offsets, entry size and count.

use core::mem::{align_of, offset_of, size_of};
use core::sync::atomic::{fence, Ordering};

use xen_hal::{OutOfBounds, SharedArray, SharedMemory, SharedObject, PAGE_SIZE};
use xen_public_headers::io::ring::{round_down_pow2, sring_header};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::RingError;

/// A type that can travel through a ring: plain data with no padding or invalid bit patterns.
pub trait RingEntry: FromBytes + IntoBytes + Immutable + KnownLayout {}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout> RingEntry for T {}

/// Offset of `req_prod` in the shared header.
pub const REQ_PROD: usize = offset_of!(sring_header, req_prod);
/// Offset of `req_event` in the shared header.
pub const REQ_EVENT: usize = offset_of!(sring_header, req_event);
/// Offset of `rsp_prod` in the shared header.
pub const RSP_PROD: usize = offset_of!(sring_header, rsp_prod);
/// Offset of `rsp_event` in the shared header.
pub const RSP_EVENT: usize = offset_of!(sring_header, rsp_event);
/// Size of the shared header (four indices and padding); the entries start here.
pub const HEADER_SIZE: usize = size_of::<sring_header>();

/// The largest ring page order accepted by [`RingLayout::for_order`] (16 pages), as Linux's
/// `XENBUS_MAX_RING_GRANT_ORDER`.
pub const MAX_RING_PAGE_ORDER: u32 = 4;

/// Where the entries of a ring lie and how many there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingLayout {
    entries: u32,
    entry_size: usize,
    bytes: usize,
}

impl RingLayout {
    /// The layout of a ring of `Req`/`Rsp` entries in a region of `bytes` bytes: as many entries
    /// of `max(size_of Req, size_of Rsp)` (rounded up to the larger alignment, as a C union) as
    /// fit after the header, rounded down to a power of two.
    pub fn new<Req: RingEntry, Rsp: RingEntry>(bytes: usize) -> Result<Self, RingError> {
        let align = align_of::<Req>().max(align_of::<Rsp>());
        if align > HEADER_SIZE {
            return Err(RingError::EntryAlignment { align });
        }
        let size = size_of::<Req>().max(size_of::<Rsp>());
        if size == 0 {
            return Err(RingError::ZeroSizedEntry);
        }
        // `align` is a power of two no larger than 64 and `size` a type's size: no overflow.
        let entry_size = size.div_ceil(align) * align;
        let room = bytes.saturating_sub(HEADER_SIZE) / entry_size;
        if room == 0 {
            return Err(RingError::RegionTooSmall { len: bytes });
        }
        // Largest power of two not above `room` (`__RD32`); at most 2^31, so index distances
        // fit a `u32`.
        let entries = round_down_pow2(u32::try_from(room).unwrap_or(u32::MAX));
        Ok(RingLayout {
            entries,
            entry_size,
            bytes,
        })
    }

    /// The layout of a ring of `2^order` pages.
    pub fn for_order<Req: RingEntry, Rsp: RingEntry>(order: u32) -> Result<Self, RingError> {
        Self::new::<Req, Rsp>(Self::order_bytes(order)?)
    }

    /// The size in bytes of a ring of `2^order` pages.
    pub fn order_bytes(order: u32) -> Result<usize, RingError> {
        if order > MAX_RING_PAGE_ORDER {
            return Err(RingError::OrderTooLarge { order });
        }
        Ok(PAGE_SIZE << order)
    }

    /// Number of entries (a power of two).
    pub fn entries(&self) -> u32 {
        self.entries
    }

    /// Size of one entry in bytes.
    pub fn entry_size(&self) -> usize {
        self.entry_size
    }

    /// Size of the whole shared region in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Offset of the entry that ring index `index` names.
    pub fn slot_offset(&self, index: u32) -> usize {
        let slot = (index & (self.entries - 1)) as usize;
        HEADER_SIZE + slot * self.entry_size
    }
}

/// A shared region with its layout and its entries (checked once, at attach): the accessors
/// both ring halves use.
#[derive(Debug)]
pub(crate) struct SharedRing<Req, Rsp> {
    pub(crate) mem: SharedMemory,
    pub(crate) layout: RingLayout,
    requests: SharedArray<Req>,
    responses: SharedArray<Rsp>,
}

impl<Req: RingEntry, Rsp: RingEntry> SharedRing<Req, Rsp> {
    pub(crate) fn new(mem: SharedMemory) -> Result<Self, RingError> {
        let layout = RingLayout::new::<Req, Rsp>(mem.len())?;
        // Checks that the header indices are reachable and aligned before anything is trusted.
        mem.load_u32(RSP_EVENT, Ordering::Relaxed)?;
        // Every entry inside the region and aligned, checked once here.
        let entries = layout.entries() as usize;
        let requests = mem.array(HEADER_SIZE, layout.entry_size(), entries)?;
        let responses = mem.array(HEADER_SIZE, layout.entry_size(), entries)?;
        Ok(SharedRing {
            mem,
            layout,
            requests,
            responses,
        })
    }

    pub(crate) fn load(&self, offset: usize, order: Ordering) -> Result<u32, RingError> {
        Ok(self.mem.load_u32(offset, order)?)
    }

    pub(crate) fn store(
        &self,
        offset: usize,
        value: u32,
        order: Ordering,
    ) -> Result<(), RingError> {
        Ok(self.mem.store_u32(offset, value, order)?)
    }

    fn slot_index(&self, index: u32) -> usize {
        (index & (self.layout.entries() - 1)) as usize
    }

    fn missing<T>(&self, index: u32) -> RingError {
        RingError::Memory(OutOfBounds {
            offset: self.layout.slot_offset(index),
            len: size_of::<T>(),
        })
    }

    /// The request entry that ring index `index` names.
    #[inline]
    pub(crate) fn request(&self, index: u32) -> Result<SharedObject<Req>, RingError> {
        self.requests
            .get(self.slot_index(index))
            .ok_or_else(|| self.missing::<Req>(index))
    }

    /// The response entry that ring index `index` names.
    #[inline]
    pub(crate) fn response(&self, index: u32) -> Result<SharedObject<Rsp>, RingError> {
        self.responses
            .get(self.slot_index(index))
            .ok_or_else(|| self.missing::<Rsp>(index))
    }

    /// Publishes producer index `new` at `prod` (the peer last saw `old`) and returns whether
    /// the peer asked to be notified through its event index at `event`: the common step of
    /// `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY` and `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`.
    pub(crate) fn publish(
        &self,
        prod: usize,
        event: usize,
        old: u32,
        new: u32,
    ) -> Result<bool, RingError> {
        // The peer must see the entries before the index that publishes them.
        fence(Ordering::Release);
        self.store(prod, new, Ordering::Release)?;
        // The peer must see the new index before we read its event index.
        fence(Ordering::SeqCst);
        let event = self.load(event, Ordering::Relaxed)?;
        Ok(needs_notify(old, new, event))
    }
}

/// The notification rule of `io/ring.h`: notify iff the peer's event index lies in
/// `(old, new]`, computed with wrapping arithmetic.
pub fn needs_notify(old: u32, new: u32, event: u32) -> bool {
    new.wrapping_sub(event) < new.wrapping_sub(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_matches_io_ring_h() {
        assert_eq!((REQ_PROD, REQ_EVENT, RSP_PROD, RSP_EVENT), (0, 4, 8, 12));
        assert_eq!(HEADER_SIZE, 64);
    }

    #[test]
    fn agrees_with_const_ring_size() {
        use xen_public_headers::io::ring::const_ring_size;
        macro_rules! check {
            ($($n:literal)*) => {$(
                for order in 0..=MAX_RING_PAGE_ORDER {
                    let layout = RingLayout::for_order::<[u8; $n], u8>(order).unwrap();
                    assert_eq!(layout.entries(), const_ring_size(1 << order, $n), "{} {}", $n, order);
                }
            )*};
        }
        check!(8 12 16 24 64 100 112 120 2000 4032);
    }

    #[test]
    fn blkif_sized_entries_fill_one_page_with_32() {
        // 112-byte requests (blkif_request) and 12-byte responses, one 4 KiB page: 4032 / 112 = 36
        // entries fit, rounded down to 32, as Linux's BLK_RING_SIZE for one page.
        let layout = RingLayout::new::<[u64; 14], [u32; 3]>(4096).unwrap();
        assert_eq!(layout.entry_size(), 112);
        assert_eq!(layout.entries(), 32);
        assert_eq!(layout.slot_offset(0), 64);
        assert_eq!(layout.slot_offset(33), 64 + 112);
        let order2 = RingLayout::for_order::<[u64; 14], [u32; 3]>(2).unwrap();
        assert_eq!(order2.entries(), 128);
        assert_eq!(order2.bytes(), 16384);
    }

    #[test]
    fn entry_size_is_rounded_to_the_union_alignment() {
        let layout = RingLayout::new::<[u32; 3], u64>(4096).unwrap();
        assert_eq!(layout.entry_size(), 16);
        assert_eq!(layout.entries(), 128);
    }

    #[test]
    fn bad_layouts_are_errors() {
        assert_eq!(
            RingLayout::new::<(), ()>(4096),
            Err(RingError::ZeroSizedEntry)
        );
        assert_eq!(
            RingLayout::new::<[u8; 100], u8>(163),
            Err(RingError::RegionTooSmall { len: 163 })
        );
        assert_eq!(RingLayout::new::<[u8; 100], u8>(164).unwrap().entries(), 1);
        assert_eq!(
            RingLayout::new::<u8, u8>(10),
            Err(RingError::RegionTooSmall { len: 10 })
        );
        assert_eq!(
            RingLayout::for_order::<u8, u8>(MAX_RING_PAGE_ORDER + 1),
            Err(RingError::OrderTooLarge {
                order: MAX_RING_PAGE_ORDER + 1
            })
        );
    }

    #[test]
    fn huge_regions_cap_at_two_to_the_31() {
        let layout = RingLayout::new::<u8, u8>(usize::MAX).unwrap();
        assert_eq!(layout.entries(), 1 << 31);
    }

    #[test]
    fn notify_rule_matches_the_interval() {
        assert!(needs_notify(0, 1, 1));
        assert!(!needs_notify(0, 1, 2));
        assert!(!needs_notify(1, 1, 1));
        assert!(needs_notify(u32::MAX - 1, 2, 0));
        assert!(needs_notify(u32::MAX - 1, 2, u32::MAX));
        assert!(!needs_notify(u32::MAX - 1, 2, u32::MAX - 1));
        assert!(!needs_notify(u32::MAX - 1, 2, 3));
    }
}
