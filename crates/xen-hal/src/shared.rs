//! Memory shared with another domain or with the hypervisor.
//!
//! The peer can write such memory at any moment, so no `&T` or `&[u8]` is ever made over it:
//! every access is a volatile copy or an atomic operation at a checked offset. Values read here
//! are untrusted; callers validate them before use.
//!
//! Copies run at memory speed without giving that up: each volatile access moves the widest
//! naturally aligned unit (16-byte SSE2 units in the body, narrower ones at an unaligned head
//! or tail), small values are copied by code specialised for their size, and copies from
//! [`BULK_COPY_MIN`] bytes (payload pages) are one `rep movsb` on x86_64. A [`SharedObject`]
//! (one checked `T`, e.g. a ring entry) and a [`SharedArray`] (the entries of a ring, checked
//! once) let hot paths check an offset once instead of at every field.
//!
//! This is the one module of the crate that holds `unsafe` code.

use core::marker::PhantomData;
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

    /// The `T`-sized object at `offset`, checked once here (in bounds, aligned for `T`) so
    /// that its field accesses are checked only against the size of `T`.
    /// `count` objects of type `T`, `stride` bytes apart, from `offset` (ring entries), checked
    /// once here: each lies inside the window and is aligned for `T`.
    pub fn array<T>(
        &self,
        offset: usize,
        stride: usize,
        count: usize,
    ) -> Result<SharedArray<T>, OutOfBounds> {
        let size = core::mem::size_of::<T>();
        let bad = OutOfBounds { offset, len: size };
        if stride < size || !stride.is_multiple_of(core::mem::align_of::<T>()) {
            return Err(bad);
        }
        let len = match count.checked_sub(1) {
            None => 0,
            Some(last) => last
                .checked_mul(stride)
                .and_then(|start| start.checked_add(size))
                .ok_or(bad)?,
        };
        let ptr = self.check(offset, len, core::mem::align_of::<T>())?;
        let base = NonNull::new(ptr).ok_or(bad)?;
        Ok(SharedArray {
            base,
            stride,
            count,
            _objects: PhantomData,
        })
    }

    /// The `T`-sized object at `offset`, checked once here (in bounds, aligned for `T`) so
    /// that its field accesses are checked only against the size of `T`.
    #[inline]
    pub fn object<T>(&self, offset: usize) -> Result<SharedObject<T>, OutOfBounds> {
        let ptr = self.check(
            offset,
            core::mem::size_of::<T>(),
            core::mem::align_of::<T>(),
        )?;
        Ok(SharedObject {
            base: ptr,
            _object: PhantomData,
        })
    }

    /// The address of `len` bytes at `offset`, if they lie inside the window and the address
    /// is a multiple of `align` (a power of two: every caller passes a size or an alignment).
    #[inline(always)]
    fn check(&self, offset: usize, len: usize, align: usize) -> Result<*mut u8, OutOfBounds> {
        // One comparison each, no division: `offset <= self.len` first, so the subtraction
        // cannot wrap.
        if offset > self.len || len > self.len - offset {
            return Err(OutOfBounds { offset, len });
        }
        let ptr = self.base.as_ptr().wrapping_add(offset);
        if (ptr as usize) & align.wrapping_sub(1) != 0 {
            return Err(OutOfBounds { offset, len });
        }
        Ok(ptr)
    }

    /// Copies `dst.len()` bytes starting at `offset` out of shared memory (volatile).
    ///
    /// The copy moves the widest naturally aligned units the shared side allows: 1-, 2-, 4- and
    /// 8-byte units up to the first 16-byte boundary, then 16-byte units (four per loop step),
    /// then the tail in narrowing units. Each unit is one volatile load; the bytes are a
    /// snapshot that the peer may have been changing meanwhile, so validate them before use.
    ///
    /// Copies of at least [`BULK_COPY_MIN`] bytes (payload pages) are one `rep movsb` on x86_64
    /// instead: an instruction the compiler cannot split, repeat or elide, which moves whole
    /// cache lines without using vector registers (so it is as fine in kernel code as the
    /// 16-byte units), at `memcpy` speed.
    #[inline]
    pub fn read_bytes(&self, offset: usize, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, dst.len(), 1)?;
        if dst.len() >= BULK_COPY_MIN {
            bulk_copy(dst.as_mut_ptr(), ptr, dst.len());
        } else {
            copy_out(ptr, dst);
        }
        Ok(())
    }

    /// Copies `src` into shared memory at `offset` (volatile), in the units of
    /// [`SharedMemory::read_bytes`].
    #[inline]
    pub fn write_bytes(&self, offset: usize, src: &[u8]) -> Result<(), OutOfBounds> {
        let ptr = self.check(offset, src.len(), 1)?;
        if src.len() >= BULK_COPY_MIN {
            bulk_copy(ptr, src.as_ptr(), src.len());
        } else {
            copy_in(ptr, src);
        }
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
    ///
    /// Values smaller than [`BULK_COPY_MIN`] (ring entries, headers) are copied by code
    /// specialised for their size, inline in the caller.
    #[inline]
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, offset: usize) -> Result<T, OutOfBounds> {
        let mut value = T::new_zeroed();
        if core::mem::size_of::<T>() >= BULK_COPY_MIN {
            self.read_bytes(offset, value.as_mut_bytes())?;
        } else {
            let ptr = self.check(offset, core::mem::size_of::<T>(), 1)?;
            copy_out(ptr, value.as_mut_bytes());
        }
        Ok(value)
    }

    /// Copies a plain-data value into shared memory (inline for small values, as `read_obj`).
    #[inline]
    pub fn write_obj<T: IntoBytes + Immutable>(
        &self,
        offset: usize,
        value: &T,
    ) -> Result<(), OutOfBounds> {
        if core::mem::size_of::<T>() >= BULK_COPY_MIN {
            self.write_bytes(offset, value.as_bytes())
        } else {
            let ptr = self.check(offset, core::mem::size_of::<T>(), 1)?;
            copy_in(ptr, value.as_bytes());
            Ok(())
        }
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

/// One `T` in shared memory (a ring entry, a header), made by [`SharedMemory::object`]: the
/// object lies inside a window and is aligned for `T`, so accesses to it and its fields are
/// checked only against the size of `T`, mostly at compile time.
///
/// Like [`SharedMemory`] it is a handle, not a reference: every access is a volatile copy, and
/// what is read is a snapshot to validate.
pub struct SharedObject<T> {
    /// Never null (it comes from a window); a raw pointer so that indexing an array needs no
    /// null test.
    base: *mut u8,
    _object: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedObject<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedObject<T> {}

impl<T> core::fmt::Debug for SharedObject<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedObject")
            .field("base", &self.base)
            .field("len", &core::mem::size_of::<T>())
            .finish()
    }
}

