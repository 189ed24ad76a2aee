//! The ABI numbers the simulator interprets.
//!
//! Interim: these are the values of Xen's public headers, kept here only until the matching
//! modules of `xen-public-headers` land; then this module re-exports them from there.
#![allow(non_upper_case_globals)]

/// `XENMAPSPACE_shared_info` (memory.h).
pub const XENMAPSPACE_shared_info: u32 = 0;
/// `XENMAPSPACE_grant_table` (memory.h).
pub const XENMAPSPACE_grant_table: u32 = 1;
/// `XENMAPIDX_grant_table_status` (memory.h).
pub const XENMAPIDX_grant_table_status: u64 = 0x8000_0000;
/// `HVM_PARAM_CALLBACK_IRQ` (hvm/params.h).
pub const HVM_PARAM_CALLBACK_IRQ: u32 = 0;
/// `HVM_PARAM_STORE_PFN` (hvm/params.h).
pub const HVM_PARAM_STORE_PFN: u32 = 1;
/// `HVM_PARAM_STORE_EVTCHN` (hvm/params.h).
pub const HVM_PARAM_STORE_EVTCHN: u32 = 2;
/// `HVM_NR_PARAMS` (hvm/params.h).
pub const HVM_NR_PARAMS: u32 = 39;
/// `EVTCHNSTAT_closed` (event_channel.h).
pub const EVTCHNSTAT_closed: u32 = 0;
/// `EVTCHNSTAT_unbound` (event_channel.h).
pub const EVTCHNSTAT_unbound: u32 = 1;
/// `EVTCHNSTAT_interdomain` (event_channel.h).
pub const EVTCHNSTAT_interdomain: u32 = 2;
/// `GTF_permit_access` (grant_table.h).
pub const GTF_permit_access: u16 = 1;
/// `GTF_type_mask` (grant_table.h).
pub const GTF_type_mask: u16 = 3;
/// `GTF_readonly` (grant_table.h).
pub const GTF_readonly: u16 = 1 << 2;
/// `GTF_reading` (grant_table.h).
pub const GTF_reading: u16 = 1 << 3;
/// `GTF_writing` (grant_table.h).
pub const GTF_writing: u16 = 1 << 4;
/// `GTF_sub_page` (grant_table.h).
pub const GTF_sub_page: u16 = 1 << 8;
/// `GNTST_okay`.
pub const GNTST_okay: i16 = 0;
/// `GNTST_general_error`.
pub const GNTST_general_error: i16 = -1;
/// `GNTST_bad_domain`.
pub const GNTST_bad_domain: i16 = -2;
/// `GNTST_bad_gntref`.
pub const GNTST_bad_gntref: i16 = -3;
/// `GNTST_bad_handle`.
pub const GNTST_bad_handle: i16 = -4;
/// `GNTST_bad_page`.
pub const GNTST_bad_page: i16 = -9;
/// Size of `grant_entry_v1`.
pub const GRANT_ENTRY_V1_SIZE: usize = 8;
/// Offset of `vcpu_info.evtchn_upcall_pending`.
pub const VCPU_INFO_UPCALL_PENDING: usize = 0;
/// Offset of `vcpu_info.evtchn_upcall_mask`.
pub const VCPU_INFO_UPCALL_MASK: usize = 1;
/// Offset of `vcpu_info.evtchn_pending_sel`.
pub const VCPU_INFO_PENDING_SEL: usize = 8;
/// Offset of `shared_info.evtchn_pending` (x86_64: 32 `vcpu_info` of 64 bytes).
pub const SHARED_INFO_EVTCHN_PENDING: usize = 32 * 64;
/// Offset of `shared_info.evtchn_mask`.
pub const SHARED_INFO_EVTCHN_MASK: usize = SHARED_INFO_EVTCHN_PENDING + 64 * 8;
/// Ports of the 2-level event channel ABI on x86_64 (`EVTCHN_2L_NR_CHANNELS`).
pub const EVTCHN_2L_NR_CHANNELS: u32 = 64 * 64;
/// `XENSTORE_RING_SIZE` (io/xs_wire.h).
pub const XENSTORE_RING_SIZE: u32 = 1024;
/// `XENSTORE_PAYLOAD_MAX` (io/xs_wire.h).
pub const XENSTORE_PAYLOAD_MAX: u32 = 4096;
/// `XENSTORE_ABS_PATH_MAX` (io/xs_wire.h).
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// `XENSTORE_REL_PATH_MAX` (io/xs_wire.h).
pub const XENSTORE_REL_PATH_MAX: usize = 2048;
/// Offset of `xenstore_domain_interface.req`.
pub const XS_RING_REQ: usize = 0;
/// Offset of `xenstore_domain_interface.rsp`.
pub const XS_RING_RSP: usize = 1024;
/// Offset of `xenstore_domain_interface.req_cons`.
pub const XS_RING_REQ_CONS: usize = 2048;
/// Offset of `xenstore_domain_interface.req_prod`.
pub const XS_RING_REQ_PROD: usize = 2052;
/// Offset of `xenstore_domain_interface.rsp_cons`.
pub const XS_RING_RSP_CONS: usize = 2056;
/// Offset of `xenstore_domain_interface.rsp_prod`.
pub const XS_RING_RSP_PROD: usize = 2060;
/// Size of `xsd_sockmsg`.
pub const XSD_SOCKMSG_SIZE: usize = 16;
/// `enum xsd_sockmsg_type` values.
pub const XS_CONTROL: u32 = 0;
/// `XS_DIRECTORY`.
pub const XS_DIRECTORY: u32 = 1;
/// `XS_READ`.
pub const XS_READ: u32 = 2;
/// `XS_GET_PERMS`.
pub const XS_GET_PERMS: u32 = 3;
/// `XS_WATCH`.
pub const XS_WATCH: u32 = 4;
/// `XS_UNWATCH`.
pub const XS_UNWATCH: u32 = 5;
/// `XS_TRANSACTION_START`.
pub const XS_TRANSACTION_START: u32 = 6;
/// `XS_TRANSACTION_END`.
pub const XS_TRANSACTION_END: u32 = 7;
/// `XS_INTRODUCE`.
pub const XS_INTRODUCE: u32 = 8;
/// `XS_RELEASE`.
pub const XS_RELEASE: u32 = 9;
/// `XS_GET_DOMAIN_PATH`.
pub const XS_GET_DOMAIN_PATH: u32 = 10;
/// `XS_WRITE`.
pub const XS_WRITE: u32 = 11;
/// `XS_MKDIR`.
pub const XS_MKDIR: u32 = 12;
/// `XS_RM`.
pub const XS_RM: u32 = 13;
/// `XS_SET_PERMS`.
pub const XS_SET_PERMS: u32 = 14;
/// `XS_WATCH_EVENT`.
pub const XS_WATCH_EVENT: u32 = 15;
/// `XS_ERROR`.
pub const XS_ERROR: u32 = 16;
/// `XS_IS_DOMAIN_INTRODUCED`.
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
/// `XS_RESUME`.
pub const XS_RESUME: u32 = 18;
/// `XS_SET_TARGET`.
pub const XS_SET_TARGET: u32 = 19;
/// `XS_RESET_WATCHES`.
pub const XS_RESET_WATCHES: u32 = 21;
/// `XS_DIRECTORY_PART`.
pub const XS_DIRECTORY_PART: u32 = 22;
