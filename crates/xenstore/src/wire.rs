//! The xenstore wire format: a 16-byte header (`xsd_sockmsg`) and a payload of NUL-separated strings.
//!
//! [`Message`] is a view over a byte buffer (smoltcp style): [`Message::new_checked`] validates the
//! header and length once, then the accessors read fields. [`Request`] is the typed form of
//! what a client sends, with [`Request::emit`]; [`Request::parse`] is the server side. [`Reply`]
//! is a reply copied out of a message, with decoders per request kind.
//!
//! Reading never panics on peer-controlled data: every accessor is bounds-checked.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;

use xen_hal::DomainId;

use crate::abi::{
    xsd_sockmsg, XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX, XS_DIRECTORY, XS_DIRECTORY_PART,
    XS_ERROR, XS_GET_DOMAIN_PATH, XS_GET_PERMS, XS_MKDIR, XS_READ, XS_RESET_WATCHES, XS_RM,
    XS_SET_PERMS, XS_TRANSACTION_END, XS_TRANSACTION_START, XS_UNWATCH, XS_WATCH, XS_WRITE,
};
use crate::error::{Error, WireError, XsErrno};
use crate::perms::{parse_decimal_u32, Permission, Permissions, PERMISSION_STRING_MAX};

/// Size of the message header (`struct xsd_sockmsg`).
pub const HEADER_LEN: usize = core::mem::size_of::<xsd_sockmsg>();
/// Largest payload either side may send (`XENSTORE_PAYLOAD_MAX`).
pub const PAYLOAD_MAX: usize = XENSTORE_PAYLOAD_MAX;
/// Largest whole message.
pub const MESSAGE_MAX: usize = HEADER_LEN + PAYLOAD_MAX;

mod field {
    use core::mem::offset_of;

    use crate::abi::xsd_sockmsg;

    pub const TYPE: usize = offset_of!(xsd_sockmsg, r#type);
    pub const REQ_ID: usize = offset_of!(xsd_sockmsg, req_id);
    pub const TX_ID: usize = offset_of!(xsd_sockmsg, tx_id);
    pub const LEN: usize = offset_of!(xsd_sockmsg, len);
}

fn read_u32(buf: &[u8], offset: usize) -> u32 {
    let mut bytes = [0u8; 4];
    if let Some(src) = buf.get(offset..offset + 4) {
        bytes.copy_from_slice(src);
    }
    u32::from_le_bytes(bytes)
}

fn write_u32(buf: &mut [u8], offset: usize, value: u32) {
    if let Some(dst) = buf.get_mut(offset..offset + 4) {
        dst.copy_from_slice(&value.to_le_bytes());
    }
}

/// Decoded header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `XS_*` message type.
    pub msg_type: u32,
    /// Request id, echoed in the reply.
    pub req_id: u32,
    /// Transaction id (0 outside transactions).
    pub tx_id: u32,
    /// Payload length.
    pub len: u32,
}

impl Header {
    /// Decodes a header and checks `len` against [`PAYLOAD_MAX`].
    pub fn parse(bytes: &[u8; HEADER_LEN]) -> Result<Header, WireError> {
        let header = Header {
            msg_type: read_u32(bytes, field::TYPE),
            req_id: read_u32(bytes, field::REQ_ID),
            tx_id: read_u32(bytes, field::TX_ID),
            len: read_u32(bytes, field::LEN),
        };
        if header.len as usize > PAYLOAD_MAX {
            return Err(WireError::PayloadTooLarge { len: header.len });
        }
        Ok(header)
    }

    /// Encodes the header.
    pub fn emit(&self, out: &mut [u8; HEADER_LEN]) {
        write_u32(out, field::TYPE, self.msg_type);
        write_u32(out, field::REQ_ID, self.req_id);
        write_u32(out, field::TX_ID, self.tx_id);
        write_u32(out, field::LEN, self.len);
    }
}

/// A view of one xenstore message (header + payload) over a byte buffer.
#[derive(Clone, Copy, Debug)]
pub struct Message<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Message<T> {
    /// Wraps a buffer without checking it; accessors return 0 or empty slices where bytes are missing.
    pub const fn new_unchecked(buffer: T) -> Self {
        Message { buffer }
    }

