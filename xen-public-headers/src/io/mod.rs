//! Split-driver I/O protocols (`io/*.h`): shared rings, xenstore and xenbus, block, network, console.

pub mod blkif;
pub mod console;
pub mod netif;
pub mod protocols;
pub mod ring;
pub mod xenbus;
pub mod xs_wire;
