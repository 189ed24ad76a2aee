//! RAII over `IO_REMOVE_LOCK`: a guard per IRP in flight, released in `Drop`, and the
//! release-and-wait of IRP_MN_REMOVE_DEVICE.

use core::cell::UnsafeCell;
use core::ptr::null_mut;

use crate::ntdef::{NTSTATUS, NT_SUCCESS, ULONG};
use crate::wdm::{
    IoAcquireRemoveLockEx, IoInitializeRemoveLockEx, IoReleaseRemoveLockAndWaitEx,
    IoReleaseRemoveLockEx, IO_REMOVE_LOCK,
};

const SIZE: ULONG = core::mem::size_of::<IO_REMOVE_LOCK>() as ULONG;

/// A remove lock living in a device extension.
pub struct RemoveLock {
    lock: UnsafeCell<IO_REMOVE_LOCK>,
}

// SAFETY: the kernel serialises access to the lock with interlocked operations.
unsafe impl Sync for RemoveLock {}
// SAFETY: the lock is only shared by reference once initialised; moving happens before that.
unsafe impl Send for RemoveLock {}

impl RemoveLock {
    /// All-zero storage, to be placed in the device extension and then [`initialize`]d.
    ///
    /// [`initialize`]: RemoveLock::initialize
    pub const fn zeroed() -> Self {
        // SAFETY: IO_REMOVE_LOCK is plain integers and a KEVENT of integers and pointers, for
        // which all-zero bytes are a valid (not yet initialised) value.
        let lock = unsafe { core::mem::zeroed::<IO_REMOVE_LOCK>() };
        Self {
            lock: UnsafeCell::new(lock),
        }
    }

    /// Initialises the lock in place (`IoInitializeRemoveLock`).
    ///
    /// # Safety
    /// `this` must point to writable storage that stays at this address until the device is
    /// deleted (a device extension).
    pub unsafe fn initialize(this: *mut RemoveLock, tag: ULONG) {
        // SAFETY: `UnsafeCell<T>` has the layout of `T`; the caller guarantees the storage.
        unsafe { IoInitializeRemoveLockEx(this.cast::<IO_REMOVE_LOCK>(), tag, 0, 0, SIZE) };
    }

    /// `IoAcquireRemoveLock`: fails with `STATUS_DELETE_PENDING` once removal started.
    pub fn acquire(&self) -> Result<RemoveLockGuard<'_>, NTSTATUS> {
        // SAFETY: the lock was initialised (type invariant of a device extension holding it).
        let status = unsafe {
            IoAcquireRemoveLockEx(
                self.lock.get(),
                null_mut(),
                c"nt-kernel".as_ptr().cast(),
                0,
                SIZE,
            )
        };
        if NT_SUCCESS(status) {
            Ok(RemoveLockGuard { owner: self })
        } else {
            Err(status)
        }
    }
}

/// One acquisition of a [`RemoveLock`].
pub struct RemoveLockGuard<'a> {
    owner: &'a RemoveLock,
}

impl RemoveLockGuard<'_> {
    /// `IoReleaseRemoveLockAndWait`: releases this acquisition and waits until every other one
    /// is released; later acquisitions fail. Call once, in IRP_MN_REMOVE_DEVICE.
    pub fn release_and_wait(self) {
        let lock = self.owner.lock.get();
        core::mem::forget(self);
        // SAFETY: this acquisition is consumed here instead of in Drop.
        unsafe { IoReleaseRemoveLockAndWaitEx(lock, null_mut(), SIZE) };
    }
}

impl Drop for RemoveLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: releases the acquisition this guard represents, once.
        unsafe { IoReleaseRemoveLockEx(self.owner.lock.get(), null_mut(), SIZE) };
    }
}
