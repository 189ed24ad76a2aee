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
    /// The backend is Connected while we are still Initialising (we missed its InitWait, or it
    /// connects without waiting for us): allocate and publish the rings, then read its details
    /// and move straight to Connected. Waiting for another backend event here would stall: the
    /// backend is already where it will stay.
    TalkToBackendAndConnect,
    /// The backend is Connected: read its details and move to Connected.
    Connect,
    /// The backend vanished under a live connection (its `state` reads as Unknown): quiesce,
    /// then move to Closing.
    Close,
    /// The backend is closing or closed (a toolstack detach, or its error): quiesce, release
    /// the rings and move to Closed, as Linux's frontends do (`xenbus_frontend_closed`).
    /// Linux backends stay Closing until the frontend is Closed, so stopping at Closing would
    /// stall both sides until the toolstack's timeout.
    Closed,
    /// The backend starts over (Initialising or InitWait: the toolstack re-created it) while we
    /// are Closed: begin again from Initialising, as Linux's blkfront does. The backend writes
    /// nothing more, so the caller evaluates [`backend_changed`] again at once with the same
    /// backend state (InitWait then gives [`FrontendAction::TalkToBackend`]). A backend that
    /// only stays Closed (a detach in progress) gets nothing: its directory is being removed.
    Restart,
}

