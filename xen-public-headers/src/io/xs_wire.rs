//! The xenstore wire protocol and shared ring page (`io/xs_wire.h`).

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Control command (formerly debug).
pub const XS_CONTROL: u32 = 0;
/// Old name of [`XS_CONTROL`].
pub const XS_DEBUG: u32 = XS_CONTROL;
/// List the children of a node.
pub const XS_DIRECTORY: u32 = 1;
/// Read a node.
pub const XS_READ: u32 = 2;
/// Read a node's permissions.
pub const XS_GET_PERMS: u32 = 3;
/// Register a watch: payload is path and token.
pub const XS_WATCH: u32 = 4;
/// Remove a watch.
pub const XS_UNWATCH: u32 = 5;
/// Start a transaction; the reply carries its id.
pub const XS_TRANSACTION_START: u32 = 6;
/// End a transaction: payload `"T"` commits, `"F"` aborts.
pub const XS_TRANSACTION_END: u32 = 7;
/// Introduce a domain to xenstored (toolstack).
pub const XS_INTRODUCE: u32 = 8;
/// Release a domain (toolstack).
pub const XS_RELEASE: u32 = 9;
/// Get a domain's home path.
pub const XS_GET_DOMAIN_PATH: u32 = 10;
/// Write a node.
pub const XS_WRITE: u32 = 11;
/// Create a node.
pub const XS_MKDIR: u32 = 12;
/// Remove a node and its children.
pub const XS_RM: u32 = 13;
/// Set a node's permissions.
pub const XS_SET_PERMS: u32 = 14;
/// Unsolicited message: a watch fired (payload is path and token).
pub const XS_WATCH_EVENT: u32 = 15;
/// Error reply: payload is an error name from [`xsd_errors`].
pub const XS_ERROR: u32 = 16;
/// Ask whether a domain is introduced.
pub const XS_IS_DOMAIN_INTRODUCED: u32 = 17;
/// Resume a domain (toolstack).
pub const XS_RESUME: u32 = 18;
/// Let a domain act for another (toolstack).
pub const XS_SET_TARGET: u32 = 19;
/// Remove all watches of the connection.
pub const XS_RESET_WATCHES: u32 = 21;
/// Read part of a large directory.
pub const XS_DIRECTORY_PART: u32 = 22;
/// Number of message types (one past the last).
pub const XS_TYPE_COUNT: u32 = 23;
/// Never a valid message type.
pub const XS_INVALID: u32 = 0xffff;

/// Index of the path within an `XS_WATCH_EVENT` payload.
pub const XS_WATCH_PATH: u32 = 0;
/// Index of the token within an `XS_WATCH_EVENT` payload.
pub const XS_WATCH_TOKEN: u32 = 1;

/// Write flag string: no creation.
pub const XS_WRITE_NONE: &str = "NONE";
/// Write flag string: create if missing.
pub const XS_WRITE_CREATE: &str = "CREATE";
/// Write flag string: create, fail if present.
pub const XS_WRITE_CREATE_EXCL: &str = "CREATE|EXCL";

/// Error names xenstored sends in `XS_ERROR` replies, with their errno values (same as
/// `XEN_E*`). New names are only ever appended.
pub const xsd_errors: [(i32, &str); 16] = [
    (22, "EINVAL"),
    (13, "EACCES"),
    (17, "EEXIST"),
    (21, "EISDIR"),
    (2, "ENOENT"),
    (12, "ENOMEM"),
    (28, "ENOSPC"),
    (5, "EIO"),
    (39, "ENOTEMPTY"),
    (38, "ENOSYS"),
    (30, "EROFS"),
    (16, "EBUSY"),
    (11, "EAGAIN"),
    (106, "EISCONN"),
    (7, "E2BIG"),
    (1, "EPERM"),
];

/// Header of every xenstore message; `len` payload bytes follow.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct xsd_sockmsg {
    /// `XS_*`.
    pub r#type: u32,
    /// Chosen by the client, echoed in the reply.
    pub req_id: u32,
    /// Transaction id, 0 outside transactions.
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

/// Size of each byte ring of [`xenstore_domain_interface`].
pub const XENSTORE_RING_SIZE: usize = 1024;
/// A free-running xenstore ring index; the slot is `index & (XENSTORE_RING_SIZE - 1)`.
pub type XENSTORE_RING_IDX = u32;

/// The xenstore ring page shared with xenstored.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct xenstore_domain_interface {
    /// Requests to xenstored.
    pub req: [u8; XENSTORE_RING_SIZE],
    /// Replies and watch events from xenstored.
    pub rsp: [u8; XENSTORE_RING_SIZE],
    /// xenstored's consumer index into `req`.
    pub req_cons: XENSTORE_RING_IDX,
    /// Guest's producer index into `req`.
    pub req_prod: XENSTORE_RING_IDX,
    /// Guest's consumer index into `rsp`.
    pub rsp_cons: XENSTORE_RING_IDX,
    /// xenstored's producer index into `rsp`.
    pub rsp_prod: XENSTORE_RING_IDX,
    /// `XENSTORE_SERVER_FEATURE_*` bits offered by the server.
    pub server_features: u32,
    /// `XENSTORE_CONNECTED` or `XENSTORE_RECONNECT`.
    pub connection: u32,
    /// `XENSTORE_ERROR_*` set by the server.
    pub error: u32,
}

/// Largest payload of one message.
pub const XENSTORE_PAYLOAD_MAX: usize = 4096;
/// Longest absolute path.
pub const XENSTORE_ABS_PATH_MAX: usize = 3072;
/// Longest relative path.
pub const XENSTORE_REL_PATH_MAX: usize = 2048;

/// Server feature: the `connection` field and reconnection protocol.
pub const XENSTORE_SERVER_FEATURE_RECONNECTION: u32 = 1;
/// Server feature: the `error` field.
pub const XENSTORE_SERVER_FEATURE_ERROR: u32 = 2;
/// `connection`: steady state.
pub const XENSTORE_CONNECTED: u32 = 0;
/// `connection`: the guest asked for a reconnect, in progress.
pub const XENSTORE_RECONNECT: u32 = 1;
/// `error`: none.
pub const XENSTORE_ERROR_NONE: u32 = 0;
/// `error`: communication problem.
pub const XENSTORE_ERROR_COMM: u32 = 1;
/// `error`: invalid ring index.
pub const XENSTORE_ERROR_RINGIDX: u32 = 2;
/// `error`: protocol violation (e.g. payload too long).
pub const XENSTORE_ERROR_PROTO: u32 = 3;
