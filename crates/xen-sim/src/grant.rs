//! Grant tables (v1) and grant mapping by backends, with Xen's checks.
//!
//! The guest's table lives in frames it placed with `XENMEM_add_to_physmap`; a map reads the
//! entry there, checks `GTF_permit_access`, the mapping domain and `GTF_readonly`, and sets
//! `GTF_reading` / `GTF_writing` with a compare-exchange loop on the flags+domid word (as
//! Xen's `_set_status_v1` does) for as long as the grant is mapped.

use std::collections::BTreeMap;

use xen_hal::fake::HeapPages;
use xen_hal::{DomainId, GrantRef, Pfn, SharedMemory, XenError, PAGE_SIZE};

use crate::abi;
use crate::hv::{Hv, XenPage};

/// Grant entries per frame (v1 entries are 8 bytes).
pub const ENTRIES_PER_FRAME: u32 = (PAGE_SIZE / abi::GRANT_ENTRY_V1_SIZE) as u32;

/// Attempts of the compare-exchange loop before Xen gives up ("unstable entry").
const CMPXCHG_RETRIES: u32 = 4;

/// A `GNTST_*` status of a failed grant operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrantStatus(pub i16);

impl GrantStatus {
    /// `GNTST_general_error`: bad flags, wrong domain, read-only, unstable entry.
    pub const GENERAL_ERROR: GrantStatus = GrantStatus(abi::GNTST_general_error);
    /// `GNTST_bad_domain`: no such granting domain.
    pub const BAD_DOMAIN: GrantStatus = GrantStatus(abi::GNTST_bad_domain);
    /// `GNTST_bad_gntref`: reference outside the table.
    pub const BAD_GNTREF: GrantStatus = GrantStatus(abi::GNTST_bad_gntref);
    /// `GNTST_bad_handle`: no such mapping.
    pub const BAD_HANDLE: GrantStatus = GrantStatus(abi::GNTST_bad_handle);
    /// `GNTST_bad_page`: the granted frame is not the granter's memory.
    pub const BAD_PAGE: GrantStatus = GrantStatus(abi::GNTST_bad_page);
}

/// A domain's grant table frames.
pub(crate) struct GrantState {
    frames: Vec<XenPage>,
    max_frames: u32,
}

fn zero_page() -> XenPage {
    match HeapPages::new(1) {
        Ok(pages) => XenPage::Internal(pages),
        Err(_) => panic!("xen-sim: host out of memory"),
    }
}

impl GrantState {
    pub(crate) fn new(max_frames: u32) -> GrantState {
        GrantState {
            // Xen starts every table with one frame.
            frames: vec![zero_page()],
            max_frames: max_frames.max(1),
        }
    }

    pub(crate) fn nr_frames(&self) -> u32 {
        self.frames.len() as u32
    }

    pub(crate) fn max_frames(&self) -> u32 {
        self.max_frames
    }

