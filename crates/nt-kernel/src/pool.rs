//! Non-paged pool: RAII buffers and the global allocator over `ExAllocatePoolWithTag`.
//!
//! `NonPagedPool` (not `NonPagedPoolNx`, which needs Windows 8) so one binary runs from Windows 7
//! to 11 and in Wine. Pool blocks are 16-byte aligned on x64; larger alignments over-allocate and
//! keep the block start just below the aligned pointer.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;

use crate::ntdef::ULONG;
use crate::wdm::{ExAllocatePoolWithTag, ExFreePoolWithTag, NonPagedPool};

/// The suite's pool tag, shown as `XnRs` by pool tools.
pub const POOL_TAG: ULONG = u32::from_le_bytes(*b"XnRs");

/// Alignment every pool block has on x64.
const POOL_ALIGNMENT: usize = 16;

/// Pool allocation failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolExhausted;

/// A zero-initialised non-paged pool buffer, freed on drop.
pub struct PoolBuffer {
    ptr: NonNull<u8>,
    len: usize,
}

impl PoolBuffer {
    /// Allocates `len` zeroed bytes (`len` 0 is rounded up to 1).
    pub fn new_zeroed(len: usize) -> Result<Self, PoolExhausted> {
        let size = len.max(1);
        // SAFETY: ExAllocatePoolWithTag has no preconditions at IRQL <= DISPATCH_LEVEL.
        let raw = unsafe { ExAllocatePoolWithTag(NonPagedPool, size, POOL_TAG) };
        let ptr = NonNull::new(raw.cast::<u8>()).ok_or(PoolExhausted)?;
        // SAFETY: the block is `size` writable bytes just allocated.
        unsafe { ptr.as_ptr().write_bytes(0, size) };
        Ok(Self { ptr, len })
    }

    /// The buffer.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` points to at least `len` initialised bytes owned by `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The buffer, mutably.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `self` is borrowed exclusively.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The start address (for hardware or the kernel).
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for PoolBuffer {
    fn drop(&mut self) {
        // SAFETY: the block came from ExAllocatePoolWithTag with this tag and is freed once.
        unsafe { ExFreePoolWithTag(self.ptr.as_ptr().cast(), POOL_TAG) };
    }
}

/// `GlobalAlloc` over non-paged pool; installed as the global allocator of every driver.
pub struct PoolAllocator;

// SAFETY: blocks are fresh pool memory of at least the requested size and alignment; `dealloc`
// frees exactly what `alloc` returned.
unsafe impl GlobalAlloc for PoolAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= POOL_ALIGNMENT {
            // SAFETY: no preconditions at IRQL <= DISPATCH_LEVEL.
            return unsafe { ExAllocatePoolWithTag(NonPagedPool, layout.size(), POOL_TAG) }.cast();
        }
        let Some(total) = layout.size().checked_add(layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: as above.
        let base = unsafe { ExAllocatePoolWithTag(NonPagedPool, total, POOL_TAG) }.cast::<u8>();
        if base.is_null() {
            return base;
        }
        // At least POOL_ALIGNMENT (16) bytes lie between `base` and `aligned`, room for the pointer.
        let offset = layout.align() - (base as usize % layout.align());
        let aligned = base.wrapping_add(offset);
        let slot = aligned.cast::<*mut u8>().wrapping_sub(1);
        // SAFETY: `slot` (aligned - 8) is inside the block (offset >= 16) and 8-byte aligned.
        unsafe { slot.write(base) };
        aligned
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let block = if layout.align() <= POOL_ALIGNMENT {
            ptr
        } else {
            let slot = ptr.cast::<*mut u8>().wrapping_sub(1);
            // SAFETY: `alloc` stored the block start just below the aligned pointer.
            unsafe { slot.read() }
        };
        // SAFETY: `block` came from ExAllocatePoolWithTag with this tag.
        unsafe { ExFreePoolWithTag(block.cast(), POOL_TAG) };
    }
}

#[cfg(test)]
mod tests {
    use super::POOL_TAG;

    #[test]
    fn pool_tag_reads_as_text_in_memory_order() {
        assert_eq!(POOL_TAG.to_le_bytes(), *b"XnRs");
    }
}
