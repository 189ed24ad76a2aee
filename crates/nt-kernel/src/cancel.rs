//! The cancel spin lock for drivers that pend IRPs with a cancel routine (`IoSetCancelRoutine`
//! is the atomic exchange of `IRP.CancelRoutine`, done by the caller), and
//! `RtlFreeUnicodeString` for strings the kernel allocated (a device interface's symbolic link
//! name). Added for xenpci's shutdown interface.
#![allow(non_snake_case)]

use crate::ntdef::*;

/// `STATUS_CANCELLED`.
pub const STATUS_CANCELLED: NTSTATUS = 0xC000_0120_u32 as i32;

#[cfg_attr(target_os = "windows", link(name = "ntoskrnl"))]
unsafe extern "system" {
    /// `IoAcquireCancelSpinLock`.
    pub fn IoAcquireCancelSpinLock(Irql: *mut KIRQL);
    /// `IoReleaseCancelSpinLock`.
    pub fn IoReleaseCancelSpinLock(Irql: KIRQL);
    /// `RtlFreeUnicodeString`.
    pub fn RtlFreeUnicodeString(UnicodeString: *mut UNICODE_STRING);
}
