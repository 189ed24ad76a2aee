//! xenpci.sys: on Windows targets the driver image (entry point `DriverEntry` in `driver.rs`);
//! on the host an empty program, so the workspace builds everywhere.
#![cfg_attr(target_os = "windows", no_std, no_main)]

#[cfg(target_os = "windows")]
extern crate alloc;

#[cfg(target_os = "windows")]
mod driver;
#[cfg(target_os = "windows")]
mod hal;
#[cfg(target_os = "windows")]
mod pdo;
#[cfg(target_os = "windows")]
mod registry;
#[cfg(target_os = "windows")]
mod services;

#[cfg(not(target_os = "windows"))]
fn main() {
    eprintln!("xenpci is a Windows driver: build it with `cargo xtask dist`");
}
