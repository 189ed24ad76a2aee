//! Memory shared with another domain or with the hypervisor.
//!
//! The peer can write such memory at any moment, so no `&T` or `&[u8]` is ever made over it:
//! every access is a volatile copy or an atomic operation at a checked offset. Values read here
//! are untrusted; callers validate them before use.
//!
//! This is the one module of the crate that holds `unsafe` code.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::error::OutOfBounds;

/// A window onto memory that another domain may read and write concurrently.
///
/// `SharedMemory` is a plain (pointer, length) pair: it neither owns nor frees the memory. Whoever
/// creates it promises, through [`SharedMemory::new`], that the memory stays mapped for as long as
/// any copy of the window is used. Sub-windows are made with [`SharedMemory::window`].
#[derive(Clone, Copy, Debug)]
pub struct SharedMemory {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the window only performs volatile and atomic accesses, which are sound from any thread;
// the creator of the window guarantees the memory stays mapped (see `new`).
unsafe impl Send for SharedMemory {}
// SAFETY: as for `Send`: no access through a shared window creates a reference to the memory.
unsafe impl Sync for SharedMemory {}

impl SharedMemory {
    /// Makes a window over `len` bytes at `base`.
    ///
    /// # Safety
    /// `base..base+len` must be valid for reads and writes, mapped for as long as this window or
    /// any copy of it is used, and never accessed through Rust references while it is shared.
    pub unsafe fn new(base: NonNull<u8>, len: usize) -> Self {
        SharedMemory { base, len }
    }

    /// Length of the window in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address of the first byte (for handing to the OS, e.g. to look up its frame).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// A sub-window of `len` bytes at `offset`.
    pub fn window(&self, offset: usize, len: usize) -> Result<SharedMemory, OutOfBounds> {
        self.check(offset, len, 1)?;
        // In bounds (checked above), so the pointer stays inside the original allocation.
        let ptr = self.base.as_ptr().wrapping_add(offset);
        match NonNull::new(ptr) {
            Some(base) => Ok(SharedMemory { base, len }),
            None => Err(OutOfBounds { offset, len }),
        }
    }

    fn check(&self, offset: usize, len: usize, align: usize) -> Result<*mut u8, OutOfBounds> {
        let end = offset.checked_add(len).ok_or(OutOfBounds { offset, len })?;
        if end > self.len {
            return Err(OutOfBounds { offset, len });
        }
        let ptr = self.base.as_ptr().wrapping_add(offset);
        if !(ptr as usize).is_multiple_of(align) {
            return Err(OutOfBounds { offset, len });
        }
        Ok(ptr)
    }

