//! Xenbus connection states (`enum xenbus_state`) and the frontend's state machine.

use core::fmt;

use xen_public_headers::io::xenbus::{
    XenbusStateClosed, XenbusStateClosing, XenbusStateConnected, XenbusStateInitWait,
    XenbusStateInitialised, XenbusStateInitialising, XenbusStateReconfigured,
    XenbusStateReconfiguring, XenbusStateUnknown,
};

/// The state a frontend or backend publishes in its `state` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u32)]
pub enum XenbusState {
    /// `XenbusStateUnknown` (also: the node is missing).
    Unknown = XenbusStateUnknown,
    /// `XenbusStateInitialising`.
    Initialising = XenbusStateInitialising,
    /// `XenbusStateInitWait`: early setup done, waiting for the peer or hotplug scripts.
    InitWait = XenbusStateInitWait,
    /// `XenbusStateInitialised`: waiting for the peer to connect.
    Initialised = XenbusStateInitialised,
    /// `XenbusStateConnected`.
    Connected = XenbusStateConnected,
    /// `XenbusStateClosing`: being closed (error or unplug).
    Closing = XenbusStateClosing,
    /// `XenbusStateClosed`.
    Closed = XenbusStateClosed,
    /// `XenbusStateReconfiguring`.
    Reconfiguring = XenbusStateReconfiguring,
    /// `XenbusStateReconfigured`.
    Reconfigured = XenbusStateReconfigured,
}

/// Every state, in numeric order.
pub const ALL_STATES: [XenbusState; 9] = [
    XenbusState::Unknown,
    XenbusState::Initialising,
    XenbusState::InitWait,
    XenbusState::Initialised,
    XenbusState::Connected,
    XenbusState::Closing,
    XenbusState::Closed,
    XenbusState::Reconfiguring,
    XenbusState::Reconfigured,
];

/// A `state` node whose value is not a xenbus state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateError {
    /// Not a decimal number.
    NotANumber,
    /// A number outside the enumeration.
    OutOfRange(u32),
}

impl XenbusState {
    /// The state with number `raw`.
    pub fn from_raw(raw: u32) -> Result<XenbusState, StateError> {
        ALL_STATES
            .iter()
            .copied()
            .find(|s| *s as u32 == raw)
            .ok_or(StateError::OutOfRange(raw))
    }

    /// Parses the value of a `state` node: a decimal number, optionally surrounded by ASCII
    /// whitespace (some toolstacks write a newline) and followed by a NUL.
    pub fn parse(value: &[u8]) -> Result<XenbusState, StateError> {
        let value = value.strip_suffix(&[0]).unwrap_or(value);
        let value = value.trim_ascii();
        if value.is_empty() || value.len() > 10 || !value.iter().all(u8::is_ascii_digit) {
            return Err(StateError::NotANumber);
        }
        let mut n: u32 = 0;
        for &d in value {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u32::from(d - b'0')))
                .ok_or(StateError::NotANumber)?;
        }
        XenbusState::from_raw(n)
    }

    /// The number as written to xenstore (`"4"` for Connected).
    pub fn as_str(self) -> &'static str {
        match self {
            XenbusState::Unknown => "0",
            XenbusState::Initialising => "1",
            XenbusState::InitWait => "2",
            XenbusState::Initialised => "3",
            XenbusState::Connected => "4",
            XenbusState::Closing => "5",
            XenbusState::Closed => "6",
            XenbusState::Reconfiguring => "7",
            XenbusState::Reconfigured => "8",
        }
    }

    /// The raw number.
    pub fn raw(self) -> u32 {
        self as u32
    }
}

impl fmt::Display for XenbusState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}({})", self.as_str())
    }
}

