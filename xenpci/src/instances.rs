//! One child PDO per instance ID (issue 18, item 14).
//!
//! Decision: the children keep `UniqueID = TRUE`, and the bus never has two PDOs with the same
//! instance ID alive at once.
//!
//! Why: PnP takes `UniqueID = TRUE` to mean the instance ID (the xenstore id, e.g. `51712`)
//! is unique on the whole system for this device ID; the device IDs (`XEN\...`) are ours alone
//! and xenpci runs on the single Xen platform device, so that holds as long as no two PDOs
//! with one ID coexist. With `UniqueID = FALSE` PnP would prefix the parent's instance path to
//! the ID, which keeps it stable and unique *between* buses but not *between two siblings*: a
//! quick detach and re-attach of `device/vbd/51712` before PnP sent IRP_MN_REMOVE_DEVICE to
//! the old PDO would still give two PDOs with one instance path, which PnP answers with bug
//! check 0xCA (PNP_DETECTED_FATAL_ERROR, duplicate PDO). So the duplicate has to be prevented
//! by the bus either way, and once it is, `UniqueID = TRUE` gives the stable, parent-independent
//! instance paths that keep a disk's or NIC's settings when the platform device moves.
//!
//! How: [`Instances`] tracks the keys of every PDO not yet deleted (created, possibly reported
//! missing, waiting for PnP's IRP_MN_REMOVE_DEVICE). A child that appears while its key is
//! still alive is deferred (the scan forgets it, so the next scan offers it again), and the
//! deletion of the old PDO asks for that next scan.

use alloc::collections::TryReserveError;
use alloc::vec::Vec;

/// The keys of the live PDOs, and the keys whose creation waits for a deletion.
#[derive(Debug)]
pub struct Instances<K> {
    live: Vec<K>,
    deferred: Vec<K>,
}

impl<K> Default for Instances<K> {
    fn default() -> Self {
        Instances {
            live: Vec::new(),
            deferred: Vec::new(),
        }
    }
}

/// What to do with a child that appeared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Create its PDO now; call [`Instances::created`] once it exists.
    Create,
    /// A PDO with this instance ID still exists: create nothing now; the scan forgets the
    /// child and [`Instances::deleted`] asks for a rescan.
    Defer,
}

impl<K: PartialEq + Clone> Instances<K> {
    /// No PDOs.
    pub fn new() -> Instances<K> {
        Instances::default()
    }

    /// Whether a PDO for `key` may be created now.
    pub fn admit(&mut self, key: &K) -> Admission {
        if !self.live.contains(key) {
            return Admission::Create;
        }
        if !self.deferred.contains(key) && self.deferred.try_reserve(1).is_ok() {
            self.deferred.push(key.clone());
        }
        // Out of memory for the note: the next scan (any watch event) still offers the child.
        Admission::Defer
    }

    /// Room for one more live key, reserved before the PDO is created (so recording it
    /// cannot fail afterwards).
    pub fn reserve(&mut self) -> Result<(), TryReserveError> {
        self.live.try_reserve(1)
    }

    /// The PDO for `key` was created (after [`Instances::reserve`]).
    pub fn created(&mut self, key: K) {
        self.live.push(key);
    }

    /// The PDO for `key` was deleted (never reported, or removed by PnP). Returns whether a
    /// child with this key waits: then rescan.
    pub fn deleted(&mut self, key: &K) -> bool {
        if let Some(at) = self.live.iter().position(|k| k == key) {
            self.live.swap_remove(at);
        }
        match self.deferred.iter().position(|k| k == key) {
            Some(at) => {
                self.deferred.swap_remove(at);
                true
            }
            None => false,
        }
    }

    /// Whether a PDO for `key` exists.
    pub fn is_live(&self, key: &K) -> bool {
        self.live.contains(key)
    }

    /// Number of live PDOs.
    pub fn live_count(&self) -> usize {
        self.live.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Detach and re-attach of one disk before PnP removed the old PDO: the bus makes no
    /// second PDO with the same instance ID, and makes it as soon as the old one is deleted.
    #[test]
    fn a_reattach_before_remove_waits_for_the_old_pdo() {
        let mut ids: Instances<u32> = Instances::new();
        assert_eq!(ids.admit(&51712), Admission::Create);
        ids.reserve().unwrap();
        ids.created(51712);
        // Detached: reported missing, PnP has not sent REMOVE yet. Re-attached: deferred.
        assert_eq!(ids.admit(&51712), Admission::Defer);
        assert_eq!(ids.admit(&51712), Admission::Defer);
        assert_eq!(ids.live_count(), 1);
        // Another disk is not held up.
        assert_eq!(ids.admit(&51728), Admission::Create);
        // REMOVE deletes the old PDO: rescan, and now the new one may be created.
        assert!(ids.deleted(&51712));
        assert!(!ids.is_live(&51712));
        assert_eq!(ids.admit(&51712), Admission::Create);
        ids.reserve().unwrap();
        ids.created(51712);
        // A deletion nobody waited for asks for no rescan.
        assert!(!ids.deleted(&51712));
        assert_eq!(ids.live_count(), 0);
    }
}
