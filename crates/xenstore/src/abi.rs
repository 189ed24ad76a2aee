//! The Xen ABI items this crate uses, from `xen-public-headers` (`io/xs_wire.h`).

pub use xen_public_headers::io::xs_wire::{
    xenstore_domain_interface, xsd_errors, xsd_sockmsg, XENSTORE_ABS_PATH_MAX,
    XENSTORE_PAYLOAD_MAX, XENSTORE_RING_SIZE, XENSTORE_SERVER_FEATURE_ERROR, XS_DIRECTORY,
    XS_DIRECTORY_PART, XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS, XS_MKDIR, XS_READ,
    XS_RESET_WATCHES, XS_RM, XS_SET_PERMS, XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH,
    XS_WATCH, XS_WATCH_EVENT, XS_WRITE,
};
