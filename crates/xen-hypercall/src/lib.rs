//! Xen detection by CPUID, the hypercall page, and [`xen_hal::Hypervisor`] over raw hypercalls.
//!
//! Layers, bottom up:
//! - [`Hypercall`]: issue hypercall number `op` with five register arguments. Implemented on
//!   x86_64 by [`arch::x86_64::HypercallPage`] (the page Xen fills in after a `wrmsr`), and by
//!   recording fakes in tests.
//! - [`detect()`]: find Xen's CPUID leaves (also behind Viridian) from any `cpuid` function, so the
//!   logic is tested with fake CPUID tables.
//! - [`Xen`]: the typed [`xen_hal::Hypervisor`] operations, marshalled into the ABI structs of
//!   `xen-public-headers` and checked with [`xen_hal::XenError::check`].
//!
//! `unsafe` lives in [`arch::x86_64`] (inline assembly), in the declaration of [`Hypercall`], and
//! in the `xen` module, whose every hypercall passes pointers to its own stack locals.
#![no_std]
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

pub mod arch;
pub mod detect;
mod xen;

pub use detect::{detect, XenCpuid, XEN_CPUID_FIRST_BASE, XEN_CPUID_SIGNATURE};
pub use xen::{Xen, MAX_POLL_PORTS};

/// Raw hypercall issuing: hypercall number `op` with up to five arguments in registers.
///
/// # Safety
/// Implementors must issue exactly hypercall `op` with `args` as its arguments (or behave as Xen
/// would, for fakes), and return Xen's result unchanged.
#[allow(unsafe_code)]
pub unsafe trait Hypercall {
    /// Issues hypercall `op` (`__HYPERVISOR_*`) with `args`, returning Xen's result (negative
    /// errno on failure).
    ///
    /// # Safety
    /// Every argument that the operation interprets as a guest pointer must point to memory that
    /// is valid, for the access (read and/or write) and the size that operation makes, for the
    /// whole call. Operations that change the guest's memory map or execution state
    /// (`memory_op`, `sched_op`, ...) must be used as their Xen documentation requires.
    unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize;
}

#[allow(unsafe_code)]
// SAFETY: forwards to `H` with the same arguments and returns its result unchanged.
unsafe impl<H: Hypercall + ?Sized> Hypercall for &H {
    unsafe fn hypercall(&self, op: u32, args: [usize; 5]) -> isize {
        // SAFETY: the caller upholds `hypercall`'s contract, which is forwarded unchanged.
        unsafe { (**self).hypercall(op, args) }
    }
}
