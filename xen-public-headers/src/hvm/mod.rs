//! HVM guest interfaces (`hvm/*.h`).

pub mod hvm_op;
pub mod params;
