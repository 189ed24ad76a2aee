//! xenpci's child model as portable logic: what the bus driver answers about its children, and
//! the interfaces it offers to them and to user mode.
//!
//! - [`child`]: children from the xenstore device list (`device/<type>/<id>`), with hardware,
//!   compatible and instance IDs and device text; UTF-16 (MULTI_)SZ encoding for IRP answers.
//! - [`hotplug`]: the set of children across scans and the PnP actions of each change (added,
//!   reported missing, surprise removal when the backend goes away while the device is listed).
//! - [`capabilities`]: `DEVICE_CAPABILITIES` answers per class.
//! - [`binding`]: the binding model (physical StorPort miniport on vbd children, NDIS 6
//!   miniport on vif children, the null driver on the others) and the PDO answers it needs,
//!   as data.
//! - [`interface`]: the versioned child interface table (`IRP_MN_QUERY_INTERFACE`), its
//!   negotiation on both sides and the adapter that serves it over [`interface::BusServices`].
//! - [`shutdown_ioctl`]: the shutdownmon device interface, IOCTL codes and message codec.
//! - [`hide`]: the xenhide list of QEMU-emulated PCI devices and the hide decision.
//! - [`pdo`]: the PnP and power decisions of a child PDO.
#![no_std]
// Forbidden everywhere except the one named module that turns the child interface's C context
// pointer back into the adapter (`interface::thunks`); see the reasons there.
#![deny(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod binding;
pub mod capabilities;
pub mod child;
pub mod hide;
pub mod hotplug;
pub mod interface;
pub mod pdo;
pub mod shutdown_ioctl;
pub mod wide;

pub use child::{Child, ChildError};
pub use hotplug::{ChildSet, HotplugAction};
