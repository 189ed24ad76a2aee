//! Windows kernel bindings for the suite's drivers, named exactly as in the WDK, plus a small
//! safe layer.
//!
//! - [`ntdef`], [`wdm`], [`storport`], [`ndis`]: hand-written `#[repr(C)]` types, constants and
//!   `extern "system"` imports. Each import is linked against an import library generated at
//!   build time from `def/<dll>.def` (only the names listed there can be linked).
//! - Layouts are asserted at compile time ([`layout`]): against mingw-w64's DDK headers through
//!   a C probe where mingw is right, against documented WDK sizes where it is wrong or silent.
//! - Safe layer: [`irp`] (the WDK's IRP macros), [`sync::SpinLock`] with an RAII guard,
//!   [`pool`] (RAII buffers and the global allocator over `ExAllocatePoolWithTag`, NX pool from
//!   Windows 8 on), [`hypercall_section`] (the executable image page for Xen's hypercall
//!   stubs), [`log`]
//!   (levelled macros to `DbgPrintEx` and Xen's debug port), and on Windows a panic handler that
//!   bugchecks with `0x52555354` ("RUST").
//!
//! The types compile on every target (x86_64 Linux has the same pointer size and alignment, so
//! host tests check layouts too); the import libraries, allocator and panic handler exist only
//! for `target_os = "windows"`.
#![no_std]

pub mod cancel;
pub mod chkstk;
pub mod device;
pub mod hypercall_section;
pub mod irp;
pub mod layout;
pub mod log;
pub mod ndis;
pub mod ntdef;
pub mod pnp_bus;
pub mod pool;
pub mod remove_lock;
pub mod storport;
pub mod sync;
pub mod wdm;
pub mod work_item;
pub mod xen_debug;

#[cfg(target_os = "windows")]
pub mod runtime;