    /// Wraps a buffer after [`Message::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let message = Message { buffer };
        message.check_len()?;
        Ok(message)
    }

    /// Checks that the header is present, `len` is within [`PAYLOAD_MAX`] and the payload is present.
    /// Bytes after the payload are allowed (and ignored).
    pub fn check_len(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let len = self.payload_len();
        if len as usize > PAYLOAD_MAX {
            return Err(WireError::PayloadTooLarge { len });
        }
        if buf.len() < HEADER_LEN + len as usize {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The `XS_*` message type.
    pub fn msg_type(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::TYPE)
    }

    /// The request id.
    pub fn req_id(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::REQ_ID)
    }

    /// The transaction id.
    pub fn tx_id(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::TX_ID)
    }

    /// The payload length field.
    pub fn payload_len(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::LEN)
    }

    /// Header fields.
    pub fn header(&self) -> Header {
        Header {
            msg_type: self.msg_type(),
            req_id: self.req_id(),
            tx_id: self.tx_id(),
            len: self.payload_len(),
        }
    }

    /// Header plus payload length in bytes.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }

    /// The payload (as much of it as the buffer holds).
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.total_len().min(buf.len());
        buf.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Message<T> {
    /// Sets the message type.
    pub fn set_msg_type(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::TYPE, value)
    }

    /// Sets the request id.
    pub fn set_req_id(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::REQ_ID, value)
    }

    /// Sets the transaction id.
    pub fn set_tx_id(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::TX_ID, value)
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, value: u32) {
        write_u32(self.buffer.as_mut(), field::LEN, value)
    }

    /// The payload, mutable (as much of it as the buffer holds).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        let buf = self.buffer.as_mut();
        let end = end.min(buf.len());
        buf.get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// Iterator over the NUL-terminated strings of a payload (without their NULs).
///
/// A final fragment without a NUL yields `Err(WireError::Malformed)` once, then the iterator ends.
pub struct Strings<'a> {
    rest: &'a [u8],
}

impl<'a> Strings<'a> {
    /// Iterates over `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Strings { rest: payload }
    }
}

impl<'a> Iterator for Strings<'a> {
    type Item = Result<&'a [u8], WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match self.rest.iter().position(|&b| b == 0) {
            Some(nul) => {
                let (s, tail) = self.rest.split_at(nul);
                self.rest = tail.get(1..).unwrap_or(&[]);
                Some(Ok(s))
            }
            None => {
                self.rest = &[];
                Some(Err(WireError::Malformed))
            }
        }
    }
}

/// Splits `payload` at its first NUL: the first string and everything after the NUL.
pub fn split_first_string(payload: &[u8]) -> Result<(&[u8], &[u8]), WireError> {
    let nul = payload
        .iter()
        .position(|&b| b == 0)
        .ok_or(WireError::Malformed)?;
    let (head, tail) = payload.split_at(nul);
    Ok((head, tail.get(1..).unwrap_or(&[])))
}

fn as_str(bytes: &[u8]) -> Result<&str, WireError> {
    core::str::from_utf8(bytes).map_err(|_| WireError::Malformed)
}

/// A request a client sends, in typed form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `XS_READ path`.
    Read {
        /// Node path.
        path: &'a str,
    },
    /// `XS_WRITE path value` (the value is raw bytes, not NUL-terminated).
    Write {
        /// Node path.
        path: &'a str,
        /// New value.
        value: &'a [u8],
    },
    /// `XS_DIRECTORY path`.
    Directory {
        /// Node path.
        path: &'a str,
    },
    /// `XS_DIRECTORY_PART path offset`: a directory too large for one reply, in parts.
    DirectoryPart {
        /// Node path.
        path: &'a str,
        /// Byte offset into the children list.
        offset: u32,
    },
    /// `XS_MKDIR path`.
    Mkdir {
        /// Node path.
        path: &'a str,
    },
    /// `XS_RM path` (recursive).
    Rm {
        /// Node path.
        path: &'a str,
    },
    /// `XS_GET_PERMS path`.
    GetPerms {
        /// Node path.
        path: &'a str,
    },
    /// `XS_SET_PERMS path perm...`.
    SetPerms {
        /// Node path.
        path: &'a str,
        /// Entries, owner entry first.
        perms: Cow<'a, [Permission]>,
    },
    /// `XS_WATCH path token`.
    Watch {
        /// Watched path (the node and everything below it).
        path: &'a str,
        /// Token echoed in events.
        token: &'a str,
    },
    /// `XS_UNWATCH path token`.
    Unwatch {
        /// Watched path.
        path: &'a str,
        /// Token given to `Watch`.
        token: &'a str,
    },
    /// `XS_TRANSACTION_START` (payload: one empty string).
    TransactionStart,
    /// `XS_TRANSACTION_END T|F` (commit or abort; the transaction id is in the header).
    TransactionEnd {
        /// Commit (`T`) rather than abort (`F`).
        commit: bool,
    },
    /// `XS_GET_DOMAIN_PATH domid`.
    GetDomainPath {
        /// The domain.
        domid: DomainId,
    },
    /// `XS_RESET_WATCHES` (drops every watch of the connection).
    ResetWatches,
}

