//! Grant reference bookkeeping: which references are free, handed out, granting, or deferred.
//!
//! Pure logic over plain vectors sized once at creation, so allocating and freeing never
//! allocate memory and never fail for lack of it.

use alloc::vec::Vec;

use xen_hal::GrantRef;
use xen_public_headers::grant_table::GNTTAB_NR_RESERVED_ENTRIES;

use crate::error::GrantError;

/// The state of one grant reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefState {
    /// One of the first `GNTTAB_NR_RESERVED_ENTRIES` references: never handed out.
    Reserved,
    /// On the free list.
    Free,
    /// Handed out; its entry grants nothing.
    Allocated,
    /// Handed out; its entry grants access to a domain.
    Granted,
    /// Access could not be ended because the backend still maps it; waiting on the deferred list.
    Deferred,
}

/// Free list and per-reference state of a grant table of `capacity` references.
pub struct RefAllocator {
    states: Vec<RefState>,
    /// Stack of free references; lowest on top at start.
    free: Vec<u32>,
    /// References in [`RefState::Deferred`], in the order they were deferred.
    deferred: Vec<u32>,
}

impl RefAllocator {
    /// Bookkeeping for `capacity` references, the reserved ones excluded from the free list.
    pub fn new(capacity: u32) -> Result<Self, GrantError> {
        let len = capacity as usize;
        let mut states = Vec::new();
        states.try_reserve_exact(len)?;
        let mut free = Vec::new();
        free.try_reserve_exact(len)?;
        let mut deferred = Vec::new();
        deferred.try_reserve_exact(len)?;
        for index in 0..capacity {
            states.push(if index < GNTTAB_NR_RESERVED_ENTRIES {
                RefState::Reserved
            } else {
                RefState::Free
            });
        }
        free.extend((GNTTAB_NR_RESERVED_ENTRIES..capacity).rev());
        Ok(RefAllocator {
            states,
            free,
            deferred,
        })
    }

    /// Number of references, reserved ones included.
    pub fn capacity(&self) -> u32 {
        self.states.len() as u32
    }

    /// References on the free list.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// References handed out and not yet back on the free list (deferred ones included).
    pub fn in_use(&self) -> usize {
        let reserved = self.states.len().min(GNTTAB_NR_RESERVED_ENTRIES as usize);
        // Never underflows: each free reference is a non-reserved one, listed once.
        self.states
            .len()
            .saturating_sub(reserved)
            .saturating_sub(self.free.len())
    }

    /// References waiting on the deferred list.
    pub fn deferred(&self) -> &[u32] {
        &self.deferred
    }

    /// State of `r`, or `InvalidRef` past the end.
    pub fn state(&self, r: GrantRef) -> Result<RefState, GrantError> {
        self.states
            .get(r.0 as usize)
            .copied()
            .ok_or(GrantError::InvalidRef(r))
    }

    fn set(&mut self, r: GrantRef, state: RefState) -> Result<(), GrantError> {
        let slot = self
            .states
            .get_mut(r.0 as usize)
            .ok_or(GrantError::InvalidRef(r))?;
        *slot = state;
        Ok(())
    }

    /// Takes a reference off the free list.
    pub fn alloc(&mut self) -> Result<GrantRef, GrantError> {
        let index = self.free.pop().ok_or(GrantError::Exhausted)?;
        let r = GrantRef(index);
        self.set(r, RefState::Allocated)?;
        Ok(r)
    }

    /// Fills `out` with distinct references, all or nothing.
    pub fn alloc_batch(&mut self, out: &mut [GrantRef]) -> Result<(), GrantError> {
        if out.len() > self.free.len() {
            return Err(GrantError::Exhausted);
        }
        for slot in out.iter_mut() {
            *slot = self.alloc()?;
        }
        Ok(())
    }

    /// Returns an allocated (not granting) reference to the free list.
    pub fn free(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.state(r)? {
            RefState::Allocated => {
                self.set(r, RefState::Free)?;
                // Cannot exceed the capacity reserved in `new`: each reference is on the list once.
                self.free.push(r.0);
                Ok(())
            }
            state => Err(Self::misuse(r, state)),
        }
    }

    /// The error for using `r` in `state` where an allocated or granted reference is expected.
    pub(crate) fn misuse(r: GrantRef, state: RefState) -> GrantError {
        match state {
            RefState::Reserved => GrantError::ReservedRef(r),
            RefState::Free => GrantError::NotAllocated(r),
            RefState::Allocated => GrantError::NotGranted(r),
            RefState::Granted => GrantError::AlreadyGranted(r),
            RefState::Deferred => GrantError::Deferred(r),
        }
    }

