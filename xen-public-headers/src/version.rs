//! Version and feature queries (`version.h`), issued with `__HYPERVISOR_xen_version`.

use crate::xen::xen_ulong_t;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Returns `(major << 16) | minor` as the hypercall result.
pub const XENVER_version: u32 = 0;
/// Fills a [`xen_extraversion_t`].
pub const XENVER_extraversion: u32 = 1;
/// Fills a [`xen_compile_info`].
pub const XENVER_compile_info: u32 = 2;
/// Fills a [`xen_capabilities_info_t`].
pub const XENVER_capabilities: u32 = 3;
/// Fills a [`xen_changeset_info_t`].
pub const XENVER_changeset: u32 = 4;
/// Fills a [`xen_platform_parameters`].
pub const XENVER_platform_parameters: u32 = 5;
/// Fills a [`xen_feature_info`] (`XENFEAT_*` bits).
pub const XENVER_get_features: u32 = 6;
/// Returns the page size as the hypercall result.
pub const XENVER_pagesize: u32 = 7;
/// Fills the domain handle (a UUID).
pub const XENVER_guest_handle: u32 = 8;
/// Fills the hypervisor command line.
pub const XENVER_commandline: u32 = 9;
/// Fills the build id.
pub const XENVER_build_id: u32 = 10;

/// NUL-terminated extra version string, e.g. `".0"`.
pub type xen_extraversion_t = [u8; 16];
/// Size of [`xen_extraversion_t`].
pub const XEN_EXTRAVERSION_LEN: usize = 16;
/// NUL-terminated capability list, e.g. `"xen-3.0-x86_64 hvm-3.0-x86_64 ..."`.
pub type xen_capabilities_info_t = [u8; 1024];
/// Size of [`xen_capabilities_info_t`].
pub const XEN_CAPABILITIES_INFO_LEN: usize = 1024;
/// NUL-terminated source changeset.
pub type xen_changeset_info_t = [u8; 64];
/// Size of [`xen_changeset_info_t`].
pub const XEN_CHANGESET_INFO_LEN: usize = 64;

/// `XENVER_compile_info` result: NUL-terminated strings.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct xen_compile_info {
    /// Compiler.
    pub compiler: [u8; 64],
    /// User who built Xen.
    pub compile_by: [u8; 16],
    /// Domain of that user.
    pub compile_domain: [u8; 32],
    /// Build date.
    pub compile_date: [u8; 32],
}

/// `XENVER_platform_parameters` result.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_platform_parameters {
    /// Start of the hypervisor's virtual address range.
    pub virt_start: xen_ulong_t,
}

/// `XENVER_get_features` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xen_feature_info {
    /// IN: which 32-bit group of `XENFEAT_*` bits to return.
    pub submap_idx: u32,
    /// OUT: the bits.
    pub submap: u32,
}
