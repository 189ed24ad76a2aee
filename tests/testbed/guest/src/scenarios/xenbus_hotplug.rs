//! `xenbus-hotplug`: device enumeration under `device/` with `xenbus`, each device's validated
//! backend and states, and a watch on `device` whose enumeration diffs show dom0's
//! `xl block-attach` and `xl block-detach`. While the attached disk is there, the guest
//! answers its backend's state changes as a frontend would (`backend_changed`), so that the
//! detach completes without the toolstack's timeout.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use xen_hal::{Clock, DomainId};
use xen_platform::{watch_devices, DEVICE_WATCH_PATH};
use xenbus::handshake::read_own_domid;
use xenbus::state::{action_target, backend_changed};
use xenbus::{
    diff, enumerate, read_backend, read_state, switch_state, DeviceRef, FrontendState, XenbusState,
};

use super::xenstore::{peer_wait_ms, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::pv::{Pv, Xs};

/// The frontend root (the directory `xen-platform` watches).
const DEVICE_ROOT: &str = DEVICE_WATCH_PATH;

fn list(xs: &mut Xs) -> Result<Vec<DeviceRef>, String> {
    let found = enumerate(xs, DEVICE_ROOT).map_err(|e| format!("enumerate: {e:?}"))?;
    for skipped in &found.skipped {
        crate::say!(
            "skipped device entry {} ({:?})",
            skipped.entry,
            skipped.reason
        );
    }
    Ok(found.devices)
}

/// Reports a device: backend path, backend and frontend state.
fn describe(xs: &mut Xs, domid: DomainId, device: &DeviceRef) -> Result<String, String> {
    let dir = device.dir().map_err(|e| format!("{e:?}"))?;
    let backend =
        read_backend(xs, device, Some(domid)).map_err(|e| format!("backend of {device}: {e:?}"))?;
    let theirs = read_state(xs, &backend.path).map_err(|e| format!("{e:?}"))?;
    let ours = read_state(xs, &dir).map_err(|e| format!("{e:?}"))?;
    Ok(format!(
        "backend={} backend-state={} state={}",
        backend.path,
        theirs.raw(),
        ours.raw()
    ))
}

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let pv = Pv::setup(guest)?;
    let mut xs = pv.xenstore()?;
    let domid = read_own_domid(&mut xs).map_err(|e| format!("own domid: {e:?}"))?;
    let mut known = list(&mut xs)?;
    fact!("devices", "{}", known.len());
    for device in &known {
        let text = describe(&mut xs, domid, device)?;
        fact!(format!("{}-{}", device.kind, device.id), "{text}");
    }
    // The bus driver's hot-plug watch on `device`.
    watch_devices(&mut xs).map_err(|e| format!("watch {DEVICE_WATCH_PATH}: {e:?}"))?;
    put(&mut xs, "listed", "1")?;

    let deadline = pv.clock.now().after_ms(2 * peer_wait_ms());
    let mut attached: Option<(DeviceRef, String, FrontendState)> = None;
    let mut events = 0u32;
    loop {
        // Either watch: xen-platform's `device` watch (frontend directories) or `backend`
        // (the disk's backend state).
        xs.wait_watch_event(deadline)
            .map_err(|e| format!("waiting for device changes ({events} events so far): {e:?}"))?;
        events += 1;
        let now = list(&mut xs)?;
        let change = diff(&known, &now).map_err(|e| format!("diff: {e:?}"))?;
        known = now;
        for device in &change.added {
            crate::say!("device added: {device}");
            if device.kind == "vbd" && attached.is_none() {
                put(&mut xs, "saw-attach", &format!("{}", device.id))?;
                let backend = read_backend(&mut xs, device, Some(domid))
                    .map_err(|e| format!("backend of {device}: {e:?}"))?;
                // Follow the backend's state as a frontend would (see the module doc).
                xs.watch(&format!("{}/state", backend.path), "backend")
                    .map_err(|e| format!("watch backend state: {e:?}"))?;
                let dir = device.dir().map_err(|e| format!("{e:?}"))?;
                let mut ours = FrontendState::new();
                let _ = ours.transition(read_state(&mut xs, &dir).map_err(|e| format!("{e:?}"))?);
                attached = Some((device.clone(), backend.path, ours));
            }
        }
        for device in &change.removed {
            crate::say!("device removed: {device}");
            if attached.as_ref().is_some_and(|(d, _, _)| d == device) {
                put(&mut xs, "saw-detach", &format!("{}", device.id))?;
                fact!("watch-events", "{events}");
                return Ok(());
            }
        }
        // Backend state changes of the attached disk.
        if let Some((device, backend, ours)) = attached.as_mut() {
            let theirs = match read_state(&mut xs, backend) {
                Ok(state) => state,
                Err(_) => continue,
            };
            let action = backend_changed(ours.get(), theirs);
            // Only the closing half: connecting would need rings this scenario does not make.
            let target = action_target(action, ours.get(), false)
                .filter(|to| matches!(to, XenbusState::Closing | XenbusState::Closed));
            if let Some(to) = target {
                let dir = device.dir().map_err(|e| format!("{e:?}"))?;
                crate::say!(
                    "{device}: backend state {}, ours {} -> {}",
                    theirs.raw(),
                    ours.get().raw(),
                    to.raw()
                );
                // The directory may be going away under us: a failed write is not an error.
                let _ = switch_state(&mut xs, &dir, ours, to);
            }
        }
    }
}
