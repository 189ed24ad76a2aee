//! Xen platform support shared by the Windows bus driver (xenpci) and the testbed guest: boot
//! switches, the emulated-device unplug (decision and I/O-port protocol), platform bring-up on
//! the Xen platform PCI device, and shutdown control.
//!
//! Everything here is OS-independent: the OS is reached through `xen-hal`'s traits
//! ([`xen_hal::Hypervisor`], [`xen_hal::PhysicalMapper`], [`xen_hal::PortIo`],
//! [`xen_hal::Clock`]) and xenstore through `xenstore`'s client. Nothing here logs: results and
//! errors carry everything a log line needs (`Display`), and the drivers print them with their
//! own logger (nt-kernel's, which writes `DbgPrintEx` and Xen's debug port 0xE9 in one place).
//!
//! - [`options`]: the `SystemStartOptions` registry value (`NOGPLPV`, `GPLPV`, `SAFEBOOT:*`).
//! - [`unplug`]: whether to unplug emulated disks and NICs, and the port 0x10/0x12 protocol.
//! - [`evidence`]: the PV drivers' record that their path works, its registry layout, and the
//!   volatile report of what this boot unplugged.
//! - [`power`]: which system sleep states xenpci allows (S4 is refused while PV is up).
//! - [`bringup`]: shared_info and grant frames in the platform BAR, event channels, callback
//!   IRQ, xenstore ring, the `device` watch.
//! - [`dispatch`]: event dispatch in two phases (collect ports lock-free, call handlers unlocked),
//!   or both in one bounded interrupt-time step ([`service_upcall`]).
//! - [`shutdown`]: `control/shutdown` requests and `control/feature-*`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod bringup;
pub mod dispatch;
pub mod evidence;
pub mod options;
pub mod power;
pub mod shutdown;
pub mod unplug;

pub use bringup::{
    acknowledge_upcall, check_version, watch_devices, BringUpError, CallbackVia, Platform,
    PlatformConfig, PlatformParts, PlatformResources, PlatformStoreError, StoreRing,
    DEVICE_WATCH_PATH, DEVICE_WATCH_TOKEN, MIN_XEN_VERSION,
};
pub use dispatch::{collect_pending, service_upcall, Collected, ServiceStats, MAX_SERVICE_ROUNDS};
pub use evidence::{BootReport, PvClass, PvRole};
pub use options::{SafeBoot, StartOptions};
pub use shutdown::{ShutdownError, ShutdownRequest, Supported};
pub use unplug::{
    unplug_decided, BootInit, BootPlan, KeepReason, ProtocolError, UnplugDecision, UnplugFacts,
    UnplugMask, UnplugOutcome, UnplugReport, Verdict,
};
