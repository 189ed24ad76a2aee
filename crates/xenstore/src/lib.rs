//! Xenstore for Xen guests: the wire codec, ring and byte-stream transports, and a client.
//!
//! Layers, bottom up:
//! - [`wire`]: the message format (`xsd_sockmsg` header + NUL-separated strings) as views over
//!   byte buffers, with typed [`wire::Request`]s and decoded [`wire::Reply`]s.
//! - [`transport`]: non-blocking byte pipes: [`transport::RingTransport`] over the shared
//!   `xenstore_domain_interface` page (guests), [`transport::StreamTransport`] over a byte
//!   stream (xenstored's Unix socket, `/dev/xen/xenbus`; feature `std` for `UnixStream`).
//! - [`client`]: [`client::ClientCore`] multiplexes requests by `req_id` without blocking;
//!   [`client::Client`] adds blocking operations bounded by a [`xen_hal::Clock`] deadline,
//!   watches, and transactions retried on EAGAIN.
//!
//! Nothing xenstored sends can make this crate panic or loop forever: malformed input ends in
//! a typed error, and the connection's terminal error state where framing is lost.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod abi;
pub mod client;
pub mod error;
pub mod perms;
pub mod transport;
pub mod wire;

#[cfg(any(test, feature = "test-utils"))]
pub mod fake;
#[cfg(any(test, feature = "test-utils"))]
pub mod hostile;

pub use client::{Client, ClientCore, ReqId, Stats, Transaction, TxId, Wait};
pub use error::{ConnectionError, Error, TransportError, WireError, XsErrno};
pub use perms::{Access, Permission, Permissions};
pub use transport::{ByteStream, ConnectInfo, RingTransport, StreamTransport, Transport};
pub use wire::{Message, Reply, Request, WatchEvent};

#[cfg(test)]
mod tests;
