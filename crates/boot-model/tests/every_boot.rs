//! The property: after every step of any sequence of admin and Windows actions, the machine
//! boots, its boot disk has exactly one live path and its NIC's MAC exactly one live adapter.

use boot_model::{Action, BootMode, Machine, Package, Rules};
use proptest::prelude::*;
use proptest::strategy::ValueTree;

fn package() -> impl Strategy<Value = Package> {
    prop::sample::select(Package::ALL.to_vec())
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (package(), prop::bool::weighted(0.8), prop::bool::weighted(0.2))
            .prop_map(|(package, signed, broken)| Action::Install { package, signed, broken }),
        1 => package().prop_map(Action::Remove),
        1 => package().prop_map(Action::Disable),
        1 => package().prop_map(Action::Enable),
        1 => (package(), any::<bool>(), any::<bool>())
            .prop_map(|(package, signed, broken)| Action::ReplaceImage { package, signed, broken }),
        1 => (0usize..5).prop_map(Action::ForeignArrives),
        1 => (0usize..5, any::<bool>(), 0u32..5)
            .prop_map(|(name, image, start)| Action::ForeignLeftover { name, image, start }),
        5 => prop::sample::select(vec![
            BootMode::Normal,
            BootMode::Normal,
            BootMode::Normal,
            BootMode::NoGplpv,
            BootMode::SafeMode,
        ])
        .prop_map(Action::Reboot),
        1 => Just(Action::Hibernate),
        1 => Just(Action::FastStartup),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn every_step_boots_with_one_path_per_disk_and_mac(actions in prop::collection::vec(action(), 1..40)) {
        let mut machine = Machine::new(Rules::Current);
        for (i, action) in actions.iter().enumerate() {
            let result = machine.step(action);
            prop_assert_eq!(result, Ok(()), "step {} {:?} of {:?}", i, action, actions);
        }
    }
}

/// The same property finds the old rules' failure (a counterexample exists among random runs).
#[test]
fn the_property_fails_under_the_old_rules() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(action(), 1..40);
    let found = (0..2000).any(|_| {
        let actions = strategy.new_tree(&mut runner).unwrap().current();
        let mut machine = Machine::new(Rules::Legacy);
        actions.iter().any(|a| machine.step(a).is_err())
    });
    assert!(found, "the old rules should lose a disk or a MAC somewhere");
}

/// The random runs reach the interesting states: boots with the disk on the PV path, probe
/// boots, and refused hibernates (so the property is not trivially kept by never unplugging).
#[test]
fn random_runs_reach_pv_boots() {
    use xen_platform::UnplugMask;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = prop::collection::vec(action(), 1..40);
    let (mut pv_disk_boots, mut probe_boots) = (0, 0);
    for _ in 0..500 {
        let actions = strategy.new_tree(&mut runner).unwrap().current();
        let mut machine = Machine::new(Rules::Current);
        for a in &actions {
            machine.step(a).unwrap();
            if let (Action::Reboot(_), Some(r)) = (a, machine.running.and_then(|r| r.report)) {
                if r.unplugged.contains(UnplugMask::ALL_IDE_DISKS) {
                    pv_disk_boots += 1;
                } else {
                    probe_boots += 1;
                }
            }
        }
    }
    assert!(pv_disk_boots > 50, "{pv_disk_boots}");
    assert!(probe_boots > 50, "{probe_boots}");
}
