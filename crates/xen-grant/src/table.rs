//! The grant table: frames set up with Xen, entries written with the ordering Xen expects.

use alloc::vec::Vec;
use core::mem::{offset_of, size_of};
use core::sync::atomic::Ordering;

use xen_hal::{DomainId, GrantRef, Hypervisor, Pfn, PhysicalMapper, SharedMemory, PAGE_SIZE};
use xen_public_headers::grant_table::{
    grant_entry_v1, GTF_permit_access, GTF_reading, GTF_readonly, GTF_writing,
};
use xen_public_headers::memory::XENMAPSPACE_grant_table;

use crate::allocator::{RefAllocator, RefState};
use crate::batch::GrantBatch;
use crate::error::GrantError;

/// Size of one `grant_entry_v1`.
const ENTRY_SIZE: usize = size_of::<grant_entry_v1>();
/// `grant_entry_v1` entries in one table frame.
pub const ENTRIES_PER_FRAME: usize = PAGE_SIZE / ENTRY_SIZE;
const FLAGS: usize = offset_of!(grant_entry_v1, flags);
const DOMID: usize = offset_of!(grant_entry_v1, domid);
const FRAME: usize = offset_of!(grant_entry_v1, frame);
/// Compare-exchange attempts in `end_access` before giving up as "still in use". Only Xen
/// changes the flags under us (setting and clearing the in-use bits), so a few suffice.
const END_ACCESS_ATTEMPTS: usize = 64;

/// References [`GrantTable::grant_access`] tries when free ones turn out to be in use.
const GRANT_ATTEMPTS: usize = 8;

const _: () = assert!(ENTRY_SIZE == 8 && FLAGS == 0 && DOMID == 2 && FRAME == 4);

/// The `flags` of entry `index` in `frames`.
fn raw_flags(frames: &[SharedMemory], index: u32) -> Result<u16, GrantError> {
    let index = index as usize;
    let frame = frames
        .get(index / ENTRIES_PER_FRAME)
        .ok_or(GrantError::InvalidRef(GrantRef(index as u32)))?;
    Ok(frame.load_u16(
        (index % ENTRIES_PER_FRAME) * ENTRY_SIZE + FLAGS,
        Ordering::Acquire,
    )?)
}

/// What [`GrantTable::end_access_or_defer`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndAccess {
    /// Access ended; the reference is back on the free list.
    Freed,
    /// The backend still maps the page; the reference waits on the deferred list.
    Deferred,
}

/// Counts of what ending a group of grants did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndSummary {
    /// References whose access ended and that went back to the free list.
    pub freed: usize,
    /// References still mapped by the backend, now (or still) on the deferred list.
    pub deferred: usize,
}

/// A v1 grant table: its frames, mapped, and the bookkeeping of its references.
pub struct GrantTable {
    frames: Vec<SharedMemory>,
    /// Where each frame was placed with `add_to_physmap` (empty for [`GrantTable::from_frames`]).
    gpfns: Vec<Pfn>,
    refs: RefAllocator,
}

impl GrantTable {
    /// Sets up the table with Xen: asks its size (`GNTTABOP_query_size`), places frame `i` of
    /// the table at `frames[i]` (`XENMEM_add_to_physmap`, `XENMAPSPACE_grant_table`) and maps it.
    ///
    /// `frames` are guest frames the caller owns and that hold nothing else (on Windows, pages of
    /// the Xen platform device's memory BAR). Only as many as Xen allows (`max_nr_frames`) are
    /// used. On error, frames already placed stay placed and frames already mapped stay mapped
    /// (this crate cannot unmap; the platform BAR mapping is the glue's to release).
    pub fn setup(
        hv: &impl Hypervisor,
        mapper: &impl PhysicalMapper,
        frames: &[Pfn],
    ) -> Result<Self, GrantError> {
        let size = hv.grant_table_query_size()?;
        let count = frames.len().min(size.max_nr_frames as usize);
        let frames = frames.get(..count).ok_or(GrantError::NoFrames)?;
        if frames.is_empty() {
            return Err(GrantError::NoFrames);
        }
        let mut windows = Vec::new();
        windows.try_reserve_exact(frames.len())?;
        let mut gpfns = Vec::new();
        gpfns.try_reserve_exact(frames.len())?;
        for (index, &gpfn) in frames.iter().enumerate() {
            hv.add_to_physmap(XENMAPSPACE_grant_table, index as u64, gpfn)?;
            windows.push(mapper.map_frames(gpfn, 1)?);
            gpfns.push(gpfn);
        }
        let mut table = Self::from_frames(windows)?;
        table.gpfns = gpfns;
        Ok(table)
    }

