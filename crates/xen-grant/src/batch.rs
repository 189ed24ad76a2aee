//! A scoped group of grants that ends them all when it goes away.

use alloc::vec::Vec;

use xen_hal::{DomainId, GrantRef, Pfn};

use crate::error::GrantError;
use crate::table::{EndAccess, EndSummary, GrantTable};

/// Grants made through one borrow of the table, ended together by [`GrantBatch::end`] or on drop.
///
/// Ending never reuses a reference the backend still maps: such references go to the table's
/// deferred list. For grants that outlive a borrow (requests in flight on a ring), keep the
/// references and end them with [`GrantTable::end_access_or_defer`], or hand them over with
/// [`GrantBatch::into_refs`].
pub struct GrantBatch<'t> {
    table: &'t mut GrantTable,
    refs: Vec<GrantRef>,
}

impl<'t> GrantBatch<'t> {
    pub(crate) fn new(table: &'t mut GrantTable) -> Self {
        GrantBatch {
            table,
            refs: Vec::new(),
        }
    }

    /// Grants `domid` access to `pfn` as part of the batch.
    pub fn grant(
        &mut self,
        domid: DomainId,
        pfn: Pfn,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        // Reserve first, so a granted reference is never left out of the batch.
        self.refs.try_reserve(1)?;
        let r = self.table.grant_access(domid, pfn, readonly)?;
        self.refs.push(r);
        Ok(r)
    }

    /// The references granted so far, in order.
    pub fn refs(&self) -> &[GrantRef] {
        &self.refs
    }

    /// The table, for reads while the batch is open.
    pub fn table(&self) -> &GrantTable {
        self.table
    }

    /// Ends every grant of the batch now: freed, or deferred while the backend maps it.
    pub fn end(mut self) -> EndSummary {
        self.end_all()
    }

    /// Gives the references up without ending them: the caller now owns them and must end them
    /// with the table.
    pub fn into_refs(mut self) -> Vec<GrantRef> {
        core::mem::take(&mut self.refs)
    }

    fn end_all(&mut self) -> EndSummary {
        let mut summary = EndSummary::default();
        for r in self.refs.drain(..) {
            match self.table.end_access_or_defer(r) {
                Ok(EndAccess::Freed) => summary.freed += 1,
                // An error here means the reference is not in a state to be freed (a bookkeeping
                // bug): leaving it taken is the safe way, it is never reused.
                Ok(EndAccess::Deferred) | Err(_) => summary.deferred += 1,
            }
        }
        summary
    }
}

impl Drop for GrantBatch<'_> {
    fn drop(&mut self) {
        self.end_all();
    }
}

#[cfg(test)]
mod tests {
    use crate::table::tests::{backend_map, backend_unmap, heap_table};
    use crate::{EndSummary, GrantError, RefState};
    use xen_hal::{DomainId, Pfn};

    #[test]
    fn dropping_a_batch_ends_its_grants() {
        let (mut table, _pages) = heap_table(1);
        let refs = {
            let mut batch = table.batch();
            let a = batch.grant(DomainId(0), Pfn(1), false).unwrap();
            let b = batch.grant(DomainId(0), Pfn(2), true).unwrap();
            assert_eq!(batch.table().in_use(), 2);
            [a, b]
        };
        assert_eq!(table.in_use(), 0);
        for r in refs {
            assert_eq!(table.state(r), Ok(RefState::Free));
            assert_eq!(table.entry_flags(r), Ok(0));
        }
    }

    #[test]
    fn ending_a_batch_defers_what_the_backend_maps() {
        let (mut table, _pages) = heap_table(1);
        let mut batch = table.batch();
        let a = batch.grant(DomainId(0), Pfn(1), false).unwrap();
        let b = batch.grant(DomainId(0), Pfn(2), false).unwrap();
        backend_map(batch.table(), b, true);
        assert_eq!(
            batch.end(),
            EndSummary {
                freed: 1,
                deferred: 1
            }
        );
        assert_eq!(table.state(a), Ok(RefState::Free));
        assert_eq!(table.state(b), Ok(RefState::Deferred));
        backend_unmap(&table, b);
        assert_eq!(table.retry_deferred().freed, 1);
        assert_eq!(table.in_use(), 0);
    }

    #[test]
    fn refs_handed_over_stay_granted() {
        let (mut table, _pages) = heap_table(1);
        let mut batch = table.batch();
        let a = batch.grant(DomainId(0), Pfn(1), false).unwrap();
        let refs = batch.into_refs();
        assert_eq!(refs, [a]);
        assert_eq!(table.state(a), Ok(RefState::Granted));
        table.end_access(a).unwrap();
    }

    #[test]
    fn a_failed_grant_leaves_the_batch_consistent() {
        let (mut table, _pages) = heap_table(1);
        let mut batch = table.batch();
        assert_eq!(
            batch.grant(DomainId(0), Pfn(u64::MAX), false),
            Err(GrantError::FrameTooLarge(Pfn(u64::MAX)))
        );
        assert!(batch.refs().is_empty());
        drop(batch);
        assert_eq!(table.in_use(), 0);
    }
}