// SAFETY: as for `SharedMemory`: only volatile accesses, to memory its creator keeps mapped.
unsafe impl<T> Send for SharedObject<T> {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for SharedObject<T> {}

impl<T: FromBytes + IntoBytes + Immutable> SharedObject<T> {
    /// Copies the whole object out (volatile, widest aligned units).
    #[inline]
    pub fn read(&self) -> T {
        let mut value = T::new_zeroed();
        copy_out(self.base, value.as_mut_bytes());
        value
    }

    /// Copies the whole object out into `dst`, its final place (no further move of the copy).
    #[inline]
    pub fn read_into(&self, dst: &mut T) {
        copy_out(self.base, dst.as_mut_bytes());
    }

    /// Copies `value` over the whole object (volatile, widest aligned units).
    #[inline]
    pub fn write(&self, value: &T) {
        copy_in(self.base, value.as_bytes());
    }

    /// Writes `value` at byte `field_offset` of the object (use `core::mem::offset_of!`). A
    /// naturally aligned field of 1, 2, 4 or 8 bytes is one volatile store.
    #[inline]
    pub fn write_at<V: IntoBytes + Immutable>(
        &self,
        field_offset: usize,
        value: &V,
    ) -> Result<(), OutOfBounds> {
        let ptr = self.field::<V>(field_offset)?;
        let bytes = value.as_bytes();
        if Self::aligned_unit::<V>(field_offset) {
            match bytes.len() {
                // SAFETY: the field lies inside the object (`field`), which lies
                // inside a window (`SharedMemory::object`); it is aligned to its size
                // (`aligned_unit`: the object is aligned for `T`, at least that much).
                1 => unsafe { write_unit::<u8>(ptr, bytes) },
                // SAFETY: as above.
                2 => unsafe { write_unit::<u16>(ptr.cast(), bytes) },
                // SAFETY: as above.
                4 => unsafe { write_unit::<u32>(ptr.cast(), bytes) },
                // SAFETY: as above.
                _ => unsafe { write_unit::<u64>(ptr.cast(), bytes) },
            }
        } else {
            copy_in(ptr, bytes);
        }
        Ok(())
    }

