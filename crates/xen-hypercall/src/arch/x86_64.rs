//! x86_64: CPUID, the MSR write that installs Xen's hypercall page, and calls into that page.
//!
//! Every `unsafe` block here holds one operation and says why it is sound.
#![allow(unsafe_code)]

use core::arch::asm;

use xen_hal::{OwnedPages, PageAllocator, PAGE_SIZE};

use crate::detect::{detect, XenCpuid};
use crate::Hypercall;

/// Size of one hypercall's stub in the hypercall page (`op * 32` is its offset).
pub const HYPERCALL_STUB_SIZE: usize = 32;
/// Number of hypercall stubs in the page.
pub const HYPERCALL_STUB_COUNT: usize = PAGE_SIZE / HYPERCALL_STUB_SIZE;
/// `-ENOSYS`, returned for hypercall numbers past the page without calling anything.
const ENOSYS: isize = -38;

/// Executes `cpuid` with EAX = `leaf`, ECX = `subleaf`, returning `[eax, ebx, ecx, edx]`.
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let (eax, ebx, ecx, edx): (u32, u32, u32, u32);
    // SAFETY: `cpuid` is available on every x86_64 CPU at every privilege level, reads and writes
    // only the four registers declared here (RBX is saved in a scratch register because LLVM
    // reserves it) and touches no memory.
    unsafe {
        asm!(
            "mov {scratch:r}, rbx",
            "cpuid",
            "xchg {scratch:r}, rbx",
            scratch = out(reg) ebx,
            inout("eax") leaf => eax,
            inout("ecx") subleaf => ecx,
            out("edx") edx,
            options(nomem, nostack, preserves_flags),
        );
    }
    [eax, ebx, ecx, edx]
}

/// [`detect`] with this CPU's `cpuid`.
pub fn detect_xen() -> Option<XenCpuid> {
    detect(cpuid)
}

/// Writes `value` to model-specific register `msr`.
///
/// # Safety
/// Must run at ring 0, and `msr` with `value` must be a write the CPU (or the hypervisor that
/// emulates it) accepts and whose effects the caller has made safe.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller guarantees ring 0 and an accepted, safe MSR write; `wrmsr` touches no
    // Rust-visible memory and no stack.
    unsafe {
        asm!(
            "wrmsr",
            in("ecx") msr,
            in("eax") value as u32,
            in("edx") (value >> 32) as u32,
            options(nostack, preserves_flags),
        );
    }
}

/// Why the hypercall page could not be installed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstallError {
    /// Xen's CPUID leaf reports no hypercall pages.
    NoHypercallPage,
    /// The page window is smaller than a page.
    PageTooSmall,
    /// After the MSR write the page still holds only zeros: Xen did not fill it, and calling
    /// into it would execute garbage.
    NotFilled,
}

/// Xen's hypercall page, installed in a page of guest memory; calls go to `page + op * 32`.
///
/// The page is owned and freed on drop; drop it only when no hypercall can be in flight.
pub struct HypercallPage<A: PageAllocator> {
    page: OwnedPages<A>,
}

impl<A: PageAllocator> HypercallPage<A> {
    /// Asks Xen to fill `page` with hypercall stubs: writes the page's guest physical address to
    /// the MSR named by `xen` ([`XenCpuid::hypercall_msr`]).
    ///
    /// # Safety
    /// - Runs at ring 0 in a Xen HVM guest, and `xen` came from [`detect_xen`] on this machine.
    /// - `page` is at least one page of RAM, mapped readable *and executable* at
    ///   `page.memory().as_ptr()` (Xen writes the stubs through the frame, so the mapping need
    ///   not be writable), and its `pfn()` is the frame of that mapping.
    pub unsafe fn install(xen: &XenCpuid, page: OwnedPages<A>) -> Result<Self, InstallError> {
        if xen.hypercall_pages == 0 {
            return Err(InstallError::NoHypercallPage);
        }
        if page.memory().len() < PAGE_SIZE {
            return Err(InstallError::PageTooSmall);
        }
        // Low 12 bits select which of Xen's hypercall pages goes there: page 0.
        let gpa = page.pfn().address();
        // SAFETY: ring 0 in a Xen guest (caller); Xen's hypercall MSR (from its CPUID leaf)
        // accepts a page-aligned guest physical address, and Xen writes only that page, which
        // `page` owns exclusively.
        unsafe { wrmsr(xen.hypercall_msr, gpa) };
        // Each stub is a few instructions long; the first stub's bytes all zero means nothing
        // was written.
        let mut first = [0u8; HYPERCALL_STUB_SIZE];
        page.memory()
            .read_bytes(0, &mut first)
            .map_err(|_| InstallError::PageTooSmall)?;
        if first.iter().all(|&b| b == 0) {
            return Err(InstallError::NotFilled);
        }
        Ok(HypercallPage { page })
    }

