//! `xenpci`: the bus driver on the Xen platform PCI device. This library holds its
//! Windows-independent decisions (host-tested); the driver image is `src/main.rs` with the glue
//! in `src/driver.rs`. Platform bring-up, unplug and shutdown control are in `xen-platform`;
//! the child model and the child interface in `xen-bus`.
//!
//! - [`boot`]: DriverEntry's facts, the unplug inputs and the arm writes.
//! - [`resources`]: the platform device's BAR, port and interrupt from the start resources.
//! - [`fdo`]: the FDO's PnP state machine.
//! - [`shutdown`]: Xen shutdown requests to the shutdownmon IOCTL interface and back.
//! - [`usage`]: paging, hibernation and dump files on a device (IRP_MN_DEVICE_USAGE_NOTIFICATION).
//! - [`instances`]: one PDO per instance ID until PnP removed the previous one.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod boot;
pub mod fdo;
pub mod instances;
pub mod resources;
pub mod shutdown;
pub mod usage;
