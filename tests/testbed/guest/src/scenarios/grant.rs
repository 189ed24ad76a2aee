//! `grant`: a page granted (read-only) to dom0 through the grant table `xen-platform`'s bring-up
//! placed in the platform device's BAR. dom0 maps it and checks the pattern; ending access while it is mapped
//! must be refused, and must succeed once dom0 unmapped it.

use alloc::format;

use xen_grant::GrantError;
use xen_hal::{DomainId, OwnedPages, PAGE_SIZE};

use super::xenstore::{await_key, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::memory::PAGES;
use crate::pv::Pv;

/// The byte the granted page is filled with.
const PATTERN: u8 = 0xa5;

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let mut pv = Pv::setup(guest)?;
    fact!("grant-frames", "{}", pv.grant_frames.len());
    fact!("grant-capacity", "{}", pv.grants.capacity());
    let page = OwnedPages::new(&PAGES, 1).map_err(|_| "no page to grant")?;
    page.memory()
        .fill(0, PAGE_SIZE, PATTERN)
        .map_err(|e| format!("fill: {e:?}"))?;
    let gref = pv
        .grants_mut()
        .grant_access(DomainId::DOM0, page.pfn(), true)
        .map_err(|e| format!("grant_access: {e:?}"))?;
    fact!("gref", "{}", gref.0);
    let mut xs = pv.xenstore()?;
    put(&mut xs, "pattern", &format!("{PATTERN:02x}"))?;
    put(&mut xs, "gref", &format!("{}", gref.0))?;
    let mapped = await_key(&pv, &mut xs, "mapped")?;
    if mapped != "ok" {
        return Err(format!("dom0 reports mapped={mapped}"));
    }
    match pv.grants_mut().end_access(gref) {
        Err(GrantError::StillInUse(_)) => {
            fact!("end-while-mapped", "refused");
            put(&mut xs, "end-while-mapped", "refused")?;
        }
        other => {
            put(&mut xs, "end-while-mapped", "allowed")?;
            return Err(format!(
                "ending access while dom0 maps the page: {other:?}, expected StillInUse"
            ));
        }
    }
    await_key(&pv, &mut xs, "unmapped")?;
    pv.grants_mut()
        .end_access(gref)
        .map_err(|e| format!("end_access after dom0 unmapped: {e:?}"))?;
    fact!("end-after-unmap", "ok");
    Ok(())
}