    /// Writes entry `gref` of frame 0 while the table is still Xen's (the toolstack's seeding).
    pub(crate) fn seed(&self, gref: u32, domid: u16, frame: u32) {
        if let Some(XenPage::Internal(pages)) = self.frames.first() {
            let entry = gref as usize * abi::GRANT_ENTRY_V1_SIZE;
            let mem = pages.memory();
            let _ = mem.store_u32(
                entry + abi::GRANT_ENTRY_FRAME,
                frame,
                std::sync::atomic::Ordering::SeqCst,
            );
            let word = u32::from(abi::GTF_permit_access) | (u32::from(domid) << 16);
            let _ = mem.store_u32(entry, word, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Grows the table so that frame `idx` exists (as `gnttab_grow_table`) and returns it.
    pub(crate) fn grow_to(&mut self, idx: u32) -> Result<&mut XenPage, XenError> {
        if idx >= self.max_frames {
            return Err(XenError::EINVAL);
        }
        while self.frames.len() <= idx as usize {
            self.frames.push(zero_page());
        }
        self.frames.get_mut(idx as usize).ok_or(XenError::EINVAL)
    }

    fn frame(&self, idx: u32) -> Option<&XenPage> {
        self.frames.get(idx as usize)
    }
}

/// A live mapping of a grant by a backend domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapHandle(pub u64);

#[derive(Clone, Copy, Debug)]
struct Mapping {
    mapper: DomainId,
    granter: DomainId,
    gref: GrantRef,
    readonly: bool,
}

#[derive(Clone, Copy, Debug)]
struct Active {
    mapper: DomainId,
    readers: u32,
    writers: u32,
    frame: Pfn,
}

/// All live grant mappings.
#[derive(Default)]
pub(crate) struct Mappings {
    next: u64,
    live: BTreeMap<MapHandle, Mapping>,
    active: BTreeMap<(u16, u32), Active>,
}

impl Hv {
    fn entry_window(&self, granter: DomainId, gref: GrantRef) -> Result<SharedMemory, GrantStatus> {
        let domain = self.domain(granter).map_err(|_| GrantStatus::BAD_DOMAIN)?;
        let frame = domain
            .grant
            .frame(gref.0 / ENTRIES_PER_FRAME)
            .ok_or(GrantStatus::BAD_GNTREF)?;
        let page = domain.page(frame).ok_or(GrantStatus::GENERAL_ERROR)?;
        page.window(
            (gref.0 % ENTRIES_PER_FRAME) as usize * abi::GRANT_ENTRY_V1_SIZE,
            abi::GRANT_ENTRY_V1_SIZE,
        )
        .map_err(|_| GrantStatus::GENERAL_ERROR)
    }

    /// `_set_status_v1`: checks the entry and sets `GTF_reading` (and `GTF_writing`).
    fn pin_entry(
        entry: &SharedMemory,
        mapper: DomainId,
        readonly: bool,
        check: bool,
    ) -> Result<(), GrantStatus> {
        let mut mask = abi::GTF_type_mask | abi::GTF_sub_page;
        if !readonly {
            mask |= abi::GTF_readonly;
        }
        let mut word = entry
            .load_u32(0, std::sync::atomic::Ordering::SeqCst)
            .map_err(|_| GrantStatus::GENERAL_ERROR)?;
        let mut retries = 0;
        loop {
            let flags = word as u16;
            let domid = (word >> 16) as u16;
            if check && (flags & mask != abi::GTF_permit_access || domid != mapper.0) {
                return Err(GrantStatus::GENERAL_ERROR);
            }
            let mut new_flags = flags | abi::GTF_reading;
            if !readonly {
                new_flags |= abi::GTF_writing;
                if flags & abi::GTF_readonly != 0 {
                    return Err(GrantStatus::GENERAL_ERROR);
                }
            }
            let new_word = (word & 0xFFFF_0000) | u32::from(new_flags);
            match entry.compare_exchange_u32(0, word, new_word) {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(seen)) => {
                    retries += 1;
                    if retries == CMPXCHG_RETRIES {
                        return Err(GrantStatus::GENERAL_ERROR);
                    }
                    word = seen;
                }
                Err(_) => return Err(GrantStatus::GENERAL_ERROR),
            }
        }
    }

    /// Atomically clears `bits` in the entry's flags (`gnttab_clear_flags`).
    fn clear_flags(entry: &SharedMemory, bits: u16) {
        for _ in 0..64 {
            let Ok(current) = entry.load_u16(0, std::sync::atomic::Ordering::SeqCst) else {
                return;
            };
            match entry.compare_exchange_u16(0, current, current & !bits) {
                Ok(Ok(_)) | Err(_) => return,
                Ok(Err(_)) => continue,
            }
        }
    }

    /// `GNTTABOP_map_grant_ref` by `mapper` of `granter`'s `gref`.
    pub fn grant_map(
        &mut self,
        mapper: DomainId,
        granter: DomainId,
        gref: GrantRef,
        readonly: bool,
    ) -> Result<MapHandle, GrantStatus> {
        let entry = self.entry_window(granter, gref)?;
        let key = (granter.0, gref.0);
        let active = self.mappings.active.get(&key).copied();
        let mut active = match active {
            Some(active) => {
                if active.mapper != mapper {
                    return Err(GrantStatus::GENERAL_ERROR);
                }
                if !readonly && active.writers == 0 {
                    Self::pin_entry(&entry, mapper, false, false)?;
                }
                active
            }
            None => {
                Self::pin_entry(&entry, mapper, readonly, true)?;
                let frame =
                    entry.load_u32(abi::GRANT_ENTRY_FRAME, std::sync::atomic::Ordering::SeqCst);
                let frame = Pfn(u64::from(frame.unwrap_or(0)));
                let exists = self
                    .domain(granter)
                    .ok()
                    .and_then(|d| d.memory.as_ref())
                    .and_then(|m| m.frame(frame))
                    .is_some();
                if !exists {
                    let bits = if readonly {
                        abi::GTF_reading
                    } else {
                        abi::GTF_reading | abi::GTF_writing
                    };
                    Self::clear_flags(&entry, bits);
                    return Err(GrantStatus::BAD_PAGE);
                }
                Active {
                    mapper,
                    readers: 0,
                    writers: 0,
                    frame,
                }
            }
        };
        if readonly {
            active.readers += 1;
        } else {
            active.writers += 1;
        }
        self.mappings.active.insert(key, active);
        self.mappings.next += 1;
        let handle = MapHandle(self.mappings.next);
        self.mappings.live.insert(
            handle,
            Mapping {
                mapper,
                granter,
                gref,
                readonly,
            },
        );
        Ok(handle)
    }

    /// The granted frame of a live mapping, as a window. Fails (and records a violation) if
    /// the granter freed the frame while it was mapped.
    pub fn grant_memory(&mut self, handle: MapHandle) -> Result<SharedMemory, GrantStatus> {
        let mapping = *self
            .mappings
            .live
            .get(&handle)
            .ok_or(GrantStatus::BAD_HANDLE)?;
        let active = self
            .mappings
            .active
            .get(&(mapping.granter.0, mapping.gref.0))
            .copied()
            .ok_or(GrantStatus::BAD_HANDLE)?;
        let memory = self
            .domain(mapping.granter)
            .ok()
            .and_then(|d| d.memory.as_ref())
            .and_then(|m| m.frame(active.frame));
        match memory {
            Some(memory) => Ok(memory),
            None => {
                self.violations.push(crate::hv::Violation(format!(
                    "d{} freed frame {:#x} (grant {}) while d{} had it mapped",
                    mapping.granter.0, active.frame.0, mapping.gref.0, mapping.mapper.0
                )));
                Err(GrantStatus::BAD_PAGE)
            }
        }
    }

    /// The granted frame of a live mapping (the granter's frame number).
    pub fn grant_frame(&self, handle: MapHandle) -> Option<Pfn> {
        let mapping = self.mappings.live.get(&handle)?;
        self.mappings
            .active
            .get(&(mapping.granter.0, mapping.gref.0))
            .map(|a| a.frame)
    }

    /// Whether a live mapping is read-only.
    pub fn grant_is_readonly(&self, handle: MapHandle) -> Option<bool> {
        self.mappings.live.get(&handle).map(|m| m.readonly)
    }

    /// `GNTTABOP_unmap_grant_ref`: drops the mapping, clearing the entry's bits when the last
    /// writer / last user goes.
    pub fn grant_unmap(&mut self, mapper: DomainId, handle: MapHandle) -> Result<(), GrantStatus> {
        let mapping = *self
            .mappings
            .live
            .get(&handle)
            .ok_or(GrantStatus::BAD_HANDLE)?;
        if mapping.mapper != mapper {
            return Err(GrantStatus::BAD_HANDLE);
        }
        self.mappings.live.remove(&handle);
        let key = (mapping.granter.0, mapping.gref.0);
        let Some(mut active) = self.mappings.active.get(&key).copied() else {
            return Ok(());
        };
        if mapping.readonly {
            active.readers = active.readers.saturating_sub(1);
        } else {
            active.writers = active.writers.saturating_sub(1);
        }
        let mut clear = 0;
        if active.writers == 0 {
            clear |= abi::GTF_writing;
        }
        if active.writers == 0 && active.readers == 0 {
            clear |= abi::GTF_reading;
            self.mappings.active.remove(&key);
        } else {
            self.mappings.active.insert(key, active);
        }
        if let Ok(entry) = self.entry_window(mapping.granter, mapping.gref) {
            Self::clear_flags(&entry, clear);
        }
        Ok(())
    }

    /// Number of live grant mappings held by `mapper` (leak checks).
    pub fn live_mappings(&self, mapper: DomainId) -> usize {
        self.mappings
            .live
            .values()
            .filter(|m| m.mapper == mapper)
            .count()
    }

    /// Number of live grant mappings of `granter`'s grants (by anyone).
    pub fn mapped_grants_of(&self, granter: DomainId) -> usize {
        self.mappings
            .active
            .keys()
            .filter(|(g, _)| *g == granter.0)
            .count()
    }

    /// Reads grant entry `gref` of `granter` as (flags, domid, frame), for test inspection.
    pub fn grant_entry(&self, granter: DomainId, gref: GrantRef) -> Option<(u16, u16, u32)> {
        let entry = self.entry_window(granter, gref).ok()?;
        let word = entry
            .load_u32(0, std::sync::atomic::Ordering::SeqCst)
            .ok()?;
        let frame = entry
            .load_u32(4, std::sync::atomic::Ordering::SeqCst)
            .ok()?;
        Some((word as u16, (word >> 16) as u16, frame))
    }

    /// Grant references of `granter` whose entry still permits access, the toolstack's
    /// reserved entries (below `GNTTAB_NR_RESERVED_ENTRIES`) excluded: leak checks of a
    /// frontend that should have ended all its grants.
    pub fn granted_refs(&self, granter: DomainId) -> Vec<GrantRef> {
        let Ok(domain) = self.domain(granter) else {
            return Vec::new();
        };
        let total = domain.grant.nr_frames() * ENTRIES_PER_FRAME;
        (abi::GNTTAB_NR_RESERVED_ENTRIES..total)
            .map(GrantRef)
            .filter(|gref| {
                self.grant_entry(granter, *gref)
                    .is_some_and(|(flags, _, _)| flags & abi::GTF_type_mask != 0)
            })
            .collect()
    }
}