    /// Whether a `V` at `field_offset` is one unit of 1, 2, 4 or 8 bytes aligned to its size,
    /// known from `T`'s alignment alone (constant for a constant offset).
    #[inline(always)]
    fn aligned_unit<V>(field_offset: usize) -> bool {
        let len = core::mem::size_of::<V>();
        matches!(len, 1 | 2 | 4 | 8)
            && core::mem::align_of::<T>().is_multiple_of(len)
            && field_offset.is_multiple_of(len)
    }

    /// Copies the field of type `V` at byte `field_offset` out of the object (volatile).
    #[inline]
    pub fn read_at<V: FromBytes + IntoBytes>(&self, field_offset: usize) -> Result<V, OutOfBounds> {
        let ptr = self.field::<V>(field_offset)?;
        let mut value = V::new_zeroed();
        copy_out(ptr, value.as_mut_bytes());
        Ok(value)
    }

    #[inline(always)]
    fn field<V>(&self, field_offset: usize) -> Result<*mut u8, OutOfBounds> {
        let len = core::mem::size_of::<V>();
        let size = core::mem::size_of::<T>();
        // `size - len` is a constant: one comparison, no overflow check on the offset.
        if len > size || field_offset > size - len {
            return Err(OutOfBounds {
                offset: field_offset,
                len,
            });
        }
        Ok(self.base.wrapping_add(field_offset))
    }
}

/// Objects of type `T` at a fixed stride in shared memory (the entries of a ring), made by
/// [`SharedMemory::array`], which checked them all; [`SharedArray::get`] only compares the
/// index with the count.
pub struct SharedArray<T> {
    base: NonNull<u8>,
    stride: usize,
    count: usize,
    _objects: PhantomData<fn() -> T>,
}

impl<T> Clone for SharedArray<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SharedArray<T> {}

impl<T> core::fmt::Debug for SharedArray<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SharedArray")
            .field("base", &self.base)
            .field("stride", &self.stride)
            .field("count", &self.count)
            .finish()
    }
}

// SAFETY: as for `SharedMemory`: only volatile accesses, to memory its creator keeps mapped.
unsafe impl<T> Send for SharedArray<T> {}
// SAFETY: as for `Send`.
unsafe impl<T> Sync for SharedArray<T> {}

impl<T> SharedArray<T> {
    /// Number of objects.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Object `index`, if there is one.
    #[inline]
    pub fn get(&self, index: usize) -> Option<SharedObject<T>> {
        if index >= self.count {
            return None;
        }
        // `index * stride` does not overflow and stays inside the window: `array` checked the
        // last object.
        Some(SharedObject {
            base: self.base.as_ptr().wrapping_add(index * self.stride),
            _object: PhantomData,
        })
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

/// Length from which [`SharedMemory::read_bytes`] and [`SharedMemory::write_bytes`] copy with
/// one string move (x86_64) rather than a loop of 16-byte units: below it the loop is faster
/// (ring entries), above it the string move reaches `memcpy` bandwidth (payload pages).
pub const BULK_COPY_MIN: usize = if cfg!(target_arch = "x86_64") {
    512
} else {
    usize::MAX
};

/// Copies `len` bytes from `src` to `dst` with one `rep movsb`. Both ranges must be valid (one
/// inside a checked window, the other a private slice) and must not overlap.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn bulk_copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller passes a checked window range and a private slice of `len` bytes each
    // (they cannot overlap: the slice is a Rust reference, which never points into shared
    // memory); the direction flag is clear, as the ABI guarantees on function entry. The asm
    // touches no stack and preserves the flags.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rdi") dst => _,
            inout("rsi") src => _,
            options(nostack, preserves_flags)
        )
    };
}

