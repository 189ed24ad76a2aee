//! Scheduler operations (`sched.h`), issued with `__HYPERVISOR_sched_op`.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Give up the CPU voluntarily.
pub const SCHEDOP_yield: u32 = 0;
/// Block until an event arrives.
pub const SCHEDOP_block: u32 = 1;
/// Stop the domain with a reason ([`sched_shutdown`]).
pub const SCHEDOP_shutdown: u32 = 2;
/// Block until one of a set of ports is pending or a timeout passes ([`sched_poll`]).
pub const SCHEDOP_poll: u32 = 3;
/// Shut down another domain (privileged).
pub const SCHEDOP_remote_shutdown: u32 = 4;
/// Record a shutdown reason without shutting down.
pub const SCHEDOP_shutdown_code: u32 = 5;
/// Arm or disarm a domain watchdog.
pub const SCHEDOP_watchdog: u32 = 6;
/// Pin the current vCPU temporarily (dom0 only).
pub const SCHEDOP_pin_override: u32 = 7;

/// Shutdown reason: normal exit, power off.
pub const SHUTDOWN_poweroff: u32 = 0;
/// Shutdown reason: restart the domain.
pub const SHUTDOWN_reboot: u32 = 1;
/// Shutdown reason: suspend (save and stop).
pub const SHUTDOWN_suspend: u32 = 2;
/// Shutdown reason: the guest crashed.
pub const SHUTDOWN_crash: u32 = 3;
/// Shutdown reason: the watchdog expired.
pub const SHUTDOWN_watchdog: u32 = 4;
/// Shutdown reason: soft reset (keep the domain, reset state).
pub const SHUTDOWN_soft_reset: u32 = 5;
/// Largest valid shutdown reason.
pub const SHUTDOWN_MAX: u32 = 5;

/// `SCHEDOP_shutdown` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct sched_shutdown {
    /// `SHUTDOWN_*`.
    pub reason: u32,
}

/// `SCHEDOP_poll` argument.
#[repr(C)]
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub struct sched_poll {
    /// Guest handle (address) of an array of `nr_ports` `evtchn_port_t`.
    pub ports: u64,
    /// Number of ports.
    pub nr_ports: u32,
    /// Padding the C compiler inserts before the next field.
    pub _pad0: [u8; 4],
    /// Absolute system time (ns) at which to give up; 0 waits forever.
    pub timeout: u64,
}
