//! Bookkeeping of physical memory, as plain logic: free page ranges and the heap's size classes.

use core::alloc::Layout;

use xen_hal::PAGE_SIZE;

const PAGE: u64 = PAGE_SIZE as u64;

/// A half-open range of physical byte addresses `[start, end)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl FrameRange {
    /// The largest page-aligned range inside `[start, end)` (empty if there is none).
    pub fn pages_within(start: u64, end: u64) -> FrameRange {
        let start = start.saturating_add(PAGE - 1) & !(PAGE - 1);
        let end = end & !(PAGE - 1);
        FrameRange {
            start,
            end: end.max(start),
        }
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the two ranges share a byte.
    pub fn overlaps(&self, other: &FrameRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// The part of `self` inside `[low, high)`.
    pub fn clip(&self, low: u64, high: u64) -> FrameRange {
        let start = self.start.max(low);
        let end = self.end.min(high).max(start);
        FrameRange { start, end }
    }
}

/// Maximum number of disjoint free ranges tracked (E820 gives a handful; frees add a few).
pub const MAX_FREE_RANGES: usize = 128;

/// Free physical pages: a small set of page-aligned ranges, first fit, merged on free.
pub struct FreeFrames {
    ranges: [FrameRange; MAX_FREE_RANGES],
    len: usize,
}

impl FreeFrames {
    /// No free memory.
    pub const fn new() -> Self {
        FreeFrames {
            ranges: [FrameRange { start: 0, end: 0 }; MAX_FREE_RANGES],
            len: 0,
        }
    }

    /// Adds a page-aligned range, merging it with a neighbour if they touch. Returns `false`
    /// (and drops the range: a leak, not a corruption) when the table is full or the range is
    /// not page-aligned.
    pub fn add(&mut self, range: FrameRange) -> bool {
        if range.is_empty() || !range.start.is_multiple_of(PAGE) || !range.end.is_multiple_of(PAGE)
        {
            return false;
        }
        for existing in self.ranges.iter_mut().take(self.len) {
            if existing.end == range.start {
                existing.end = range.end;
                return true;
            }
            if range.end == existing.start {
                existing.start = range.start;
                return true;
            }
        }
        match self.ranges.get_mut(self.len) {
            Some(slot) => {
                *slot = range;
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Takes `count` contiguous pages from the first range large enough.
    pub fn take(&mut self, count: usize) -> Option<FrameRange> {
        let bytes = (count as u64).checked_mul(PAGE)?;
        if bytes == 0 {
            return None;
        }
        let index = self.ranges[..self.len]
            .iter()
            .position(|r| r.len() >= bytes)?;
        let range = self.ranges.get_mut(index)?;
        let taken = FrameRange {
            start: range.start,
            end: range.start + bytes,
        };
        range.start = taken.end;
        if range.is_empty() {
            self.ranges.copy_within(index + 1..self.len, index);
            self.len -= 1;
        }
        Some(taken)
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.ranges[..self.len].iter().map(FrameRange::len).sum()
    }
}

impl Default for FreeFrames {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the heap gets and returns whole pages.
pub trait FrameSource {
    /// `count` contiguous page-aligned pages (not necessarily zeroed).
    fn take_frames(&self, count: usize) -> Option<FrameRange>;
    /// Returns pages from `take_frames`.
    fn give_frames(&self, range: FrameRange);
}

/// Smallest heap block.
pub const MIN_CLASS_SIZE: usize = 16;
/// Largest size-class block; larger allocations take whole pages.
pub const MAX_CLASS_SIZE: usize = 2048;
const CLASS_COUNT: usize = 8; // 16, 32, ..., 2048

/// The heap's free lists, one per power-of-two size class. The links live in the free blocks
/// themselves and are read and written through the functions the caller passes (raw memory
/// access stays in `platform`).
pub struct HeapClasses {
    heads: [u64; CLASS_COUNT],
}

/// How a layout is served.
enum Fit {
    Class(usize, usize),
    Pages(usize),
}

fn fit(layout: Layout) -> Option<Fit> {
    let size = layout.size().max(layout.align()).max(MIN_CLASS_SIZE);
    if size <= MAX_CLASS_SIZE {
        let size = size.next_power_of_two();
        let class = (size.trailing_zeros() - MIN_CLASS_SIZE.trailing_zeros()) as usize;
        Some(Fit::Class(class, size))
    } else if layout.align() <= PAGE_SIZE {
        Some(Fit::Pages(layout.size().div_ceil(PAGE_SIZE)))
    } else {
        None
    }
}

impl HeapClasses {
    /// Empty free lists.
    pub const fn new() -> Self {
        HeapClasses {
            heads: [0; CLASS_COUNT],
        }
    }

    /// Allocates a block for `layout`; `None` when out of memory or the alignment is above a page.
    pub fn alloc(
        &mut self,
        layout: Layout,
        source: &impl FrameSource,
        read_link: fn(u64) -> u64,
        write_link: fn(u64, u64),
    ) -> Option<u64> {
        match fit(layout)? {
            Fit::Pages(count) => source.take_frames(count).map(|r| r.start),
            Fit::Class(class, size) => {
                let head = self.heads.get_mut(class)?;
                if *head == 0 {
                    let page = source.take_frames(1)?;
                    // Carve the page into blocks, linked lowest first.
                    let mut offset = PAGE;
                    while offset >= size as u64 {
                        offset -= size as u64;
                        write_link(page.start + offset, *head);
                        *head = page.start + offset;
                    }
                }
                let block = *head;
                *head = read_link(block);
                Some(block)
            }
        }
    }

    /// Frees a block from [`HeapClasses::alloc`] with the same layout.
    pub fn free(
        &mut self,
        block: u64,
        layout: Layout,
        source: &impl FrameSource,
        write_link: fn(u64, u64),
    ) {
        match fit(layout) {
            Some(Fit::Pages(count)) => source.give_frames(FrameRange {
                start: block,
                end: block + count as u64 * PAGE,
            }),
            Some(Fit::Class(class, _)) => {
                if let Some(head) = self.heads.get_mut(class) {
                    write_link(block, *head);
                    *head = block;
                }
            }
            None => {}
        }
    }
}

impl Default for HeapClasses {
    fn default() -> Self {
        Self::new()
    }
}
