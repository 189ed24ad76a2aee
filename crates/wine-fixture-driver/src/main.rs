//! Test fixture driver (never shipped): DriverEntry logs a line and returns
//! `STATUS_UNSUCCESSFUL`, so the Wine smoke test must report the load as failed.
#![cfg_attr(target_os = "windows", no_std, no_main)]

#[cfg(target_os = "windows")]
mod driver {
    use nt_kernel::ntdef::{NTSTATUS, STATUS_UNSUCCESSFUL, UNICODE_STRING};
    use nt_kernel::wdm::DRIVER_OBJECT;

    static DRIVER_NAME: &str = "wine-fixture-driver";

    /// Fails on purpose.
    #[no_mangle]
    extern "system" fn DriverEntry(
        _driver: *mut DRIVER_OBJECT,
        _registry_path: *mut UNICODE_STRING,
    ) -> NTSTATUS {
        nt_kernel::log::set_driver_name(&DRIVER_NAME);
        nt_kernel::error!("DriverEntry: failing on purpose");
        STATUS_UNSUCCESSFUL
    }
}

#[cfg(not(target_os = "windows"))]
fn main() {
    eprintln!("wine-fixture-driver is a Windows driver test fixture: `cargo xtask test` builds it");
}
