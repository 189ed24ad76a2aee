//! Enumeration of `device/<type>/<id>` and the difference between two enumerations.

use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Ordering;

use xenstore::{Error, XsErrno};

use crate::error::XenbusError;
use crate::keys;
use crate::path::{valid_device_type, DeviceRef};
use crate::store::Store;

/// Most devices one enumeration reports (the rest are skipped as [`SkipReason::TooMany`]).
pub const MAX_DEVICES: usize = 1024;

/// Why a directory entry was not taken as a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The device type is not `[a-z0-9_-]+`.
    BadType,
    /// The id is not a canonical decimal `u32`.
    BadId,
    /// More than [`MAX_DEVICES`] devices.
    TooMany,
}

/// An entry that was skipped, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's path relative to the root (`vbd/abc`, or the type alone).
    pub entry: String,
    /// Why.
    pub reason: SkipReason,
}

/// The devices found (sorted, no duplicates) and the entries skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Enumeration {
    /// Devices, sorted by type then id.
    pub devices: Vec<DeviceRef>,
    /// Skipped entries.
    pub skipped: Vec<Skipped>,
}

fn alloc_err<E>(_: E) -> XenbusError {
    XenbusError::Store(Error::Alloc)
}

fn skip(out: &mut Enumeration, entry: &str, reason: SkipReason) -> Result<(), XenbusError> {
    let mut e = String::new();
    e.try_reserve_exact(entry.len()).map_err(alloc_err)?;
    e.push_str(entry);
    out.skipped.try_reserve(1).map_err(alloc_err)?;
    out.skipped.push(Skipped { entry: e, reason });
    Ok(())
}

fn children<S: Store + ?Sized>(store: &mut S, path: &str) -> Result<Vec<String>, XenbusError> {
    match store.directory(path) {
        Ok(c) => Ok(c),
        // Missing (or removed between two reads): nothing there.
        Err(Error::Xs(XsErrno::ENOENT)) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// Lists `root/<type>/<id>` (`root` is normally [`crate::path::DEVICE_ROOT`]); entries that are
/// not devices are skipped and reported, never fatal. A missing root is an empty enumeration.
/// The work is bounded: each directory reply is at most `XENSTORE_PAYLOAD_MAX` bytes.
pub fn enumerate<S: Store + ?Sized>(store: &mut S, root: &str) -> Result<Enumeration, XenbusError> {
    let mut out = Enumeration::default();
    for kind in children(store, root)? {
        if !valid_device_type(&kind) {
            skip(&mut out, &kind, SkipReason::BadType)?;
            continue;
        }
        for id in children(store, &keys::join(root, &kind)?)? {
            let entry = keys::join(&kind, &id)?;
            match xenstore::perms::parse_decimal_u32(id.as_bytes()) {
                None => skip(&mut out, &entry, SkipReason::BadId)?,
                Some(_) if out.devices.len() >= MAX_DEVICES => {
                    skip(&mut out, &entry, SkipReason::TooMany)?
                }
                Some(n) => {
                    let device = DeviceRef::new(&kind, n)?;
                    out.devices.try_reserve(1).map_err(alloc_err)?;
                    out.devices.push(device);
                }
            }
        }
    }
    // Unstable sort: it never allocates (the stable sort takes a heap buffer infallibly).
    out.devices.sort_unstable();
    out.devices.dedup();
    Ok(out)
}

/// Devices that appeared and disappeared between two enumerations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceDiff {
    /// In `new` but not in `old` (sorted).
    pub added: Vec<DeviceRef>,
    /// In `old` but not in `new` (sorted).
    pub removed: Vec<DeviceRef>,
}

fn sorted_copy(list: &[DeviceRef]) -> Result<Vec<&DeviceRef>, XenbusError> {
    let mut v = Vec::new();
    v.try_reserve_exact(list.len()).map_err(alloc_err)?;
    v.extend(list.iter());
    v.sort_unstable();
    v.dedup();
    Ok(v)
}

fn push(list: &mut Vec<DeviceRef>, d: &DeviceRef) -> Result<(), XenbusError> {
    list.try_reserve(1).map_err(alloc_err)?;
    list.push(d.clone());
    Ok(())
}

/// The difference between two device lists (in any order, duplicates ignored): a pure
/// function, computed by merging the sorted lists.
pub fn diff(old: &[DeviceRef], new: &[DeviceRef]) -> Result<DeviceDiff, XenbusError> {
    let old = sorted_copy(old)?;
    let new = sorted_copy(new)?;
    let mut out = DeviceDiff::default();
    let (mut i, mut j) = (0, 0);
    loop {
        match (old.get(i), new.get(j)) {
            (None, None) => break,
            (Some(o), None) => {
                push(&mut out.removed, o)?;
                i += 1;
            }
            (None, Some(n)) => {
                push(&mut out.added, n)?;
                j += 1;
            }
            (Some(o), Some(n)) => match o.cmp(n) {
                Ordering::Less => {
                    push(&mut out.removed, o)?;
                    i += 1;
                }
                Ordering::Greater => {
                    push(&mut out.added, n)?;
                    j += 1;
                }
                Ordering::Equal => {
                    i += 1;
                    j += 1;
                }
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use proptest::prelude::*;

    fn dev(kind: &str, id: u32) -> DeviceRef {
        DeviceRef::new(kind, id).unwrap()
    }

    #[test]
    fn diff_of_known_lists() {
        let old = [dev("vbd", 768), dev("vif", 0), dev("vbd", 832)];
        let new = [
            dev("vif", 0),
            dev("vbd", 5632),
            dev("vbd", 768),
            dev("vbd", 768),
        ];
        let d = diff(&old, &new).unwrap();
        assert_eq!(d.added, [dev("vbd", 5632)]);
        assert_eq!(d.removed, [dev("vbd", 832)]);
        assert_eq!(diff(&old, &old).unwrap(), DeviceDiff::default());
    }

    fn device() -> impl Strategy<Value = DeviceRef> {
        (
            prop_oneof![Just("vbd"), Just("vif"), Just("console")],
            0u32..20,
        )
            .prop_map(|(k, id)| dev(k, id))
    }

    proptest! {
        #[test]
        fn diff_matches_set_difference(
            old in proptest::collection::vec(device(), 0..30),
            new in proptest::collection::vec(device(), 0..30),
        ) {
            let d = diff(&old, &new).unwrap();
            let o: BTreeSet<_> = old.iter().cloned().collect();
            let n: BTreeSet<_> = new.iter().cloned().collect();
            let added: Vec<_> = n.difference(&o).cloned().collect();
            let removed: Vec<_> = o.difference(&n).cloned().collect();
            prop_assert_eq!(&d.added, &added);
            prop_assert_eq!(&d.removed, &removed);
            // Applying the diff to old gives new.
            let mut applied: BTreeSet<_> = o.clone();
            for r in &d.removed { applied.remove(r); }
            for a in &d.added { applied.insert(a.clone()); }
            prop_assert_eq!(applied, n);
        }
    }
}
