//! What a frontend publishes in its directory (ring refs, event channels, protocol, features),
//! written in one transaction.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use xen_hal::{Clock, EventChannelPort, GrantRef};
use xenstore::{Client, Error, Transport, Wait};

use crate::error::XenbusError;
use crate::keys::{self, common};
use crate::negotiate::MAX_RING_PAGE_ORDER;
use crate::state::{FrontendState, XenbusState};
use crate::store::Store;

/// Most entries one publication may hold (bounds the transaction).
pub const MAX_ENTRIES: usize = 512;

/// An ordered list of `(key, value)` to write under a frontend directory. Keys are relative
/// (`ring-ref`, `queue-0/event-channel`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Publication {
    entries: Vec<(String, Vec<u8>)>,
}

fn alloc_err<E>(_: E) -> XenbusError {
    XenbusError::Store(Error::Alloc)
}

impl Publication {
    /// An empty publication.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Adds `key = value`.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<&mut Self, XenbusError> {
        if self.entries.len() >= MAX_ENTRIES {
            return Err(XenbusError::TooMany);
        }
        let mut k = String::new();
        k.try_reserve_exact(key.len()).map_err(alloc_err)?;
        k.push_str(key);
        let mut v = Vec::new();
        v.try_reserve_exact(value.len()).map_err(alloc_err)?;
        v.extend_from_slice(value);
        self.entries.try_reserve(1).map_err(alloc_err)?;
        self.entries.push((k, v));
        Ok(self)
    }

    /// Adds `key = <decimal>`.
    pub fn set_u64(&mut self, key: &str, value: u64) -> Result<&mut Self, XenbusError> {
        let mut digits = String::new();
        digits.try_reserve(20).map_err(alloc_err)?;
        write!(digits, "{value}").map_err(alloc_err)?;
        self.set(key, digits.as_bytes())
    }

    /// Adds `key = 1` if `enabled`; nothing otherwise (we never advertise what we do not do).
    pub fn flag(&mut self, key: &str, enabled: bool) -> Result<&mut Self, XenbusError> {
        if enabled {
            self.set(key, b"1")?;
        }
        Ok(self)
    }

    /// Adds a ring under `prefix` (`""` or `queue-N/`): `ring-ref` for a single page, else
    /// `ring-page-order` and `ring-ref0..N`. `refs` must hold exactly `1 << page_order` entries.
    pub fn ring(
        &mut self,
        prefix: &str,
        refs: &[GrantRef],
        page_order: u32,
    ) -> Result<&mut Self, XenbusError> {
        if page_order > MAX_RING_PAGE_ORDER || refs.len() != 1usize << page_order {
            return Err(XenbusError::TooMany);
        }
        let mut key = String::new();
        key.try_reserve(prefix.len() + 24).map_err(alloc_err)?;
        if page_order == 0 {
            for r in refs {
                key.clear();
                key.push_str(prefix);
                key.push_str(common::RING_REF);
                self.set_u64(&key, u64::from(r.0))?;
            }
        } else {
            key.push_str(prefix);
            key.push_str(common::RING_PAGE_ORDER);
            self.set_u64(&key, u64::from(page_order))?;
            for (i, r) in refs.iter().enumerate() {
                key.clear();
                key.push_str(prefix);
                key.push_str(&keys::ring_ref_n(i as u32)?);
                self.set_u64(&key, u64::from(r.0))?;
            }
        }
        Ok(self)
    }

    /// Adds an event channel port under `key` (`event-channel`, `event-channel-tx`, ...).
    pub fn event_channel(
        &mut self,
        key: &str,
        port: EventChannelPort,
    ) -> Result<&mut Self, XenbusError> {
        self.set_u64(key, u64::from(port.0))
    }

    /// Adds `protocol = <abi>` (`XEN_IO_PROTO_ABI_NATIVE` for these drivers).
    pub fn protocol(&mut self, abi: &str) -> Result<&mut Self, XenbusError> {
        self.set(common::PROTOCOL, abi.as_bytes())
    }

    /// Writes every entry under `dir` through `store` (e.g. inside a transaction).
    pub fn write_to<S: Store + ?Sized>(&self, store: &mut S, dir: &str) -> Result<(), Error> {
        for (k, v) in &self.entries {
            let path = keys::join(dir, k)?;
            store.write(&path, v)?;
        }
        Ok(())
    }
}

/// Writes `publication` under the frontend directory `dir` in ONE transaction (retried on
/// EAGAIN by the client), and, in the same transaction, our new `state` if given.
pub fn publish<T: Transport, C: Clock, W: Wait>(
    client: &mut Client<T, C, W>,
    dir: &str,
    publication: &Publication,
    state: Option<XenbusState>,
) -> Result<(), XenbusError> {
    let state_path = keys::join(dir, common::STATE)?;
    client.transaction(|tx| {
        publication.write_to(tx, dir)?;
        if let Some(s) = state {
            tx.write(&state_path, s.as_str().as_bytes())?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Switches our published state along the frontend state machine: refused transitions are
/// typed errors and nothing is written; `ours` changes only once the write succeeded.
pub fn switch_state<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    ours: &mut FrontendState,
    to: XenbusState,
) -> Result<(), XenbusError> {
    let mut next = *ours;
    next.transition(to)?;
    store.write(&keys::join(dir, common::STATE)?, to.as_str().as_bytes())?;
    *ours = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rings_publish_per_page_order() {
        let mut p = Publication::new();
        p.ring("", &[GrantRef(8)], 0).unwrap();
        p.ring("queue-1/", &[GrantRef(1), GrantRef(2)], 1).unwrap();
        p.event_channel(common::EVENT_CHANNEL, EventChannelPort(5))
            .unwrap();
        let got: Vec<(&str, &[u8])> = p.entries().collect();
        assert_eq!(
            got,
            [
                ("ring-ref", &b"8"[..]),
                ("queue-1/ring-page-order", b"1"),
                ("queue-1/ring-ref0", b"1"),
                ("queue-1/ring-ref1", b"2"),
                ("event-channel", b"5"),
            ]
        );
        assert_eq!(
            p.ring("", &[GrantRef(1)], 1).err(),
            Some(XenbusError::TooMany)
        );
        assert_eq!(
            p.ring("", &[GrantRef(1); 32], 5).err(),
            Some(XenbusError::TooMany)
        );
    }
}
