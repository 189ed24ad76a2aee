//! Which system sleep states xenpci lets Windows enter (issue 18, item 4: S4, hibernate, fast
//! startup).
//!
//! Decision: hibernation is refused while the PV platform is up, until a re-initialisation
//! after S4 exists. A system resumed from S4 runs in a new domain: shared_info and grant frames
//! are no longer placed, the callback is unset, the xenstore ring was reset, and the device
//! model plugged its emulated devices back in; without redoing the bring-up and replaying the
//! unplug before the PV children resume, xenstore is dead and a disk can have two paths (or
//! none). The same re-initialisation will serve Xen's own save/restore/migrate; when it is
//! built (one shared step in this crate), [`query_sleep`] can allow S4.
//!
//! How the refusal is carried out:
//! - xenpci fails `IRP_MN_QUERY_POWER` for `PowerSystemHibernate` with `STATUS_UNSUCCESSFUL`
//!   when [`query_sleep`] says so (a query may be failed; the set that follows a successful
//!   query never is);
//! - xenpci does not advertise `control/feature-s4` and answers a `hibernate` shutdown request
//!   by ignoring it (logged), so the toolstack cannot ask for it;
//! - the installer turns hibernation and fast startup off when it installs xenpci
//!   (`powercfg /h off`, `HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Power`
//!   `HiberbootEnabled = 0`): fast startup shuts down through a kernel hibernate, and a full
//!   shutdown is what a PV guest needs.
//!
//! S1-S3 stay allowed (the domain survives them); S0 and S5 are never queried.

use core::fmt;

/// A system sleep state Windows may query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SystemSleep {
    /// S1-S3: standby; the domain and its shared pages survive.
    Standby,
    /// S4: hibernate, including the kernel hibernate of fast startup.
    Hibernate,
}

/// Why a sleep state is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepRefusal {
    /// The PV platform is up and cannot be re-initialised after a resume from S4 yet.
    NoReinitAfterHibernate,
}

impl fmt::Display for SleepRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SleepRefusal::NoReinitAfterHibernate => f.write_str(
                "hibernate refused: the Xen platform cannot be re-initialised after a resume from S4 yet",
            ),
        }
    }
}

/// The answer to a sleep query.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SleepAnswer {
    /// Let Windows enter the state.
    Allow,
    /// Fail the query.
    Refuse(SleepRefusal),
}

/// Whether to allow `state`, given whether the PV platform is up in this boot (brought up, or
/// anything unplugged). With PV off (`NOGPLPV`, safe mode, not on Xen) the system runs on the
/// emulated devices alone and may hibernate.
pub fn query_sleep(state: SystemSleep, pv_up: bool) -> SleepAnswer {
    match state {
        SystemSleep::Standby => SleepAnswer::Allow,
        SystemSleep::Hibernate if pv_up => {
            SleepAnswer::Refuse(SleepRefusal::NoReinitAfterHibernate)
        }
        SystemSleep::Hibernate => SleepAnswer::Allow,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hibernate_is_refused_only_while_pv_is_up() {
        assert_eq!(
            query_sleep(SystemSleep::Hibernate, true),
            SleepAnswer::Refuse(SleepRefusal::NoReinitAfterHibernate)
        );
        assert_eq!(
            query_sleep(SystemSleep::Hibernate, false),
            SleepAnswer::Allow
        );
        assert_eq!(query_sleep(SystemSleep::Standby, true), SleepAnswer::Allow);
        assert!(alloc::format!("{}", SleepRefusal::NoReinitAfterHibernate).contains("S4"));
    }
}
