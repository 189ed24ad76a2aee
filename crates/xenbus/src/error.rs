//! Typed xenbus errors.

use crate::state::{InvalidTransition, StateError};

/// Why a backend path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// Not of the form `/local/domain/<id>/backend/<type>/<frontend-domid>/<devid>`.
    Shape,
    /// A number in the path is not a canonical decimal in range.
    Number,
    /// The device type component is empty or has characters outside `[a-z0-9_-]`.
    DeviceType,
}

/// A backend whose published details contradict each other or us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// `backend-id` differs from the domain in the backend path.
    BackendId {
        /// From `backend-id`.
        published: u16,
        /// From the path.
        in_path: u16,
    },
    /// The path names another frontend domain.
    FrontendDomain {
        /// Ours.
        expected: u16,
        /// From the path.
        in_path: u16,
    },
    /// The path names another device id.
    DeviceId {
        /// Ours.
        expected: u32,
        /// From the path.
        in_path: u32,
    },
    /// The backend type does not serve our device type.
    DeviceType,
}

/// Any failure of a xenbus helper.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenbusError {
    /// The xenstore operation failed (including timeouts and connection errors).
    Store(xenstore::Error),
    /// A `state` node holds no valid state.
    BadState(StateError),
    /// A backend path is malformed.
    BadBackendPath(PathError),
    /// Published backend details are inconsistent.
    Mismatch(Mismatch),
    /// A node that must hold a number does not (the key is named).
    BadValue(&'static str),
    /// A state change the frontend state machine forbids.
    InvalidTransition(InvalidTransition),
    /// More ring pages or queues than the protocol allows.
    TooMany,
    /// The device is not of the form `device/<type>/<id>`.
    BadDevice,
}

impl From<xenstore::Error> for XenbusError {
    fn from(e: xenstore::Error) -> Self {
        XenbusError::Store(e)
    }
}

impl From<StateError> for XenbusError {
    fn from(e: StateError) -> Self {
        XenbusError::BadState(e)
    }
}

impl From<InvalidTransition> for XenbusError {
    fn from(e: InvalidTransition) -> Self {
        XenbusError::InvalidTransition(e)
    }
}

impl From<PathError> for XenbusError {
    fn from(e: PathError) -> Self {
        XenbusError::BadBackendPath(e)
    }
}

impl From<Mismatch> for XenbusError {
    fn from(e: Mismatch) -> Self {
        XenbusError::Mismatch(e)
    }
}

impl core::fmt::Display for XenbusError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{self:?}")
    }
}
