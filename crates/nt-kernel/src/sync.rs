//! RAII spin locks over `KSPIN_LOCK`: the guard releases the lock (and restores the IRQL) in `Drop`.

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

use crate::ntdef::{KIRQL, KSPIN_LOCK};
use crate::wdm::{
    KeAcquireSpinLockAtDpcLevel, KeAcquireSpinLockRaiseToDpc, KeReleaseSpinLock,
    KeReleaseSpinLockFromDpcLevel,
};

/// Data protected by a kernel spin lock. Acquiring raises to `DISPATCH_LEVEL`.
pub struct SpinLock<T> {
    lock: UnsafeCell<KSPIN_LOCK>,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is serialised by the kernel spin lock.
unsafe impl<T: Send> Sync for SpinLock<T> {}
// SAFETY: moving the lock moves the data; an unheld KSPIN_LOCK is a plain word.
unsafe impl<T: Send> Send for SpinLock<T> {}

impl<T> SpinLock<T> {
    /// A new, released lock (`KeInitializeSpinLock` stores zero on x64).
    pub const fn new(data: T) -> Self {
        Self {
            lock: UnsafeCell::new(0),
            data: UnsafeCell::new(data),
        }
    }

    /// `KeAcquireSpinLock`: call at IRQL <= `DISPATCH_LEVEL`.
    pub fn lock(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: `lock` is a valid KSPIN_LOCK for the lifetime of `self`.
        let old_irql = unsafe { KeAcquireSpinLockRaiseToDpc(self.lock.get()) };
        SpinLockGuard {
            owner: self,
            old_irql: Some(old_irql),
        }
    }

    /// `KeAcquireSpinLockAtDpcLevel`: call only at `DISPATCH_LEVEL` (in a DPC).
    pub fn lock_at_dpc_level(&self) -> SpinLockGuard<'_, T> {
        // SAFETY: as in `lock`; the caller runs at DISPATCH_LEVEL as the name says.
        unsafe { KeAcquireSpinLockAtDpcLevel(self.lock.get()) };
        SpinLockGuard {
            owner: self,
            old_irql: None,
        }
    }

    /// The data, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

/// Holds a [`SpinLock`]; releases it when dropped.
pub struct SpinLockGuard<'a, T> {
    owner: &'a SpinLock<T>,
    /// `Some` when acquired with `lock` (the IRQL to restore), `None` at DPC level.
    old_irql: Option<KIRQL>,
}

impl<T> Deref for SpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held for the guard's lifetime, so no other reference exists.
        unsafe { &*self.owner.data.get() }
    }
}

impl<T> DerefMut for SpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held and the guard is borrowed mutably.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for SpinLockGuard<'_, T> {
    fn drop(&mut self) {
        match self.old_irql {
            // SAFETY: the lock was acquired by `lock`, which returned this IRQL.
            Some(irql) => unsafe { KeReleaseSpinLock(self.owner.lock.get(), irql) },
            // SAFETY: the lock was acquired at DPC level by `lock_at_dpc_level`.
            None => unsafe { KeReleaseSpinLockFromDpcLevel(self.owner.lock.get()) },
        }
    }
}