    /// A table over frames already placed and mapped (one page-long window per frame, in table
    /// order). Used by tests and by callers that set the frames up themselves.
    ///
    /// The entries are read first: the frames may hold an earlier table of this domain (the
    /// platform brought up again, a restart of the bus driver), whose grants Xen still honours.
    /// An entry that still grants access (any flag set) is ended as [`GrantTable::end_access`]
    /// would; one the backend still maps (`GTF_reading`/`GTF_writing`) goes to the deferred
    /// list instead of the free list, and [`GrantTable::retry_deferred`] frees it once
    /// unmapped. Reserved entries (the toolstack's) are left alone.
    pub fn from_frames(frames: Vec<SharedMemory>) -> Result<Self, GrantError> {
        if frames.is_empty() {
            return Err(GrantError::NoFrames);
        }
        if frames.iter().any(|f| f.len() != PAGE_SIZE) {
            return Err(GrantError::BadFrame);
        }
        let capacity = frames
            .len()
            .checked_mul(ENTRIES_PER_FRAME)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or(GrantError::BadFrame)?;
        let mut refs = RefAllocator::new(capacity)?;
        // Unreadable counts as live: never hand out what cannot be checked.
        refs.adopt_live(|index| raw_flags(&frames, index) != Ok(0));
        let mut table = GrantTable {
            frames,
            gpfns: Vec::new(),
            refs,
        };
        // Granted but not mapped: ended now, free again.
        table.retry_deferred();
        Ok(table)
    }

    /// Places the frames again at the same guest frames (after resume from suspend or
    /// migration, when Xen has forgotten them). Entries are not rewritten: frontends reconnect.
    pub fn remap(&self, hv: &impl Hypervisor) -> Result<(), GrantError> {
        for (index, &gpfn) in self.gpfns.iter().enumerate() {
            hv.add_to_physmap(XENMAPSPACE_grant_table, index as u64, gpfn)?;
        }
        Ok(())
    }

    /// The mapped table frames (for the glue to unmap once the table is gone).
    pub fn frames(&self) -> &[SharedMemory] {
        &self.frames
    }

    /// The table's frames, giving the table up (the glue unmaps them). Refuses, returning the
    /// table, while any reference is in use: the backend could still map those pages.
    pub fn into_frames(self) -> Result<Vec<SharedMemory>, Self> {
        if self.refs.in_use() != 0 {
            return Err(self);
        }
        Ok(self.frames)
    }

    /// Number of references, reserved ones included.
    pub fn capacity(&self) -> u32 {
        self.refs.capacity()
    }

    /// References on the free list.
    pub fn free_count(&self) -> usize {
        self.refs.free_count()
    }

    /// References handed out (allocated, granting or deferred).
    pub fn in_use(&self) -> usize {
        self.refs.in_use()
    }

    /// References waiting on the deferred list.
    pub fn deferred_count(&self) -> usize {
        self.refs.deferred().len()
    }

    /// The state of `r`.
    pub fn state(&self, r: GrantRef) -> Result<RefState, GrantError> {
        self.refs.state(r)
    }

    /// Takes one reference off the free list, granting nothing yet.
    pub fn alloc(&mut self) -> Result<GrantRef, GrantError> {
        self.refs.alloc()
    }

    /// Fills `out` with references, all or nothing.
    pub fn alloc_batch(&mut self, out: &mut [GrantRef]) -> Result<(), GrantError> {
        self.refs.alloc_batch(out)
    }

    /// Returns a reference that grants nothing to the free list.
    pub fn free(&mut self, r: GrantRef) -> Result<(), GrantError> {
        self.refs.free(r)
    }

    /// The window and offset of entry `r`.
    fn entry(&self, r: GrantRef) -> Result<(&SharedMemory, usize), GrantError> {
        let index = r.0 as usize;
        let frame = self
            .frames
            .get(index / ENTRIES_PER_FRAME)
            .ok_or(GrantError::InvalidRef(r))?;
        Ok((frame, (index % ENTRIES_PER_FRAME) * ENTRY_SIZE))
    }

