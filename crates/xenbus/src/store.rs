//! The xenstore operations the xenbus helpers need, over a client or inside a transaction.

use alloc::string::String;
use alloc::vec::Vec;

use xen_hal::Clock;
use xenstore::{Client, Error, Transaction, Transport, Wait, XsErrno};

use crate::error::XenbusError;
use crate::keys;

/// Reads and writes of nodes: implemented by [`xenstore::Client`] (outside transactions) and
/// [`xenstore::Transaction`] (inside one).
pub trait Store {
    /// Reads a node.
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error>;
    /// Writes a node.
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error>;
    /// Lists a node's children.
    fn directory(&mut self, path: &str) -> Result<Vec<String>, Error>;
}

impl<T: Transport, C: Clock, W: Wait> Store for Client<T, C, W> {
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        Client::read(self, path)
    }
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error> {
        Client::write(self, path, value)
    }
    fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        Client::directory(self, path)
    }
}

impl<T: Transport, C: Clock, W: Wait> Store for Transaction<'_, T, C, W> {
    fn read(&mut self, path: &str) -> Result<Vec<u8>, Error> {
        Transaction::read(self, path)
    }
    fn write(&mut self, path: &str, value: &[u8]) -> Result<(), Error> {
        Transaction::write(self, path, value)
    }
    fn directory(&mut self, path: &str) -> Result<Vec<String>, Error> {
        Transaction::directory(self, path)
    }
}

/// Reads `<dir>/<key>`; a missing node is `None`.
pub fn read_optional<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, XenbusError> {
    match store.read(&keys::join(dir, key)?) {
        Ok(v) => Ok(Some(v)),
        Err(Error::Xs(XsErrno::ENOENT)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Parses an unsigned decimal as toolstacks write it: optional surrounding ASCII whitespace,
/// then digits (leading zeros allowed).
pub fn parse_unsigned(value: &[u8]) -> Option<u64> {
    let value = value.strip_suffix(&[0]).unwrap_or(value).trim_ascii();
    if value.is_empty() || value.len() > 20 {
        return None;
    }
    let mut n: u64 = 0;
    for &d in value {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(n)
}

/// Reads `<dir>/<key>` as an unsigned 64-bit number; missing → `None`, garbage → `BadValue(key)`.
pub fn read_u64<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &'static str,
) -> Result<Option<u64>, XenbusError> {
    match read_optional(store, dir, key)? {
        None => Ok(None),
        Some(v) => parse_unsigned(&v)
            .map(Some)
            .ok_or(XenbusError::BadValue(key)),
    }
}

/// Reads `<dir>/<key>` as an unsigned 32-bit number; missing → `None`, garbage or out of range
/// → `BadValue(key)`.
pub fn read_u32<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &'static str,
) -> Result<Option<u32>, XenbusError> {
    match read_u64(store, dir, key)? {
        None => Ok(None),
        Some(v) => u32::try_from(v)
            .map(Some)
            .map_err(|_| XenbusError::BadValue(key)),
    }
}

/// Reads a feature flag: missing → `None`, a number → `Some(number != 0)`, garbage → `BadValue`.
pub fn read_flag<S: Store + ?Sized>(
    store: &mut S,
    dir: &str,
    key: &'static str,
) -> Result<Option<bool>, XenbusError> {
    Ok(read_u64(store, dir, key)?.map(|v| v != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values() {
        assert_eq!(parse_unsigned(b"0"), Some(0));
        assert_eq!(parse_unsigned(b"0042\n"), Some(42));
        assert_eq!(parse_unsigned(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_unsigned(b"18446744073709551616"), None);
        assert_eq!(parse_unsigned(b""), None);
        assert_eq!(parse_unsigned(b"1 2"), None);
        assert_eq!(parse_unsigned(b"-1"), None);
        assert_eq!(parse_unsigned(b"0x10"), None);
    }
}
