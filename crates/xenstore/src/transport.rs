//! Byte transports to xenstored: the shared ring page of `xenstore_domain_interface`, and byte streams.
//!
//! A transport moves bytes, never blocks and never interprets them: [`Transport::write`] takes
//! as many bytes as fit now, [`Transport::read`] returns what has arrived. Framing is the
//! client's job ([`crate::client`]). Every transport error is terminal for the connection.

use core::sync::atomic::Ordering;

use xen_hal::{EventChannelPort, Hypervisor, SharedMemory};

use crate::abi::XENSTORE_SERVER_FEATURE_ERROR;
use crate::error::TransportError;

/// What a transport knows about the connection a client starts on it
/// ([`Transport::connect`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectInfo {
    /// The channel may have carried an earlier client's traffic (the ring page of a domain
    /// whose driver was started again): that client's watches may still be registered and
    /// replies to its requests may still arrive.
    pub inherited: bool,
    /// Where this connection's request ids start: different from the ids an earlier client on
    /// the same channel used (`None`: the transport cannot tell).
    pub request_id_base: Option<u32>,
    /// Bytes an earlier client left unread, discarded.
    pub discarded: usize,
}

/// A non-blocking byte pipe to xenstored.
pub trait Transport {
    /// Writes a prefix of `data` that fits now; returns its length (0 when full).
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError>;
    /// Reads bytes that have arrived into `buf`; returns their count (0 when none).
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError>;
    /// Called once when a client starts on this transport, before anything is written: drops
    /// what an earlier client left unread and says what may be left of it. A fresh channel
    /// (a new socket) has nothing to do: the default.
    fn connect(&mut self) -> Result<ConnectInfo, TransportError> {
        Ok(ConnectInfo::default())
    }
}

impl<T: Transport + ?Sized> Transport for &mut T {
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        (**self).write(data)
    }
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        (**self).read(buf)
    }
    fn connect(&mut self) -> Result<ConnectInfo, TransportError> {
        (**self).connect()
    }
}

/// Offsets into `struct xenstore_domain_interface` (from the header crate's layout).
pub mod layout {
    use core::mem::{offset_of, size_of};

    use crate::abi::{xenstore_domain_interface as Intf, XENSTORE_RING_SIZE};

    /// Size of each byte ring.
    pub const RING_SIZE: usize = XENSTORE_RING_SIZE;
    /// Offset of `req`.
    pub const REQ: usize = offset_of!(Intf, req);
    /// Offset of `rsp`.
    pub const RSP: usize = offset_of!(Intf, rsp);
    /// Offset of `req_cons`.
    pub const REQ_CONS: usize = offset_of!(Intf, req_cons);
    /// Offset of `req_prod`.
    pub const REQ_PROD: usize = offset_of!(Intf, req_prod);
    /// Offset of `rsp_cons`.
    pub const RSP_CONS: usize = offset_of!(Intf, rsp_cons);
    /// Offset of `rsp_prod`.
    pub const RSP_PROD: usize = offset_of!(Intf, rsp_prod);
    /// Offset of `server_features`.
    pub const SERVER_FEATURES: usize = offset_of!(Intf, server_features);
    /// Offset of `connection`.
    pub const CONNECTION: usize = offset_of!(Intf, connection);
    /// Offset of `error`.
    pub const ERROR: usize = offset_of!(Intf, error);
    /// Size of the structure.
    pub const SIZE: usize = size_of::<Intf>();

    // Masking free-running indices needs a power-of-two ring.
    const _: () = assert!(RING_SIZE.is_power_of_two());
}

/// Bytes between `cons` and `prod` of one byte ring, refused when the peer moved an index so far
/// that more than the ring could hold lies between them.
fn checked_distance(cons: u32, prod: u32, response: bool) -> Result<usize, TransportError> {
    let distance = prod.wrapping_sub(cons) as usize;
    if distance > layout::RING_SIZE {
        return Err(TransportError::RingIndexOverflow {
            response,
            cons,
            prod,
        });
    }
    Ok(distance)
}

/// Masks a free-running index into the ring.
fn mask(index: u32) -> usize {
    (index as usize) & (layout::RING_SIZE - 1)
}

/// The guest side of the xenstore ring page: requests go into `req`, replies and watch events
/// come out of `rsp`; xenstored is notified through the event channel after each transfer.
///
/// The page outlives any one client (a driver stopped and started again in the same domain
/// finds it as the last one left it), so [`Transport::connect`] discards the unread responses
/// and bases request ids on `req_prod`, which only grows: an earlier client's ids all lie
/// below it.
///
/// Peer-written indices are validated on every access: if `prod - cons` (wrapping) exceeds the
/// ring size the transport enters a terminal error state and every later call fails with the
/// same error. If the server advertises `XENSTORE_SERVER_FEATURE_ERROR` and sets `error`, the
/// transport fails likewise.
pub struct RingTransport<H: Hypervisor> {
    page: SharedMemory,
    hypervisor: H,
    port: EventChannelPort,
    broken: Option<TransportError>,
    notifications: u64,
}

