//! IRP_MN_DEVICE_USAGE_NOTIFICATION bookkeeping (issue 18, item 8): which special files
//! (paging, hibernation, crash dump) live on a device, what that does to `DO_POWER_PAGABLE`,
//! and when removal must be refused. Used by the vbd PDOs and by the FDO alike.
//!
//! The rules followed (WDK, IRP_MN_DEVICE_USAGE_NOTIFICATION and the storage class driver's
//! handling of it):
//! - A bus driver's PDO sends the notification on to its parent's device stack and completes
//!   the child's IRP with the parent's answer; the FDO passes it down its own stack.
//! - Counts change only when the notification succeeded (`InPath = TRUE`) or always
//!   (`InPath = FALSE`: a notification that a file is gone is never failed; a parent that
//!   fails it is logged, our count still drops).
//! - `DO_POWER_PAGABLE` follows the paging count: the last paging file going away sets it
//!   *before* the IRP is passed on (upper device objects become pagable before lower ones);
//!   the first paging file arriving clears it *after* the lower drivers succeeded (lower
//!   device objects become non-pagable first). A flag set before passing on is never undone:
//!   it is set only for `InPath = FALSE`, which always counts. A device object with
//!   `DO_POWER_INRUSH` is never made pagable. Hibernation and dump files do not change the
//!   flag.
//! - While any special file is on the device, IRP_MN_QUERY_REMOVE_DEVICE and
//!   IRP_MN_QUERY_STOP_DEVICE are failed (the file's device cannot go away).

/// `DEVICE_USAGE_NOTIFICATION_TYPE` values (wdm.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageType {
    /// `DeviceUsageTypePaging` (1).
    Paging,
    /// `DeviceUsageTypeHibernation` (2).
    Hibernation,
    /// `DeviceUsageTypeDumpFile` (3).
    DumpFile,
    /// Anything else (`DeviceUsageTypeUndefined`, `Boot`, `PostDisplay`, ...): passed on,
    /// not counted.
    Other(u32),
}

impl UsageType {
    /// From `Parameters.UsageNotification.Type`.
    pub fn from_code(code: u32) -> UsageType {
        match code {
            1 => UsageType::Paging,
            2 => UsageType::Hibernation,
            3 => UsageType::DumpFile,
            other => UsageType::Other(other),
        }
    }
}

/// A change to `DO_POWER_PAGABLE` the glue makes on its device object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pagable {
    /// Leave the flags.
    Keep,
    /// Set `DO_POWER_PAGABLE`.
    Set,
    /// Clear `DO_POWER_PAGABLE`.
    Clear,
}

/// The special files on one device (the counts of successful notifications).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SpecialFiles {
    /// Paging files.
    pub paging: u32,
    /// Hibernation files.
    pub hibernation: u32,
    /// Crash dump files.
    pub dump: u32,
}

/// One notification in progress: what [`SpecialFiles::before`] decided, for
/// [`SpecialFiles::after`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The file type.
    pub kind: UsageType,
    /// `Parameters.UsageNotification.InPath`.
    pub in_path: bool,
}

impl SpecialFiles {
    /// Whether any paging, hibernation or dump file is on the device.
    pub fn in_use(&self) -> bool {
        self.paging != 0 || self.hibernation != 0 || self.dump != 0
    }

    /// Whether IRP_MN_QUERY_REMOVE_DEVICE / IRP_MN_QUERY_STOP_DEVICE may succeed.
    pub fn may_remove(&self) -> bool {
        !self.in_use()
    }

    /// Before passing the notification on: the flag change to make now (`inrush`: the device
    /// object has `DO_POWER_INRUSH`).
    pub fn before(&self, kind: UsageType, in_path: bool, inrush: bool) -> (Notification, Pagable) {
        let last_paging = kind == UsageType::Paging && !in_path && self.paging == 1 && !inrush;
        let change = if last_paging {
            Pagable::Set
        } else {
            Pagable::Keep
        };
        (Notification { kind, in_path }, change)
    }

    /// After the lower drivers (or the parent's stack) answered with `succeeded`: counts
    /// updated; returns the flag change to make now and whether the IRP is completed with
    /// success (`InPath = FALSE` always is).
    pub fn after(&mut self, notification: Notification, succeeded: bool) -> (Pagable, bool) {
        let Notification { kind, in_path } = notification;
        let counted = succeeded || !in_path;
        if counted {
            if let Some(count) = self.count_mut(kind) {
                *count = if in_path {
                    count.saturating_add(1)
                } else {
                    count.saturating_sub(1)
                };
            }
        }
        let change = if in_path && succeeded && kind == UsageType::Paging && self.paging == 1 {
            Pagable::Clear
        } else {
            Pagable::Keep
        };
        (change, counted)
    }

