//! ABI names written to a device's `protocol` xenstore node (`io/protocols.h`).

/// 32-bit x86 ring layout.
pub const XEN_IO_PROTO_ABI_X86_32: &str = "x86_32-abi";
/// 64-bit x86 ring layout.
pub const XEN_IO_PROTO_ABI_X86_64: &str = "x86_64-abi";
/// Arm ring layout.
pub const XEN_IO_PROTO_ABI_ARM: &str = "arm-abi";
/// The layout of this crate's target (x86_64).
pub const XEN_IO_PROTO_ABI_NATIVE: &str = XEN_IO_PROTO_ABI_X86_64;
