//! The guest's Xen state: detection by CPUID and the hypercall page, set up once at boot and
//! reachable from everywhere (scenarios, power-off, the panic handler).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use xen_hal::Hypervisor;
use xen_hypercall::arch::x86_64::{detect_xen, HypercallPage};
use xen_hypercall::{Xen, XenCpuid};

use crate::memory::{GuestMemory, PAGES};
use crate::platform::{self, Lock};

/// The hypercall page of this guest.
pub type Page = HypercallPage<&'static GuestMemory>;

/// The typed hypervisor of this guest (cheap to make: a reference to the page).
pub type Hv = Xen<&'static Page>;

/// What boot found out about Xen.
#[derive(Clone, Copy)]
pub struct XenState {
    /// Xen's CPUID leaves.
    pub cpuid: XenCpuid,
    /// The installed hypercall page.
    pub page: &'static Page,
}

impl XenState {
    /// The typed hypervisor over the hypercall page.
    pub fn hv(&self) -> Hv {
        Xen::new(self.page)
    }
}

static STATE: Lock<Option<XenState>> = Lock::new(None);

/// Detects Xen and installs the hypercall page. `Ok(None)` when not running on Xen.
pub fn setup() -> Result<Option<XenState>, String> {
    let Some(cpuid) = detect_xen() else {
        return Ok(None);
    };
    let page = platform::install_hypercall_page(&cpuid, &PAGES)
        .map_err(|error| format!("hypercall page: {error:?}"))?;
    let page: &'static Page = Box::leak(Box::new(page));
    let state = XenState { cpuid, page };
    STATE.with(|slot| *slot = Some(state));
    Ok(Some(state))
}

/// The Xen state, if boot set it up.
pub fn state() -> Option<XenState> {
    STATE.with(|slot| *slot).flatten()
}

/// Shuts the domain down through Xen with a `SHUTDOWN_*` reason. Returns `None` if Xen is not
/// set up (the caller falls back), or the error if Xen refused.
pub fn shutdown(reason: u32) -> Option<String> {
    let state = state()?;
    match state.hv().sched_shutdown(reason) {
        Ok(()) => Some(String::from("SCHEDOP_shutdown returned")),
        Err(error) => Some(format!("{error}")),
    }
}