/// The action for a backend state change, given our state.
///
/// A watch fires only when the backend writes a new state, so every action completes our
/// side of the step without waiting for a further backend change: backend Closing or Closed
/// closes us in one step (we never wait in Closing for the backend), and backend Connected
/// while we are Initialising connects in one step.
pub fn backend_changed(ours: XenbusState, backend: XenbusState) -> FrontendAction {
    use XenbusState::*;
    match (backend, ours) {
        (InitWait, Initialising) => FrontendAction::TalkToBackend,
        (Connected, Initialised) => FrontendAction::Connect,
        (Connected, Initialising) => FrontendAction::TalkToBackendAndConnect,
        (Closing, Closed) | (Closed, Closed) => FrontendAction::None,
        (Initialising, Closed) | (InitWait, Closed) => FrontendAction::Restart,
        (Closing, _) | (Closed, _) => FrontendAction::Closed,
        (Unknown, Connected) | (Unknown, Initialised) => FrontendAction::Close,
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
        FrontendAction::TalkToBackendAndConnect if ours == Initialising => Some(Connected),
        FrontendAction::TalkToBackendAndConnect => None,
        FrontendAction::Connect => Some(Connected),
        FrontendAction::Close if ours == Closing || ours == Closed => None,
        FrontendAction::Close => Some(Closing),
        FrontendAction::Closed if ours == Closed => None,
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
    fn a_closed_frontend_restarts_only_for_a_backend_that_starts_over() {
        use XenbusState::*;
        // A detach: the backend stays Closed while its directory goes; writing Initialising
        // into the frontend directory the toolstack removes would be wrong.
        assert_eq!(backend_changed(Closed, Closed), FrontendAction::None);
        assert_eq!(backend_changed(Closed, Closing), FrontendAction::None);
        assert_eq!(backend_changed(Closed, InitWait), FrontendAction::Restart);
        assert_eq!(
            backend_changed(Closed, Initialising),
            FrontendAction::Restart
        );
        assert_eq!(
            action_target(FrontendAction::Restart, Closed, false),
            Some(Initialising)
        );
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
            (Closing, Closed),
            (Closed, Closed),
            // The toolstack re-creates the backend: we start over and, on the same backend
            // state, talk to it (Restart is evaluated again at once, as documented).
            (InitWait, Initialised),
        ] {
            let action = backend_changed(ours.get(), backend);
            if let Some(to) = action_target(action, ours.get(), false) {
                ours.transition(to).unwrap();
            }
            if action == FrontendAction::Restart {
                let again = backend_changed(ours.get(), backend);
                assert_eq!(again, FrontendAction::TalkToBackend);
                if let Some(to) = action_target(again, ours.get(), false) {
                    ours.transition(to).unwrap();
                }
            }
            assert_eq!(ours.get(), expected, "backend {backend:?}");
        }
    }

    #[test]
    fn backend_closing_closes_the_frontend_in_one_step() {
        use XenbusState::*;
        // `xl block-detach`: libxl sets the backend Closing, and Linux's blkback/netback stay
        // Closing until the frontend is Closed. Whatever we were doing, one step gets us there.
        for ours in [
            Unknown,
            Initialising,
            Initialised,
            Connected,
            Closing,
            Reconfiguring,
            Reconfigured,
        ] {
            for backend in [Closing, Closed] {
                let action = backend_changed(ours, backend);
                assert_eq!(
                    action,
                    FrontendAction::Closed,
                    "{ours:?}, backend {backend:?}"
                );
                assert_eq!(action_target(action, ours, false), Some(Closed));
                assert!(frontend_transition_allowed(ours, Closed));
            }
        }
        // Already Closed: nothing more to write while the backend is Closing.
        assert_eq!(backend_changed(Closed, Closing), FrontendAction::None);
        assert_eq!(action_target(FrontendAction::Closed, Closed, false), None);
    }

    #[test]
    fn backend_connected_while_initialising_connects_in_one_step() {
        use XenbusState::*;
        let action = backend_changed(Initialising, Connected);
        assert_eq!(action, FrontendAction::TalkToBackendAndConnect);
        for direct in [false, true] {
            assert_eq!(action_target(action, Initialising, direct), Some(Connected));
        }
        assert!(frontend_transition_allowed(Initialising, Connected));
        // Only from Initialising: elsewhere the rings are already published (or torn down).
        for ours in [Initialised, Connected, Closing, Closed] {
            assert_eq!(action_target(action, ours, false), None, "{ours:?}");
        }
    }

    /// A Linux-like backend (blkback's and netback's `frontend_changed`), reduced to its
    /// states. It writes its `state` only when the state changes, so only then does the
    /// frontend's watch fire.
    struct ModelBackend {
        state: XenbusState,
        /// Cleared by the toolstack's detach (`online` = 0).
        online: bool,
        /// Connects as soon as it is probed, without waiting for the frontend's details (the
        /// frontend then reads Connected while Initialising, having missed InitWait).
        eager: bool,
        /// Unregistered (Closed while offline, or the frontend vanished): reacts no more.
        gone: bool,
    }

    impl ModelBackend {
        fn probed(eager: bool) -> ModelBackend {
            ModelBackend {
                state: if eager {
                    XenbusState::Connected
                } else {
                    XenbusState::InitWait
                },
                online: true,
                eager,
                gone: false,
            }
        }

        /// Reacts to the frontend's state; returns whether it wrote a new state.
        fn frontend_changed(&mut self, front: XenbusState) -> bool {
            use XenbusState::*;
            if self.gone {
                return false;
            }
            let before = self.state;
            match front {
                Initialising if self.state == Closed => {
                    self.state = if self.eager { Connected } else { InitWait };
                }
                Initialised | Connected if matches!(self.state, InitWait | Connected) => {
                    self.state = Connected;
                }
                Closing => self.state = Closing,
                Closed => {
                    self.state = Closed;
                    self.gone = !self.online;
                }
                Unknown => self.gone = true,
                _ => {}
            }
            self.state != before
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

        /// A frontend driven only by `backend_changed` and a Linux-like backend driven only by
        /// our state, each acting on the other's watch events in any order: the handshake
        /// connects both sides, and a toolstack detach at any moment ends with the backend
        /// Closed (the detach completes without the toolstack's timeout).
        #[test]
        fn handshake_and_detach_against_a_linux_backend_never_stall(
            eager in any::<bool>(),
            direct in any::<bool>(),
            detach_at in 0usize..24,
            order in proptest::collection::vec(any::<bool>(), 64),
        ) {
            use XenbusState::*;
            let mut backend = ModelBackend::probed(eager);
            let mut ours = FrontendState::new();
            ours.transition(Initialising).unwrap();
            // Pending watch events: the backend wrote (the frontend's watch), we wrote (the
            // backend's watch).
            let (mut front_event, mut back_event) = (true, false);
            let mut detached = false;
            let mut steps = 0usize;
            loop {
                let quiet = !front_event && !back_event;
                if !detached && (steps == detach_at || quiet) {
                    if quiet {
                        // Nothing left to happen before the detach: the handshake finished.
                        prop_assert_eq!((ours.get(), backend.state), (Connected, Connected));
                    }
                    backend.online = false;
                    backend.state = Closing;
                    front_event = true;
                    detached = true;
                    continue;
                }
                if quiet {
                    break;
                }
                prop_assert!(steps < 64, "no quiescence: ours {:?}, backend {:?}", ours.get(), backend.state);
                let pick_front = order.get(steps).copied().unwrap_or(true);
                steps += 1;
                if front_event && (pick_front || !back_event) {
                    front_event = false;
                    let action = backend_changed(ours.get(), backend.state);
                    if let Some(to) = action_target(action, ours.get(), direct) {
                        prop_assert!(ours.transition(to).is_ok());
                        back_event = true;
                    }
                } else {
                    back_event = false;
                    front_event |= backend.frontend_changed(ours.get());
                }
            }
            prop_assert_eq!(backend.state, Closed, "ours {:?}", ours.get());
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok(s) = XenbusState::parse(&bytes) {
                prop_assert!(s.raw() <= 8);
            }
        }
    }
}
