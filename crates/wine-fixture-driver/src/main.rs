//! Test fixture driver (never shipped). DriverEntry logs a line and then, depending on the
//! service name it was registered under (the last component of its registry path):
//! - a name ending in `panic`: panics, so nt-kernel's panic handler must bugcheck with
//!   `0x52555354` ("RUST");
//! - any other name: returns `STATUS_UNSUCCESSFUL`.
//!
//! Either way the Wine smoke test must report the load as failed. Before failing, it exercises
//! the global allocator over non-paged pool (a growing `Vec` and an over-aligned `Box`) and
//! logs the result, and likewise a `SpinLock` and a `PoolBuffer` (after opting in to NX pool),
//! and the hypercall-section page of its image (page-aligned, zero, readable), so the PE check
//! sees a real `.hcall` section linked read + execute.
#![cfg_attr(target_os = "windows", no_std, no_main)]

#[cfg(target_os = "windows")]
extern crate alloc;

#[cfg(target_os = "windows")]
mod driver {
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    use nt_kernel::ntdef::{NTSTATUS, STATUS_UNSUCCESSFUL, UNICODE_STRING};
    use nt_kernel::wdm::DRIVER_OBJECT;

    static DRIVER_NAME: &str = "wine-fixture-driver";

    /// Whether the registry path's last component ends in `panic` (ASCII, any case).
    fn service_wants_panic(registry_path: *const UNICODE_STRING) -> bool {
        if registry_path.is_null() {
            return false;
        }
        // SAFETY: the I/O manager passes a valid UNICODE_STRING to DriverEntry.
        let path = unsafe { &*registry_path };
        if path.Buffer.is_null() {
            return false;
        }
        let len = usize::from(path.Length / 2);
        // SAFETY: `Buffer` holds `Length` bytes of UTF-16.
        let units = unsafe { core::slice::from_raw_parts(path.Buffer, len) };
        let suffix = b"panic".map(u16::from);
        units.len() >= suffix.len()
            && units[units.len() - suffix.len()..]
                .iter()
                .zip(suffix)
                .all(|(&unit, want)| unit | 0x20 == want)
    }

    /// A 4 KiB-aligned page, to take the allocator's over-alignment path.
    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// Allocates, fills and checks a few blocks; returns a summary for the log.
    fn exercise_allocator() -> Option<(usize, u64, bool)> {
        let mut numbers: Vec<u64> = Vec::new();
        for i in 0..1000u64 {
            numbers.try_reserve(1).ok()?;
            numbers.push(i);
        }
        let sum = numbers.iter().sum();
        let page = Box::new(Page([0xA5; 4096]));
        let aligned =
            (core::ptr::from_ref(&*page) as usize) % 4096 == 0 && page.0.iter().all(|&b| b == 0xA5);
        Some((numbers.len(), sum, aligned))
    }

    /// Takes the image's hypercall-section page: page-aligned, readable, all zeros (nothing
    /// installs Xen's stubs here), and handed out only once.
    fn exercise_hypercall_section() -> bool {
        let Some(page) = nt_kernel::hypercall_section::take() else {
            return false;
        };
        let size = nt_kernel::hypercall_section::PAGE_SIZE;
        // SAFETY: the section's page is `size` readable bytes for the image's lifetime.
        let bytes = unsafe { core::slice::from_raw_parts(page.as_ptr(), size) };
        (page.as_ptr() as usize).is_multiple_of(size)
            && bytes.iter().all(|&b| b == 0)
            && nt_kernel::hypercall_section::take().is_none()
    }

    /// Takes a spin lock three times and fills a pool buffer; returns (counter, buffer ok).
    fn exercise_lock_and_pool() -> (u32, bool) {
        static COUNTER: nt_kernel::sync::SpinLock<u32> = nt_kernel::sync::SpinLock::new(0);
        for _ in 0..3 {
            *COUNTER.lock() += 1;
        }
        let count = *COUNTER.lock();
        let pool_ok = match nt_kernel::pool::PoolBuffer::new_zeroed(512) {
            Ok(mut buffer) => {
                let zeroed = buffer.as_slice().iter().all(|&b| b == 0);
                buffer.as_mut_slice().fill(7);
                zeroed && buffer.as_slice().iter().all(|&b| b == 7)
            }
            Err(_) => false,
        };
        (count, pool_ok)
    }

    /// Fails on purpose, by status or by panic.
    #[no_mangle]
    extern "system" fn DriverEntry(
        _driver: *mut DRIVER_OBJECT,
        registry_path: *mut UNICODE_STRING,
    ) -> NTSTATUS {
        nt_kernel::log::set_driver_name(&DRIVER_NAME);
        let pool = nt_kernel::pool::opt_in_nx();
        nt_kernel::error!("non-paged pool type {pool}");
        let section = exercise_hypercall_section();
        nt_kernel::error!("hypercall section page: aligned zero page {section}");
        match exercise_allocator() {
            Some((count, sum, aligned)) => {
                nt_kernel::error!(
                    "allocator: {count} values, sum {sum}, 4096-aligned page {aligned}"
                )
            }
            None => nt_kernel::error!("allocator: allocation failed"),
        }
        let (count, pool_ok) = exercise_lock_and_pool();
        nt_kernel::error!("spin lock counter {count}, pool buffer {pool_ok}");
        if service_wants_panic(registry_path) {
            nt_kernel::error!("DriverEntry: panicking on purpose");
            panic!("fixture panic");
        }
        nt_kernel::error!("DriverEntry: failing on purpose");
        STATUS_UNSUCCESSFUL
    }
}

#[cfg(not(target_os = "windows"))]
fn main() {
    eprintln!("wine-fixture-driver is a Windows driver test fixture: `cargo xtask test` builds it");
}
