//! `xen-detect`: Xen found through CPUID (also behind Viridian), the hypercall page installed
//! through the MSR, and `XENVER_version` answered through it.

use alloc::format;

use xen_hal::Hypervisor;

use super::{Guest, Outcome};
use crate::fact;

/// Reports the CPUID base, hypercall page and version, and checks the hypercall agrees with CPUID.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let xen = guest
        .xen
        .ok_or("not running on Xen (no Xen CPUID leaves)")?;
    let cpuid = xen.cpuid;
    fact!("cpuid-base", "{:#010x}", cpuid.base);
    fact!("cpuid-max-leaf", "{:#010x}", cpuid.max_leaf);
    fact!("hypercall-msr", "{:#010x}", cpuid.hypercall_msr);
    // Boot installed the page (it fails the boot otherwise); a hypercall through it proves it.
    let version = xen
        .hv()
        .xen_version()
        .map_err(|error| format!("XENVER_version through the hypercall page: {error}"))?;
    fact!("hypercall-page", "ok");
    fact!("xen-version", "{}.{}", version.major, version.minor);
    if version != cpuid.version {
        return Err(format!(
            "XENVER_version says {}.{}, CPUID leaf {:#x} says {}.{}",
            version.major,
            version.minor,
            cpuid.base + 1,
            cpuid.version.major,
            cpuid.version.minor
        ));
    }
    Ok(())
}