/// Whether a frontend may move from `from` to `to`.
///
/// The transitions follow Linux's frontends: `Initialising → Initialised` (rings published,
/// blkfront) or `→ Connected` directly (netfront), `Initialised → Connected`, `Connected ⇄
/// Reconfiguring → Reconfigured → Connected`; every state but Closed may go to Closing, every
/// state may go to Closed, and Closed may start over at Initialising (reconnect, resume).
/// Frontends never publish Unknown or InitWait.
pub fn frontend_transition_allowed(from: XenbusState, to: XenbusState) -> bool {
    use XenbusState::*;
    match (from, to) {
        (_, Closed) => from != Closed,
        (Closed, Initialising) => true,
        (Unknown, Initialising) => true,
        (Closing, _) => false,
        (_, Closing) => true,
        (Initialising, Initialised) | (Initialising, Connected) => true,
        (Initialised, Connected) => true,
        (Connected, Reconfiguring) => true,
        (Reconfiguring, Reconfigured) => true,
        (Reconfigured, Connected) => true,
        _ => false,
    }
}

/// A transition the frontend state machine refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    /// The current state.
    pub from: XenbusState,
    /// The requested state.
    pub to: XenbusState,
}

/// The frontend's own state, changed only along [`frontend_transition_allowed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrontendState {
    state: XenbusState,
}

impl Default for FrontendState {
    fn default() -> Self {
        Self::new()
    }
}

impl FrontendState {
    /// A device not yet probed (`Unknown`).
    pub fn new() -> Self {
        FrontendState {
            state: XenbusState::Unknown,
        }
    }

    /// The current state.
    pub fn get(&self) -> XenbusState {
        self.state
    }

    /// Moves to `to` if allowed; otherwise the state is unchanged.
    pub fn transition(&mut self, to: XenbusState) -> Result<(), InvalidTransition> {
        if frontend_transition_allowed(self.state, to) {
            self.state = to;
            Ok(())
        } else {
            Err(InvalidTransition {
                from: self.state,
                to,
            })
        }
    }
}

/// What a frontend should do when the backend's state changes (Linux's `backend_changed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontendAction {
    /// Nothing to do.
    None,
    /// Allocate rings, publish them and move to Initialised (or Connected, if the frontend
    /// connects without waiting): the backend is in InitWait.
    TalkToBackend,
    /// The backend is Connected: read its details and move to Connected.
    Connect,
    /// The backend is closing or gone: quiesce, then move to Closing.
    Close,
    /// The backend closed after us: move to Closed.
    Closed,
    /// The backend closed while we are Closed: a fresh start (Initialising) is possible.
    Restart,
}

/// The action for a backend state change, given our state.
pub fn backend_changed(ours: XenbusState, backend: XenbusState) -> FrontendAction {
    use XenbusState::*;
    match (backend, ours) {
        (InitWait, Initialising) => FrontendAction::TalkToBackend,
        (Connected, Initialised) => FrontendAction::Connect,
        (Connected, Initialising) => FrontendAction::TalkToBackend,
        (Closing, Closing) | (Closed, Closing) => FrontendAction::Closed,
        (Closing, Closed) => FrontendAction::None,
        (Closed, Closed) => FrontendAction::Restart,
        (Closing, _) | (Closed, _) | (Unknown, Connected) | (Unknown, Initialised) => {
            FrontendAction::Close
        }
        _ => FrontendAction::None,
    }
}

