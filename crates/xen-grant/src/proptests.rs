//! Property test: random grant/end/backend sequences against a model of the reference states.

use std::collections::BTreeMap;
use std::vec;
use std::vec::Vec;

use proptest::prelude::*;
use xen_hal::{DomainId, GrantRef, Pfn};
use xen_public_headers::grant_table::GNTTAB_NR_RESERVED_ENTRIES;

use crate::table::tests::{backend_map, backend_unmap, heap_table};
use crate::{EndAccess, EndSummary, GrantError, RefState, ENTRIES_PER_FRAME};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Allocated,
    Granted { mapped: bool },
    Deferred { mapped: bool },
}

#[derive(Clone, Debug)]
enum Op {
    Alloc,
    AllocBatch(usize),
    GrantNew,
    Grant(usize),
    End(usize),
    EndOrDefer(usize),
    Free(usize),
    Revoke(usize),
    BackendMap(usize, bool),
    BackendUnmap(usize),
    Retry,
    Stray(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Alloc),
        (0usize..40).prop_map(Op::AllocBatch),
        Just(Op::GrantNew),
        any::<usize>().prop_map(Op::Grant),
        any::<usize>().prop_map(Op::End),
        any::<usize>().prop_map(Op::EndOrDefer),
        any::<usize>().prop_map(Op::Free),
        any::<usize>().prop_map(Op::Revoke),
        (any::<usize>(), any::<bool>()).prop_map(|(i, w)| Op::BackendMap(i, w)),
        any::<usize>().prop_map(Op::BackendUnmap),
        Just(Op::Retry),
        any::<u32>().prop_map(Op::Stray),
    ]
}