/// Elsewhere the unit loops serve every length ([`BULK_COPY_MIN`] is `usize::MAX`).
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn bulk_copy(_dst: *mut u8, _src: *const u8, _len: usize) {}

/// Units of the wide body copied per loop step.
const UNROLL: usize = 4;

/// Volatile copy of the `dst.len()` shared bytes at `ptr` into `dst`. The caller has checked
/// that `ptr..ptr+dst.len()` lies inside a window.
#[inline(always)]
fn copy_out(ptr: *mut u8, dst: &mut [u8]) {
    let len = dst.len();
    // A single aligned unit (a field): one access. Inlined with a constant length, only the
    // alignment test of the matching size remains.
    if single_unit(ptr, len) {
        match len {
            // SAFETY: `ptr` is aligned to `len` (`single_unit`) and the `len` bytes
            // lie inside the checked range.
            1 => unsafe { read_unit::<u8>(ptr, dst) },
            // SAFETY: as above.
            2 => unsafe { read_unit::<u16>(ptr.cast(), dst) },
            // SAFETY: as above.
            4 => unsafe { read_unit::<u32>(ptr.cast(), dst) },
            // SAFETY: as above.
            8 => unsafe { read_unit::<u64>(ptr.cast(), dst) },
            // SAFETY: as above (`single_unit` accepts 16 only where it is WIDE).
            _ => unsafe { read_unit::<Wide>(ptr.cast(), dst) },
        }
        return;
    }
    // Head: one unit of each size whose alignment bit is set, until `ptr + done` is WIDE-aligned
    // (or the bytes run out).
    // One test for the common case (ring entries and pages start WIDE-aligned): then the
    // length alone decides the rest, known at compile time for a value of a given type.
    if (ptr as usize).is_multiple_of(WIDE) {
        body_out(ptr, dst);
        return;
    }
    // Head: one unit of each size whose alignment bit is set, until `ptr + done` is WIDE-aligned
    // (or the bytes run out).
    let mut done = 0;
    done = head_out::<u8>(ptr, dst, done);
    done = head_out::<u16>(ptr, dst, done);
    done = head_out::<u32>(ptr, dst, done);
    if WIDE > 8 {
        done = head_out::<u64>(ptr, dst, done);
    }
    if let Some(rest) = dst.get_mut(done..) {
        body_out(ptr.wrapping_add(done), rest);
    }
}

/// The body and tail of [`copy_out`]: `ptr` is WIDE-aligned, or `dst` is shorter than every unit
/// the head could not take (then only narrower tail units, aligned for their size, are used).
#[inline(always)]
fn body_out(ptr: *mut u8, dst: &mut [u8]) {
    let len = dst.len();
    let mut blocks = dst.chunks_exact_mut(UNROLL * WIDE);
    for (b, block) in (&mut blocks).enumerate() {
        for (i, chunk) in block.chunks_exact_mut(WIDE).enumerate() {
            let at = ptr.wrapping_add(b * UNROLL * WIDE + i * WIDE);
            // SAFETY: `at` is WIDE-aligned (`ptr` is, and the body advances in WIDE steps); its
            // WIDE bytes lie inside the checked range.
            unsafe { read_unit::<Wide>(at.cast(), chunk) };
        }
    }
    let rest = blocks.into_remainder();
    let body = ptr.wrapping_add(len - rest.len());
    let mut chunks = rest.chunks_exact_mut(WIDE);
    for (i, chunk) in (&mut chunks).enumerate() {
        // SAFETY: as above.
        unsafe { read_unit::<Wide>(body.wrapping_add(i * WIDE).cast(), chunk) };
    }
    let tail = chunks.into_remainder();
    let at = ptr.wrapping_add(len - tail.len());
    let mut done = 0;
    if WIDE > 8 {
        done = tail_out::<u64>(at, tail, done);
    }
    done = tail_out::<u32>(at, tail, done);
    done = tail_out::<u16>(at, tail, done);
    tail_out::<u8>(at, tail, done);
}