/// Checks a path or token: non-empty, no NUL, within `XENSTORE_ABS_PATH_MAX`.
fn check_string(s: &str) -> Result<(), WireError> {
    if s.is_empty() || s.len() > XENSTORE_ABS_PATH_MAX || s.as_bytes().contains(&0) {
        return Err(WireError::InvalidArgument);
    }
    Ok(())
}

/// Writes a payload into a buffer, or only counts its length when `count_only`.
struct PayloadWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    count_only: bool,
}

impl PayloadWriter<'_> {
    fn bytes(&mut self, data: &[u8]) -> Result<(), WireError> {
        let end = self
            .len
            .checked_add(data.len())
            .ok_or(WireError::Truncated)?;
        if !self.count_only {
            let dst = self
                .buf
                .get_mut(self.len..end)
                .ok_or(WireError::Truncated)?;
            dst.copy_from_slice(data);
        }
        self.len = end;
        Ok(())
    }

    fn string(&mut self, s: &[u8]) -> Result<(), WireError> {
        self.bytes(s)?;
        self.bytes(&[0])
    }
}

impl<'a> Request<'a> {
    /// The `XS_*` type of the request.
    pub fn msg_type(&self) -> u32 {
        match self {
            Request::Read { .. } => XS_READ,
            Request::Write { .. } => XS_WRITE,
            Request::Directory { .. } => XS_DIRECTORY,
            Request::DirectoryPart { .. } => XS_DIRECTORY_PART,
            Request::Mkdir { .. } => XS_MKDIR,
            Request::Rm { .. } => XS_RM,
            Request::GetPerms { .. } => XS_GET_PERMS,
            Request::SetPerms { .. } => XS_SET_PERMS,
            Request::Watch { .. } => XS_WATCH,
            Request::Unwatch { .. } => XS_UNWATCH,
            Request::TransactionStart => XS_TRANSACTION_START,
            Request::TransactionEnd { .. } => XS_TRANSACTION_END,
            Request::GetDomainPath { .. } => XS_GET_DOMAIN_PATH,
            Request::ResetWatches => XS_RESET_WATCHES,
        }
    }

    fn check(&self) -> Result<(), WireError> {
        match self {
            Request::Read { path }
            | Request::Directory { path }
            | Request::DirectoryPart { path, .. }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::GetPerms { path }
            | Request::Write { path, .. } => check_string(path),
            Request::SetPerms { path, perms } => {
                check_string(path)?;
                if perms.is_empty() {
                    return Err(WireError::InvalidArgument);
                }
                Ok(())
            }
            Request::Watch { path, token } | Request::Unwatch { path, token } => {
                check_string(path)?;
                check_string(token)
            }
            Request::TransactionStart
            | Request::TransactionEnd { .. }
            | Request::GetDomainPath { .. }
            | Request::ResetWatches => Ok(()),
        }
    }