fn pick(model: &BTreeMap<u32, Model>, i: usize) -> Option<u32> {
    if model.is_empty() {
        None
    } else {
        model.keys().nth(i % model.len()).copied()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn grant_table_matches_model(prefill in 0usize..=504, ops in proptest::collection::vec(op(), 1..150)) {
        let (mut table, _pages) = heap_table(1);
        let usable = ENTRIES_PER_FRAME - GNTTAB_NR_RESERVED_ENTRIES as usize;
        let mut model: BTreeMap<u32, Model> = BTreeMap::new();
        let new_ref = |model: &mut BTreeMap<u32, Model>, r: GrantRef| -> Result<(), TestCaseError> {
            prop_assert!(r.0 >= GNTTAB_NR_RESERVED_ENTRIES, "reserved ref {} handed out", r.0);
            prop_assert!((r.0 as usize) < ENTRIES_PER_FRAME);
            prop_assert!(model.insert(r.0, Model::Allocated).is_none(), "ref {} handed out twice", r.0);
            Ok(())
        };
        for _ in 0..prefill {
            let r = table.alloc().unwrap();
            new_ref(&mut model, r)?;
        }
        for op in ops {
            match op {
                Op::Alloc => match table.alloc() {
                    Ok(r) => new_ref(&mut model, r)?,
                    Err(e) => {
                        prop_assert_eq!(e, GrantError::Exhausted);
                        prop_assert_eq!(model.len(), usable);
                    }
                },
                Op::AllocBatch(n) => {
                    let mut out = vec![GrantRef(u32::MAX); n];
                    match table.alloc_batch(&mut out) {
                        Ok(()) => {
                            for r in out {
                                new_ref(&mut model, r)?;
                            }
                        }
                        Err(e) => {
                            prop_assert_eq!(e, GrantError::Exhausted);
                            prop_assert!(model.len() + n > usable);
                            prop_assert!(out.iter().all(|r| r.0 == u32::MAX));
                        }
                    }
                }
                Op::GrantNew => match table.grant_access(DomainId(0), Pfn(7), false) {
                    Ok(r) => {
                        new_ref(&mut model, r)?;
                        model.insert(r.0, Model::Granted { mapped: false });
                    }
                    Err(e) => {
                        prop_assert_eq!(e, GrantError::Exhausted);
                        prop_assert_eq!(model.len(), usable);
                    }
                },
                Op::Grant(i) => if let Some(r) = pick(&model, i) {
                    let result = table.grant_access_ref(GrantRef(r), DomainId(1), Pfn(r.into()), true);
                    if model[&r] == Model::Allocated {
                        prop_assert_eq!(result, Ok(()));
                        model.insert(r, Model::Granted { mapped: false });
                    } else {
                        prop_assert!(result.is_err());
                    }
                },
                Op::End(i) => if let Some(r) = pick(&model, i) {
                    let result = table.end_access(GrantRef(r));
                    match model[&r] {
                        Model::Granted { mapped: false } => {
                            prop_assert_eq!(result, Ok(()));
                            model.remove(&r);
                        }
                        Model::Granted { mapped: true } => prop_assert_eq!(result, Err(GrantError::StillInUse(GrantRef(r)))),
                        Model::Allocated => prop_assert_eq!(result, Err(GrantError::NotGranted(GrantRef(r)))),
                        Model::Deferred { .. } => prop_assert_eq!(result, Err(GrantError::Deferred(GrantRef(r)))),
                    }
                },
                Op::EndOrDefer(i) => if let Some(r) = pick(&model, i) {
                    let result = table.end_access_or_defer(GrantRef(r));
                    match model[&r] {
                        Model::Granted { mapped: false } => {
                            prop_assert_eq!(result, Ok(EndAccess::Freed));
                            model.remove(&r);
                        }
                        Model::Granted { mapped: true } => {
                            prop_assert_eq!(result, Ok(EndAccess::Deferred));
                            model.insert(r, Model::Deferred { mapped: true });
                        }
                        _ => prop_assert!(result.is_err()),
                    }
                },
                Op::Free(i) => if let Some(r) = pick(&model, i) {
                    let result = table.free(GrantRef(r));
                    if model[&r] == Model::Allocated {
                        prop_assert_eq!(result, Ok(()));
                        model.remove(&r);
                    } else {
                        prop_assert!(result.is_err());
                    }
                },
                Op::Revoke(i) => if let Some(r) = pick(&model, i) {
                    let result = table.revoke(GrantRef(r));
                    match model[&r] {
                        Model::Granted { mapped: false } => {
                            prop_assert_eq!(result, Ok(()));
                            model.insert(r, Model::Allocated);
                        }
                        Model::Granted { mapped: true } => prop_assert_eq!(result, Err(GrantError::StillInUse(GrantRef(r)))),
                        _ => prop_assert!(result.is_err()),
                    }
                },
                Op::BackendMap(i, write) => if let Some(r) = pick(&model, i) {
                    // Xen maps only entries that permit access.
                    match model[&r] {
                        Model::Granted { .. } => {
                            backend_map(&table, GrantRef(r), write);
                            model.insert(r, Model::Granted { mapped: true });
                        }
                        Model::Deferred { .. } => {
                            backend_map(&table, GrantRef(r), write);
                            model.insert(r, Model::Deferred { mapped: true });
                        }
                        Model::Allocated => {}
                    }
                },
                Op::BackendUnmap(i) => if let Some(r) = pick(&model, i) {
                    match model[&r] {
                        Model::Granted { .. } => {
                            backend_unmap(&table, GrantRef(r));
                            model.insert(r, Model::Granted { mapped: false });
                        }
                        Model::Deferred { .. } => {
                            backend_unmap(&table, GrantRef(r));
                            model.insert(r, Model::Deferred { mapped: false });
                        }
                        Model::Allocated => {}
                    }
                },
                Op::Retry => {
                    let expect_freed: Vec<u32> = model
                        .iter()
                        .filter(|(_, m)| **m == Model::Deferred { mapped: false })
                        .map(|(r, _)| *r)
                        .collect();
                    let still = model.values().filter(|m| **m == Model::Deferred { mapped: true }).count();
                    prop_assert_eq!(table.retry_deferred(), EndSummary { freed: expect_freed.len(), deferred: still });
                    for r in expect_freed {
                        model.remove(&r);
                    }
                }
                Op::Stray(raw) => {
                    // A reference we do not hold: every operation is a typed error, nothing changes.
                    if !model.contains_key(&raw) {
                        let r = GrantRef(raw);
                        let before = table.in_use();
                        prop_assert!(table.end_access(r).is_err());
                        prop_assert!(table.end_access_or_defer(r).is_err());
                        prop_assert!(table.free(r).is_err());
                        prop_assert!(table.revoke(r).is_err());
                        prop_assert!(table.grant_access_ref(r, DomainId(0), Pfn(1), false).is_err());
                        prop_assert_eq!(table.in_use(), before);
                    }
                }
            }
            // Counts and states agree with the model after every step.
            prop_assert_eq!(table.in_use(), model.len());
            prop_assert_eq!(table.free_count(), usable - model.len());
            let deferred = model.values().filter(|m| matches!(m, Model::Deferred { .. })).count();
            prop_assert_eq!(table.deferred_count(), deferred);
            for (&r, m) in &model {
                let expected = match m {
                    Model::Allocated => RefState::Allocated,
                    Model::Granted { .. } => RefState::Granted,
                    Model::Deferred { .. } => RefState::Deferred,
                };
                prop_assert_eq!(table.state(GrantRef(r)), Ok(expected));
            }
        }
    }
}
