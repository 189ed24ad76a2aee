//! The guest's memory services behind the xen-hal traits: a page allocator over E820 RAM and a
//! physical mapper over the identity map.

use xen_hal::{
    AllocError, MapError, PageAllocator, PageRange, Pfn, PhysicalMapper, SharedMemory, PAGE_SHIFT,
    PAGE_SIZE,
};

use crate::bootinfo::{E820Entry, E820_RAM};
use crate::pages::{FrameRange, FrameSource, FreeFrames};
use crate::platform::{self, Lock, IDENTITY_LIMIT};

/// The lowest address handed out: the first MiB holds the BIOS, the boot loader's zero page and
/// command line.
const LOW_LIMIT: u64 = 1 << 20;

/// Maximum number of RAM ranges remembered as allocator-owned.
const MAX_MANAGED: usize = 32;

/// The guest's physical memory: free pages (E820 RAM above the kernel, below 4 GiB) and the list
/// of RAM ranges the allocator owns, which the physical mapper refuses to map a second time.
pub struct GuestMemory {
    free: Lock<FreeFrames>,
    managed: Lock<([FrameRange; MAX_MANAGED], usize)>,
}

/// The one instance (the global allocator takes its pages from it).
pub static PAGES: GuestMemory = GuestMemory::new();

impl GuestMemory {
    const fn new() -> Self {
        GuestMemory {
            free: Lock::new(FreeFrames::new()),
            managed: Lock::new(([FrameRange { start: 0, end: 0 }; MAX_MANAGED], 0)),
        }
    }

    /// Hands the E820 RAM ranges, minus the first MiB, the kernel image and anything above the
    /// identity map, to the allocator. Returns the number of free bytes.
    pub fn init(&self, e820: &[E820Entry]) -> u64 {
        let kernel = platform::kernel_image();
        for entry in e820.iter().filter(|e| e.kind == E820_RAM) {
            let end = entry.address.saturating_add(entry.size);
            let ram = FrameRange::pages_within(entry.address, end).clip(LOW_LIMIT, IDENTITY_LIMIT);
            // The kernel sits at 1 MiB: keep what lies below and above it.
            let below = ram.clip(0, kernel.start);
            let above = ram.clip(kernel.end, u64::MAX);
            for part in [below, above] {
                let part = FrameRange::pages_within(part.start, part.end);
                if part.is_empty() {
                    continue;
                }
                let recorded = self
                    .managed
                    .with(|(ranges, len)| match ranges.get_mut(*len) {
                        Some(slot) => {
                            *slot = part;
                            *len += 1;
                            true
                        }
                        None => false,
                    })
                    .unwrap_or(false);
                // Memory the mapper cannot tell apart from foreign frames is not used at all.
                if recorded {
                    self.free.with(|free| free.add(part));
                }
            }
        }
        self.free_bytes()
    }

    /// Free bytes left.
    pub fn free_bytes(&self) -> u64 {
        self.free.with(|free| free.free_bytes()).unwrap_or(0)
    }

    fn is_managed(&self, range: &FrameRange) -> bool {
        self.managed
            .with(|(ranges, len)| ranges.iter().take(*len).any(|r| r.overlaps(range)))
            .unwrap_or(true)
    }
}

impl FrameSource for GuestMemory {
    fn take_frames(&self, count: usize) -> Option<FrameRange> {
        self.free.with(|free| free.take(count)).flatten()
    }

    fn give_frames(&self, range: FrameRange) {
        self.free.with(|free| free.add(range));
    }
}

impl PageAllocator for GuestMemory {
    fn alloc_pages(&self, count: usize) -> Result<PageRange, AllocError> {
        let frames = self.take_frames(count).ok_or(AllocError)?;
        platform::zero_frames(frames);
        let Some(memory) = platform::identity_window(frames.start, count * PAGE_SIZE) else {
            self.give_frames(frames);
            return Err(AllocError);
        };
        Ok(PageRange {
            memory,
            pfn: Pfn(frames.start >> PAGE_SHIFT),
            count,
        })
    }

    #[allow(unsafe_code)] // an unsafe trait method; its body is safe code
    unsafe fn free_pages(&self, range: PageRange) {
        let start = range.pfn.address();
        self.give_frames(FrameRange {
            start,
            end: start + (range.count * PAGE_SIZE) as u64,
        });
    }
}

impl PhysicalMapper for GuestMemory {
    /// Maps frames that are neither the kernel image nor allocator-owned RAM (device BARs, the
    /// frames Xen names in HVM params, the first MiB), through the identity map.
    fn map_frames(&self, pfn: Pfn, count: usize) -> Result<SharedMemory, MapError> {
        let len = count.checked_mul(PAGE_SIZE).ok_or(MapError::NoSuchFrames)?;
        let start = pfn
            .0
            .checked_mul(PAGE_SIZE as u64)
            .ok_or(MapError::NoSuchFrames)?;
        let range = FrameRange {
            start,
            end: start
                .checked_add(len as u64)
                .ok_or(MapError::NoSuchFrames)?,
        };
        if range.overlaps(&platform::kernel_image()) || self.is_managed(&range) {
            return Err(MapError::NoSuchFrames);
        }
        platform::identity_window(start, len).ok_or(MapError::NoSuchFrames)
    }

    #[allow(unsafe_code)] // an unsafe trait method; the identity map is never unmapped
    unsafe fn unmap_frames(&self, _memory: SharedMemory) {}
}
