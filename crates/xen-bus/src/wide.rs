//! UTF-16 encoding of IRP string answers: NUL-terminated strings (`REG_SZ`, device text) and
//! MULTI_SZ lists (hardware and compatible IDs), with fallible allocation.

use alloc::vec::Vec;

/// Allocation failed while building an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory;

fn push_str(out: &mut Vec<u16>, s: &str) -> Result<(), OutOfMemory> {
    // An upper bound: each char is one or two UTF-16 units, never more than its UTF-8 length.
    out.try_reserve(s.len() + 1).map_err(|_| OutOfMemory)?;
    out.extend(s.encode_utf16());
    out.push(0);
    Ok(())
}

/// `s` as UTF-16 with a terminating NUL.
pub fn sz(s: &str) -> Result<Vec<u16>, OutOfMemory> {
    let mut out = Vec::new();
    push_str(&mut out, s)?;
    Ok(out)
}

/// A MULTI_SZ: each string NUL-terminated, the list terminated by one more NUL (an empty list
/// is two NULs, as Windows expects for an empty `REG_MULTI_SZ`).
pub fn multi_sz<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<Vec<u16>, OutOfMemory> {
    let mut out = Vec::new();
    for s in list {
        push_str(&mut out, s)?;
    }
    if out.is_empty() {
        out.try_reserve(1).map_err(|_| OutOfMemory)?;
        out.push(0);
    }
    out.try_reserve(1).map_err(|_| OutOfMemory)?;
    out.push(0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    #[test]
    fn encodings() {
        assert_eq!(sz("XEN\\VBD").unwrap(), units("XEN\\VBD\0"));
        assert_eq!(multi_sz(["A", "BC"]).unwrap(), units("A\0BC\0\0"));
        assert_eq!(multi_sz([]).unwrap(), [0, 0]);
    }
}
