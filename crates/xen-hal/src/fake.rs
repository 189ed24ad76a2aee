//! Fakes of the OS capabilities for host tests (enabled by the `test-utils` feature).
//!
//! The fake hypervisor with Xen's semantics lives in the `xen-sim` crate; the fakes here are
//! the plain OS services: pages, port I/O and time.

use alloc::alloc::{alloc_zeroed, dealloc, Layout};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::ptr::NonNull;

use crate::error::AllocError;
use crate::memory::{MapError, PageAllocator, PageRange, PhysicalMapper, PAGE_SHIFT, PAGE_SIZE};
use crate::port_io::PortIo;
use crate::shared::SharedMemory;
use crate::time::{Clock, Instant};
use crate::types::Pfn;

/// Page-aligned, zeroed pages on the heap, freed on drop. Their fake frame number is the
/// address shifted by [`PAGE_SHIFT`], so it is unique for as long as they live.
pub struct HeapPages {
    base: NonNull<u8>,
    count: usize,
}

// SAFETY: `HeapPages` owns its allocation exclusively; access goes through `SharedMemory`,
// which only uses volatile and atomic operations.
unsafe impl Send for HeapPages {}
// SAFETY: as for `Send`.
unsafe impl Sync for HeapPages {}

impl HeapPages {
    fn layout(count: usize) -> Result<Layout, AllocError> {
        let size = count.checked_mul(PAGE_SIZE).ok_or(AllocError)?;
        Layout::from_size_align(size.max(PAGE_SIZE), PAGE_SIZE).map_err(|_| AllocError)
    }

    /// Allocates `count` zeroed pages.
    pub fn new(count: usize) -> Result<Self, AllocError> {
        let layout = Self::layout(count)?;
        // SAFETY: `layout` has a non-zero size (at least one page).
        let ptr = unsafe { alloc_zeroed(layout) };
        let base = NonNull::new(ptr).ok_or(AllocError)?;
        Ok(HeapPages { base, count })
    }

    /// The pages as shared memory, valid while `self` lives.
    pub fn memory(&self) -> SharedMemory {
        // SAFETY: the allocation is `count` pages long, owned by `self`, and only reached through
        // `SharedMemory` windows, which the caller uses while `self` lives.
        unsafe { SharedMemory::new(self.base, self.count * PAGE_SIZE) }
    }

    /// The fake frame number of the first page.
    pub fn pfn(&self) -> Pfn {
        Pfn(self.base.as_ptr() as u64 >> PAGE_SHIFT)
    }

    /// The pages as a [`PageRange`].
    pub fn range(&self) -> PageRange {
        PageRange {
            memory: self.memory(),
            pfn: self.pfn(),
            count: self.count,
        }
    }
}

impl Drop for HeapPages {
    fn drop(&mut self) {
        if let Ok(layout) = Self::layout(self.count) {
            // SAFETY: allocated in `new` with this same layout, freed once here.
            unsafe { dealloc(self.base.as_ptr(), layout) };
        }
    }
}

/// First frame number of [`FakePageAllocator::small_frames`] (1 MiB, as a guest's low RAM).
pub const FIRST_SMALL_PFN: u64 = 0x100;

/// A page allocator over the heap that counts what is outstanding and can be told to fail.
///
/// Frames are numbered in one of two ways. [`FakePageAllocator::new`] numbers a frame by its
/// host address (>> 12): simple, but on x86_64 hosts wider than the 32 bits a v1 grant entry
/// holds. [`FakePageAllocator::small_frames`] hands out small numbers from
/// [`FIRST_SMALL_PFN`] up, one unused frame after each allocation (runs never look
/// contiguous by accident) and never reused (a stale reference finds nothing): what a guest's
/// RAM looks like to grants and to a simulated hypervisor.
#[derive(Default)]
pub struct FakePageAllocator {
    live: RefCell<BTreeMap<u64, HeapPages>>,
    fail_after: Cell<Option<usize>>,
    /// The next small frame number, in small-frame mode.
    next_small_pfn: Cell<Option<u64>>,
}

impl FakePageAllocator {
    /// A new allocator with nothing outstanding; frames numbered by host address.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new allocator with nothing outstanding; small frame numbers (see the type).
    pub fn small_frames() -> Self {
        FakePageAllocator {
            next_small_pfn: Cell::new(Some(FIRST_SMALL_PFN)),
            ..Self::default()
        }
    }