    fn write_payload(&self, w: &mut PayloadWriter<'_>) -> Result<(), WireError> {
        match self {
            Request::Read { path }
            | Request::Directory { path }
            | Request::Mkdir { path }
            | Request::Rm { path }
            | Request::GetPerms { path } => w.string(path.as_bytes()),
            Request::DirectoryPart { path, offset } => {
                w.string(path.as_bytes())?;
                let mut digits = [0u8; 10];
                let n = decimal(*offset, &mut digits);
                w.string(digits.get(..n).unwrap_or(&[]))
            }
            Request::Write { path, value } => {
                w.string(path.as_bytes())?;
                w.bytes(value)
            }
            Request::SetPerms { path, perms } => {
                w.string(path.as_bytes())?;
                for p in perms.iter() {
                    let mut buf = [0u8; PERMISSION_STRING_MAX];
                    let n = p.emit(&mut buf);
                    w.string(buf.get(..n).unwrap_or(&[]))?;
                }
                Ok(())
            }
            Request::Watch { path, token } | Request::Unwatch { path, token } => {
                w.string(path.as_bytes())?;
                w.string(token.as_bytes())
            }
            Request::TransactionStart => w.string(b""),
            Request::TransactionEnd { commit } => w.string(if *commit { b"T" } else { b"F" }),
            Request::GetDomainPath { domid } => {
                let mut digits = [0u8; 10];
                let n = decimal(u32::from(domid.0), &mut digits);
                w.string(digits.get(..n).unwrap_or(&[]))
            }
            Request::ResetWatches => w.string(b""),
        }
    }

    /// Payload length in bytes; fails like [`Request::emit`] for invalid or oversized requests.
    pub fn payload_len(&self) -> Result<usize, WireError> {
        self.check()?;
        let mut w = PayloadWriter {
            buf: &mut [],
            len: 0,
            count_only: true,
        };
        self.write_payload(&mut w)?;
        if w.len > PAYLOAD_MAX {
            return Err(WireError::PayloadTooLarge {
                len: u32::try_from(w.len).unwrap_or(u32::MAX),
            });
        }
        Ok(w.len)
    }

    /// Encodes header and payload into `buf`, returning the message length. Fails with
    /// `InvalidArgument` for empty or NUL-containing paths/tokens, `PayloadTooLarge` when the
    /// payload exceeds [`PAYLOAD_MAX`], and `Truncated` when `buf` is too small.
    pub fn emit(&self, req_id: u32, tx_id: u32, buf: &mut [u8]) -> Result<usize, WireError> {
        let len = self.payload_len()?;
        let (header, rest) = buf
            .split_first_chunk_mut::<HEADER_LEN>()
            .ok_or(WireError::Truncated)?;
        let payload = rest.get_mut(..len).ok_or(WireError::Truncated)?;
        let mut w = PayloadWriter {
            buf: payload,
            len: 0,
            count_only: false,
        };
        self.write_payload(&mut w)?;
        Header {
            msg_type: self.msg_type(),
            req_id,
            tx_id,
            // At most PAYLOAD_MAX (checked by payload_len).
            len: len as u32,
        }
        .emit(header);
        Ok(HEADER_LEN + len)
    }

    /// Encodes into a new vector (fallible allocation).
    pub fn to_vec(&self, req_id: u32, tx_id: u32) -> Result<Vec<u8>, Error> {
        let len = self.payload_len().map_err(Error::Request)?;
        let mut out = Vec::new();
        out.try_reserve_exact(HEADER_LEN + len)?;
        out.resize(HEADER_LEN + len, 0);
        self.emit(req_id, tx_id, &mut out).map_err(Error::Request)?;
        Ok(out)
    }

