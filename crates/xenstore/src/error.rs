//! Typed errors: the errno names xenstored sends in `XS_ERROR` replies, and the client's own failures.

use core::fmt;

use xen_hal::{AllocError, XenError};

use crate::abi::xsd_errors;

/// Longest unknown error name kept verbatim in [`XsErrno::Unknown`]; longer names are cut.
pub const UNKNOWN_NAME_MAX: usize = 16;

/// An error name carried by an `XS_ERROR` reply.
///
/// The known variants are every name in Xen's `xsd_errors` table (`io/xs_wire.h`); any other
/// name becomes [`XsErrno::Unknown`] with the first [`UNKNOWN_NAME_MAX`] bytes kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XsErrno {
    /// `EINVAL`: invalid argument (also xenstored's fallback for untranslatable errors).
    EINVAL,
    /// `EACCES`: permission denied.
    EACCES,
    /// `EEXIST`: node already exists.
    EEXIST,
    /// `EISDIR`: is a directory.
    EISDIR,
    /// `ENOENT`: no such node.
    ENOENT,
    /// `ENOMEM`: out of memory.
    ENOMEM,
    /// `ENOSPC`: no space (quota).
    ENOSPC,
    /// `EIO`: I/O error.
    EIO,
    /// `ENOTEMPTY`: directory not empty.
    ENOTEMPTY,
    /// `ENOSYS`: operation not implemented.
    ENOSYS,
    /// `EROFS`: read-only.
    EROFS,
    /// `EBUSY`: busy.
    EBUSY,
    /// `EAGAIN`: transaction conflict; retry.
    EAGAIN,
    /// `EISCONN`: already connected.
    EISCONN,
    /// `E2BIG`: request or reply too large.
    E2BIG,
    /// `EPERM`: operation not permitted.
    EPERM,
    /// A name outside Xen's table.
    Unknown(UnknownErrno),
}

/// The raw bytes of an error name xenstore sent that is not in Xen's table (cut to
/// [`UNKNOWN_NAME_MAX`] bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct UnknownErrno {
    bytes: [u8; UNKNOWN_NAME_MAX],
    len: u8,
}

impl UnknownErrno {
    /// Keeps up to [`UNKNOWN_NAME_MAX`] bytes of `name`.
    pub fn new(name: &[u8]) -> Self {
        let mut bytes = [0u8; UNKNOWN_NAME_MAX];
        let len = name.len().min(UNKNOWN_NAME_MAX);
        let (head, _) = name.split_at(len);
        if let Some(dst) = bytes.get_mut(..len) {
            dst.copy_from_slice(head);
        }
        UnknownErrno {
            bytes,
            len: len as u8,
        }
    }

    /// The kept bytes of the name.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl fmt::Debug for UnknownErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnknownErrno({:?})", EscapedBytes(self.as_bytes()))
    }
}

struct EscapedBytes<'a>(&'a [u8]);

impl fmt::Debug for EscapedBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            for c in core::ascii::escape_default(b) {
                write!(f, "{}", char::from(c))?;
            }
        }
        f.write_str("\"")
    }
}

/// The known variants in the order of Xen's `xsd_errors` table, which gives names and numbers.
const VARIANTS: [XsErrno; 16] = [
    XsErrno::EINVAL,
    XsErrno::EACCES,
    XsErrno::EEXIST,
    XsErrno::EISDIR,
    XsErrno::ENOENT,
    XsErrno::ENOMEM,
    XsErrno::ENOSPC,
    XsErrno::EIO,
    XsErrno::ENOTEMPTY,
    XsErrno::ENOSYS,
    XsErrno::EROFS,
    XsErrno::EBUSY,
    XsErrno::EAGAIN,
    XsErrno::EISCONN,
    XsErrno::E2BIG,
    XsErrno::EPERM,
];

const _: () = assert!(VARIANTS.len() == xsd_errors.len());

/// (name, variant, errno) for every entry of Xen's table.
fn table() -> impl Iterator<Item = (&'static str, XsErrno, i32)> {
    xsd_errors
        .iter()
        .zip(VARIANTS.iter())
        .map(|((errno, name), variant)| (*name, *variant, *errno))
}

impl XsErrno {
    /// Every name Xen defines, in the order of its table.
    pub fn known() -> impl Iterator<Item = XsErrno> {
        table().map(|(_, e, _)| e)
    }

    /// Parses the name of an `XS_ERROR` payload (one trailing NUL, if present, is ignored).
    pub fn from_name(name: &[u8]) -> XsErrno {
        let name = name.strip_suffix(&[0]).unwrap_or(name);
        table()
            .find(|(n, _, _)| n.as_bytes() == name)
            .map(|(_, e, _)| e)
            .unwrap_or_else(|| XsErrno::Unknown(UnknownErrno::new(name)))
    }

    /// The name on the wire (`None` for unknown names: see [`UnknownErrno::as_bytes`]).
    pub fn name(&self) -> Option<&'static str> {
        table().find(|(_, e, _)| e == self).map(|(n, _, _)| n)
    }

    /// The errno number (Linux numbering, as Xen's `errno.h` on x86); `None` for unknown names.
    pub fn errno(&self) -> Option<i32> {
        table().find(|(_, e, _)| e == self).map(|(_, _, n)| n)
    }

    /// As an [`XenError`] (unknown names map to `EIO`).
    pub fn to_xen_error(&self) -> XenError {
        XenError(self.errno().unwrap_or(XenError::EIO.0))
    }
}