    /// Copies `dst.len()` bytes starting at `offset` out of shared memory, byte by byte, volatile.
    pub fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, dst.len(), 1)?;
        for (i, byte) in dst.iter_mut().enumerate() {
            // SAFETY: `ptr + i` is inside the window (checked above), which `new` promises is mapped.
            *byte = unsafe { ptr.wrapping_add(i).read_volatile() };
        }
        Ok(())
    }

    /// Copies `src` into shared memory at `offset`, byte by byte, volatile.
    pub fn write_bytes(&self, offset: usize, src: &[u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, src.len(), 1)?;
        for (i, byte) in src.iter().enumerate() {
            // SAFETY: `ptr + i` is inside the window (checked above), which `new` promises is mapped.
            unsafe { ptr.wrapping_add(i).write_volatile(*byte) };
        }
        Ok(())
    }

    /// Fills `len` bytes at `offset` with `value`.
    pub fn fill(&self, offset: usize, len: usize, value: u8) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, len, 1)?;
        for i in 0..len {
            // SAFETY: `ptr + i` is inside the window (checked above), which `new` promises is mapped.
            unsafe { ptr.wrapping_add(i).write_volatile(value) };
        }
        Ok(())
    }

    /// Copies a plain-data value out of shared memory (a snapshot: validate it before use).
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, OutOfBounds> {
        let mut value = T::new_zeroed();
        self.read_bytes(offset, value.as_mut_bytes())?;
        Ok(value)
    }

    /// Copies a plain-data value into shared memory.
    pub fn write_obj<T: IntoBytes + Immutable>(
        &self,
        offset: usize,
        value: &T,
    ) -> Result<(), OutOfBounds> {
        self.write_bytes(offset, value.as_bytes())
    }

    /// Volatile read of an aligned `u8`.
    pub fn read_u8(&self, offset: usize) -> Result<u8, OutOfBounds> {
        let ptr = self.check(offset, 1, 1)?;
        // SAFETY: in bounds (checked), mapped (promised by `new`).
        Ok(unsafe { ptr.read_volatile() })
    }

    /// Volatile write of a `u8`.
    pub fn write_u8(&self, offset: usize, value: u8) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, 1, 1)?;
        // SAFETY: in bounds (checked), mapped (promised by `new`).
        unsafe { ptr.write_volatile(value) };
        Ok(())
    }

    /// Atomic view of an aligned `u8` (private: the reference never leaves this module).
    fn atomic_u8(&self, offset: usize) -> Result<&AtomicU8, OutOfBounds> {
        let ptr = self.check(offset, 1, 1)?;
        // SAFETY: in bounds and aligned (checked); atomics may be modified concurrently by the
        // peer, and the reference does not outlive `self`, whose creator keeps the memory mapped.
        Ok(unsafe { AtomicU8::from_ptr(ptr) })
    }

    fn atomic_u16(&self, offset: usize) -> Result<&AtomicU16, OutOfBounds> {
        let ptr = self.check(offset, 2, 2)?;
        // SAFETY: as in `atomic_u8`, with 2-byte alignment checked.
        Ok(unsafe { AtomicU16::from_ptr(ptr.cast()) })
    }

    fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32, OutOfBounds> {
        let ptr = self.check(offset, 4, 4)?;
        // SAFETY: as in `atomic_u8`, with 4-byte alignment checked.
        Ok(unsafe { AtomicU32::from_ptr(ptr.cast()) })
    }

    fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64, OutOfBounds> {
        let ptr = self.check(offset, 8, 8)?;
        // SAFETY: as in `atomic_u8`, with 8-byte alignment checked.
        Ok(unsafe { AtomicU64::from_ptr(ptr.cast()) })
    }

    /// Reads an aligned `u16` with the given ordering.
    pub fn load_u16(&self, offset: usize, order: Ordering) -> Result<u16, OutOfBounds> {
        Ok(self.atomic_u16(offset)?.load(order))
    }

    /// Writes an aligned `u16` with the given ordering.
    pub fn store_u16(&self, offset: usize, value: u16, order: Ordering) -> Result<(), OutOfBounds> {
        self.atomic_u16(offset)?.store(value, order);
        Ok(())
    }

    /// Compare-and-exchange on an aligned `u16` (grant entry flags). Returns the previous value
    /// as `Ok` on success and `Err` on failure, like [`AtomicU16::compare_exchange`].
    pub fn compare_exchange_u16(
        &self,
        offset: usize,
        current: u16,
        new: u16,
    ) -> Result<Result<u16, u16>, OutOfBounds> {
        Ok(self.atomic_u16(offset)?.compare_exchange(
            current,
            new,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ))
    }

    /// Reads an aligned `u32` with the given ordering (ring indices).
    pub fn load_u32(&self, offset: usize, order: Ordering) -> Result<u32, OutOfBounds> {
        Ok(self.atomic_u32(offset)?.load(order))
    }

    /// Writes an aligned `u32` with the given ordering (ring indices).
    pub fn store_u32(&self, offset: usize, value: u32, order: Ordering) -> Result<(), OutOfBounds> {
        self.atomic_u32(offset)?.store(value, order);
        Ok(())
    }

    /// Compare-and-exchange on an aligned `u32`.
    pub fn compare_exchange_u32(
        &self,
        offset: usize,
        current: u32,
        new: u32,
    ) -> Result<Result<u32, u32>, OutOfBounds> {
        Ok(self.atomic_u32(offset)?.compare_exchange(
            current,
            new,
            Ordering::SeqCst,
            Ordering::SeqCst,
        ))
    }

    /// Reads an aligned `u64` with the given ordering.
    pub fn load_u64(&self, offset: usize, order: Ordering) -> Result<u64, OutOfBounds> {
        Ok(self.atomic_u64(offset)?.load(order))
    }

    /// Writes an aligned `u64` with the given ordering.
    pub fn store_u64(&self, offset: usize, value: u64, order: Ordering) -> Result<(), OutOfBounds> {
        self.atomic_u64(offset)?.store(value, order);
        Ok(())
    }

    /// Atomically ORs `bits` into an aligned `u64`, returning the previous value (event bitmaps).
    pub fn fetch_or_u64(&self, offset: usize, bits: u64) -> Result<u64, OutOfBounds> {
        Ok(self.atomic_u64(offset)?.fetch_or(bits, Ordering::SeqCst))
    }

    /// Atomically ANDs `bits` into an aligned `u64`, returning the previous value.
    pub fn fetch_and_u64(&self, offset: usize, bits: u64) -> Result<u64, OutOfBounds> {
        Ok(self.atomic_u64(offset)?.fetch_and(bits, Ordering::SeqCst))
    }

    /// Atomically swaps an aligned `u64`, returning the previous value (selector words).
    pub fn swap_u64(&self, offset: usize, value: u64) -> Result<u64, OutOfBounds> {
        Ok(self.atomic_u64(offset)?.swap(value, Ordering::SeqCst))
    }

    /// Atomically swaps an aligned `u8`, returning the previous value (`evtchn_upcall_pending`).
    pub fn swap_u8(&self, offset: usize, value: u8) -> Result<u8, OutOfBounds> {
        Ok(self.atomic_u8(offset)?.swap(value, Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::HeapPages;

    #[test]
    fn bounds_and_alignment_are_checked() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        assert_eq!(mem.len(), 4096);
        assert!(mem.read_u8(4095).is_ok());
        assert_eq!(
            mem.read_u8(4096),
            Err(OutOfBounds {
                offset: 4096,
                len: 1
            })
        );
        assert!(mem.load_u32(4092, Ordering::Relaxed).is_ok());
        assert!(mem.load_u32(4093, Ordering::Relaxed).is_err());
        assert!(mem.load_u64(4090, Ordering::Relaxed).is_err());
        let mut buf = [0u8; 8];
        assert!(mem.read_bytes(usize::MAX - 2, &mut buf).is_err());
        assert!(mem.window(4000, 97).is_err());
    }

    #[test]
    fn objects_round_trip_and_windows_alias() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        mem.write_obj(16, &[1u32, 2, 3]).unwrap();
        let back: [u32; 3] = mem.read_obj(16).unwrap();
        assert_eq!(back, [1, 2, 3]);
        let sub = mem.window(16, 12).unwrap();
        assert_eq!(sub.load_u32(4, Ordering::SeqCst), Ok(2));
        assert!(sub.load_u32(12, Ordering::SeqCst).is_err());
        assert_eq!(mem.fetch_or_u64(64, 0b101).unwrap(), 0);
        assert_eq!(mem.fetch_and_u64(64, !0b1).unwrap(), 0b101);
        assert_eq!(mem.load_u64(64, Ordering::SeqCst), Ok(0b100));
        assert_eq!(mem.compare_exchange_u16(80, 0, 7).unwrap(), Ok(0));
        assert_eq!(mem.compare_exchange_u16(80, 0, 9).unwrap(), Err(7));
    }

    proptest::proptest! {
        #[test]
        fn accesses_never_escape_the_window(offset in 0usize..10_000, len in 0usize..10_000) {
            let pages = HeapPages::new(2).unwrap();
            let mem = pages.memory();
            let mut buf = alloc::vec![0u8; len];
            let ok = mem.read_bytes(offset, &mut buf).is_ok();
            proptest::prop_assert_eq!(ok, offset + len <= 8192);
        }
    }
}
