//! Non-paged pool: RAII buffers and the global allocator over `ExAllocatePoolWithTag`.
//!
//! The pool type is `NonPagedPoolNx` (data, never executable) where the system has it, Windows 8
//! and later, and `NonPagedPool` on Windows 7, so one binary runs from Windows 7 to 11 and in
//! Wine. The choice is the WDK's `POOL_NX_OPTIN` single-binary opt-in made explicit: each
//! driver calls [`opt_in_nx`] first thing in `DriverEntry` (what
//! `ExInitializeDriverRuntime(DrvRtPoolNxOptIn)` does: `RtlIsNtDdiVersionAvailable(NTDDI_WIN8)`
//! decides). Until then, and in a driver that never calls it, blocks come from `NonPagedPool`,
//! which every version accepts. Nothing in the suite executes pool memory: Xen's hypercall stubs
//! live in a page of the driver image made for them ([`crate::hypercall_section`]).
//!
//! Pool blocks are 16-byte aligned on x64; larger alignments over-allocate and keep the block
//! start just below the aligned pointer.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::ntdef::ULONG;
use crate::wdm::{
    ExAllocatePoolWithTag, ExFreePoolWithTag, NonPagedPool, NonPagedPoolNx, NTDDI_WIN8, POOL_TYPE,
};

/// The suite's pool tag, shown as `XnRs` by pool tools.
pub const POOL_TAG: ULONG = u32::from_le_bytes(*b"XnRs");

/// Alignment every pool block has on x64.
const POOL_ALIGNMENT: usize = 16;

/// The non-paged pool type every allocation of this crate uses ([`opt_in_nx`] sets it).
static NON_PAGED: AtomicU32 = AtomicU32::new(NonPagedPool);

/// The non-paged pool type in use: `NonPagedPoolNx` after a successful [`opt_in_nx`], else
/// `NonPagedPool`.
pub fn non_paged_pool_type() -> POOL_TYPE {
    NON_PAGED.load(Ordering::Relaxed)
}

/// The non-paged pool type for a system that does (`true`) or does not have Windows 8's
/// `NonPagedPoolNx`.
pub const fn non_paged_for(has_nx_pool: bool) -> POOL_TYPE {
    if has_nx_pool {
        NonPagedPoolNx
    } else {
        NonPagedPool
    }
}

/// [`opt_in_nx`] with the version query given: `at_least(NTDDI_WIN8)` says whether the system
/// is Windows 8 or later. Returns the pool type now in use.
pub fn opt_in_nx_with(at_least: impl FnOnce(ULONG) -> bool) -> POOL_TYPE {
    let pool = non_paged_for(at_least(NTDDI_WIN8));
    NON_PAGED.store(pool, Ordering::Relaxed);
    pool
}

/// Makes every later allocation of this crate non-executable where the system allows it
/// (`NonPagedPoolNx` from Windows 8 on, `NonPagedPool` on Windows 7). Call it at the start of
/// `DriverEntry` (PASSIVE_LEVEL), before anything is allocated: blocks allocated before keep
/// their type, which is harmless (every block is freed with `ExFreePoolWithTag`, whatever its
/// type). Returns the pool type now in use.
#[cfg(target_os = "windows")]
pub fn opt_in_nx() -> POOL_TYPE {
    // SAFETY: RtlIsNtDdiVersionAvailable only compares its argument with the running version.
    opt_in_nx_with(|version| unsafe { crate::wdm::RtlIsNtDdiVersionAvailable(version) } != 0)
}

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
        let raw = unsafe { ExAllocatePoolWithTag(non_paged_pool_type(), size, POOL_TAG) };
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
            return unsafe {
                ExAllocatePoolWithTag(non_paged_pool_type(), layout.size(), POOL_TAG)
            }
            .cast();
        }
        let Some(total) = layout.size().checked_add(layout.align()) else {
            return core::ptr::null_mut();
        };
        // SAFETY: as above.
        let base =
            unsafe { ExAllocatePoolWithTag(non_paged_pool_type(), total, POOL_TAG) }.cast::<u8>();
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
    use super::*;

    #[test]
    fn nx_pool_from_windows_8_on_executable_pool_never_chosen_there() {
        assert_eq!(non_paged_pool_type(), NonPagedPool, "before the opt-in");
        // Windows 7 (NTDDI_WIN7 0x06010000) is older than what the opt-in asks for.
        let mut asked = 0;
        let windows7 = opt_in_nx_with(|v| {
            asked = v;
            0x0601_0000 >= v
        });
        assert_eq!(asked, 0x0602_0000);
        assert_eq!(windows7, NonPagedPool);
        assert_eq!(non_paged_pool_type(), NonPagedPool);
        // Windows 10 (NTDDI_WIN10 0x0A000000).
        assert_eq!(opt_in_nx_with(|v| 0x0A00_0000 >= v), NonPagedPoolNx);
        assert_eq!(non_paged_pool_type(), NonPagedPoolNx);
        assert_eq!(NonPagedPoolNx, 512);
        NON_PAGED.store(NonPagedPool, Ordering::Relaxed);
    }

    #[test]
    fn pool_tag_reads_as_text_in_memory_order() {
        assert_eq!(POOL_TAG.to_le_bytes(), *b"XnRs");
    }
}
