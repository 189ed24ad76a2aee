//! Device connection states published in xenstore (`io/xenbus.h`).

/// A `state` node value (`enum xenbus_state`).
pub type XenbusState = u32;

/// No state yet (the node is absent or unreadable).
pub const XenbusStateUnknown: XenbusState = 0;
/// Initialising.
pub const XenbusStateInitialising: XenbusState = 1;
/// Early initialisation done; waiting for the peer or hotplug scripts.
pub const XenbusStateInitWait: XenbusState = 2;
/// Ready; waiting for the peer to connect.
pub const XenbusStateInitialised: XenbusState = 3;
/// Connected and in normal operation.
pub const XenbusStateConnected: XenbusState = 4;
/// Closing because of an error or unplug.
pub const XenbusStateClosing: XenbusState = 5;
/// Closed.
pub const XenbusStateClosed: XenbusState = 6;
/// Being reconfigured.
pub const XenbusStateReconfiguring: XenbusState = 7;
/// Reconfiguration done.
pub const XenbusStateReconfigured: XenbusState = 8;
