//! Split-driver I/O protocols (`io/*.h`): shared rings, xenstore and xenbus, block, network, console.

pub mod console;
pub mod protocols;
pub mod ring;
pub mod xenbus;
pub mod xs_wire;
