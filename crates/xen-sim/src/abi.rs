//! The ABI items the simulator interprets, from `xen-public-headers`, plus the offsets it
//! needs inside those structures (derived from the header crate's layouts).

use core::mem::{offset_of, size_of};

pub use xen_public_headers::event_channel::EVTCHN_2L_NR_CHANNELS;
pub use xen_public_headers::grant_table::{
    grant_entry_v1, GNTST_bad_domain, GNTST_bad_gntref, GNTST_bad_handle, GNTST_bad_page,
    GNTST_general_error, GTF_permit_access, GTF_reading, GTF_readonly, GTF_sub_page, GTF_type_mask,
    GTF_writing, GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_RESERVED_XENSTORE,
};
pub use xen_public_headers::hvm::params::{
    HVM_NR_PARAMS, HVM_PARAM_CALLBACK_IRQ, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN,
};
pub use xen_public_headers::io::xs_wire::{
    xenstore_domain_interface, xsd_sockmsg, XENSTORE_ABS_PATH_MAX, XENSTORE_ERROR_PROTO,
    XENSTORE_ERROR_RINGIDX, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX, XENSTORE_RING_SIZE,
    XENSTORE_SERVER_FEATURE_ERROR, XENSTORE_SERVER_FEATURE_RECONNECTION, XS_CONTROL, XS_DIRECTORY,
    XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS, XS_INTRODUCE,
    XS_IS_DOMAIN_INTRODUCED, XS_MKDIR, XS_READ, XS_RELEASE, XS_RESET_WATCHES, XS_RESUME, XS_RM,
    XS_SET_PERMS, XS_SET_TARGET, XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH,
    XS_WATCH_EVENT, XS_WRITE,
};
pub use xen_public_headers::memory::{
    XENMAPIDX_grant_table_status, XENMAPSPACE_grant_table, XENMAPSPACE_shared_info,
};
use xen_public_headers::xen::{shared_info, vcpu_info};

/// Size of `grant_entry_v1`.
pub const GRANT_ENTRY_V1_SIZE: usize = size_of::<grant_entry_v1>();
/// Offset of `grant_entry_v1.frame`.
pub const GRANT_ENTRY_FRAME: usize = offset_of!(grant_entry_v1, frame);
/// Offset of `vcpu_info[0].evtchn_upcall_pending` in `shared_info`.
pub const VCPU_INFO_UPCALL_PENDING: usize = offset_of!(vcpu_info, evtchn_upcall_pending);
/// Offset of `vcpu_info[0].evtchn_pending_sel` in `shared_info`.
pub const VCPU_INFO_PENDING_SEL: usize = offset_of!(vcpu_info, evtchn_pending_sel);
/// Offset of `shared_info.evtchn_pending`.
pub const SHARED_INFO_EVTCHN_PENDING: usize = offset_of!(shared_info, evtchn_pending);
/// Offset of `shared_info.evtchn_mask`.
pub const SHARED_INFO_EVTCHN_MASK: usize = offset_of!(shared_info, evtchn_mask);
/// Offset of `xenstore_domain_interface.req`.
pub const XS_RING_REQ: usize = offset_of!(xenstore_domain_interface, req);
/// Offset of `xenstore_domain_interface.rsp`.
pub const XS_RING_RSP: usize = offset_of!(xenstore_domain_interface, rsp);
/// Offset of `xenstore_domain_interface.req_cons`.
pub const XS_RING_REQ_CONS: usize = offset_of!(xenstore_domain_interface, req_cons);
/// Offset of `xenstore_domain_interface.req_prod`.
pub const XS_RING_REQ_PROD: usize = offset_of!(xenstore_domain_interface, req_prod);
/// Offset of `xenstore_domain_interface.rsp_cons`.
pub const XS_RING_RSP_CONS: usize = offset_of!(xenstore_domain_interface, rsp_cons);
/// Offset of `xenstore_domain_interface.rsp_prod`.
pub const XS_RING_RSP_PROD: usize = offset_of!(xenstore_domain_interface, rsp_prod);
/// Offset of `xenstore_domain_interface.server_features`.
pub const XS_RING_SERVER_FEATURES: usize = offset_of!(xenstore_domain_interface, server_features);
/// Offset of `xenstore_domain_interface.error`.
pub const XS_RING_ERROR: usize = offset_of!(xenstore_domain_interface, error);
/// Size of `xsd_sockmsg`.
pub const XSD_SOCKMSG_SIZE: usize = size_of::<xsd_sockmsg>();
/// Bytes of each xenstore ring, as the index type.
pub const XS_RING_BYTES: u32 = XENSTORE_RING_SIZE as u32;
/// `XENSTORE_PAYLOAD_MAX` as the header's length type.
pub const XS_PAYLOAD_MAX: u32 = XENSTORE_PAYLOAD_MAX as u32;