impl fmt::Display for XsErrno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XsErrno::Unknown(u) => {
                write!(f, "unknown xenstore error {:?}", EscapedBytes(u.as_bytes()))
            }
            known => f.write_str(known.name().unwrap_or("?")),
        }
    }
}

/// Why a byte buffer is not a well-formed xenstore message or payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Fewer bytes than the 16-byte header, or than the header's `len` announces.
    Truncated,
    /// `len` exceeds `XENSTORE_PAYLOAD_MAX`.
    PayloadTooLarge {
        /// The announced length.
        len: u32,
    },
    /// A string that must be NUL-terminated is not, or a field is missing.
    Malformed,
    /// A string contains a NUL or is otherwise invalid for the request (empty path, ...).
    InvalidArgument,
    /// A number or permission string could not be parsed.
    BadNumber,
    /// The message type is not one xenstore defines.
    UnknownType(u32),
}

/// Why a transport failed. Every variant is terminal for the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportError {
    /// The peer published ring indices further apart than the ring size.
    RingIndexOverflow {
        /// Which ring: true for the response ring.
        response: bool,
        /// Consumer index seen.
        cons: u32,
        /// Producer index seen.
        prod: u32,
    },
    /// The shared page is too small or misaligned for `xenstore_domain_interface`.
    BadRingPage,
    /// The server reported an error in the interface page's `error` field.
    ServerError(u32),
    /// The event channel notification failed.
    Notify(XenError),
    /// The byte stream was closed by the peer.
    Closed,
    /// The byte stream failed (the OS error code, if any).
    Io(i32),
}

/// Any failure of a xenstore operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// xenstored answered with `XS_ERROR`.
    Xs(XsErrno),
    /// The operation did not complete before its deadline.
    Timeout,
    /// A request could not be encoded (bad path, too large, ...).
    Request(WireError),
    /// A reply was malformed for its request; the connection stays usable.
    BadReply(WireError),
    /// The reply's type does not match the request's (and is not `XS_ERROR`).
    WrongReplyType {
        /// The request's type.
        expected: u32,
        /// The reply's type.
        got: u32,
    },
    /// The connection is in its terminal error state; the cause is given.
    Connection(ConnectionError),
    /// A fallible allocation failed.
    Alloc,
    /// Too many requests in flight.
    TooManyRequests,
    /// A watch token is already registered (or unknown, for unwatch).
    WatchToken,
    /// A transaction kept conflicting after the bounded number of retries.
    TransactionRetriesExhausted,
    /// A reply to a request id nobody is waiting for (or never submitted) was looked up.
    UnknownRequest,
}

/// The cause of a connection's terminal error state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionError {
    /// The transport failed.
    Transport(TransportError),
    /// A message header announced a payload larger than `XENSTORE_PAYLOAD_MAX`.
    OversizedMessage {
        /// The announced length.
        len: u32,
    },
    /// A reply carried a request id no request is pending for.
    UnknownReqId {
        /// The id seen.
        req_id: u32,
        /// The type of the message.
        msg_type: u32,
    },
    /// A message had a type that xenstore never sends to clients.
    UnexpectedType(u32),
    /// The connection was reset (resume, reconnect) while the request was in flight.
    Reset,
    /// A message stopped arriving part-way for longer than the operation deadline: the stream's
    /// framing can no longer be trusted (the next bytes would be read as the missing rest).
    StalledMessage {
        /// Bytes of the message received.
        have: u32,
        /// Bytes its header announced (header included).
        want: u32,
    },
}

impl From<AllocError> for Error {
    fn from(_: AllocError) -> Self {
        Error::Alloc
    }
}

impl From<alloc::collections::TryReserveError> for Error {
    fn from(_: alloc::collections::TryReserveError) -> Self {
        Error::Alloc
    }
}

impl From<TransportError> for ConnectionError {
    fn from(e: TransportError) -> Self {
        ConnectionError::Transport(e)
    }
}

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Self {
        Error::Connection(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Xs(e) => write!(f, "xenstore error {e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        let mut count = 0;
        for e in XsErrno::known() {
            let name = e.name().unwrap();
            assert_eq!(XsErrno::from_name(name.as_bytes()), e);
            let mut with_nul = alloc::vec::Vec::from(name.as_bytes());
            with_nul.push(0);
            assert_eq!(XsErrno::from_name(&with_nul), e);
            assert!(e.errno().unwrap() > 0);
            // The variant is named exactly as Xen's table names it.
            assert_eq!(alloc::format!("{e:?}"), name);
            count += 1;
        }
        assert_eq!(count, 16);
        assert_eq!(XsErrno::EAGAIN.to_xen_error(), XenError::EAGAIN);
        assert_eq!(XsErrno::ENOENT.to_xen_error(), XenError::ENOENT);
    }

    #[test]
    fn unknown_names_are_typed_and_cut() {
        let e = XsErrno::from_name(b"EQUOTA\0");
        match e {
            XsErrno::Unknown(u) => assert_eq!(u.as_bytes(), b"EQUOTA"),
            other => panic!("{other:?}"),
        }
        assert_eq!(e.errno(), None);
        assert_eq!(e.to_xen_error(), XenError::EIO);
        let long = [b'X'; 100];
        match XsErrno::from_name(&long) {
            XsErrno::Unknown(u) => assert_eq!(u.as_bytes().len(), UNKNOWN_NAME_MAX),
            other => panic!("{other:?}"),
        }
        assert!(matches!(XsErrno::from_name(b""), XsErrno::Unknown(_)));
        assert!(matches!(XsErrno::from_name(b"enoent"), XsErrno::Unknown(_)));
    }
}