    /// The page holding the stubs.
    pub fn page(&self) -> &OwnedPages<A> {
        &self.page
    }
}

// SAFETY: `hypercall` calls the stub of exactly `op` with `args` in Xen's x86_64 registers and
// returns RAX unchanged; numbers past the page are refused without calling.
unsafe impl<A: PageAllocator> Hypercall for HypercallPage<A> {
    unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize {
        let index = op as usize;
        if index >= HYPERCALL_STUB_COUNT {
            return ENOSYS;
        }
        let entry = self
            .page
            .memory()
            .as_ptr()
            .wrapping_add(index * HYPERCALL_STUB_SIZE);
        let ret: isize;
        // SAFETY: `install` made Xen write its stubs into this executable page, which `self`
        // owns, so `entry` is the stub of hypercall `op`; the stub follows Xen's convention
        // (arguments in RDI, RSI, RDX, R10, R8, result in RAX; argument registers may be
        // clobbered, so all are declared as clobbered) and returns with `ret`. The call
        // needs the stack, so `nostack` is not given, which also keeps the red zone intact.
        // Pointer arguments are valid per the caller's contract.
        unsafe {
            asm!(
                "call {entry}",
                entry = in(reg) entry,
                inlateout("rdi") args[0] => _,
                inlateout("rsi") args[1] => _,
                inlateout("rdx") args[2] => _,
                inlateout("r10") args[3] => _,
                inlateout("r8") args[4] => _,
                lateout("rax") ret,
            );
        }
        ret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the real detection on this host (under whatever hypervisor it has) and checks it
    /// against raw `cpuid`. The MSR write and hypercalls are not run: they need a Xen guest.
    #[test]
    fn real_cpuid_detection_is_consistent() {
        let hypervisor_present = cpuid(1, 0)[2] & (1 << 31) != 0;
        let found = detect_xen();
        let vendor = |leaf: u32| {
            let r = cpuid(leaf, 0);
            let mut s = [0u8; 12];
            s[..4].copy_from_slice(&r[1].to_le_bytes());
            s[4..8].copy_from_slice(&r[2].to_le_bytes());
            s[8..].copy_from_slice(&r[3].to_le_bytes());
            s
        };
        std::eprintln!(
            "host: hypervisor bit {hypervisor_present}, leaf 0x40000000 vendor {:?}, detect {found:?}",
            std::string::String::from_utf8_lossy(&vendor(0x4000_0000))
        );
        match found {
            Some(xen) => {
                assert!(hypervisor_present);
                assert_eq!(&vendor(xen.base), crate::XEN_CPUID_SIGNATURE);
                let version = cpuid(xen.base + 1, 0)[0];
                assert_eq!(u32::from(xen.version.major), version >> 16);
                assert_eq!(xen.hypercall_msr, cpuid(xen.base + 2, 0)[1]);
            }
            None => {
                if hypervisor_present {
                    for n in 0..0x100u32 {
                        assert_ne!(&vendor(0x4000_0000 + n * 0x100), crate::XEN_CPUID_SIGNATURE);
                    }
                }
            }
        }
        // cpuid itself: leaf 0's vendor string is one of the known x86 vendors' printable text.
        assert!(vendor(0).iter().all(|b| b.is_ascii_graphic() || *b == b' '));
    }

    #[test]
    fn stub_geometry() {
        assert_eq!(HYPERCALL_STUB_COUNT, 128);
    }
}