    /// The raw `flags` of entry `r` as they are now (diagnostics and tests).
    pub fn entry_flags(&self, r: GrantRef) -> Result<u16, GrantError> {
        let (frame, offset) = self.entry(r)?;
        Ok(frame.load_u16(offset + FLAGS, Ordering::Acquire)?)
    }

    /// Allocates a reference and grants `domid` access to frame `pfn` through it. A free
    /// reference whose entry is found in use (see [`GrantTable::grant_access_ref`]) is deferred
    /// and the next one tried.
    pub fn grant_access(
        &mut self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        let frame = u32::try_from(pfn.0).map_err(|_| GrantError::FrameTooLarge(pfn))?;
        let mut last = GrantError::Exhausted;
        for _ in 0..GRANT_ATTEMPTS {
            let r = self.refs.alloc()?;
            match self.write_grant(r, domid, frame, readonly) {
                Ok(()) => return Ok(r),
                // Deferred by `write_grant`: try another.
                Err(e @ GrantError::StillInUse(_)) => last = e,
                Err(e) => {
                    // Nothing was granted: the entry's flags were not written.
                    self.refs.free(r)?;
                    return Err(e);
                }
            }
        }
        Err(last)
    }

    /// Grants `domid` access to frame `pfn` through `r`, which must be allocated and granting
    /// nothing (from [`GrantTable::alloc`], [`GrantTable::alloc_batch`] or
    /// [`GrantTable::revoke`]). If the entry is found still granting or mapped (which the
    /// set-up scan and the end rules prevent), nothing is written: the reference goes to the
    /// deferred list and `StillInUse` is returned.
    pub fn grant_access_ref(
        &mut self,
        r: GrantRef,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<(), GrantError> {
        let frame = u32::try_from(pfn.0).map_err(|_| GrantError::FrameTooLarge(pfn))?;
        match self.refs.state(r)? {
            RefState::Allocated => self.write_grant(r, domid, frame, readonly),
            state => Err(RefAllocator::misuse(r, state)),
        }
    }

    /// Writes entry `r` of an allocated reference: domain and frame first, then the flags
    /// that make it valid (a compare-exchange from 0, so Xen never sees a valid entry with
    /// stale data, and an entry with flags set — `GTF_reading`/`GTF_writing` above all — is
    /// never overwritten: that reference is deferred and `StillInUse` returned).
    fn write_grant(
        &mut self,
        r: GrantRef,
        domid: DomainId,
        frame: u32,
        readonly: bool,
    ) -> Result<(), GrantError> {
        let (window, offset) = self.entry(r)?;
        if window.load_u16(offset + FLAGS, Ordering::Acquire)? != 0 {
            self.refs.defer(r)?;
            return Err(GrantError::StillInUse(r));
        }
        window.store_u16(offset + DOMID, domid.0, Ordering::Relaxed)?;
        window.store_u32(offset + FRAME, frame, Ordering::Relaxed)?;
        let flags = if readonly {
            GTF_permit_access | GTF_readonly
        } else {
            GTF_permit_access
        };
        if window
            .compare_exchange_u16(offset + FLAGS, 0, flags)?
            .is_err()
        {
            self.refs.defer(r)?;
            return Err(GrantError::StillInUse(r));
        }
        self.refs.mark_granted(r)
    }

    /// Tries to end access through entry `r`: flags go to 0 unless Xen says the backend maps it.
    /// Returns whether access ended.
    fn try_end(&self, r: GrantRef) -> Result<bool, GrantError> {
        let (window, offset) = self.entry(r)?;
        let mut flags = window.load_u16(offset + FLAGS, Ordering::Acquire)?;
        for _ in 0..END_ACCESS_ATTEMPTS {
            if flags & (GTF_reading | GTF_writing) != 0 {
                return Ok(false);
            }
            match window.compare_exchange_u16(offset + FLAGS, flags, 0)? {
                Ok(_) => return Ok(true),
                Err(now) => flags = now,
            }
        }
        Ok(false)
    }

    /// Ends access through `r` but keeps the reference allocated, for granting it again.
    /// `StillInUse` if the backend maps the page: the grant stays as it is.
    pub fn revoke(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.refs.state(r)? {
            RefState::Granted => {}
            state => return Err(RefAllocator::misuse(r, state)),
        }
        if self.try_end(r)? {
            self.refs.mark_ended(r)
        } else {
            Err(GrantError::StillInUse(r))
        }
    }

    /// Ends access through `r` and frees it. `StillInUse` if the backend maps the page: the
    /// grant stays and the reference stays taken (retry later, or use
    /// [`GrantTable::end_access_or_defer`]).
    pub fn end_access(&mut self, r: GrantRef) -> Result<(), GrantError> {
        self.revoke(r)?;
        self.refs.free(r)
    }

    /// Ends access through `r` and frees it, or, if the backend still maps the page, moves it to
    /// the deferred list, from which [`GrantTable::retry_deferred`] frees it once unmapped.
    /// A reference already deferred is tried again (freed if the backend let go, else left).
    pub fn end_access_or_defer(&mut self, r: GrantRef) -> Result<EndAccess, GrantError> {
        if self.refs.state(r)? == RefState::Deferred {
            if !self.try_end(r)? {
                return Ok(EndAccess::Deferred);
            }
            self.refs.undefer_and_free(r)?;
            return Ok(EndAccess::Freed);
        }
        match self.end_access(r) {
            Ok(()) => Ok(EndAccess::Freed),
            Err(GrantError::StillInUse(_)) => {
                self.refs.defer(r)?;
                Ok(EndAccess::Deferred)
            }
            Err(e) => Err(e),
        }
    }

    /// Retries every deferred reference: those the backend no longer maps are freed.
    pub fn retry_deferred(&mut self) -> EndSummary {
        let mut list = self.refs.take_deferred();
        let mut summary = EndSummary::default();
        list.retain(|&index| {
            let r = GrantRef(index);
            let ended = matches!(self.try_end(r), Ok(true))
                && self.refs.mark_ended(r).is_ok()
                && self.refs.free(r).is_ok();
            if ended {
                summary.freed += 1;
            } else {
                summary.deferred += 1;
            }
            !ended
        });
        self.refs.restore_deferred(list);
        summary
    }

    /// A group of grants ended together when the batch is dropped or ended.
    pub fn batch(&mut self) -> GrantBatch<'_> {
        GrantBatch::new(self)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::vec;
    use std::vec::Vec;
    use xen_hal::fake::{FakePageAllocator, HeapPages};
    use xen_hal::fake_hypervisor::{HypervisorCall, RecordingHypervisor};
    use xen_hal::{GrantTableSize, MapError, PageAllocator, XenError};

    /// A table over `frames` heap pages, with the pages (to play the backend on).
    pub(crate) fn heap_table(frames: usize) -> (GrantTable, Vec<HeapPages>) {
        let pages: Vec<HeapPages> = (0..frames).map(|_| HeapPages::new(1).unwrap()).collect();
        let table = GrantTable::from_frames(pages.iter().map(|p| p.memory()).collect()).unwrap();
        (table, pages)
    }

    /// What Xen does when the backend maps entry `r`: set the in-use bit atomically.
    pub(crate) fn backend_map(table: &GrantTable, r: GrantRef, write: bool) {
        let (window, offset) = table.entry(r).unwrap();
        let bit = if write { GTF_writing } else { GTF_reading };
        loop {
            let flags = window.load_u16(offset, Ordering::SeqCst).unwrap();
            assert_ne!(
                flags & GTF_permit_access,
                0,
                "Xen refuses to map an invalid entry"
            );
            if window
                .compare_exchange_u16(offset, flags, flags | bit)
                .unwrap()
                .is_ok()
            {
                break;
            }
        }
    }

    /// What Xen does when the backend unmaps: clear the in-use bits.
    pub(crate) fn backend_unmap(table: &GrantTable, r: GrantRef) {
        let (window, offset) = table.entry(r).unwrap();
        let flags = window.load_u16(offset, Ordering::SeqCst).unwrap();
        window
            .store_u16(
                offset,
                flags & !(GTF_reading | GTF_writing),
                Ordering::SeqCst,
            )
            .unwrap();
    }

    #[test]
    fn grant_writes_the_v1_entry() {
        let (mut table, pages) = heap_table(2);
        assert_eq!(table.capacity(), 1024);
        let r = table
            .grant_access(DomainId(0), Pfn(0x1234_5678), false)
            .unwrap();
        assert_eq!(r, GrantRef(8));
        let entry: grant_entry_v1 = pages[0].memory().read_obj(8 * 8).unwrap();
        assert_eq!(
            entry,
            grant_entry_v1 {
                flags: GTF_permit_access,
                domid: 0,
                frame: 0x1234_5678
            }
        );
        // Raw bytes, little-endian: flags 0x0001, domid 0, frame.
        let mut raw = [0u8; 8];
        pages[0].memory().read_bytes(64, &mut raw).unwrap();
        assert_eq!(raw, [1, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);

        // A read-only grant far into the second frame.
        let mut refs = vec![GrantRef(0); 600];
        table.alloc_batch(&mut refs).unwrap();
        let last = refs[599];
        assert_eq!(last, GrantRef(608));
        table
            .grant_access_ref(last, DomainId(7), Pfn(42), true)
            .unwrap();
        let entry: grant_entry_v1 = pages[1].memory().read_obj((608 - 512) * 8).unwrap();
        assert_eq!(entry.flags, GTF_permit_access | GTF_readonly);
        assert_eq!((entry.domid, entry.frame), (7, 42));
        assert_eq!(table.in_use(), 601);
    }

    #[test]
    fn end_access_refuses_while_the_backend_maps() {
        let (mut table, _pages) = heap_table(1);
        let r = table.grant_access(DomainId(0), Pfn(5), false).unwrap();
        for write in [false, true] {
            backend_map(&table, r, write);
            assert_eq!(table.end_access(r), Err(GrantError::StillInUse(r)));
            // Still granted, still taken, flags untouched.
            assert_eq!(table.state(r), Ok(RefState::Granted));
            assert_ne!(table.entry_flags(r).unwrap() & GTF_permit_access, 0);
            backend_unmap(&table, r);
        }
        table.end_access(r).unwrap();
        assert_eq!(table.entry_flags(r), Ok(0));
        assert_eq!(table.state(r), Ok(RefState::Free));
        assert_eq!(table.in_use(), 0);
        // Xen refuses to map an entry whose flags are 0, so the backend is locked out.
    }

    #[test]
    fn deferred_refs_are_not_reused_until_unmapped() {
        let (mut table, _pages) = heap_table(1);
        // Use up the table but one.
        let mut rest = vec![GrantRef(0); ENTRIES_PER_FRAME - 8 - 1];
        table.alloc_batch(&mut rest).unwrap();
        let r = table.grant_access(DomainId(0), Pfn(5), true).unwrap();
        backend_map(&table, r, false);
        assert_eq!(table.end_access_or_defer(r), Ok(EndAccess::Deferred));
        assert_eq!(table.deferred_count(), 1);
        assert_eq!(table.end_access(r), Err(GrantError::Deferred(r)));
        assert_eq!(table.alloc(), Err(GrantError::Exhausted));
        assert_eq!(
            table.retry_deferred(),
            EndSummary {
                freed: 0,
                deferred: 1
            }
        );
        backend_unmap(&table, r);
        assert_eq!(
            table.retry_deferred(),
            EndSummary {
                freed: 1,
                deferred: 0
            }
        );
        assert_eq!(table.deferred_count(), 0);
        assert_eq!(table.alloc(), Ok(r));
    }

    #[test]
    fn a_new_table_over_used_frames_defers_what_the_backend_maps() {
        let (mut old, pages) = heap_table(1);
        let mapped = old.grant_access(DomainId(0), Pfn(5), false).unwrap();
        let granted = old.grant_access(DomainId(0), Pfn(6), true).unwrap();
        let allocated = old.alloc().unwrap();
        backend_map(&old, mapped, true);
        // The platform comes up again over the same frames (the old bookkeeping is gone).
        drop(old);
        let mut table =
            GrantTable::from_frames(pages.iter().map(|p| p.memory()).collect()).unwrap();
        assert_eq!(table.state(mapped), Ok(RefState::Deferred));
        assert_eq!(table.deferred_count(), 1);
        assert_eq!(table.in_use(), 1);
        assert_eq!(
            table.entry_flags(mapped),
            Ok(GTF_permit_access | GTF_writing)
        );
        // Granted but not mapped: ended (the backend is locked out) and free again.
        assert_eq!(table.entry_flags(granted), Ok(0));
        assert_eq!(table.state(granted), Ok(RefState::Free));
        assert_eq!(table.state(allocated), Ok(RefState::Free));
        // Every free reference can be granted; none of them is the mapped one, and its entry
        // keeps what Xen set.
        let mut handed = Vec::new();
        while let Ok(r) = table.grant_access(DomainId(1), Pfn(9), false) {
            handed.push(r);
        }
        assert_eq!(handed.len(), ENTRIES_PER_FRAME - 8 - 1);
        assert!(!handed.contains(&mapped));
        assert_eq!(
            table.entry_flags(mapped),
            Ok(GTF_permit_access | GTF_writing)
        );
        // Once the backend unmaps it, the retry frees it.
        backend_unmap(&table, mapped);
        assert_eq!(
            table.retry_deferred(),
            EndSummary {
                freed: 1,
                deferred: 0
            }
        );
        assert_eq!(table.entry_flags(mapped), Ok(0));
        assert_eq!(table.grant_access(DomainId(1), Pfn(9), false), Ok(mapped));
    }

    #[test]
    fn granting_never_overwrites_an_entry_in_use() {
        let (mut table, pages) = heap_table(1);
        let r = table.alloc().unwrap();
        // An entry the backend maps although our bookkeeping says it is ours to fill (what an
        // earlier table left behind): granting through it must not wipe Xen's bits.
        let offset = r.0 as usize * 8;
        let stale = GTF_permit_access | GTF_writing;
        let memory = pages[0].memory();
        memory.store_u16(offset + 2, 3, Ordering::SeqCst).unwrap();
        memory.store_u32(offset + 4, 77, Ordering::SeqCst).unwrap();
        memory.store_u16(offset, stale, Ordering::SeqCst).unwrap();
        assert_eq!(
            table.grant_access_ref(r, DomainId(0), Pfn(5), false),
            Err(GrantError::StillInUse(r))
        );
        let entry: grant_entry_v1 = memory.read_obj(offset).unwrap();
        assert_eq!((entry.flags, entry.domid, entry.frame), (stale, 3, 77));
        assert_eq!(table.state(r), Ok(RefState::Deferred));
        // grant_access skips such a reference (deferring it) and uses the next.
        let next = GrantRef(r.0 + 1);
        memory
            .store_u16(offset + 8, stale, Ordering::SeqCst)
            .unwrap();
        let got = table.grant_access(DomainId(0), Pfn(5), false).unwrap();
        assert_eq!(got, GrantRef(r.0 + 2));
        assert_eq!(table.state(next), Ok(RefState::Deferred));
        assert_eq!(table.entry_flags(next), Ok(stale));
        assert_eq!(table.deferred_count(), 2);
    }

    #[test]
    fn ending_a_deferred_ref_again_frees_it_once_unmapped() {
        let (mut table, _pages) = heap_table(1);
        let r = table.grant_access(DomainId(0), Pfn(5), false).unwrap();
        backend_map(&table, r, false);
        assert_eq!(table.end_access_or_defer(r), Ok(EndAccess::Deferred));
        assert_eq!(table.end_access_or_defer(r), Ok(EndAccess::Deferred));
        assert_eq!(table.deferred_count(), 1);
        backend_unmap(&table, r);
        assert_eq!(table.end_access_or_defer(r), Ok(EndAccess::Freed));
        assert_eq!(table.deferred_count(), 0);
        assert_eq!(table.state(r), Ok(RefState::Free));
        assert_eq!(table.in_use(), 0);
    }

    #[test]
    fn bad_refs_are_typed_errors() {
        let (mut table, _pages) = heap_table(1);
        let past = GrantRef(512);
        assert_eq!(table.end_access(past), Err(GrantError::InvalidRef(past)));
        assert_eq!(
            table.end_access(GrantRef(u32::MAX)),
            Err(GrantError::InvalidRef(GrantRef(u32::MAX)))
        );
        assert_eq!(
            table.end_access(GrantRef(1)),
            Err(GrantError::ReservedRef(GrantRef(1)))
        );
        assert_eq!(
            table.grant_access_ref(GrantRef(0), DomainId(0), Pfn(1), false),
            Err(GrantError::ReservedRef(GrantRef(0)))
        );
        assert_eq!(
            table.end_access(GrantRef(100)),
            Err(GrantError::NotAllocated(GrantRef(100)))
        );
        let r = table.alloc().unwrap();
        assert_eq!(table.end_access(r), Err(GrantError::NotGranted(r)));
        table
            .grant_access_ref(r, DomainId(0), Pfn(1), false)
            .unwrap();
        assert_eq!(
            table.grant_access_ref(r, DomainId(0), Pfn(1), false),
            Err(GrantError::AlreadyGranted(r))
        );
        assert_eq!(table.free(r), Err(GrantError::AlreadyGranted(r)));
        table.end_access(r).unwrap();
        assert_eq!(table.end_access(r), Err(GrantError::NotAllocated(r)));
        // Frames above 32 bits cannot be granted in v1; nothing is allocated on failure.
        let before = table.in_use();
        assert_eq!(
            table.grant_access(DomainId(0), Pfn(1 << 32), false),
            Err(GrantError::FrameTooLarge(Pfn(1 << 32)))
        );
        assert_eq!(table.in_use(), before);
    }

    #[test]
    fn revoke_keeps_the_ref_for_regranting() {
        let (mut table, _pages) = heap_table(1);
        let r = table.grant_access(DomainId(0), Pfn(5), false).unwrap();
        table.revoke(r).unwrap();
        assert_eq!(table.state(r), Ok(RefState::Allocated));
        assert_eq!(table.entry_flags(r), Ok(0));
        table
            .grant_access_ref(r, DomainId(1), Pfn(6), true)
            .unwrap();
        assert_eq!(table.entry_flags(r), Ok(GTF_permit_access | GTF_readonly));
    }

    #[test]
    fn into_frames_refuses_while_refs_are_in_use() {
        let (mut table, _pages) = heap_table(1);
        let r = table.grant_access(DomainId(0), Pfn(5), false).unwrap();
        let mut table = table.into_frames().err().unwrap();
        table.end_access(r).unwrap();
        assert_eq!(table.into_frames().ok().map(|f| f.len()), Some(1));
    }

    #[test]
    fn setup_places_maps_and_uses_the_frames() {
        let hv = RecordingHypervisor::new();
        hv.set_grant_table_size(GrantTableSize {
            nr_frames: 1,
            max_nr_frames: 2,
        });
        // Stands in for the platform device's BAR: three frames, of which Xen allows two.
        let bar = FakePageAllocator::new();
        let range = bar.alloc_pages(3).unwrap();
        let gpfns: Vec<Pfn> = (0..3).map(|i| range.pfn_of(i).unwrap()).collect();
        let mut table = GrantTable::setup(&hv, &bar, &gpfns).unwrap();
        assert_eq!(table.capacity(), 1024);
        assert_eq!(
            hv.take_calls(),
            vec![
                HypervisorCall::GrantTableQuerySize,
                HypervisorCall::AddToPhysmap {
                    space: XENMAPSPACE_grant_table,
                    idx: 0,
                    gpfn: gpfns[0]
                },
                HypervisorCall::AddToPhysmap {
                    space: XENMAPSPACE_grant_table,
                    idx: 1,
                    gpfn: gpfns[1]
                },
            ]
        );
        // Entry 600 lands in the second BAR page, where Xen would read it.
        let mut refs = vec![GrantRef(0); 593];
        table.alloc_batch(&mut refs).unwrap();
        table
            .grant_access_ref(GrantRef(600), DomainId(0), Pfn(9), false)
            .unwrap();
        let entry: grant_entry_v1 = range.memory.read_obj(PAGE_SIZE + (600 - 512) * 8).unwrap();
        assert_eq!((entry.flags, entry.frame), (GTF_permit_access, 9));
        table.remap(&hv).unwrap();
        assert_eq!(hv.take_calls().len(), 2);
    }

    #[test]
    fn setup_failures_are_reported() {
        let hv = RecordingHypervisor::new();
        let bar = FakePageAllocator::new();
        assert_eq!(
            GrantTable::setup(&hv, &bar, &[]).err(),
            Some(GrantError::NoFrames)
        );
        hv.fail_next(XenError::ENOSYS);
        assert_eq!(
            GrantTable::setup(&hv, &bar, &[Pfn(1)]).err(),
            Some(GrantError::Hypervisor(XenError::ENOSYS))
        );
        // Frames the mapper does not know.
        assert_eq!(
            GrantTable::setup(&hv, &bar, &[Pfn(1)]).err(),
            Some(GrantError::Map(MapError::NoSuchFrames))
        );
        hv.set_grant_table_size(GrantTableSize {
            nr_frames: 0,
            max_nr_frames: 0,
        });
        assert_eq!(
            GrantTable::setup(&hv, &bar, &[Pfn(1)]).err(),
            Some(GrantError::NoFrames)
        );
        let short = HeapPages::new(1).unwrap();
        let half = short.memory().window(0, 2048).unwrap();
        assert_eq!(
            GrantTable::from_frames(vec![half]).err(),
            Some(GrantError::BadFrame)
        );
    }
}
