//! The bus's children across scans of xenstore, and the PnP actions each change needs.
//!
//! A scan lists `device/<type>/<id>` (xenbus enumeration) and reads each listed device's
//! backend state. The rules:
//! - A listed device whose backend is alive (a valid `backend` path and a backend `state`
//!   other than Closed) becomes a child: [`HotplugAction::Added`] (create the PDO, invalidate
//!   the bus relations). A listed device whose backend is not there yet is left pending and
//!   looked at again on the next scan (the toolstack writes the two directories one after the
//!   other).
//! - A child that is no longer listed is [`HotplugAction::Removed`]: reported missing from the
//!   next BusRelations answer (PnP then removes its PDO).
//! - A child that is still listed but whose backend went away (directory gone, `backend` node
//!   gone or garbage, or backend state Closed) is [`HotplugAction::SurpriseRemoved`]: also left
//!   out of BusRelations, so PnP sends IRP_MN_SURPRISE_REMOVAL. It is not added again until its
//!   listing disappears and comes back (a new device with the same id).
//!
//! Children present at the first scan are boot devices; later ones are hot-plugged (which the
//! capabilities use).

use alloc::vec::Vec;

use xen_hal::DomainId;
use xenbus::{read_backend, read_state, DeviceRef, Enumeration, Store, XenbusError, XenbusState};

use crate::child::{Child, ChildError};

/// Most children the bus keeps (more listed devices are ignored until some go away).
pub const MAX_CHILDREN: usize = 256;

/// What the backend of a listed device looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendStatus {
    /// A valid backend in a live state.
    Alive(XenbusState),
    /// The backend is Closed.
    Closed,
    /// No usable backend: the path, the directory or its state is missing or garbage.
    Gone,
}

/// Reads the backend status of `device` (never fails on peer data: garbage is `Gone`). Only a
/// failing xenstore connection is an error, and an unknown own domain id (`None`, the caller
/// could not read `domid`): the backend path's frontend domain must be checked against ours,
/// so without it nothing is accepted ([`ChildError::OwnDomainUnknown`], fail closed).
pub fn backend_status<S: Store + ?Sized>(
    store: &mut S,
    device: &DeviceRef,
    own_domid: Option<DomainId>,
) -> Result<BackendStatus, ChildError> {
    let own_domid = own_domid.ok_or(ChildError::OwnDomainUnknown)?;
    let backend = match read_backend(store, device, Some(own_domid)) {
        Ok(b) => b,
        Err(e) if is_connection_error(&e) => return Err(e.into()),
        Err(_) => return Ok(BackendStatus::Gone),
    };
    // The backend's directory itself must exist (read_state reads a missing `state` as
    // Unknown, which is what a removed directory looks like too).
    match store.directory(&backend.path) {
        Ok(_) => {}
        Err(xenstore::Error::Xs(_)) => return Ok(BackendStatus::Gone),
        Err(e) => return Err(ChildError::Xenbus(e.into())),
    }
    match read_state(store, &backend.path) {
        Ok(XenbusState::Closed) => Ok(BackendStatus::Closed),
        Ok(XenbusState::Unknown) => Ok(BackendStatus::Gone),
        Ok(state) => Ok(BackendStatus::Alive(state)),
        Err(e) if is_connection_error(&e) => Err(e.into()),
        Err(_) => Ok(BackendStatus::Gone),
    }
}

fn is_connection_error(e: &XenbusError) -> bool {
    // Errors of the store itself (as opposed to a missing node, an access denial or garbage
    // values, which describe the device) mean the scan must be retried.
    matches!(e, XenbusError::Store(err) if !matches!(err, xenstore::Error::Xs(_)))
}

/// One change the bus driver must act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HotplugAction {
    /// A new child: create its PDO and invalidate the bus relations.
    Added(Child),
    /// A child no longer listed: leave it out of BusRelations (PnP removes it).
    Removed(Child),
    /// A listed child whose backend went away: leave it out of BusRelations, so PnP
    /// surprise-removes it.
    SurpriseRemoved(Child, BackendStatus),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    child: Child,
    /// In BusRelations (false once surprise-removed while still listed).
    present: bool,
}