    /// Allocations succeed again after [`FakePageAllocator::fail_after`].
    pub fn stop_failing(&self) {
        self.fail_after.set(None);
    }

    /// Number of allocations not yet freed (leak checks).
    pub fn outstanding(&self) -> usize {
        self.live.borrow().len()
    }

    /// Makes every allocation after the next `n` fail (fallible-allocation tests).
    pub fn fail_after(&self, n: usize) {
        self.fail_after.set(Some(n));
    }

    /// Finds the live allocation holding frame `pfn` and returns a one-page window onto it
    /// (the simulator's way of "mapping" a guest frame).
    pub fn frame(&self, pfn: Pfn) -> Option<SharedMemory> {
        self.frames(pfn, 1)
    }

    /// A window onto `count` frames from `pfn`, if one live allocation holds them all.
    pub fn frames(&self, pfn: Pfn, count: usize) -> Option<SharedMemory> {
        let live = self.live.borrow();
        let (base, pages) = live.range(..=pfn.0).next_back()?;
        let index = usize::try_from(pfn.0 - base).ok()?;
        if count == 0 || index.checked_add(count)? > pages.count {
            return None;
        }
        pages
            .memory()
            .window(index * PAGE_SIZE, count * PAGE_SIZE)
            .ok()
    }
}

impl PhysicalMapper for FakePageAllocator {
    fn map_frames(&self, pfn: Pfn, count: usize) -> Result<SharedMemory, MapError> {
        self.frames(pfn, count).ok_or(MapError::NoSuchFrames)
    }

    unsafe fn unmap_frames(&self, _memory: SharedMemory) {}
}

impl PageAllocator for FakePageAllocator {
    fn alloc_pages(&self, count: usize) -> Result<PageRange, AllocError> {
        if let Some(n) = self.fail_after.get() {
            if n == 0 {
                return Err(AllocError);
            }
            self.fail_after.set(Some(n - 1));
        }
        if count == 0 {
            return Err(AllocError);
        }
        let pages = HeapPages::new(count)?;
        let mut range = pages.range();
        if let Some(next) = self.next_small_pfn.get() {
            range.pfn = Pfn(next);
            let after = u64::try_from(count)
                .ok()
                .and_then(|c| next.checked_add(c)?.checked_add(1))
                .ok_or(AllocError)?;
            self.next_small_pfn.set(Some(after));
        }
        self.live.borrow_mut().insert(range.pfn.0, pages);
        Ok(range)
    }

    unsafe fn free_pages(&self, range: PageRange) {
        self.live.borrow_mut().remove(&range.pfn.0);
    }
}

/// Port I/O that records writes and answers reads from a script (or a default per port).
#[derive(Default)]
pub struct FakePortIo {
    reads: RefCell<BTreeMap<u16, VecDeque<u32>>>,
    defaults: RefCell<BTreeMap<u16, u32>>,
    writes: RefCell<Vec<(u16, u32, u8)>>,
}

impl FakePortIo {
    /// A port space where every read returns all ones (no device), as on real hardware.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every read of `port` returns `value` unless a queued value is pending.
    pub fn set_default(&self, port: u16, value: u32) {
        self.defaults.borrow_mut().insert(port, value);
    }

    /// The next read of `port` returns `value`.
    pub fn queue_read(&self, port: u16, value: u32) {
        self.reads
            .borrow_mut()
            .entry(port)
            .or_default()
            .push_back(value);
    }

    /// Writes so far, as (port, value, width in bytes).
    pub fn writes(&self) -> Vec<(u16, u32, u8)> {
        self.writes.borrow().clone()
    }

    fn read(&self, port: u16, mask: u32) -> u32 {
        let queued = self
            .reads
            .borrow_mut()
            .get_mut(&port)
            .and_then(|q| q.pop_front());
        let value = queued
            .or_else(|| self.defaults.borrow().get(&port).copied())
            .unwrap_or(u32::MAX);
        value & mask
    }
}

impl PortIo for FakePortIo {
    fn read_u8(&self, port: u16) -> u8 {
        self.read(port, 0xFF) as u8
    }
    fn read_u16(&self, port: u16) -> u16 {
        self.read(port, 0xFFFF) as u16
    }
    fn read_u32(&self, port: u16) -> u32 {
        self.read(port, u32::MAX)
    }
    fn write_u8(&self, port: u16, value: u8) {
        self.writes.borrow_mut().push((port, u32::from(value), 1));
    }
    fn write_u16(&self, port: u16, value: u16) {
        self.writes.borrow_mut().push((port, u32::from(value), 2));
    }
    fn write_u32(&self, port: u16, value: u32) {
        self.writes.borrow_mut().push((port, value, 4));
    }
}