impl<H: Hypervisor> RingTransport<H> {
    /// A transport over the interface page `page` (at least [`layout::SIZE`] bytes, 4-byte
    /// aligned), notifying xenstored on `port` (`HVM_PARAM_STORE_EVTCHN`).
    pub fn new(
        page: SharedMemory,
        hypervisor: H,
        port: EventChannelPort,
    ) -> Result<Self, TransportError> {
        let page = page
            .window(0, layout::SIZE)
            .map_err(|_| TransportError::BadRingPage)?;
        // Alignment of the index words is checked by a first read.
        page.load_u32(layout::REQ_CONS, Ordering::Relaxed)
            .map_err(|_| TransportError::BadRingPage)?;
        Ok(RingTransport {
            page,
            hypervisor,
            port,
            broken: None,
            notifications: 0,
        })
    }

    /// The terminal error, if the transport has entered it.
    pub fn error(&self) -> Option<TransportError> {
        self.broken
    }

    /// Number of event channel notifications sent.
    pub fn notifications(&self) -> u64 {
        self.notifications
    }

    /// The event channel port.
    pub fn port(&self) -> EventChannelPort {
        self.port
    }

    fn fail(&mut self, e: TransportError) -> TransportError {
        self.broken = Some(e);
        e
    }

    fn load(&mut self, offset: usize) -> Result<u32, TransportError> {
        self.page
            .load_u32(offset, Ordering::Acquire)
            .map_err(|_| TransportError::BadRingPage)
    }

    fn check_server_error(&mut self) -> Result<(), TransportError> {
        let features = self.load(layout::SERVER_FEATURES)?;
        if features & XENSTORE_SERVER_FEATURE_ERROR != 0 {
            let error = self.load(layout::ERROR)?;
            if error != 0 {
                return Err(TransportError::ServerError(error));
            }
        }
        Ok(())
    }

    fn notify(&mut self) -> Result<(), TransportError> {
        self.notifications = self.notifications.wrapping_add(1);
        self.hypervisor
            .evtchn_send(self.port)
            .map_err(TransportError::Notify)
    }

    fn write_inner(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        self.check_server_error()?;
        // The server owns the request consumer index: read it first.
        let cons = self.load(layout::REQ_CONS)?;
        let prod = self.load(layout::REQ_PROD)?;
        let used = checked_distance(cons, prod, false)?;
        let free = layout::RING_SIZE - used;
        let n = data.len().min(free);
        if n == 0 {
            return Ok(0);
        }
        // Copy in at most two pieces: up to the end of the ring, then from its start.
        let start = mask(prod);
        let first = n.min(layout::RING_SIZE - start);
        let (a, b) = data.split_at(n).0.split_at(first);
        self.page
            .write_bytes(layout::REQ + start, a)
            .map_err(|_| TransportError::BadRingPage)?;
        self.page
            .write_bytes(layout::REQ, b)
            .map_err(|_| TransportError::BadRingPage)?;
        // Release: the bytes are visible before the new producer index.
        self.page
            .store_u32(
                layout::REQ_PROD,
                prod.wrapping_add(n as u32),
                Ordering::Release,
            )
            .map_err(|_| TransportError::BadRingPage)?;
        self.notify()?;
        Ok(n)
    }

    fn connect_inner(&mut self) -> Result<ConnectInfo, TransportError> {
        self.check_server_error()?;
        let prod = self.load(layout::RSP_PROD)?;
        let cons = self.load(layout::RSP_CONS)?;
        let discarded = checked_distance(cons, prod, true)?;
        if discarded != 0 {
            self.page
                .store_u32(layout::RSP_CONS, prod, Ordering::Release)
                .map_err(|_| TransportError::BadRingPage)?;
            // The server may be waiting for space to write more replies.
            self.notify()?;
        }
        // Only this side writes req_prod, and every request moves it by at least a header.
        let base = self.load(layout::REQ_PROD)?;
        Ok(ConnectInfo {
            inherited: true,
            request_id_base: Some(base),
            discarded,
        })
    }

