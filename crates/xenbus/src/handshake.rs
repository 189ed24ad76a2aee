//! Frontend handshake steps over xenstore: find and validate the backend, read states, wait
//! (watch-driven, bounded) for the backend to reach a state.

use alloc::string::String;

use xen_hal::{Clock, DomainId};
use xenstore::{Client, Error, Transport, Wait, XsErrno};

use crate::error::XenbusError;
use crate::keys::{self, common};
use crate::path::{BackendPath, DeviceRef};
use crate::state::XenbusState;
use crate::store::{read_optional, read_u32, Store};

/// The validated backend of a frontend device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The backend directory (absolute).
    pub path: String,
    /// Its parsed components.
    pub parsed: BackendPath,
    /// The backend's domain (`backend-id`, equal to the one in the path).
    pub id: DomainId,
}

/// Reads `<device>/backend` and `<device>/backend-id` and validates them: the path must be
/// `/local/domain/<id>/backend/<type>/<frontend-domid>/<devid>` with `<id>` equal to
/// `backend-id`, `<devid>` equal to ours, a backend type that serves our device type, and
/// (if `frontend_domid` is given) our domain id.
pub fn read_backend<S: Store + ?Sized>(
    store: &mut S,
    device: &DeviceRef,
    frontend_domid: Option<DomainId>,
) -> Result<Backend, XenbusError> {
    let dir = device.dir()?;
    let path = store.read(&keys::join(&dir, common::BACKEND)?)?;
    let path = String::from_utf8(path)
        .map_err(|_| XenbusError::BadBackendPath(crate::error::PathError::Shape))?;
    let parsed = BackendPath::parse(&path)?;
    let id = read_u32(store, &dir, common::BACKEND_ID)?
        .ok_or(XenbusError::Store(Error::Xs(XsErrno::ENOENT)))?;
    let id = u16::try_from(id).map_err(|_| XenbusError::BadValue(common::BACKEND_ID))?;
    parsed.check(device, DomainId(id), frontend_domid)?;
    Ok(Backend {
        path,
        parsed,
        id: DomainId(id),
    })
}

/// Reads `<dir>/state`; a missing node is `Unknown` (as Linux reads it), garbage is a typed
/// error.
pub fn read_state<S: Store + ?Sized>(store: &mut S, dir: &str) -> Result<XenbusState, XenbusError> {
    match read_optional(store, dir, common::STATE)? {
        None => Ok(XenbusState::Unknown),
        Some(v) => Ok(XenbusState::parse(&v)?),
    }
}

/// The watch token [`wait_for_state`] uses for `dir` (unique per directory).
pub fn state_watch_token(dir: &str) -> Result<String, XenbusError> {
    let mut t = String::new();
    t.try_reserve_exact(dir.len() + 13)
        .map_err(|_| XenbusError::Store(Error::Alloc))?;
    t.push_str("xenbus-state:");
    t.push_str(dir);
    Ok(t)
}

/// Waits until the state in `dir` satisfies `done`, for at most `timeout_ms`: a watch on
/// `<dir>/state` wakes the wait, and the state is re-read after each event. Returns the state
/// reached; `Err(Store(Timeout))` if the deadline passes; a garbage state is returned as
/// `Err(BadState)` at once. The watch is removed before returning, on every path: if the
/// watch or the unwatch fails (or times out) the client forgets it without waiting
/// ([`Client::forget_watch`]), so no orphaned watch keeps filling the event queue and the next
/// wait on `dir` can watch again.
pub fn wait_for_state<T: Transport, C: Clock, W: Wait>(
    client: &mut Client<T, C, W>,
    dir: &str,
    timeout_ms: u64,
    mut done: impl FnMut(XenbusState) -> bool,
) -> Result<XenbusState, XenbusError> {
    let deadline = client.deadline_after_ms(timeout_ms);
    let path = keys::join(dir, common::STATE)?;
    let token = state_watch_token(dir)?;
    if let Err(e) = client.watch(&path, &token) {
        // A watch that failed may still be registered (a reset connection re-registers it).
        // Best effort: the error returned is the watch's.
        let _ = client.forget_watch(&token);
        return Err(e.into());
    }
    let result = (|| loop {
        let state = read_state(client, dir)?;
        if done(state) {
            return Ok(state);
        }
        // Each round waits for an event or the deadline; the clock bounds the loop.
        client.wait_watch_event_for(&token, deadline)?;
    })();
    if client.unwatch(&path, &token).is_err() {
        // Best effort: the result is what the caller asked about; the watch's events are
        // dropped from now on either way.
        let _ = client.forget_watch(&token);
    }
    result
}

/// Reads our domain id from the `domid` node of our home directory (relative path).
pub fn read_own_domid<S: Store + ?Sized>(store: &mut S) -> Result<DomainId, XenbusError> {
    let value = store.read("domid")?;
    let id = crate::store::parse_unsigned(&value).ok_or(XenbusError::BadValue("domid"))?;
    u16::try_from(id)
        .map(DomainId)
        .map_err(|_| XenbusError::BadValue("domid"))
}
