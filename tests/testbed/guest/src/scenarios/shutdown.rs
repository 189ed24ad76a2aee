//! `shutdown`: the guest side of `xl shutdown` / `xl reboot`: a watch on `control/shutdown`,
//! the request acknowledged by clearing the node, then `SCHEDOP_shutdown` with the matching
//! reason.

use alloc::format;
use alloc::string::String;

use xen_hal::{Clock, Hypervisor};
use xen_public_headers::sched::{SHUTDOWN_poweroff, SHUTDOWN_reboot};

use super::xenstore::{peer_wait_ms, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::pv::Pv;

/// The control node the toolstack writes.
const CONTROL_SHUTDOWN: &str = "control/shutdown";

/// Waits for a shutdown request and carries it out; returns only on failure.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let expected = match guest.boot.arg("mode") {
        Some("reboot") => "reboot",
        None | Some("poweroff") => "poweroff",
        Some(other) => return Err(format!("unknown mode={other}")),
    };
    let pv = Pv::setup(guest)?;
    let mut xs = pv.xenstore()?;
    // What this guest can do, as PV drivers advertise it (best effort: the toolstack decides
    // from the callback parameter whether PV control is there).
    for feature in ["control/feature-poweroff", "control/feature-reboot"] {
        if let Err(e) = xs.write(feature, b"1") {
            crate::say!("could not write {feature}: {e:?}");
        }
    }
    xs.watch(CONTROL_SHUTDOWN, "shutdown")
        .map_err(|e| format!("watch {CONTROL_SHUTDOWN}: {e:?}"))?;
    put(&mut xs, "watching", "1")?;
    let deadline = pv.clock.now().after_ms(peer_wait_ms());
    let request: String = loop {
        xs.wait_watch_event_for("shutdown", deadline)
            .map_err(|e| format!("waiting for {CONTROL_SHUTDOWN}: {e:?}"))?;
        match xs.read_string(CONTROL_SHUTDOWN) {
            Ok(value) if !value.is_empty() => break value,
            // The watch fires once when set, and the node may be absent or empty.
            _ => continue,
        }
    };
    fact!("shutdown-request", "{request}");
    xs.write(CONTROL_SHUTDOWN, b"")
        .map_err(|e| format!("clearing {CONTROL_SHUTDOWN}: {e:?}"))?;
    let reason = match request.as_str() {
        "poweroff" | "halt" => SHUTDOWN_poweroff,
        "reboot" => SHUTDOWN_reboot,
        other => return Err(format!("unexpected request '{other}'")),
    };
    if request != expected {
        return Err(format!("got '{request}', expected '{expected}' (mode)"));
    }
    crate::say!("PASS shutdown");
    match pv.hv.sched_shutdown(reason) {
        Ok(()) => Err("SCHEDOP_shutdown returned".into()),
        Err(e) => Err(format!("SCHEDOP_shutdown({reason}): {e}")),
    }
}
