//! Page allocation: memory the guest can share with other domains by frame number.

use crate::error::AllocError;
use crate::shared::SharedMemory;
use crate::types::Pfn;

/// log2 of the page size Xen's ABI uses on x86.
pub const PAGE_SHIFT: u32 = 12;
/// The page size Xen's ABI uses on x86.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// A run of physically contiguous, page-aligned pages.
#[derive(Clone, Copy, Debug)]
pub struct PageRange {
    /// The pages, as shared memory (they will be granted to or mapped by another domain).
    pub memory: SharedMemory,
    /// Frame number of the first page.
    pub pfn: Pfn,
    /// Number of pages.
    pub count: usize,
}

impl PageRange {
    /// Frame number of page `index` of the range, if it is inside.
    pub fn pfn_of(&self, index: usize) -> Option<Pfn> {
        if index < self.count {
            Some(Pfn(self.pfn.0 + index as u64))
        } else {
            None
        }
    }
}

/// The page allocator of the OS: non-paged, physically contiguous, zeroed memory.
pub trait PageAllocator {
    /// Allocates `count` zeroed contiguous pages.
    fn alloc_pages(&self, count: usize) -> Result<PageRange, AllocError>;
    /// Frees pages from [`PageAllocator::alloc_pages`].
    ///
    /// # Safety
    /// `range` came from this allocator, is freed once, and no window onto it is used afterwards.
    unsafe fn free_pages(&self, range: PageRange);
}

/// Pages that go back to their allocator when dropped.
pub struct OwnedPages<A: PageAllocator> {
    allocator: A,
    range: PageRange,
}

impl<A: PageAllocator> OwnedPages<A> {
    /// Allocates `count` pages from `allocator`.
    pub fn new(allocator: A, count: usize) -> Result<Self, AllocError> {
        let range = allocator.alloc_pages(count)?;
        Ok(OwnedPages { allocator, range })
    }

    /// The pages.
    pub fn range(&self) -> &PageRange {
        &self.range
    }

    /// The pages as shared memory (valid while `self` lives).
    pub fn memory(&self) -> SharedMemory {
        self.range.memory
    }

    /// Frame number of the first page.
    pub fn pfn(&self) -> Pfn {
        self.range.pfn
    }
}

impl<A: PageAllocator> Drop for OwnedPages<A> {
    fn drop(&mut self) {
        // SAFETY: the range came from this allocator in `new` and is freed only here; windows
        // handed out by `memory()` are documented as valid only while `self` lives.
        unsafe { self.allocator.free_pages(self.range) };
    }
}

impl<A: PageAllocator> PageAllocator for &A {
    fn alloc_pages(&self, count: usize) -> Result<PageRange, AllocError> {
        (**self).alloc_pages(count)
    }
    unsafe fn free_pages(&self, range: PageRange) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { (**self).free_pages(range) }
    }
}

/// A failure to map guest frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// The frames are not RAM or MMIO the OS can map (or not known to a fake).
    NoSuchFrames,
    /// The OS ran out of address space or memory.
    OutOfResources,
}

/// Access to guest frames by number: the xenstore and console rings named by HVM params, the
/// Xen platform device's memory BAR (`MmMapIoSpace` on Windows, the identity map in the test guest).
pub trait PhysicalMapper {
    /// Maps `count` frames starting at `pfn`, cached, as shared memory.
    fn map_frames(&self, pfn: Pfn, count: usize) -> Result<SharedMemory, MapError>;
    /// Unmaps frames mapped by [`PhysicalMapper::map_frames`].
    ///
    /// # Safety
    /// `memory` came from `map_frames` of this mapper, is unmapped once, and no window onto it
    /// is used afterwards.
    unsafe fn unmap_frames(&self, memory: SharedMemory);
}
