//! Bookkeeping of physical memory, as plain logic: free page ranges and the heap's size classes.

use core::alloc::Layout;

#[cfg(test)]
extern crate std;

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

    /// Adds a page-aligned range, merging it with every neighbour it touches. Returns `false`
    /// (and drops the range: a leak, not a corruption) when the table is full, the range is not
    /// page-aligned, or it overlaps free memory (a double free).
    pub fn add(&mut self, range: FrameRange) -> bool {
        if range.is_empty() || !range.start.is_multiple_of(PAGE) || !range.end.is_multiple_of(PAGE)
        {
            return false;
        }
        if self.ranges[..self.len].iter().any(|r| r.overlaps(&range)) {
            return false;
        }
        let mut merged = range;
        let mut index = 0;
        while index < self.len {
            let existing = self.ranges[index];
            if existing.end == merged.start || merged.end == existing.start {
                merged = FrameRange {
                    start: merged.start.min(existing.start),
                    end: merged.end.max(existing.end),
                };
                self.ranges.copy_within(index + 1..self.len, index);
                self.len -= 1;
            } else {
                index += 1;
            }
        }
        match self.ranges.get_mut(self.len) {
            Some(slot) => {
                *slot = merged;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    fn range(start: u64, end: u64) -> FrameRange {
        FrameRange { start, end }
    }

    #[test]
    fn pages_within_rounds_inwards() {
        assert_eq!(FrameRange::pages_within(1, 8193), range(4096, 8192));
        assert_eq!(FrameRange::pages_within(4096, 4096), range(4096, 4096));
        assert!(FrameRange::pages_within(4097, 8191).is_empty());
        assert_eq!(range(0, 100).clip(10, 50), range(10, 50));
        assert!(range(0, 100).clip(200, 300).is_empty());
        assert!(range(0, 10).overlaps(&range(9, 20)));
        assert!(!range(0, 10).overlaps(&range(10, 20)));
    }

    #[test]
    fn free_frames_first_fit_and_merge() {
        let mut free = FreeFrames::new();
        assert!(free.add(range(0x10000, 0x12000)));
        assert!(free.add(range(0x20000, 0x30000)));
        assert!(
            !free.add(range(0x1, 0x2000)),
            "unaligned ranges are refused"
        );
        assert_eq!(free.free_bytes(), 0x2000 + 0x10000);
        // Three pages do not fit in the first range: taken from the second.
        assert_eq!(free.take(3), Some(range(0x20000, 0x23000)));
        assert_eq!(free.take(2), Some(range(0x10000, 0x12000)));
        assert_eq!(free.take(0), None);
        assert_eq!(free.take(14), None);
        // Given back, neighbours merge on both sides, so a larger run fits again.
        assert!(free.add(range(0x1c000, 0x1e000)));
        assert!(free.add(range(0x20000, 0x23000)));
        assert!(
            !free.add(range(0x22000, 0x24000)),
            "a double free is refused"
        );
        assert!(free.add(range(0x1e000, 0x20000)));
        assert_eq!(free.take(20), Some(range(0x1c000, 0x30000)));
        assert_eq!(free.free_bytes(), 0);
        assert_eq!(free.take(usize::MAX), None);
    }

    #[test]
    fn free_frames_table_full_is_a_leak_not_a_corruption() {
        let mut free = FreeFrames::new();
        for i in 0..MAX_FREE_RANGES as u64 {
            assert!(free.add(range(i * 0x10000, i * 0x10000 + 0x1000)));
        }
        assert!(!free.add(range(0x1000_0000, 0x1000_1000)));
        assert_eq!(free.free_bytes(), MAX_FREE_RANGES as u64 * 0x1000);
    }

    /// Page source over fake addresses; links live in a map (the real heap keeps them in RAM).
    struct Source {
        free: RefCell<FreeFrames>,
        taken: RefCell<Vec<FrameRange>>,
    }

    impl FrameSource for Source {
        fn take_frames(&self, count: usize) -> Option<FrameRange> {
            let r = self.free.borrow_mut().take(count)?;
            self.taken.borrow_mut().push(r);
            Some(r)
        }
        fn give_frames(&self, range: FrameRange) {
            self.free.borrow_mut().add(range);
        }
    }

    thread_local! {
        static LINKS: RefCell<BTreeMap<u64, u64>> = const { RefCell::new(BTreeMap::new()) };
    }
    fn read_link(block: u64) -> u64 {
        LINKS.with(|l| *l.borrow().get(&block).expect("link of a free block"))
    }
    fn write_link(block: u64, next: u64) {
        LINKS.with(|l| l.borrow_mut().insert(block, next));
    }

    #[test]
    fn heap_blocks_are_aligned_disjoint_and_reused() {
        let source = Source {
            free: RefCell::new(FreeFrames::new()),
            taken: RefCell::new(Vec::new()),
        };
        source.free.borrow_mut().add(range(0x100000, 0x200000));
        let mut heap = HeapClasses::new();
        let mut blocks: Vec<(u64, Layout)> = Vec::new();
        for (size, align) in [(1, 1), (24, 8), (100, 4), (2048, 2048), (3000, 8), (16, 64)] {
            let layout = Layout::from_size_align(size, align).unwrap();
            for _ in 0..3 {
                let b = heap.alloc(layout, &source, read_link, write_link).unwrap();
                assert_eq!(b % align as u64, 0, "{layout:?}");
                blocks.push((b, layout));
            }
        }
        // No two blocks overlap.
        let mut spans: Vec<(u64, u64)> = blocks
            .iter()
            .map(|(b, l)| (*b, *b + l.size().max(1) as u64))
            .collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "{pair:?}");
        }
        // A freed block of a class is handed out again; a freed large block goes back as pages.
        let (small, small_layout) = blocks[3];
        heap.free(small, small_layout, &source, write_link);
        assert_eq!(
            heap.alloc(small_layout, &source, read_link, write_link),
            Some(small)
        );
        let before = source.free.borrow().free_bytes();
        let (large, large_layout) = blocks[12];
        heap.free(large, large_layout, &source, write_link);
        assert_eq!(source.free.borrow().free_bytes(), before + 4096);
        // Alignment above a page is refused, not mis-served.
        let huge_align = Layout::from_size_align(8192, 8192).unwrap();
        assert_eq!(heap.alloc(huge_align, &source, read_link, write_link), None);
    }

    #[test]
    fn heap_out_of_pages_is_none() {
        let source = Source {
            free: RefCell::new(FreeFrames::new()),
            taken: RefCell::new(Vec::new()),
        };
        source.free.borrow_mut().add(range(0x100000, 0x101000));
        let mut heap = HeapClasses::new();
        let layout = Layout::from_size_align(2048, 8).unwrap();
        assert!(heap.alloc(layout, &source, read_link, write_link).is_some());
        assert!(heap.alloc(layout, &source, read_link, write_link).is_some());
        assert_eq!(heap.alloc(layout, &source, read_link, write_link), None);
        assert_eq!(
            heap.alloc(
                Layout::from_size_align(5000, 8).unwrap(),
                &source,
                read_link,
                write_link
            ),
            None
        );
    }
}
