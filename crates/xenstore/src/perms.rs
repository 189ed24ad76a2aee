//! Node permissions: an owner with a default access, then per-domain access entries.

use alloc::vec::Vec;
use core::fmt::Write as _;

use xen_hal::DomainId;

use crate::error::WireError;

/// What a domain may do with a node: the letters `n`, `r`, `w`, `b` of xenstore's permission strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    /// `n`: neither read nor write.
    None,
    /// `r`: read.
    Read,
    /// `w`: write.
    Write,
    /// `b`: both read and write.
    Both,
}

impl Access {
    /// The permission letter.
    pub fn letter(self) -> u8 {
        match self {
            Access::None => b'n',
            Access::Read => b'r',
            Access::Write => b'w',
            Access::Both => b'b',
        }
    }

    /// Parses a permission letter.
    pub fn from_letter(letter: u8) -> Option<Access> {
        match letter {
            b'n' => Some(Access::None),
            b'r' => Some(Access::Read),
            b'w' => Some(Access::Write),
            b'b' => Some(Access::Both),
            _ => None,
        }
    }
}

/// One permission entry: a domain and its access (`r5` = domain 5 may read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Permission {
    /// The domain.
    pub domid: DomainId,
    /// Its access.
    pub access: Access,
}

/// Longest permission string: a letter and five decimal digits.
pub const PERMISSION_STRING_MAX: usize = 6;

impl Permission {
    /// Parses one permission string such as `b0` or `r12` (no NUL).
    pub fn parse(s: &[u8]) -> Result<Permission, WireError> {
        let (&letter, digits) = s.split_first().ok_or(WireError::BadNumber)?;
        let access = Access::from_letter(letter).ok_or(WireError::BadNumber)?;
        let domid = parse_decimal_u16(digits).ok_or(WireError::BadNumber)?;
        Ok(Permission {
            domid: DomainId(domid),
            access,
        })
    }

    /// Writes the permission string (no NUL) into `out`, returning its length.
    pub fn emit(&self, out: &mut [u8; PERMISSION_STRING_MAX]) -> usize {
        let mut w = SliceWriter { buf: out, len: 0 };
        // Cannot fail: a letter and at most five digits fit.
        let _ = write!(w, "{}{}", char::from(self.access.letter()), self.domid.0);
        w.len
    }
}

/// Parses an unsigned decimal without sign, spaces or redundant leading zeros.
pub(crate) fn parse_decimal_u16(digits: &[u8]) -> Option<u16> {
    parse_decimal_u32(digits).and_then(|v| u16::try_from(v).ok())
}

/// Parses an unsigned decimal without sign, spaces or redundant leading zeros.
pub fn parse_decimal_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() || digits.len() > 10 || (digits.len() > 1 && digits.first() == Some(&b'0'))
    {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(value)
}

struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl core::fmt::Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A node's permission list as xenstore keeps it: the first entry names the owner (who may
/// always read and write) and the access of every domain not listed; the rest are per-domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permissions {
    /// Owner of the node.
    pub owner: DomainId,
    /// Access of domains without an entry of their own.
    pub others: Access,
    /// Per-domain access entries.
    pub acl: Vec<Permission>,
}

impl Permissions {
    /// Only the owner has access.
    pub fn owner_only(owner: DomainId) -> Self {
        Permissions {
            owner,
            others: Access::None,
            acl: Vec::new(),
        }
    }

    /// The entries as on the wire: owner entry first.
    pub fn entries(&self) -> impl Iterator<Item = Permission> + '_ {
        core::iter::once(Permission {
            domid: self.owner,
            access: self.others,
        })
        .chain(self.acl.iter().copied())
    }

    /// Builds from wire entries (owner entry first); `None` if there are none.
    pub fn from_entries(entries: &[Permission]) -> Option<Permissions> {
        let (first, rest) = entries.split_first()?;
        let mut acl = Vec::new();
        acl.try_reserve_exact(rest.len()).ok()?;
        acl.extend_from_slice(rest);
        Some(Permissions {
            owner: first.domid,
            others: first.access,
            acl,
        })
    }

    /// Parses a NUL-separated list of permission strings (a `XS_GET_PERMS` reply), with at
    /// most `max_entries` entries.
    pub fn parse_list(payload: &[u8], max_entries: usize) -> Result<Permissions, WireError> {
        let mut entries = Vec::new();
        for s in crate::wire::Strings::new(payload) {
            let s = s?;
            if entries.len() >= max_entries {
                return Err(WireError::Malformed);
            }
            entries.try_reserve(1).map_err(|_| WireError::Malformed)?;
            entries.push(Permission::parse(s)?);
        }
        Permissions::from_entries(&entries).ok_or(WireError::Malformed)
    }

    /// Bytes needed for the NUL-terminated list on the wire.
    pub fn wire_len(&self) -> usize {
        self.entries()
            .map(|p| {
                let mut buf = [0u8; PERMISSION_STRING_MAX];
                p.emit(&mut buf) + 1
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_emit_permission_strings() {
        let p = Permission::parse(b"r12").unwrap();
        assert_eq!(p.domid, DomainId(12));
        assert_eq!(p.access, Access::Read);
        let mut buf = [0u8; PERMISSION_STRING_MAX];
        let n = p.emit(&mut buf);
        assert_eq!(&buf[..n], b"r12");
        let max = Permission {
            domid: DomainId(65535),
            access: Access::Both,
        };
        let n = max.emit(&mut buf);
        assert_eq!(&buf[..n], b"b65535");
        for bad in [
            &b""[..],
            b"x1",
            b"r",
            b"r-1",
            b"r65536",
            b"r01",
            b"r 1",
            b"R1",
        ] {
            assert_eq!(Permission::parse(bad), Err(WireError::BadNumber), "{bad:?}");
        }
    }

    #[test]
    fn parse_list_owner_first() {
        let perms = Permissions::parse_list(b"n0\0r5\0b7\0", 8).unwrap();
        assert_eq!(perms.owner, DomainId(0));
        assert_eq!(perms.others, Access::None);
        assert_eq!(perms.acl.len(), 2);
        assert_eq!(perms.acl[1].access, Access::Both);
        assert_eq!(perms.wire_len(), 9);
        assert_eq!(Permissions::parse_list(b"", 8), Err(WireError::Malformed));
        assert_eq!(
            Permissions::parse_list(b"n0\0r5\0", 1),
            Err(WireError::Malformed)
        );
    }
}