/// Volatile copy of `src` into the shared bytes at `ptr`, in the units of [`copy_out`]. The
/// caller has checked that `ptr..ptr+src.len()` lies inside a window.
#[inline(always)]
fn copy_in(ptr: *mut u8, src: &[u8]) {
    if single_unit(ptr, src.len()) {
        match src.len() {
            // SAFETY: as in `copy_out`.
            1 => unsafe { write_unit::<u8>(ptr, src) },
            // SAFETY: as above.
            2 => unsafe { write_unit::<u16>(ptr.cast(), src) },
            // SAFETY: as above.
            4 => unsafe { write_unit::<u32>(ptr.cast(), src) },
            // SAFETY: as above.
            8 => unsafe { write_unit::<u64>(ptr.cast(), src) },
            // SAFETY: as above.
            _ => unsafe { write_unit::<Wide>(ptr.cast(), src) },
        }
        return;
    }
    // One test for the common case (ring entries and pages start WIDE-aligned): then the
    // length alone decides the rest, known at compile time for a value of a given type.
    if (ptr as usize).is_multiple_of(WIDE) {
        body_in(ptr, src);
        return;
    }
    // Head: one unit of each size whose alignment bit is set, until `ptr + done` is WIDE-aligned
    // (or the bytes run out).
    let mut done = 0;
    done = head_in::<u8>(ptr, src, done);
    done = head_in::<u16>(ptr, src, done);
    done = head_in::<u32>(ptr, src, done);
    if WIDE > 8 {
        done = head_in::<u64>(ptr, src, done);
    }
    if let Some(rest) = src.get(done..) {
        body_in(ptr.wrapping_add(done), rest);
    }
}

/// The body and tail of [`copy_in`]: `ptr` is WIDE-aligned, or `src` is shorter than every unit
/// the head could not take (then only narrower tail units, aligned for their size, are used).
#[inline(always)]
fn body_in(ptr: *mut u8, src: &[u8]) {
    let len = src.len();
    let mut blocks = src.chunks_exact(UNROLL * WIDE);
    for (b, block) in (&mut blocks).enumerate() {
        for (i, chunk) in block.chunks_exact(WIDE).enumerate() {
            let at = ptr.wrapping_add(b * UNROLL * WIDE + i * WIDE);
            // SAFETY: `at` is WIDE-aligned (`ptr` is, and the body advances in WIDE steps); its
            // WIDE bytes lie inside the checked range.
            unsafe { write_unit::<Wide>(at.cast(), chunk) };
        }
    }
    let rest = blocks.remainder();
    let body = ptr.wrapping_add(len - rest.len());
    let mut chunks = rest.chunks_exact(WIDE);
    for (i, chunk) in (&mut chunks).enumerate() {
        // SAFETY: as above.
        unsafe { write_unit::<Wide>(body.wrapping_add(i * WIDE).cast(), chunk) };
    }
    let tail = chunks.remainder();
    let at = ptr.wrapping_add(len - tail.len());
    let mut done = 0;
    if WIDE > 8 {
        done = tail_in::<u64>(at, tail, done);
    }
    done = tail_in::<u32>(at, tail, done);
    done = tail_in::<u16>(at, tail, done);
    tail_in::<u8>(at, tail, done);
}

/// Whether `len` bytes at `ptr` are one naturally aligned unit (1, 2, 4, 8 or WIDE bytes).
#[inline(always)]
fn single_unit(ptr: *mut u8, len: usize) -> bool {
    matches!(len, 1 | 2 | 4 | 8 | WIDE) && (ptr as usize).is_multiple_of(len)
}

// The head steps: at `ptr + done`, the address is aligned to `size_of::<T>()` (the smaller
// steps ran first); if its bit for `size_of::<T>()` is set, one `T` brings it to twice that
// alignment. A `T` that does not fit any more is left to the tail, which then only needs
// smaller units (and every later head step is skipped for the same reason).
//
// The tail steps: what is left is shorter than every unit the head or body could not use, so
// the address is aligned for each unit the tail takes.

#[inline(always)]
fn head_out<T: FromBytes + IntoBytes + Immutable>(
    ptr: *mut u8,
    dst: &mut [u8],
    done: usize,
) -> usize {
    let size = core::mem::size_of::<T>();
    let at = ptr.wrapping_add(done);
    if (at as usize) & size == 0 {
        return done;
    }
    tail_out::<T>(ptr, dst, done)
}

