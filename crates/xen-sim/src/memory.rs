//! Guest RAM: heap pages numbered with small, never reused frame numbers.
//!
//! `xen_hal::fake::FakePageAllocator` numbers a frame by its host address (>> 12), which on
//! x86_64 hosts exceeds the 32 bits a v1 grant entry holds, so a grant of such a page cannot
//! even be written. Guest RAM here behaves like that allocator (zeroed, counted, can be told
//! to fail) but hands out frame numbers from 0x100 up, as a guest's low memory would be; a
//! freed frame number is never handed out again, so a stale reference finds nothing.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use xen_hal::fake::HeapPages;
use xen_hal::{
    AllocError, MapError, PageAllocator, PageRange, Pfn, PhysicalMapper, SharedMemory, PAGE_SIZE,
};

/// First frame number handed out (1 MiB).
const FIRST_PFN: u64 = 0x100;

/// A guest's RAM.
pub struct GuestMemory {
    live: RefCell<BTreeMap<u64, HeapPages>>,
    next_pfn: Cell<u64>,
    fail_after: Cell<Option<usize>>,
}

impl Default for GuestMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl GuestMemory {
    /// Empty RAM.
    pub fn new() -> GuestMemory {
        GuestMemory {
            live: RefCell::new(BTreeMap::new()),
            next_pfn: Cell::new(FIRST_PFN),
            fail_after: Cell::new(None),
        }
    }

    /// Number of allocations not yet freed (leak checks).
    pub fn outstanding(&self) -> usize {
        self.live.borrow().len()
    }

    /// Makes every allocation after the next `n` fail.
    pub fn fail_after(&self, n: usize) {
        self.fail_after.set(Some(n));
    }

    /// Allocations succeed again.
    pub fn stop_failing(&self) {
        self.fail_after.set(None);
    }

    /// A one-page window onto live frame `pfn`.
    pub fn frame(&self, pfn: Pfn) -> Option<SharedMemory> {
        self.frames(pfn, 1)
    }

    /// A window onto `count` live frames from `pfn`, if one allocation holds them all.
    pub fn frames(&self, pfn: Pfn, count: usize) -> Option<SharedMemory> {
        let live = self.live.borrow();
        let (base, pages) = live.range(..=pfn.0).next_back()?;
        let index = usize::try_from(pfn.0 - base).ok()?;
        let pages_count = pages.memory().len() / PAGE_SIZE;
        if count == 0 || index.checked_add(count)? > pages_count {
            return None;
        }
        pages
            .memory()
            .window(index * PAGE_SIZE, count * PAGE_SIZE)
            .ok()
    }
}

impl PageAllocator for GuestMemory {
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
        let pfn = Pfn(self.next_pfn.get());
        // One unused frame after every allocation, so runs never look contiguous by accident.
        self.next_pfn.set(pfn.0 + count as u64 + 1);
        let range = PageRange {
            memory: pages.memory(),
            pfn,
            count,
        };
        self.live.borrow_mut().insert(pfn.0, pages);
        Ok(range)
    }

    #[allow(unsafe_code)]
    unsafe fn free_pages(&self, range: PageRange) {
        // No unsafe operation: dropping the pages frees them; the caller promised no window
        // onto them is used again (the simulator looks frames up anew on every access).
        self.live.borrow_mut().remove(&range.pfn.0);
    }
}

impl PhysicalMapper for GuestMemory {
    fn map_frames(&self, pfn: Pfn, count: usize) -> Result<SharedMemory, MapError> {
        self.frames(pfn, count).ok_or(MapError::NoSuchFrames)
    }

    #[allow(unsafe_code)]
    unsafe fn unmap_frames(&self, _memory: SharedMemory) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use xen_hal::OwnedPages;

    #[test]
    fn frames_are_small_unique_and_found_by_number() {
        let ram = GuestMemory::new();
        let first = OwnedPages::new(&ram, 2).unwrap();
        assert!(first.pfn().0 < u64::from(u32::MAX));
        let second = ram.alloc_pages(1).unwrap();
        assert!(second.pfn.0 > first.pfn().0 + 1);
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
        ram.fail_after(0);
        assert!(ram.alloc_pages(1).is_err());
    }
}
