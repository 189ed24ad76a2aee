//! The page of the driver image that holds Xen's hypercall stubs: a page-aligned, page-sized
//! static in its own section [`SECTION_NAME`], which `cargo xtask dist` links read + execute
//! (`/SECTION:.hcall,RE`) and the PE check allows as the only executable section besides
//! `.text`.
//!
//! Why an image section: Xen writes the stubs into a guest-physical page named through its
//! hypercall MSR, and the guest then calls into that page, so the page must be executable. Pool
//! is not (from Windows 8 on the suite allocates `NonPagedPoolNx`, see [`crate::pool`]), and an
//! executable pool page would be writable and executable at once. A section of the image is
//! non-paged (its name does not start with `PAGE`), resident at a fixed guest-physical frame
//! while the image is loaded, mapped read + execute and never writable by the guest; Xen's write
//! goes to the frame, not through the guest's page tables. The static is zero in the file, so a
//! page Xen did not fill reads as zeros (what `xen_hypercall`'s install check looks for).
//!
//! A driver that never calls [`take`] has no such section (the unreferenced static is removed
//! at link time); the linker argument then names no section and changes nothing.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};

/// The section's name in the image (at most 8 bytes, so it fits the PE section header).
pub const SECTION_NAME: &str = ".hcall";
/// Size and alignment of the page.
pub const PAGE_SIZE: usize = 4096;

/// One page, aligned to a page. Written only by Xen (through the guest-physical frame), never by
/// Rust code: the contents sit in an `UnsafeCell` so the compiler assumes nothing about them.
#[repr(C, align(4096))]
struct SectionPage(UnsafeCell<[u8; PAGE_SIZE]>);

// SAFETY: Rust code never writes the page; it only hands out its address once (`take`).
unsafe impl Sync for SectionPage {}

#[link_section = ".hcall"]
static HYPERCALL_SECTION: SectionPage = SectionPage(UnsafeCell::new([0; PAGE_SIZE]));

/// Whether [`take`] has handed the page out.
static TAKEN: AtomicBool = AtomicBool::new(false);

/// The page's virtual address, the first time only (the page has one owner: the hypercall
/// page installer). The caller gets its guest-physical frame with `MmGetPhysicalAddress` and
/// must not write through the pointer (the section is mapped read + execute).
pub fn take() -> Option<NonNull<u8>> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    // The static is never written by Rust code, so without a barrier the optimizer may take its
    // contents as the zeros it was initialised with (and drop it once nothing else is left of
    // it); passing the address through `black_box` (an opaque asm barrier) makes it escape, so
    // the page stays in the image and reads through the pointer see what Xen wrote.
    NonNull::new(core::hint::black_box(HYPERCALL_SECTION.0.get()).cast::<u8>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_aligned_zeroed_handed_out_once() {
        assert!(SECTION_NAME.len() <= 8);
        let page = take().expect("first take");
        assert!((page.as_ptr() as usize).is_multiple_of(PAGE_SIZE));
        assert_eq!(core::mem::size_of::<SectionPage>(), PAGE_SIZE);
        // SAFETY: the static is PAGE_SIZE bytes, readable, and nothing writes it in this test.
        let bytes = unsafe { core::slice::from_raw_parts(page.as_ptr(), PAGE_SIZE) };
        assert!(bytes.iter().all(|&b| b == 0));
        assert_eq!(take(), None, "the page has one owner");
    }
}
