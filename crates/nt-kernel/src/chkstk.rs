//! `__chkstk`, the stack probe the compiler calls in functions whose frame exceeds 4 KiB.
//! Declared so it is listed in `def/ntoskrnl.def` (x64 ntoskrnl exports it; so does Wine's).
//! Added for xenpci: core's stable `slice::sort` (used by xenbus enumeration and xen-bus's
//! child set) keeps a 4 KiB scratch buffer on the stack. Never called directly.
#![allow(non_snake_case)]

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "system" {
    /// `__chkstk` (compiler-inserted; takes its argument in RAX, not per the ABI).
    pub fn __chkstk();
}
