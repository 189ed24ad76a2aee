//! The scenarios of the testbed protocol (`tests/testbed/guest-protocol`), chosen by
//! `scenario=<name>` on the command line.

use alloc::string::String;

use crate::bootinfo::BootInfo;
use crate::clock::TscClock;
use crate::platform::Ports;
use crate::xen::XenState;

mod evtchn;
mod grant;
mod hello;
mod shutdown;
mod unplug;
mod xen_detect;
mod xenbus_hotplug;
pub mod xenstore;

/// What a scenario gets: the boot information and the platform services.
pub struct Guest<'a> {
    /// Command line and memory map.
    pub boot: &'a BootInfo,
    /// Port I/O.
    pub io: Ports,
    /// Time.
    pub clock: TscClock,
    /// Xen, if the guest runs on it (detected and hypercall page installed at boot).
    pub xen: Option<XenState>,
}

/// A scenario's failure reason (printed after `FAIL <name>: `).
pub type Outcome = Result<(), String>;

/// Runs scenario `name`; `None` if there is no such scenario.
pub fn run(name: &str, guest: &Guest<'_>) -> Option<Outcome> {
    Some(match name {
        "hello" => hello::run(guest),
        "xen-detect" => xen_detect::run(guest),
        "unplug" => unplug::run(guest),
        "xenstore" => xenstore::run(guest),
        "evtchn" => evtchn::run(guest),
        "grant" => grant::run(guest),
        "xenbus-hotplug" => xenbus_hotplug::run(guest),
        "shutdown" => shutdown::run(guest),
        "pci-probe" => unplug::probe(guest),
        // Exercises the panic path (prints FAIL and powers off): for testing the harness.
        "panic" => panic!("requested by the command line"),
        _ => return None,
    })
}