/// The bus's children and the result of the last scan.
#[derive(Clone, Debug, Default)]
pub struct ChildSet {
    entries: Vec<Entry>,
    scans: u64,
}

impl ChildSet {
    /// An empty set (before the first scan).
    pub fn new() -> ChildSet {
        ChildSet::default()
    }

    /// The children to report in IRP_MN_QUERY_DEVICE_RELATIONS (BusRelations), sorted by
    /// type and id.
    pub fn present(&self) -> impl Iterator<Item = &Child> {
        self.entries.iter().filter(|e| e.present).map(|e| &e.child)
    }

    /// Whether `device` is currently reported.
    pub fn is_present(&self, device: &DeviceRef) -> bool {
        self.entries
            .iter()
            .any(|e| e.present && &e.child.device == device)
    }

    /// Forgets `device` (its PDO could not be created): the next scan that lists it with a
    /// live backend adds it again. Returns whether it was known.
    pub fn forget(&mut self, device: &DeviceRef) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| &e.child.device != device);
        self.entries.len() != before
    }

    /// Scans xenstore (`root` is normally `device`) and applies the changes; returns them.
    /// Without our own domain id (`None`) the scan fails with
    /// [`ChildError::OwnDomainUnknown`] and changes nothing: no backend can be validated.
    pub fn scan<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        root: &str,
        own_domid: Option<DomainId>,
    ) -> Result<Vec<HotplugAction>, ChildError> {
        if own_domid.is_none() {
            return Err(ChildError::OwnDomainUnknown);
        }
        let listing = xenbus::enumerate(store, root)?;
        let mut statuses = Vec::new();
        statuses
            .try_reserve(listing.devices.len())
            .map_err(|_| ChildError::OutOfMemory)?;
        for device in &listing.devices {
            let status = if xen_pv_ids::ChildClass::from_xenstore_type(&device.kind).is_some() {
                backend_status(store, device, own_domid)?
            } else {
                BackendStatus::Gone
            };
            statuses.push(status);
        }
        self.apply(&listing, &statuses)
    }

    /// Applies one scan result: `statuses[i]` is the backend status of `listing.devices[i]`
    /// (a pure function of the set and the scan, for tests and for callers that read
    /// xenstore themselves).
    pub fn apply(
        &mut self,
        listing: &Enumeration,
        statuses: &[BackendStatus],
    ) -> Result<Vec<HotplugAction>, ChildError> {
        let hot_plugged = self.scans > 0;
        self.scans = self.scans.saturating_add(1);
        let mut actions = Vec::new();
        let oom = |_| ChildError::OutOfMemory;

        // Children no longer listed.
        let mut kept = Vec::new();
        kept.try_reserve(self.entries.len()).map_err(oom)?;
        for entry in self.entries.drain(..) {
            if listing.devices.contains(&entry.child.device) {
                kept.push(entry);
            } else if entry.present {
                actions.try_reserve(1).map_err(oom)?;
                actions.push(HotplugAction::Removed(entry.child));
            }
            // A surprise-removed child that is no longer listed is forgotten silently.
        }
        self.entries = kept;

        for (device, status) in listing.devices.iter().zip(statuses.iter().copied()) {
            let alive = matches!(status, BackendStatus::Alive(_));
            match self.entries.iter_mut().find(|e| &e.child.device == device) {
                Some(entry) => {
                    if entry.present && !alive {
                        entry.present = false;
                        actions.try_reserve(1).map_err(oom)?;
                        actions.push(HotplugAction::SurpriseRemoved(entry.child.clone(), status));
                    }
                }
                None => {
                    if !alive || self.entries.len() >= MAX_CHILDREN {
                        continue;
                    }
                    let Some(child) = Child::new(device, hot_plugged) else {
                        continue;
                    };
                    self.entries.try_reserve(1).map_err(oom)?;
                    actions.try_reserve(1).map_err(oom)?;
                    self.entries.push(Entry {
                        child: child.clone(),
                        present: true,
                    });
                    actions.push(HotplugAction::Added(child));
                }
            }
        }
        self.entries
            .sort_unstable_by(|a, b| a.child.device.cmp(&b.child.device));
        Ok(actions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn dev(kind: &str, id: u32) -> DeviceRef {
        DeviceRef::new(kind, id).unwrap()
    }

    fn listing(devices: &[DeviceRef]) -> Enumeration {
        Enumeration {
            devices: devices.to_vec(),
            skipped: vec![],
        }
    }

    const ALIVE: BackendStatus = BackendStatus::Alive(XenbusState::InitWait);

    #[test]
    fn boot_devices_then_hotplug_then_removal() {
        let mut set = ChildSet::new();
        let a = set
            .apply(&listing(&[dev("vbd", 768), dev("vif", 0)]), &[ALIVE, ALIVE])
            .unwrap();
        assert_eq!(a.len(), 2);
        assert!(a
            .iter()
            .all(|x| matches!(x, HotplugAction::Added(c) if !c.hot_plugged)));
        // Unchanged listing: nothing to do.
        assert!(set
            .apply(&listing(&[dev("vbd", 768), dev("vif", 0)]), &[ALIVE, ALIVE])
            .unwrap()
            .is_empty());
        let a = set
            .apply(
                &listing(&[dev("vbd", 768), dev("vbd", 51712), dev("vif", 0)]),
                &[ALIVE, ALIVE, ALIVE],
            )
            .unwrap();
        assert!(
            matches!(&a[..], [HotplugAction::Added(c)] if c.hot_plugged && c.device.id == 51712)
        );
        let a = set
            .apply(&listing(&[dev("vbd", 768), dev("vif", 0)]), &[ALIVE, ALIVE])
            .unwrap();
        assert!(matches!(&a[..], [HotplugAction::Removed(c)] if c.device.id == 51712));
        let ids: Vec<u32> = set.present().map(|c| c.device.id).collect();
        assert_eq!(ids, [768, 0]);
    }

    #[test]
    fn backend_gone_while_listed_is_a_surprise_removal_once() {
        let mut set = ChildSet::new();
        set.apply(&listing(&[dev("vbd", 768)]), &[ALIVE]).unwrap();
        let a = set
            .apply(&listing(&[dev("vbd", 768)]), &[BackendStatus::Closed])
            .unwrap();
        assert!(
            matches!(&a[..], [HotplugAction::SurpriseRemoved(c, BackendStatus::Closed)] if c.device.id == 768)
        );
        assert!(!set.is_present(&dev("vbd", 768)));
        // Still listed, backend alive again: not re-added while the old listing stays.
        assert!(set
            .apply(&listing(&[dev("vbd", 768)]), &[ALIVE])
            .unwrap()
            .is_empty());
        // The listing goes away (no second removal), then comes back: a new child.
        assert!(set.apply(&listing(&[]), &[]).unwrap().is_empty());
        let a = set.apply(&listing(&[dev("vbd", 768)]), &[ALIVE]).unwrap();
        assert!(matches!(&a[..], [HotplugAction::Added(_)]));
    }

    #[test]
    fn a_forgotten_child_is_added_again() {
        let mut set = ChildSet::new();
        set.apply(&listing(&[dev("vbd", 768)]), &[ALIVE]).unwrap();
        assert!(set.forget(&dev("vbd", 768)));
        assert!(!set.forget(&dev("vbd", 768)));
        assert_eq!(set.present().count(), 0);
        let a = set.apply(&listing(&[dev("vbd", 768)]), &[ALIVE]).unwrap();
        assert!(matches!(&a[..], [HotplugAction::Added(c)] if c.device.id == 768));
    }

    #[test]
    fn devices_without_a_live_backend_wait_and_unknown_types_are_ignored() {
        let mut set = ChildSet::new();
        let a = set
            .apply(
                &listing(&[dev("9pfs", 0), dev("vbd", 768)]),
                &[ALIVE, BackendStatus::Gone],
            )
            .unwrap();
        assert!(a.is_empty());
        let a = set
            .apply(
                &listing(&[dev("9pfs", 0), dev("vbd", 768)]),
                &[ALIVE, ALIVE],
            )
            .unwrap();
        assert!(matches!(&a[..], [HotplugAction::Added(c)] if c.device.id == 768));
    }

    /// A backend path naming another frontend domain is refused by the domid check, so a scan
    /// that does not know our domain id must not skip the check: it fails closed.
    #[test]
    fn without_our_domain_id_no_backend_is_accepted() {
        use xen_hal::fake::FakeClock;
        use xen_hal::Clock as _;
        use xenstore::fake::{ClockRef, FakeXenstored};
        use xenstore::{Access, Client, Permission};

        let mut store = FakeXenstored::new(5);
        // Our device points at a live backend that serves domain 6, not us.
        let other = "/local/domain/0/backend/vbd/6/768";
        store.set(other, b"");
        store.set_perms_direct(
            other,
            &[
                Permission {
                    domid: DomainId(0),
                    access: Access::None,
                },
                Permission {
                    domid: DomainId(5),
                    access: Access::Read,
                },
            ],
        );
        store.set(&alloc::format!("{other}/state"), b"4");
        store.set("device/vbd/768/backend", other.as_bytes());
        store.set("device/vbd/768/backend-id", b"0");
        store.set("device/vbd/768/state", b"1");
        let clock = FakeClock::new();
        let mut client =
            Client::new(&mut store, ClockRef(&clock), |_| clock.stall_us(1000)).unwrap();
        client.set_timeout_ms(50);
        let device = dev("vbd", 768);

        assert_eq!(
            backend_status(&mut client, &device, Some(DomainId(5))),
            Ok(BackendStatus::Gone)
        );
        assert_eq!(
            backend_status(&mut client, &device, None),
            Err(ChildError::OwnDomainUnknown)
        );
        let mut set = ChildSet::new();
        assert_eq!(
            set.scan(&mut client, "device", None),
            Err(ChildError::OwnDomainUnknown)
        );
        assert_eq!(set.present().count(), 0);
        assert!(set
            .scan(&mut client, "device", Some(DomainId(5)))
            .unwrap()
            .is_empty());
    }

    /// Random device trees and backend directories in a fake xenstored: a scan never panics
    /// or fails, and every child it reports has a listed device with a valid backend path
    /// whose state is live.
    #[test]
    fn scans_of_garbage_stores_never_fail() {
        use proptest::prelude::*;
        use xen_hal::fake::FakeClock;
        use xen_hal::Clock as _;
        use xenstore::fake::{ClockRef, FakeXenstored};
        use xenstore::{Access, Client, Permission};

        let node = prop_oneof![
            Just("vbd"),
            Just("vif"),
            Just("console"),
            Just("BAD"),
            Just("9pfs")
        ];
        let value = prop_oneof![
            Just(alloc::string::String::from(
                "/local/domain/0/backend/vbd/5/768"
            )),
            Just(alloc::string::String::from(
                "/local/domain/0/backend/vif/5/0"
            )),
            Just(alloc::string::String::from("garbage")),
            Just(alloc::string::String::from("")),
            "[ -~]{0,12}",
        ];
        let entry = (
            node,
            prop_oneof![Just("768"), Just("0"), Just("x"), Just("99999999999")],
            prop_oneof![Just("backend"), Just("backend-id"), Just("state")],
            value,
        );
        let states = proptest::collection::vec(
            (
                prop_oneof![Just("vbd/5/768"), Just("vif/5/0")],
                prop_oneof![Just("1"), Just("4"), Just("6"), Just("junk"), Just("")],
            ),
            0..3,
        );
        proptest!(|(entries in proptest::collection::vec(entry, 0..12), backends in states)| {
            let mut store = FakeXenstored::new(5);
            // One well-formed disk, which the random entries and states may spoil.
            store.set("device/vbd/768/backend", b"/local/domain/0/backend/vbd/5/768");
            store.set("device/vbd/768/backend-id", b"0");
            // The toolstack's permissions: backend directories readable by the guest (nodes
            // created under them later inherit that).
            for dir in ["vbd/5/768", "vif/5/0"] {
                let path = alloc::format!("/local/domain/0/backend/{dir}");
                store.set(&path, b"");
                store.set_perms_direct(&path, &[
                    Permission { domid: DomainId(0), access: Access::None },
                    Permission { domid: DomainId(5), access: Access::Read },
                ]);
            }
            store.set("/local/domain/0/backend/vbd/5/768/state", b"4");
            for (kind, id, key, v) in &entries {
                store.set(&alloc::format!("device/{kind}/{id}/{key}"), v.as_bytes());
            }
            for (dir, state) in &backends {
                store.set(&alloc::format!("/local/domain/0/backend/{dir}/state"), state.as_bytes());
            }

            let clock = FakeClock::new();
            let mut client = Client::new(&mut store, ClockRef(&clock), |_| clock.stall_us(1000)).unwrap();
            client.set_timeout_ms(50);
            let mut set = ChildSet::new();
            let actions = set.scan(&mut client, "device", Some(DomainId(5))).unwrap();
            for action in &actions {
                let HotplugAction::Added(child) = action else {
                    return Err(TestCaseError::fail("only additions on a first scan"));
                };
                let status = backend_status(&mut client, &child.device, Some(DomainId(5))).unwrap();
                prop_assert!(matches!(status, BackendStatus::Alive(_)), "{:?}", status);
            }
            let disk_intact = !entries.iter().any(|(k, id, _, _)| *k == "vbd" && *id == "768")
                && !backends.iter().any(|(d, _)| *d == "vbd/5/768");
            if disk_intact {
                prop_assert!(actions.iter().any(|a| matches!(a, HotplugAction::Added(c) if c.device.id == 768 && c.device.kind == "vbd")));
            }
            // A second scan of the same store changes nothing.
            prop_assert!(set.scan(&mut client, "device", Some(DomainId(5))).unwrap().is_empty());
        });
    }

    proptest::proptest! {
        /// Whatever sequence of listings and backend states arrives, the present set is the
        /// listed devices of handled classes whose backend has been alive since they appeared,
        /// and Added/Removed/SurpriseRemoved actions balance.
        #[test]
        fn present_set_follows_the_rules(
            rounds in proptest::collection::vec(
                proptest::collection::vec((0u32..6, 0u8..3), 0..6), 1..12)
        ) {
            let mut set = ChildSet::new();
            let mut reported = alloc::collections::BTreeSet::new();
            for round in rounds {
                let mut devices: Vec<DeviceRef> = Vec::new();
                let mut statuses = Vec::new();
                for (id, s) in round {
                    let d = dev(if id % 2 == 0 { "vbd" } else { "vif" }, id);
                    if devices.contains(&d) { continue; }
                    devices.push(d);
                    statuses.push(match s { 0 => ALIVE, 1 => BackendStatus::Closed, _ => BackendStatus::Gone });
                }
                for action in set.apply(&listing(&devices), &statuses).unwrap() {
                    match action {
                        HotplugAction::Added(c) => proptest::prop_assert!(reported.insert(c.device)),
                        HotplugAction::Removed(c) | HotplugAction::SurpriseRemoved(c, _) => {
                            proptest::prop_assert!(reported.remove(&c.device))
                        }
                    }
                }
                let present: alloc::collections::BTreeSet<_> =
                    set.present().map(|c| c.device.clone()).collect();
                proptest::prop_assert_eq!(&present, &reported);
                for (d, s) in devices.iter().zip(&statuses) {
                    if present.contains(d) { proptest::prop_assert_eq!(*s, ALIVE); }
                }
                for d in &present { proptest::prop_assert!(devices.contains(d)); }
            }
        }
    }
}
