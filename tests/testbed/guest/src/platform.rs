//! The guest's one module with `unsafe`: CPU instructions, port I/O, windows onto physical
//! memory through the boot-time identity map, the page allocator's and heap's raw memory, and a
//! spin lock for globals.
//!
//! The guest runs on one CPU with interrupts off, so every global here is touched by one thread
//! of execution at a time; the spin lock only guards against re-entry (a panic while a lock is
//! held), which it reports instead of deadlocking.
#![allow(unsafe_code)]

use core::alloc::{GlobalAlloc, Layout};
use core::arch::asm;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

use xen_hal::{PortIo, SharedMemory, PAGE_SIZE};

use xen_hypercall::arch::x86_64::{HypercallPage, InstallError};
use xen_hypercall::XenCpuid;

use crate::memory::GuestMemory;
use crate::pages::{FrameRange, HeapClasses, MAX_CLASS_SIZE};

/// Everything below this physical address is identity-mapped by `boot.rs`.
pub const IDENTITY_LIMIT: u64 = 4 << 30;

/// x86 port I/O with `in`/`out`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ports;

impl PortIo for Ports {
    fn read_u8(&self, port: u16) -> u8 {
        let value: u8;
        // SAFETY: `in` reads an I/O port; the guest runs at ring 0 and reading a port has no
        // effect on Rust-visible memory.
        unsafe {
            asm!("in al, dx", in("dx") port, out("al") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn read_u16(&self, port: u16) -> u16 {
        let value: u16;
        // SAFETY: as in `read_u8`.
        unsafe {
            asm!("in ax, dx", in("dx") port, out("ax") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn read_u32(&self, port: u16) -> u32 {
        let value: u32;
        // SAFETY: as in `read_u8`.
        unsafe {
            asm!("in eax, dx", in("dx") port, out("eax") value, options(nomem, nostack, preserves_flags))
        };
        value
    }
    fn write_u8(&self, port: u16, value: u8) {
        // SAFETY: `out` writes an I/O port at ring 0. The devices reached this way (UART, PCI
        // configuration, PIT, the Xen platform device's ports) do not DMA into memory the guest
        // uses (none is programmed to), so Rust-visible memory is untouched.
        unsafe {
            asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags))
        };
    }
    fn write_u16(&self, port: u16, value: u16) {
        // SAFETY: as in `write_u8`.
        unsafe {
            asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags))
        };
    }
    fn write_u32(&self, port: u16, value: u32) {
        // SAFETY: as in `write_u8`.
        unsafe {
            asm!("out dx, eax", in("dx") port, in("eax") value, options(nomem, nostack, preserves_flags))
        };
    }
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: `rdtsc` only writes EDX:EAX; CR4.TSD is clear, so it is allowed at any privilege.
    unsafe {
        asm!("rdtsc", out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags))
    };
    (u64::from(high) << 32) | u64::from(low)
}

/// A spin-loop hint for polling loops.
pub fn relax() {
    core::hint::spin_loop();
}

/// Stops the CPU for good (interrupts off, `hlt` forever).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: `cli; hlt` stops this (only) CPU; no memory is touched.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// A window onto `len` bytes of physical memory at `address` through the identity map.
///
/// Returns `None` for address 0, an empty window, one reaching past the identity map, or one
/// touching the kernel image (code, statics, boot stack). Callers name memory the guest does
/// not otherwise reference from Rust: a page from [`crate::pages`], the boot loader's zero page
/// and command line (read once at start), a device BAR, or a frame Xen names (rings from HVM
/// params); heap blocks in use are never passed here (`GuestMemory` only maps frames outside
/// allocator-owned RAM for other callers).
pub fn identity_window(address: u64, len: usize) -> Option<SharedMemory> {
    let end = address.checked_add(len as u64)?;
    if len == 0 || end > IDENTITY_LIMIT {
        return None;
    }
    if (FrameRange {
        start: address,
        end,
    })
    .overlaps(&kernel_image())
    {
        return None;
    }
    let base = NonNull::new(address as usize as *mut u8)?;
    // SAFETY: `boot.rs` identity-maps every address below `IDENTITY_LIMIT` (checked above) with
    // present, writable 2 MiB pages, so the window is valid for reads and writes and stays mapped
    // forever (the page tables are never changed). It does not touch the kernel image (checked),
    // and callers pass only memory that no Rust reference covers (documented above), so all
    // access goes through the window's volatile and atomic operations.
    Some(unsafe { SharedMemory::new(base, len) })
}

/// Zeroes `count` pages at physical `address` (fast path of the page allocator).
pub fn zero_frames(range: FrameRange) {
    if range.end > IDENTITY_LIMIT || range.start >= range.end {
        return;
    }
    let ptr = range.start as usize as *mut u8;
    // SAFETY: the frames are identity-mapped (below the limit, checked) free RAM handed to the
    // page allocator, which owns them exclusively until it returns them zeroed.
    unsafe { core::ptr::write_bytes(ptr, 0, (range.end - range.start) as usize) };
}

// Symbols from `link.ld`.
#[cfg(not(test))]
extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Physical range of the kernel image, BSS and boot stack.
#[cfg(not(test))]
pub fn kernel_image() -> FrameRange {
    FrameRange {
        start: core::ptr::addr_of!(__kernel_start) as u64,
        end: core::ptr::addr_of!(__kernel_end) as u64,
    }
}

/// Host tests have no kernel image: 1 MiB to 2 MiB stands in for it.
#[cfg(test)]
pub fn kernel_image() -> FrameRange {
    FrameRange {
        start: 1 << 20,
        end: 2 << 20,
    }
}

/// A lock for the guest's globals. With one CPU and no interrupts it is never contended; a
/// second acquisition (re-entry from a panic) fails instead of spinning forever.
pub struct Lock<T> {
    held: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `held` (see `with`).
unsafe impl<T: Send> Sync for Lock<T> {}

impl<T> Lock<T> {
    /// A new, free lock.
    pub const fn new(value: T) -> Self {
        Lock {
            held: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }

    /// Runs `f` with the value, or returns `None` if the lock is already held (re-entry).
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        if self.held.swap(true, Ordering::Acquire) {
            return None;
        }
        // SAFETY: `held` was false and is now true, so no other `&mut` to `value` exists until
        // it is released below.
        let result = f(unsafe { &mut *self.value.get() });
        self.held.store(false, Ordering::Release);
        Some(result)
    }
}

/// The global allocator: power-of-two size classes carved from pages, large blocks as pages.
pub struct Heap {
    classes: Lock<HeapClasses>,
}

impl Heap {
    /// An empty heap; it takes pages from [`crate::memory::PAGES`] as needed.
    pub const fn new() -> Self {
        Heap {
            classes: Lock::new(HeapClasses::new()),
        }
    }
}

impl Default for Heap {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the free-list link stored in a free heap block.
fn read_link(block: u64) -> u64 {
    let ptr = block as usize as *const u64;
    // SAFETY: `block` is a free heap block (at least 16 bytes, 16-aligned, identity-mapped RAM
    // owned by the heap) whose first word the heap itself wrote as its link.
    unsafe { ptr.read() }
}

/// Writes the free-list link of a free heap block.
fn write_link(block: u64, next: u64) {
    let ptr = block as usize as *mut u64;
    // SAFETY: `block` is a heap block just freed or carved (at least 16 bytes, 16-aligned,
    // identity-mapped RAM owned by the heap), no longer handed out to anyone.
    unsafe { ptr.write(next) };
}

// SAFETY: blocks come from disjoint page ranges owned by the heap, are at least `layout.size()`
// bytes and aligned to `layout.align()` (size classes are powers of two carved at multiples of
// their size from page-aligned pages; large blocks are whole pages and `alloc` refuses alignments
// above a page), and a block is handed out at most once until it is freed.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = self
            .classes
            .with(|classes| classes.alloc(layout, &crate::memory::PAGES, read_link, write_link))
            .flatten();
        match block {
            Some(address) => address as usize as *mut u8,
            None => core::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = self
            .classes
            .with(|classes| classes.free(ptr as u64, layout, &crate::memory::PAGES, write_link));
    }
}

const _: () = assert!(MAX_CLASS_SIZE <= PAGE_SIZE);

/// Installs Xen's hypercall page into a freshly allocated page of guest RAM.
pub fn install_hypercall_page(
    xen: &XenCpuid,
    memory: &'static GuestMemory,
) -> Result<HypercallPage<&'static GuestMemory>, InstallError> {
    let page = xen_hal::OwnedPages::new(memory, 1).map_err(|_| InstallError::PageTooSmall)?;
    // SAFETY: the guest runs at ring 0 in a Xen HVM guest (`xen` came from `detect_xen` in
    // `xen::setup`); the page is RAM from the allocator, identity-mapped writable and executable
    // (boot.rs sets no NX bit), so `pfn()` is the frame of `memory().as_ptr()`.
    unsafe { HypercallPage::install(xen, page) }
}