    fn count_mut(&mut self, kind: UsageType) -> Option<&mut u32> {
        match kind {
            UsageType::Paging => Some(&mut self.paging),
            UsageType::Hibernation => Some(&mut self.hibernation),
            UsageType::DumpFile => Some(&mut self.dump),
            UsageType::Other(_) => None,
        }
    }

    /// Packs the counts for an atomic store (16 bits each is far beyond any real count;
    /// larger counts saturate).
    pub fn pack(&self) -> u64 {
        let clamp = |n: u32| u64::from(n.min(0xFFFF));
        clamp(self.paging) | (clamp(self.hibernation) << 16) | (clamp(self.dump) << 32)
    }

    /// The counts from [`SpecialFiles::pack`].
    pub fn unpack(value: u64) -> SpecialFiles {
        let field = |shift: u32| ((value >> shift) & 0xFFFF) as u32;
        SpecialFiles {
            paging: field(0),
            hibernation: field(16),
            dump: field(32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify(files: &mut SpecialFiles, kind: UsageType, in_path: bool, ok: bool) -> Vec<Pagable> {
        let (n, first) = files.before(kind, in_path, false);
        let (second, completed_ok) = files.after(n, ok);
        assert_eq!(completed_ok, ok || !in_path);
        vec![first, second]
    }

    use alloc::vec;
    use alloc::vec::Vec;

    #[test]
    fn the_first_paging_file_clears_pagable_after_the_lower_drivers_and_the_last_sets_it_before() {
        let mut files = SpecialFiles::default();
        assert!(files.may_remove());
        assert_eq!(
            notify(&mut files, UsageType::Paging, true, true),
            [Pagable::Keep, Pagable::Clear]
        );
        assert!(!files.may_remove(), "a paging disk cannot be removed");
        // A second paging file changes nothing.
        assert_eq!(
            notify(&mut files, UsageType::Paging, true, true),
            [Pagable::Keep, Pagable::Keep]
        );
        assert_eq!(
            notify(&mut files, UsageType::Paging, false, true),
            [Pagable::Keep, Pagable::Keep]
        );
        assert!(!files.may_remove());
        // The last one goes: pagable again, set before passing on.
        assert_eq!(
            notify(&mut files, UsageType::Paging, false, true),
            [Pagable::Set, Pagable::Keep]
        );
        assert!(files.may_remove());
    }

    #[test]
    fn a_failed_notification_counts_nothing_but_a_removal_always_counts() {
        let mut files = SpecialFiles::default();
        assert_eq!(
            notify(&mut files, UsageType::Paging, true, false),
            [Pagable::Keep, Pagable::Keep]
        );
        assert_eq!(files, SpecialFiles::default());
        // InPath FALSE is never failed: counted even if the parent said no.
        files.paging = 1;
        let (n, first) = files.before(UsageType::Paging, false, false);
        assert_eq!(first, Pagable::Set);
        assert_eq!(files.after(n, false), (Pagable::Keep, true));
        assert_eq!(files.paging, 0);
    }

    #[test]
    fn inrush_devices_are_never_made_pagable() {
        let files = SpecialFiles {
            paging: 1,
            ..SpecialFiles::default()
        };
        let (_, change) = files.before(UsageType::Paging, false, true);
        assert_eq!(change, Pagable::Keep);
    }

    #[test]
    fn dump_and_hibernation_files_block_removal_without_touching_the_flag() {
        let mut files = SpecialFiles::default();
        assert_eq!(
            notify(&mut files, UsageType::DumpFile, true, true),
            [Pagable::Keep, Pagable::Keep]
        );
        assert!(!files.may_remove());
        assert_eq!(
            notify(&mut files, UsageType::Hibernation, true, true),
            [Pagable::Keep, Pagable::Keep]
        );
        notify(&mut files, UsageType::DumpFile, false, true);
        assert!(!files.may_remove(), "the hibernation file is still there");
        notify(&mut files, UsageType::Hibernation, false, true);
        assert!(files.may_remove());
        // Unknown types are passed on and not counted; a stray "removed" does not underflow.
        notify(&mut files, UsageType::Other(4), true, true);
        notify(&mut files, UsageType::Hibernation, false, true);
        assert_eq!(files, SpecialFiles::default());
        assert_eq!(UsageType::from_code(3), UsageType::DumpFile);
        assert_eq!(UsageType::from_code(0), UsageType::Other(0));
    }

    #[test]
    fn packing_round_trips() {
        let files = SpecialFiles {
            paging: 2,
            hibernation: 1,
            dump: 7,
        };
        assert_eq!(SpecialFiles::unpack(files.pack()), files);
        let big = SpecialFiles {
            paging: 70_000,
            ..SpecialFiles::default()
        };
        assert_eq!(SpecialFiles::unpack(big.pack()).paging, 0xFFFF);
    }
}