    /// Parses a request message (the server side: simulators and fakes). `SetPerms` entries are
    /// copied into an owned list.
    pub fn parse<T: AsRef<[u8]>>(msg: &'a Message<T>) -> Result<Request<'a>, WireError> {
        msg.check_len()?;
        let payload = msg.payload();
        let one_path = || -> Result<&'a str, WireError> {
            let (path, rest) = split_first_string(payload)?;
            if !rest.is_empty() {
                return Err(WireError::Malformed);
            }
            let path = as_str(path)?;
            check_string(path)?;
            Ok(path)
        };
        let two_strings = || -> Result<(&'a str, &'a str), WireError> {
            let (a, rest) = split_first_string(payload)?;
            let (b, rest) = split_first_string(rest)?;
            if !rest.is_empty() {
                return Err(WireError::Malformed);
            }
            Ok((as_str(a)?, as_str(b)?))
        };
        Ok(match msg.msg_type() {
            XS_READ => Request::Read { path: one_path()? },
            XS_DIRECTORY => Request::Directory { path: one_path()? },
            XS_MKDIR => Request::Mkdir { path: one_path()? },
            XS_RM => Request::Rm { path: one_path()? },
            XS_GET_PERMS => Request::GetPerms { path: one_path()? },
            XS_WRITE => {
                let (path, value) = split_first_string(payload)?;
                let path = as_str(path)?;
                check_string(path)?;
                Request::Write { path, value }
            }
            XS_DIRECTORY_PART => {
                let (path, offset) = two_strings()?;
                check_string(path)?;
                let offset = parse_decimal_u32(offset.as_bytes()).ok_or(WireError::BadNumber)?;
                Request::DirectoryPart { path, offset }
            }
            XS_SET_PERMS => {
                let (path, rest) = split_first_string(payload)?;
                let path = as_str(path)?;
                check_string(path)?;
                let mut perms = Vec::new();
                for s in Strings::new(rest) {
                    perms.try_reserve(1).map_err(|_| WireError::Malformed)?;
                    perms.push(Permission::parse(s?)?);
                }
                if perms.is_empty() {
                    return Err(WireError::InvalidArgument);
                }
                Request::SetPerms {
                    path,
                    perms: Cow::Owned(perms),
                }
            }
            XS_WATCH | XS_UNWATCH => {
                let (path, token) = two_strings()?;
                check_string(path)?;
                check_string(token)?;
                if msg.msg_type() == XS_WATCH {
                    Request::Watch { path, token }
                } else {
                    Request::Unwatch { path, token }
                }
            }
            XS_TRANSACTION_START => {
                if payload != b"\0" {
                    return Err(WireError::Malformed);
                }
                Request::TransactionStart
            }
            XS_TRANSACTION_END => match payload {
                b"T\0" => Request::TransactionEnd { commit: true },
                b"F\0" => Request::TransactionEnd { commit: false },
                _ => return Err(WireError::Malformed),
            },
            XS_GET_DOMAIN_PATH => {
                let domid = one_path()?;
                let domid = parse_decimal_u32(domid.as_bytes())
                    .and_then(|d| u16::try_from(d).ok())
                    .ok_or(WireError::BadNumber)?;
                Request::GetDomainPath {
                    domid: DomainId(domid),
                }
            }
            XS_RESET_WATCHES => Request::ResetWatches,
            other => return Err(WireError::UnknownType(other)),
        })
    }
}

/// Writes `value` in decimal, returning the number of digits.
pub(crate) fn decimal(mut value: u32, out: &mut [u8; 10]) -> usize {
    let mut tmp = [0u8; 10];
    let mut n = 0;
    loop {
        if let Some(slot) = tmp.get_mut(n) {
            *slot = b'0' + (value % 10) as u8;
        }
        n += 1;
        value /= 10;
        if value == 0 || n >= 10 {
            break;
        }
    }
    for i in 0..n {
        if let (Some(dst), Some(src)) = (out.get_mut(i), tmp.get(n - 1 - i)) {
            *dst = *src;
        }
    }
    n
}