#[inline(always)]
fn tail_out<T: FromBytes + IntoBytes + Immutable>(
    ptr: *mut u8,
    dst: &mut [u8],
    done: usize,
) -> usize {
    let size = core::mem::size_of::<T>();
    let Some(part) = done
        .checked_add(size)
        .and_then(|end| dst.get_mut(done..end))
    else {
        return done;
    };
    // SAFETY: `ptr + done` is aligned for `T` (see above) and its bytes lie inside the checked
    // range, since `dst` (as long as that range) has them.
    unsafe { read_unit::<T>(ptr.wrapping_add(done).cast(), part) };
    done + size
}

#[inline(always)]
fn head_in<T: FromBytes + IntoBytes + Immutable>(ptr: *mut u8, src: &[u8], done: usize) -> usize {
    let size = core::mem::size_of::<T>();
    let at = ptr.wrapping_add(done);
    if (at as usize) & size == 0 {
        return done;
    }
    tail_in::<T>(ptr, src, done)
}

#[inline(always)]
fn tail_in<T: FromBytes + IntoBytes + Immutable>(ptr: *mut u8, src: &[u8], done: usize) -> usize {
    let size = core::mem::size_of::<T>();
    let Some(part) = done.checked_add(size).and_then(|end| src.get(done..end)) else {
        return done;
    };
    // SAFETY: as in `tail_out`.
    unsafe { write_unit::<T>(ptr.wrapping_add(done).cast(), part) };
    done + size
}

/// One volatile load of a `T` at `ptr`, its bytes stored into `dst` (`dst.len()` must be the
/// size of `T`; a shorter or longer `dst` copies nothing).
///
/// # Safety
/// `ptr` must be aligned for `T` and its `size_of::<T>()` bytes must lie inside a window.
#[inline(always)]
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
#[inline(always)]
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
    fn objects_and_arrays_are_checked_once_and_bound_their_fields() {
        let pages = HeapPages::new(1).unwrap();
        let mem = pages.memory();
        let object = mem.object::<[u64; 14]>(64).unwrap();
        object.write_at(8, &0x1122_3344_5566_7788u64).unwrap();
        object.write_at(0, &7u8).unwrap();
        object.write_at(100, &[1u8, 2, 3]).unwrap();
        assert_eq!(object.read_at::<u64>(8), Ok(0x1122_3344_5566_7788));
        assert_eq!(mem.read_u8(64), Ok(7));
        assert_eq!(mem.read_u8(64 + 102), Ok(3));
        let whole = object.read();
        let mut into = [0u64; 14];
        object.read_into(&mut into);
        assert_eq!(whole, into);
        assert_eq!(whole[1], 0x1122_3344_5566_7788);
        // A field reaching past the object, even by one byte, is refused.
        assert!(object.write_at(105, &[0u8; 8]).is_err());
        assert!(object.write_at(usize::MAX, &0u8).is_err());
        assert!(object.read_at::<u64>(105).is_err());
        // Objects must lie inside the window and be aligned for their type.
        assert!(mem.object::<[u64; 14]>(4096 - 111).is_err());
        assert!(mem.object::<u64>(4).is_err());
        assert!(mem.object::<u64>(4088).is_ok());

        let array = mem.array::<[u64; 2]>(64, 112, 36).unwrap();
        assert_eq!(array.len(), 36);
        array.get(35).unwrap().write(&[9, 9]);
        assert_eq!(mem.read_obj::<[u64; 2]>(64 + 35 * 112), Ok([9, 9]));
        assert!(array.get(36).is_none());
        // The last object must fit, the stride must hold the type and keep it aligned.
        assert!(mem.array::<[u64; 2]>(64, 112, 37).is_err());
        assert!(mem.array::<[u64; 2]>(64, 8, 2).is_err());
        assert!(mem.array::<[u64; 2]>(64, 20, 2).is_err());
        assert!(mem.array::<u8>(0, usize::MAX, 3).is_err());
        assert_eq!(mem.array::<u8>(0, 1, 0).map(|a| a.is_empty()), Ok(true));
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