/// A clock that only moves when told to, or by the time a caller stalls.
#[derive(Default)]
pub struct FakeClock {
    now: Cell<u64>,
}

impl FakeClock {
    /// A clock at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `ns`.
    pub fn advance_ns(&self, ns: u64) {
        self.now.set(self.now.get().saturating_add(ns));
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        Instant(self.now.get())
    }
    fn stall_us(&self, us: u32) {
        self.advance_ns(u64::from(us) * 1000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::OwnedPages;

    #[test]
    fn small_frames_are_small_unique_and_found_by_number() {
        let ram = FakePageAllocator::small_frames();
        let first = OwnedPages::new(&ram, 2).unwrap();
        assert_eq!(first.pfn(), Pfn(FIRST_SMALL_PFN));
        let second = ram.alloc_pages(1).unwrap();
        // A gap of one frame: the two runs never look contiguous.
        assert_eq!(second.pfn, Pfn(FIRST_SMALL_PFN + 3));
        ram.frame(Pfn(first.pfn().0 + 1))
            .unwrap()
            .write_u8(3, 9)
            .unwrap();
        assert_eq!(first.memory().read_u8(PAGE_SIZE + 3), Ok(9));
        assert!(ram.frame(Pfn(first.pfn().0 + 2)).is_none());
        assert!(ram.map_frames(first.pfn(), 3).is_err());
        let old = first.pfn();
        drop(first);
        assert!(ram.frame(old).is_none());
        assert_eq!(ram.outstanding(), 1);
        // Freed numbers are never handed out again.
        let third = ram.alloc_pages(2).unwrap();
        assert_eq!(third.pfn, Pfn(FIRST_SMALL_PFN + 5));
        ram.fail_after(0);
        assert!(ram.alloc_pages(1).is_err());
        ram.stop_failing();
        assert!(ram.alloc_pages(1).is_ok());
        // SAFETY: test: the ranges came from `ram` and no window onto them is used again.
        unsafe { ram.free_pages(second) };
    }

    #[test]
    fn allocator_tracks_and_frees_pages() {
        let allocator = FakePageAllocator::new();
        {
            let pages = OwnedPages::new(&allocator, 3).unwrap();
            assert_eq!(allocator.outstanding(), 1);
            let second = allocator.frame(Pfn(pages.pfn().0 + 2)).unwrap();
            second.write_u8(5, 0xAB).unwrap();
            assert_eq!(pages.memory().read_u8(2 * PAGE_SIZE + 5), Ok(0xAB));
            assert!(allocator.frame(Pfn(pages.pfn().0 + 3)).is_none());
            assert!(allocator.map_frames(Pfn(pages.pfn().0 + 1), 2).is_ok());
            assert_eq!(
                allocator.map_frames(Pfn(pages.pfn().0 + 1), 3).err(),
                Some(MapError::NoSuchFrames)
            );
        }
        assert_eq!(allocator.outstanding(), 0);
        allocator.fail_after(1);
        assert!(allocator.alloc_pages(1).is_ok());
        assert_eq!(allocator.alloc_pages(1).err(), Some(AllocError));
    }

    #[test]
    fn port_io_scripts_reads_and_records_writes() {
        let io = FakePortIo::new();
        assert_eq!(io.read_u16(0x10), 0xFFFF);
        io.set_default(0x10, 0x49d2);
        io.queue_read(0x12, 1);
        assert_eq!(io.read_u16(0x10), 0x49d2);
        assert_eq!(io.read_u8(0x12), 1);
        assert_eq!(io.read_u8(0x12), 0xFF);
        io.write_u16(0x10, 3);
        assert_eq!(io.writes(), alloc::vec![(0x10, 3, 2)]);
    }

    #[test]
    fn clock_moves_by_stalls() {
        let clock = FakeClock::new();
        let deadline = clock.now().after_ms(1);
        clock.stall_us(999);
        assert!(clock.now() < deadline);
        clock.stall_us(1);
        assert!(clock.now() >= deadline);
    }
}