/// A reply (or watch event) copied out of the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Header fields.
    pub header: Header,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Reply {
    /// Copies a checked message (fallible allocation).
    pub fn from_message<T: AsRef<[u8]>>(msg: &Message<T>) -> Result<Reply, Error> {
        msg.check_len().map_err(Error::BadReply)?;
        let mut payload = Vec::new();
        payload.try_reserve_exact(msg.payload().len())?;
        payload.extend_from_slice(msg.payload());
        Ok(Reply {
            header: msg.header(),
            payload,
        })
    }

    /// The message type.
    pub fn msg_type(&self) -> u32 {
        self.header.msg_type
    }

    /// `Err(Error::Xs(..))` if this is an `XS_ERROR` reply, else `Ok(self)`.
    pub fn into_result(self) -> Result<Reply, Error> {
        if self.header.msg_type == XS_ERROR {
            Err(Error::Xs(XsErrno::from_name(&self.payload)))
        } else {
            Ok(self)
        }
    }

    /// Decodes an acknowledgement (`OK`).
    pub fn expect_ok(&self) -> Result<(), Error> {
        match self.payload.as_slice() {
            b"OK\0" | b"OK" => Ok(()),
            _ => Err(Error::BadReply(WireError::Malformed)),
        }
    }

    /// Decodes a list of NUL-terminated strings (`XS_DIRECTORY`), each valid UTF-8, at most
    /// `max_entries` of them.
    pub fn strings(&self, max_entries: usize) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        for s in Strings::new(&self.payload) {
            let s = s.map_err(Error::BadReply)?;
            if out.len() >= max_entries {
                return Err(Error::BadReply(WireError::Malformed));
            }
            let s = as_str(s).map_err(Error::BadReply)?;
            out.try_reserve(1)?;
            out.push(try_string(s)?);
        }
        Ok(out)
    }

    /// Decodes one string, with an optional trailing NUL (`XS_GET_DOMAIN_PATH`).
    pub fn single_string(&self) -> Result<String, Error> {
        let bytes = self.payload.strip_suffix(&[0]).unwrap_or(&self.payload);
        if bytes.contains(&0) {
            return Err(Error::BadReply(WireError::Malformed));
        }
        try_string(as_str(bytes).map_err(Error::BadReply)?)
    }

    /// Decodes a transaction id (`XS_TRANSACTION_START`); 0 is not a valid id.
    pub fn transaction_id(&self) -> Result<u32, Error> {
        let bytes = self.payload.strip_suffix(&[0]).unwrap_or(&self.payload);
        match parse_decimal_u32(bytes) {
            Some(0) | None => Err(Error::BadReply(WireError::BadNumber)),
            Some(id) => Ok(id),
        }
    }

    /// Decodes a permission list (`XS_GET_PERMS`).
    pub fn permissions(&self, max_entries: usize) -> Result<Permissions, Error> {
        Permissions::parse_list(&self.payload, max_entries).map_err(Error::BadReply)
    }

    /// Decodes a watch event (`XS_WATCH_EVENT`: path and token).
    pub fn watch_event(&self) -> Result<WatchEvent, Error> {
        let (path, rest) = split_first_string(&self.payload).map_err(Error::BadReply)?;
        let token = match split_first_string(rest) {
            Ok((token, _)) => token,
            // Some servers omit the final NUL.
            Err(_) => rest,
        };
        if token.contains(&0) {
            return Err(Error::BadReply(WireError::Malformed));
        }
        Ok(WatchEvent {
            path: try_string(as_str(path).map_err(Error::BadReply)?)?,
            token: try_string(as_str(token).map_err(Error::BadReply)?)?,
        })
    }
}

/// A watch firing: the path that changed and the token the watch was registered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    /// The changed path (absolute, or relative if the watch was relative).
    pub path: String,
    /// The watch's token.
    pub token: String,
}

