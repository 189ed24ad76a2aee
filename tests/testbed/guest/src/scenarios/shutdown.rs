//! `shutdown`: the guest side of `xl shutdown` / `xl reboot` through `xen-platform`'s shutdown
//! control (the Windows bus driver's code): features advertised, a watch on `control/shutdown`,
//! the request taken and acknowledged in a transaction (node cleared), then `SCHEDOP_shutdown`
//! with the matching reason.

use alloc::format;

use xen_hal::{Clock, Hypervisor};
use xen_platform::shutdown::{self, CONTROL_SHUTDOWN, SHUTDOWN_WATCH_TOKEN};
use xen_platform::{ShutdownRequest, Supported};

use super::xenstore::{peer_wait_ms, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::pv::Pv;

/// Waits for a shutdown request and carries it out; returns only on failure.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let expected = match guest.boot.arg("mode") {
        Some("reboot") => ShutdownRequest::Reboot,
        None | Some("poweroff") => ShutdownRequest::Poweroff,
        Some(other) => return Err(format!("unknown mode={other}")),
    };
    let pv = Pv::setup(guest)?;
    let mut xs = pv.xenstore()?;
    // What this guest carries out, as the bus driver advertises it (best effort: the toolstack
    // decides from the callback parameter whether PV control is there).
    if let Err(e) = shutdown::advertise(&mut xs, Supported::SUITE) {
        crate::say!("could not advertise the control features: {e:?}");
    }
    shutdown::watch(&mut xs).map_err(|e| format!("watch {CONTROL_SHUTDOWN}: {e:?}"))?;
    put(&mut xs, "watching", "1")?;
    let deadline = pv.clock.now().after_ms(peer_wait_ms());
    let request = loop {
        xs.wait_watch_event_for(SHUTDOWN_WATCH_TOKEN, deadline)
            .map_err(|e| format!("waiting for {CONTROL_SHUTDOWN}: {e:?}"))?;
        // The watch fires once when set, and the node may be absent or empty then.
        match shutdown::take_request(&mut xs, Supported::SUITE) {
            Ok(Some(request)) => break request,
            Ok(None) => continue,
            Err(e) => return Err(format!("{CONTROL_SHUTDOWN}: {e}")),
        }
    };
    fact!("shutdown-request", "{request}");
    // `halt` is carried out as a poweroff (its SHUTDOWN_* reason).
    if request.sched_reason() != expected.sched_reason() {
        return Err(format!("got '{request}', expected '{expected}' (mode)"));
    }
    let reason = request.sched_reason();
    crate::say!("PASS shutdown");
    match pv.hv.sched_shutdown(reason) {
        Ok(()) => Err("SCHEDOP_shutdown returned".into()),
        Err(e) => Err(format!("SCHEDOP_shutdown({reason}): {e}")),
    }
}
