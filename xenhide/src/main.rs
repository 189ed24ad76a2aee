//! xenhide.sys: on Windows targets the driver image (entry point `DriverEntry` in
//! `driver.rs`); on the host an empty program, so the workspace builds everywhere.
#![cfg_attr(target_os = "windows", no_std, no_main)]

#[cfg(target_os = "windows")]
extern crate alloc;

#[cfg(target_os = "windows")]
mod driver;

#[cfg(not(target_os = "windows"))]
fn main() {
    eprintln!("xenhide is a Windows driver: build it with `cargo xtask dist`");
}