/// Copies a string with fallible allocation.
pub(crate) fn try_string(s: &str) -> Result<String, Error> {
    let mut out = String::new();
    out.try_reserve_exact(s.len())?;
    out.push_str(s);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use xen_hal::DomainId;

    use crate::perms::Access;

    #[test]
    fn golden_read_request() {
        let mut buf = [0u8; 64];
        let n = Request::Read { path: "domid" }
            .emit(7, 0, &mut buf)
            .unwrap();
        assert_eq!(
            &buf[..n],
            &[
                2, 0, 0, 0, // XS_READ
                7, 0, 0, 0, // req_id
                0, 0, 0, 0, // tx_id
                6, 0, 0, 0, // len
                b'd', b'o', b'm', b'i', b'd', 0,
            ]
        );
    }

    #[test]
    fn golden_write_request_has_no_trailing_nul() {
        let v = Request::Write {
            path: "a/b",
            value: b"xy",
        }
        .to_vec(0x0102_0304, 9)
        .unwrap();
        assert_eq!(
            v,
            vec![11, 0, 0, 0, 4, 3, 2, 1, 9, 0, 0, 0, 6, 0, 0, 0, b'a', b'/', b'b', 0, b'x', b'y']
        );
    }

    #[test]
    fn golden_watch_transaction_and_perms() {
        let v = Request::Watch {
            path: "device",
            token: "t1",
        }
        .to_vec(1, 0)
        .unwrap();
        assert_eq!(&v[..4], &[4, 0, 0, 0]);
        assert_eq!(&v[16..], b"device\0t1\0");
        let v = Request::TransactionStart.to_vec(2, 0).unwrap();
        assert_eq!(v, vec![6, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        let v = Request::TransactionEnd { commit: true }
            .to_vec(3, 5)
            .unwrap();
        assert_eq!(
            v,
            vec![7, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, b'T', 0]
        );
        let perms = [
            Permission {
                domid: DomainId(1),
                access: Access::None,
            },
            Permission {
                domid: DomainId(0),
                access: Access::Read,
            },
        ];
        let v = Request::SetPerms {
            path: "x",
            perms: Cow::Borrowed(&perms),
        }
        .to_vec(4, 0)
        .unwrap();
        assert_eq!(&v[16..], b"x\0n1\0r0\0");
        let v = Request::GetDomainPath {
            domid: DomainId(12),
        }
        .to_vec(5, 0)
        .unwrap();
        assert_eq!(&v[..4], &[10, 0, 0, 0]);
        assert_eq!(&v[16..], b"12\0");
    }

    #[test]
    fn bad_requests_are_refused() {
        let mut buf = [0u8; 32];
        assert_eq!(
            Request::Read { path: "" }.emit(0, 0, &mut buf),
            Err(WireError::InvalidArgument)
        );
        assert_eq!(
            Request::Read { path: "a\0b" }.emit(0, 0, &mut buf),
            Err(WireError::InvalidArgument)
        );
        assert_eq!(
            Request::Read {
                path: "a-long-path-that-does-not-fit"
            }
            .emit(0, 0, &mut buf),
            Err(WireError::Truncated)
        );
        let big = vec![b'v'; PAYLOAD_MAX];
        assert!(matches!(
            Request::Write {
                path: "p",
                value: &big
            }
            .to_vec(0, 0),
            Err(Error::Request(WireError::PayloadTooLarge { .. }))
        ));
        let fits = vec![b'v'; PAYLOAD_MAX - 2];
        assert_eq!(
            Request::Write {
                path: "p",
                value: &fits
            }
            .to_vec(0, 0)
            .unwrap()
            .len(),
            MESSAGE_MAX
        );
    }

    #[test]
    fn golden_replies_decode() {
        let error = [
            16, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, b'E', b'N', b'O', b'E', b'N', b'T', 0,
        ];
        let msg = Message::new_checked(&error[..]).unwrap();
        assert_eq!(msg.msg_type(), XS_ERROR);
        assert_eq!(msg.req_id(), 7);
        let reply = Reply::from_message(&msg).unwrap();
        assert_eq!(reply.into_result(), Err(Error::Xs(XsErrno::ENOENT)));

        let dir = [
            1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, b'0', 0, b'5', b'1', b'2', 0,
        ];
        let reply = Reply::from_message(&Message::new_checked(&dir[..]).unwrap()).unwrap();
        assert_eq!(reply.strings(16).unwrap(), vec!["0", "512"]);

        let event = [
            15, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, b'a', b'/', b'b', 0, b't',
        ];
        let reply = Reply::from_message(&Message::new_checked(&event[..]).unwrap()).unwrap();
        let ev = reply.watch_event().unwrap();
        assert_eq!((ev.path.as_str(), ev.token.as_str()), ("a/b", "t"));

        let tx = [
            6, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, b'4', b'2', 0,
        ];
        let reply = Reply::from_message(&Message::new_checked(&tx[..]).unwrap()).unwrap();
        assert_eq!(reply.transaction_id(), Ok(42));
    }

    #[test]
    fn checked_view_rejects_short_and_oversized() {
        assert_eq!(
            Message::new_checked(&[0u8; 15][..]).err(),
            Some(WireError::Truncated)
        );
        let mut hdr = [0u8; 16];
        hdr[12..16].copy_from_slice(&4097u32.to_le_bytes());
        assert_eq!(
            Message::new_checked(&hdr[..]).err(),
            Some(WireError::PayloadTooLarge { len: 4097 })
        );
        hdr[12..16].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(
            Message::new_checked(&hdr[..]).err(),
            Some(WireError::Truncated)
        );
        // Unchecked accessors never panic on short buffers.
        let short = Message::new_unchecked(&hdr[..5]);
        assert_eq!(short.req_id(), 0);
        assert_eq!(short.payload(), &[] as &[u8]);
    }

    #[test]
    fn strings_flags_unterminated_tail() {
        let items: Vec<_> = Strings::new(b"a\0\0bc").collect();
        assert_eq!(
            items,
            vec![Ok(&b"a"[..]), Ok(&b""[..]), Err(WireError::Malformed)]
        );
    }

    #[test]
    fn decimal_formats() {
        let mut d = [0u8; 10];
        let n = decimal(0, &mut d);
        assert_eq!(&d[..n], b"0");
        let n = decimal(u32::MAX, &mut d);
        assert_eq!(&d[..n], b"4294967295");
    }
}