    fn read_inner(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        self.check_server_error()?;
        // The server owns the response producer index: read it first.
        let prod = self.load(layout::RSP_PROD)?;
        let cons = self.load(layout::RSP_CONS)?;
        let avail = checked_distance(cons, prod, true)?;
        let n = buf.len().min(avail);
        if n == 0 {
            return Ok(0);
        }
        let start = mask(cons);
        let first = n.min(layout::RING_SIZE - start);
        let (a, b) = buf.split_at_mut(n).0.split_at_mut(first);
        self.page
            .read_bytes(layout::RSP + start, a)
            .map_err(|_| TransportError::BadRingPage)?;
        self.page
            .read_bytes(layout::RSP, b)
            .map_err(|_| TransportError::BadRingPage)?;
        // Release: our copies are complete before the server may reuse the space.
        self.page
            .store_u32(
                layout::RSP_CONS,
                cons.wrapping_add(n as u32),
                Ordering::Release,
            )
            .map_err(|_| TransportError::BadRingPage)?;
        // The server may be waiting for space to write more replies.
        self.notify()?;
        Ok(n)
    }
}

impl<H: Hypervisor> Transport for RingTransport<H> {
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        self.write_inner(data).map_err(|e| self.fail(e))
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        self.read_inner(buf).map_err(|e| self.fail(e))
    }

    fn connect(&mut self) -> Result<ConnectInfo, TransportError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        self.connect_inner().map_err(|e| self.fail(e))
    }
}

/// A bidirectional byte stream (a Unix socket to xenstored, `/dev/xen/xenbus`, a pipe in tests).
pub trait ByteStream {
    /// Reads available bytes: `Ok(0)` means none are available now; a closed stream is
    /// `Err(TransportError::Closed)`.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, TransportError>;
    /// Writes a prefix of `data`: `Ok(0)` means the stream cannot take bytes now.
    fn write_some(&mut self, data: &[u8]) -> Result<usize, TransportError>;
}

/// A transport over a [`ByteStream`]: the same message format xenstored speaks on its socket.
pub struct StreamTransport<S: ByteStream> {
    stream: S,
    broken: Option<TransportError>,
}

impl<S: ByteStream> StreamTransport<S> {
    /// Wraps a stream.
    pub fn new(stream: S) -> Self {
        StreamTransport {
            stream,
            broken: None,
        }
    }

    /// The stream.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The terminal error, if any.
    pub fn error(&self) -> Option<TransportError> {
        self.broken
    }
}

impl<S: ByteStream> Transport for StreamTransport<S> {
    fn write(&mut self, data: &[u8]) -> Result<usize, TransportError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        match self.stream.write_some(data) {
            Ok(n) if n <= data.len() => Ok(n),
            Ok(_) => {
                self.broken = Some(TransportError::Io(0));
                Err(TransportError::Io(0))
            }
            Err(e) => {
                self.broken = Some(e);
                Err(e)
            }
        }
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        match self.stream.read_some(buf) {
            Ok(n) if n <= buf.len() => Ok(n),
            Ok(_) => {
                self.broken = Some(TransportError::Io(0));
                Err(TransportError::Io(0))
            }
            Err(e) => {
                self.broken = Some(e);
                Err(e)
            }
        }
    }
}

#[cfg(feature = "std")]
mod unix {
    extern crate std;

    use std::io::{ErrorKind, Read, Write};
    use std::os::unix::net::UnixStream;

    use super::{ByteStream, StreamTransport};
    use crate::error::TransportError;

    fn io_error(e: std::io::Error) -> TransportError {
        TransportError::Io(e.raw_os_error().unwrap_or(0))
    }

    /// A Unix socket to xenstored (`/run/xenstored/socket`). Put the socket in non-blocking mode
    /// ([`StreamTransport::unix`] does) so that the client's waits stay bounded.
    impl ByteStream for UnixStream {
        fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, TransportError> {
            if buf.is_empty() {
                return Ok(0);
            }
            match Read::read(self, buf) {
                Ok(0) => Err(TransportError::Closed),
                Ok(n) => Ok(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    Ok(0)
                }
                Err(e) => Err(io_error(e)),
            }
        }

        fn write_some(&mut self, data: &[u8]) -> Result<usize, TransportError> {
            if data.is_empty() {
                return Ok(0);
            }
            match Write::write(self, data) {
                Ok(0) => Err(TransportError::Closed),
                Ok(n) => Ok(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                    Ok(0)
                }
                Err(e) => Err(io_error(e)),
            }
        }
    }

    impl StreamTransport<UnixStream> {
        /// Wraps a connected Unix socket, switching it to non-blocking mode.
        pub fn unix(stream: UnixStream) -> Result<Self, TransportError> {
            stream.set_nonblocking(true).map_err(io_error)?;
            Ok(StreamTransport::new(stream))
        }

        /// Connects to xenstored's socket at `path`.
        pub fn connect(path: &std::path::Path) -> Result<Self, TransportError> {
            Self::unix(UnixStream::connect(path).map_err(io_error)?)
        }
    }
}