    /// Marks an allocated reference as granting.
    pub(crate) fn mark_granted(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.state(r)? {
            RefState::Allocated => self.set(r, RefState::Granted),
            state => Err(Self::misuse(r, state)),
        }
    }

    /// Marks a granting reference as allocated again (access ended).
    pub(crate) fn mark_ended(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.state(r)? {
            RefState::Granted | RefState::Deferred => self.set(r, RefState::Allocated),
            state => Err(Self::misuse(r, state)),
        }
    }

    /// Moves a granting reference (or an allocated one whose entry turned out to be in use) to
    /// the deferred list.
    pub(crate) fn defer(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.state(r)? {
            RefState::Granted | RefState::Allocated => {
                self.set(r, RefState::Deferred)?;
                self.deferred.push(r.0);
                Ok(())
            }
            state => Err(Self::misuse(r, state)),
        }
    }

    /// At set-up over frames an earlier table used: moves the free references for which
    /// `live(index)` holds (their entries still grant access) to the deferred list, so they are
    /// not handed out before their access is ended.
    pub(crate) fn adopt_live(&mut self, mut live: impl FnMut(u32) -> bool) {
        let states = &mut self.states;
        let deferred = &mut self.deferred;
        self.free.retain(|&index| {
            if !live(index) {
                return true;
            }
            if let Some(state) = states.get_mut(index as usize) {
                *state = RefState::Deferred;
            }
            // Within the capacity reserved in `new`: each reference is listed once.
            deferred.push(index);
            false
        });
    }

    /// Removes `r` from the deferred list (its access ended) and frees it.
    pub(crate) fn undefer_and_free(&mut self, r: GrantRef) -> Result<(), GrantError> {
        match self.state(r)? {
            RefState::Deferred => {
                self.deferred.retain(|&index| index != r.0);
                self.set(r, RefState::Allocated)?;
                self.free(r)
            }
            state => Err(Self::misuse(r, state)),
        }
    }

    /// Takes the deferred list (to retry), leaving the states as they are; see `restore_deferred`.
    pub(crate) fn take_deferred(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.deferred)
    }

    /// Puts back a deferred list taken by `take_deferred` (keeping its allocation).
    pub(crate) fn restore_deferred(&mut self, list: Vec<u32>) {
        self.deferred = list;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::vec;

    #[test]
    fn reserved_refs_are_never_handed_out() {
        let mut a = RefAllocator::new(12).unwrap();
        assert_eq!(a.free_count(), 4);
        let got: Vec<u32> = (0..4).map(|_| a.alloc().unwrap().0).collect();
        assert_eq!(got, [8, 9, 10, 11]);
        assert_eq!(a.alloc(), Err(GrantError::Exhausted));
        assert_eq!(a.in_use(), 4);
        assert_eq!(
            a.free(GrantRef(3)),
            Err(GrantError::ReservedRef(GrantRef(3)))
        );
        assert_eq!(
            a.free(GrantRef(12)),
            Err(GrantError::InvalidRef(GrantRef(12)))
        );
    }

    #[test]
    fn tiny_tables_have_nothing_to_hand_out() {
        let mut a = RefAllocator::new(5).unwrap();
        assert_eq!(a.in_use(), 0);
        assert_eq!(a.alloc(), Err(GrantError::Exhausted));
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let mut a = RefAllocator::new(16).unwrap();
        let mut five = [GrantRef(0); 5];
        a.alloc_batch(&mut five).unwrap();
        let mut four = [GrantRef(0); 4];
        assert_eq!(a.alloc_batch(&mut four), Err(GrantError::Exhausted));
        assert_eq!(four, [GrantRef(0); 4]);
        assert_eq!(a.free_count(), 3);
        a.free(five[2]).unwrap();
        assert_eq!(a.free(five[2]), Err(GrantError::NotAllocated(five[2])));
        a.alloc_batch(&mut four).unwrap();
        let all: BTreeSet<u32> = five.iter().chain(four.iter()).map(|r| r.0).collect();
        assert_eq!(all.len(), 8, "{five:?} {four:?}");
        assert_eq!(a.free_count(), 0);
    }

    #[test]
    fn deferred_refs_are_not_free() {
        let mut a = RefAllocator::new(9).unwrap();
        let r = a.alloc().unwrap();
        a.mark_granted(r).unwrap();
        a.defer(r).unwrap();
        assert_eq!(a.deferred(), [8]);
        assert_eq!(a.alloc(), Err(GrantError::Exhausted));
        assert_eq!(a.free(r), Err(GrantError::Deferred(r)));
        assert_eq!(a.in_use(), 1);
        let list = a.take_deferred();
        assert_eq!(list, vec![8]);
        a.mark_ended(r).unwrap();
        a.restore_deferred(Vec::new());
        a.free(r).unwrap();
        assert_eq!(a.alloc(), Ok(r));
    }
}
