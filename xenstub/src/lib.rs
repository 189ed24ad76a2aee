//! `xenstub`: the PnP and power decisions of the null function driver for xenpci's vfb, vkbd
//! and console children, as portable logic (the Windows glue is in `src/driver.rs`).
//!
//! The driver only has to let these devices start, stop and go away cleanly, so Device Manager
//! shows them working and no "unknown device" remains. Every IRP goes down to the PDO; the
//! driver tracks the PnP state as the WDM rules require.
#![no_std]
#![forbid(unsafe_code)]

pub mod pnp;
pub mod power;
