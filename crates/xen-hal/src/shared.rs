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

    /// Copies `dst.len()` bytes starting at `offset` out of shared memory (volatile).
    ///
    /// The copy moves the widest naturally aligned units the shared side allows: single bytes
    /// and narrower words up to the first 16-byte boundary, then 16-byte units, then the tail
    /// narrowing again. Each unit is one volatile load; the bytes are a snapshot that the peer
    /// may have been changing meanwhile, so validate them before use.
    pub fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, dst.len(), 1)?;
        let (head, body) = split_for_wide(ptr, dst.len());
        let (dst_head, rest) = dst
            .split_at_mut_checked(head)
            .ok_or(OutOfBounds { offset, len: head })?;
        let (dst_body, dst_tail) = rest
            .split_at_mut_checked(body)
            .ok_or(OutOfBounds { offset, len: body })?;
        read_narrow(ptr, dst_head);
        let body_ptr = ptr.wrapping_add(head);
        for (i, chunk) in dst_body.chunks_exact_mut(WIDE).enumerate() {
            // SAFETY: `body_ptr + i * WIDE` is WIDE-aligned (`split_for_wide`) and its WIDE bytes
            // lie inside the window (checked above), which `new` promises is mapped.
            unsafe { read_unit::<Wide>(body_ptr.wrapping_add(i * WIDE).cast(), chunk) };
        }
        read_narrow(body_ptr.wrapping_add(body), dst_tail);
        Ok(())
    }

    /// Copies `src` into shared memory at `offset` (volatile), in the same units as
    /// [`SharedMemory::read_bytes`].
    pub fn write_bytes(&self, offset: usize, src: &[u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, src.len(), 1)?;
        let (head, body) = split_for_wide(ptr, src.len());
        let (src_head, rest) = src
            .split_at_checked(head)
            .ok_or(OutOfBounds { offset, len: head })?;
        let (src_body, src_tail) = rest
            .split_at_checked(body)
            .ok_or(OutOfBounds { offset, len: body })?;
        write_narrow(ptr, src_head);
        let body_ptr = ptr.wrapping_add(head);
        for (i, chunk) in src_body.chunks_exact(WIDE).enumerate() {
            // SAFETY: as in `read_bytes`: WIDE-aligned, inside the window, mapped.
            unsafe { write_unit::<Wide>(body_ptr.wrapping_add(i * WIDE).cast(), chunk) };
        }
        write_narrow(body_ptr.wrapping_add(body), src_tail);
        Ok(())
    }

    /// Fills `len` bytes at `offset` with `value` (volatile, in the units of `write_bytes`).
    pub fn fill(&self, offset: usize, len: usize, value: u8) -> Result<(), OutOfBounds> {
        self.check(offset, len, 1)?;
        let pattern = [value; 256];
        let mut done = 0;
        while done < len {
            let step = (len - done).min(pattern.len());
            let part = pattern.get(..step).ok_or(OutOfBounds { offset, len })?;
            self.write_bytes(offset + done, part)?;
            done += step;
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

/// The widest unit of the copies: one SSE2 register on x86_64 (part of the x86_64 baseline,
/// and usable in Windows kernel code without saving extended state, unlike AVX); a `u64`
/// elsewhere.
#[cfg(target_arch = "x86_64")]
type Wide = core::arch::x86_64::__m128i;
#[cfg(not(target_arch = "x86_64"))]
type Wide = u64;

/// Size (and alignment) of [`Wide`].
const WIDE: usize = core::mem::size_of::<Wide>();

/// Splits a copy of `len` bytes at `ptr` into (head, body) lengths, the rest being the tail:
/// the head ends at the first WIDE-aligned address (or at the end), the body is a multiple of
/// WIDE.
fn split_for_wide(ptr: *mut u8, len: usize) -> (usize, usize) {
    let misalignment = (ptr as usize) % WIDE;
    let head = if misalignment == 0 {
        0
    } else {
        (WIDE - misalignment).min(len)
    };
    let rest = len - head;
    (head, rest - rest % WIDE)
}

/// The largest unit (8, 4, 2 or 1 bytes) that is aligned at `address` and fits in `left`.
fn narrow_unit(address: usize, left: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .find(|&unit| left >= unit && address % unit == 0)
        .unwrap_or(1)
}

/// Volatile copy of `dst.len()` (fewer than WIDE in practice) bytes at `ptr` into `dst`, in
/// the largest aligned units. `ptr..ptr+dst.len()` must lie inside a window.
fn read_narrow(ptr: *mut u8, dst: &mut [u8]) {
    let mut done = 0;
    while let Some(rest) = dst.get_mut(done..) {
        if rest.is_empty() {
            break;
        }
        let at = ptr.wrapping_add(done);
        let unit = narrow_unit(at as usize, rest.len());
        let Some(part) = rest.get_mut(..unit) else {
            break;
        };
        match unit {
            // SAFETY (each arm): `at` is aligned for the unit (`narrow_unit`) and the unit lies
            // inside the window the caller checked, which `SharedMemory::new` promises is mapped.
            8 => unsafe { read_unit::<u64>(at.cast(), part) },
            // SAFETY: as above.
            4 => unsafe { read_unit::<u32>(at.cast(), part) },
            // SAFETY: as above.
            2 => unsafe { read_unit::<u16>(at.cast(), part) },
            // SAFETY: as above.
            _ => unsafe { read_unit::<u8>(at, part) },
        }
        done += unit;
    }
}

/// Volatile copy of `src` into the bytes at `ptr`, in the largest aligned units.
/// `ptr..ptr+src.len()` must lie inside a window.
fn write_narrow(ptr: *mut u8, src: &[u8]) {
    let mut done = 0;
    while let Some(rest) = src.get(done..) {
        if rest.is_empty() {
            break;
        }
        let at = ptr.wrapping_add(done);
        let unit = narrow_unit(at as usize, rest.len());
        let Some(part) = rest.get(..unit) else {
            break;
        };
        match unit {
            // SAFETY (each arm): as in `read_narrow`.
            8 => unsafe { write_unit::<u64>(at.cast(), part) },
            // SAFETY: as above.
            4 => unsafe { write_unit::<u32>(at.cast(), part) },
            // SAFETY: as above.
            2 => unsafe { write_unit::<u16>(at.cast(), part) },
            // SAFETY: as above.
            _ => unsafe { write_unit::<u8>(at, part) },
        }
        done += unit;
    }
}

/// One volatile load of a `T` at `ptr`, its bytes stored into `dst` (`dst.len()` must be the
/// size of `T`; a shorter or longer `dst` copies nothing).
///
/// # Safety
/// `ptr` must be aligned for `T` and its `size_of::<T>()` bytes must lie inside a window.
unsafe fn read_unit<T: FromBytes + IntoBytes + Immutable>(ptr: *const T, dst: &mut [u8]) {
    // SAFETY: the caller promises `ptr` is aligned and inside a mapped window; `T` is plain
    // data (`FromBytes`), so any bit pattern the peer wrote is a valid `T`.
    let value = unsafe { ptr.read_volatile() };
    if dst.len() == core::mem::size_of::<T>() {
        dst.copy_from_slice(value.as_bytes());
    }
}

/// One volatile store at `ptr` of the `T` whose bytes are `src` (`src.len()` must be the size
/// of `T`; otherwise nothing is stored).
///
/// # Safety
/// `ptr` must be aligned for `T` and its `size_of::<T>()` bytes must lie inside a window.
unsafe fn write_unit<T: FromBytes + IntoBytes + Immutable>(ptr: *mut T, src: &[u8]) {
    let Ok(value) = T::read_from_bytes(src) else {
        return;
    };
    // SAFETY: the caller promises `ptr` is aligned and inside a mapped window; the volatile
    // store creates no reference to the shared memory.
    unsafe { ptr.write_volatile(value) };
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

    #[test]
    fn copies_at_every_alignment_touch_exactly_their_bytes() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        for offset in 0..40 {
            for len in 0..80 {
                mem.fill(0, 256, 0xee).unwrap();
                let src: alloc::vec::Vec<u8> = (0..len).map(|i| i as u8 ^ 0x5a).collect();
                mem.write_bytes(offset, &src).unwrap();
                for at in 0usize..256 {
                    let expected = match at.checked_sub(offset) {
                        Some(i) if i < len => src[i],
                        _ => 0xee,
                    };
                    assert_eq!(mem.read_u8(at).unwrap(), expected, "{offset} {len} {at}");
                }
                let mut back = alloc::vec![0u8; len];
                mem.read_bytes(offset, &mut back).unwrap();
                assert_eq!(back, src, "{offset} {len}");
            }
        }
    }

    #[test]
    fn fill_covers_long_and_unaligned_ranges() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        mem.fill(3, 1000, 7).unwrap();
        let mut all = [0u8; 1010];
        mem.read_bytes(0, &mut all).unwrap();
        assert!(all[..3].iter().all(|&b| b == 0));
        assert!(all[3..1003].iter().all(|&b| b == 7));
        assert!(all[1003..].iter().all(|&b| b == 0));
        assert!(mem.fill(4000, 97, 1).is_err());
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
