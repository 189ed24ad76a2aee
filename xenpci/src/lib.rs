//! `xenpci`: the bus driver on the Xen platform PCI device. This library holds its
//! Windows-independent decisions (host-tested); the driver image is `src/main.rs` with the glue
//! in `src/driver.rs`. Platform bring-up, unplug and shutdown control are in `xen-platform`;
//! the child model and the child interface in `xen-bus`.
//!
//! - [`boot`]: DriverEntry's facts and the unplug inputs.
//! - [`resources`]: the platform device's BAR, port and interrupt from the start resources.
//! - [`fdo`]: the FDO's PnP state machine.
//! - [`shutdown`]: Xen shutdown requests to the shutdownmon IOCTL interface and back.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate alloc;

pub mod boot;
pub mod fdo;
pub mod resources;
pub mod shutdown;