/// The state an action moves the frontend to, if any (`connects_directly`: the frontend goes
/// from Initialising straight to Connected, as netfront does).
pub fn action_target(
    action: FrontendAction,
    ours: XenbusState,
    connects_directly: bool,
) -> Option<XenbusState> {
    use XenbusState::*;
    match action {
        FrontendAction::None => None,
        FrontendAction::TalkToBackend if ours == Initialising => Some(if connects_directly {
            Connected
        } else {
            Initialised
        }),
        FrontendAction::TalkToBackend => None,
        FrontendAction::Connect => Some(Connected),
        FrontendAction::Close if ours == Closing || ours == Closed => None,
        FrontendAction::Close => Some(Closing),
        FrontendAction::Closed => Some(Closed),
        FrontendAction::Restart => Some(Initialising),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers_match_the_header() {
        for (i, s) in ALL_STATES.iter().enumerate() {
            assert_eq!(s.raw(), i as u32);
            assert_eq!(XenbusState::parse(s.as_str().as_bytes()), Ok(*s));
        }
        assert_eq!(XenbusState::Connected.raw(), XenbusStateConnected);
        assert_eq!(XenbusState::parse(b"4\n"), Ok(XenbusState::Connected));
        assert_eq!(XenbusState::parse(b"6\0"), Ok(XenbusState::Closed));
    }

    #[test]
    fn garbage_states_are_typed_errors() {
        assert_eq!(XenbusState::parse(b""), Err(StateError::NotANumber));
        assert_eq!(XenbusState::parse(b"x"), Err(StateError::NotANumber));
        assert_eq!(XenbusState::parse(b"-1"), Err(StateError::NotANumber));
        assert_eq!(XenbusState::parse(b"9"), Err(StateError::OutOfRange(9)));
        assert_eq!(
            XenbusState::parse(b"99999999999"),
            Err(StateError::NotANumber)
        );
        assert_eq!(
            XenbusState::parse(b"4294967295"),
            Err(StateError::OutOfRange(u32::MAX))
        );
        assert_eq!(XenbusState::from_raw(9), Err(StateError::OutOfRange(9)));
    }

    #[test]
    fn typical_lifecycles() {
        use XenbusState::*;
        let mut blk = FrontendState::new();
        for s in [
            Initialising,
            Initialised,
            Connected,
            Closing,
            Closed,
            Initialising,
        ] {
            blk.transition(s).unwrap();
        }
        let mut net = FrontendState::new();
        for s in [
            Initialising,
            Connected,
            Reconfiguring,
            Reconfigured,
            Connected,
            Closed,
        ] {
            net.transition(s).unwrap();
        }
        assert_eq!(
            net.transition(Connected),
            Err(InvalidTransition {
                from: Closed,
                to: Connected
            })
        );
        assert_eq!(net.get(), Closed);
        assert!(!frontend_transition_allowed(Initialising, InitWait));
        assert!(!frontend_transition_allowed(Connected, Unknown));
    }

    #[test]
    fn backend_driven_handshake() {
        use XenbusState::*;
        let mut ours = FrontendState::new();
        ours.transition(Initialising).unwrap();
        for (backend, expected) in [
            (Initialising, Initialising),
            (InitWait, Initialised),
            (Connected, Connected),
            (Closing, Closing),
            (Closed, Closed),
            (Closed, Initialising),
        ] {
            let action = backend_changed(ours.get(), backend);
            if let Some(to) = action_target(action, ours.get(), false) {
                ours.transition(to).unwrap();
            }
            assert_eq!(ours.get(), expected, "backend {backend:?}");
        }
    }

    fn state() -> impl Strategy<Value = XenbusState> {
        (0u32..9).prop_map(|n| XenbusState::from_raw(n).unwrap())
    }

    /// States a frontend can be in.
    fn valid_frontend_state(s: XenbusState) -> bool {
        s != XenbusState::InitWait
    }

    proptest! {
        #[test]
        fn random_events_never_reach_an_invalid_state(
            events in proptest::collection::vec((state(), any::<bool>(), any::<bool>()), 0..64),
        ) {
            let mut ours = FrontendState::new();
            for (target, via_backend, direct) in events {
                let before = ours.get();
                if via_backend {
                    let action = backend_changed(before, target);
                    if let Some(to) = action_target(action, before, direct) {
                        // The machine's own actions are always allowed moves.
                        prop_assert!(ours.transition(to).is_ok(), "{before:?} -> {to:?}");
                    }
                } else {
                    let r = ours.transition(target);
                    prop_assert_eq!(r.is_ok(), frontend_transition_allowed(before, target));
                    if r.is_err() {
                        prop_assert_eq!(ours.get(), before);
                    }
                }
                prop_assert!(valid_frontend_state(ours.get()));
                // Closed is reachable from everywhere: directly, and via Closing where not Closed.
                let s = ours.get();
                prop_assert!(s == XenbusState::Closed || frontend_transition_allowed(s, XenbusState::Closed));
            }
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(s) = XenbusState::parse(&bytes) {
                prop_assert!(s.raw() <= 8);
            }
        }
    }
}
