//! The guest's one module with `unsafe`: CPU instructions, port I/O, windows onto physical
//! memory through the boot-time identity map, the page allocator's and heap's raw memory, a
//! spin lock for globals, and the interrupt entry stubs with the IDT load and IF control.
//!
//! The guest runs on one CPU with interrupts off except while `crate::irq::run_enabled` waits;
//! the only interrupt handler (`crate::irq`) takes its globals, and code outside it takes them
//! with interrupts off, so every global is touched by one thread of execution at a time; the
//! spin lock only guards against re-entry (a panic while a lock is held), which it reports
//! instead of deadlocking.
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

// ---- Interrupts: entry stubs, IDT load, IF control, MSR read ----

/// First vector with an entry stub (vectors below are exceptions, left without a gate so a
/// fault still ends in a triple fault, which the testbed recognises and retries).
pub const FIRST_STUB_VECTOR: u8 = 32;
/// Bytes per entry stub (`push vector; jmp common`, padded).
const STUB_SIZE: u64 = 16;

// One stub per vector 32..=255: push the vector number and join the common path, which saves
// the caller-saved registers (the target has no SSE state and no red zone), calls
// `guest_interrupt(vector)` on a 16-byte aligned stack and returns with `iretq`.
// On entry the CPU has pushed SS, RSP, RFLAGS, CS, RIP (40 bytes, RSP 16-aligned before), so
// RSP = 8 (mod 16); the vector makes it 0, ten 8-byte pushes keep it 0 at the call.
#[cfg(not(test))]
core::arch::global_asm!(
    r#"
    .text
    .balign 16
    .globl guest_interrupt_stubs
guest_interrupt_stubs:
    .set guest_stub_vector, {first}
    .rept 256 - {first}
    .balign 16
    pushq $guest_stub_vector
    jmp guest_interrupt_common
    .set guest_stub_vector, guest_stub_vector + 1
    .endr
    .balign 16

guest_interrupt_common:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %rbp
    movq 80(%rsp), %rdi
    cld
    call guest_interrupt
    popq %rbp
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    addq $8, %rsp
    iretq
"#,
    first = const FIRST_STUB_VECTOR,
    options(att_syntax)
);

#[cfg(not(test))]
extern "C" {
    static guest_interrupt_stubs: u8;
}

/// Address of the entry stub of `vector`, or `None` below [`FIRST_STUB_VECTOR`].
#[cfg(not(test))]
pub fn interrupt_stub(vector: u8) -> Option<u64> {
    let index = u64::from(vector.checked_sub(FIRST_STUB_VECTOR)?);
    Some(core::ptr::addr_of!(guest_interrupt_stubs) as u64 + index * STUB_SIZE)
}

/// Host tests have no stubs.
#[cfg(test)]
pub fn interrupt_stub(_vector: u8) -> Option<u64> {
    None
}

/// The Rust side of every entry stub.
#[cfg(not(test))]
#[no_mangle]
extern "C" fn guest_interrupt(vector: u64) {
    crate::irq::on_interrupt(vector as u8);
}

/// The interrupt descriptor table: 256 gates of 16 bytes as pairs of words, filled by
/// [`crate::irq`] (all zero = not present) and loaded with [`load_idt`].
pub type Idt = [core::sync::atomic::AtomicU64; 512];

/// Loads `idt` into IDTR.
pub fn load_idt(idt: &'static Idt) {
    #[repr(C, packed)]
    struct Pointer {
        limit: u16,
        base: u64,
    }
    let pointer = Pointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: idt.as_ptr() as u64,
    };
    // SAFETY: `lidt` reads the 10-byte pointer on the stack; the table is a static (never
    // moves or goes away) whose gates are either not present or name the entry stubs above,
    // which preserve every register the interrupted code may rely on and return with `iretq`.
    unsafe { asm!("lidt [{}]", in(reg) &pointer, options(readonly, nostack, preserves_flags)) };
}

/// Whether RFLAGS.IF is set.
pub fn interrupts_enabled() -> bool {
    let flags: u64;
    // SAFETY: `pushfq; pop` reads RFLAGS through the stack slot it pushes and pops itself.
    unsafe { asm!("pushfq", "pop {}", out(reg) flags, options(nomem, preserves_flags)) };
    flags & (1 << 9) != 0
}

/// Sets RFLAGS.IF: interrupts are taken from here on.
pub fn enable_interrupts() {
    // SAFETY: `sti` only sets IF; the IDT is loaded with gates for every vector the interrupt
    // controllers are programmed to deliver (see `crate::irq`). Not `nomem`: handlers run and
    // touch memory from here on, so the compiler must not move memory accesses across it.
    unsafe { asm!("sti", options(nostack)) };
}

/// Clears RFLAGS.IF.
pub fn disable_interrupts() {
    // SAFETY: `cli` only clears IF. Not `nomem` (a compiler barrier, as for `sti`).
    unsafe { asm!("cli", options(nostack)) };
}

/// Runs `f` with interrupts off, restoring IF afterwards (so a handler never finds a lock the
/// interrupted code holds).
pub fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    let was_enabled = interrupts_enabled();
    disable_interrupts();
    let result = f();
    if was_enabled {
        enable_interrupts();
    }
    result
}

/// Reads model-specific register `msr` (`rdmsr`).
pub fn read_msr(msr: u32) -> u64 {
    let low: u32;
    let high: u32;
    // SAFETY: ring 0; callers pass architectural MSRs that exist on every x86_64 CPU
    // (IA32_APIC_BASE); `rdmsr` writes only EDX:EAX.
    unsafe {
        asm!("rdmsr", in("ecx") msr, out("eax") low, out("edx") high, options(nomem, nostack, preserves_flags))
    };
    (u64::from(high) << 32) | u64::from(low)
}
