//! `grant`: a page granted (read-only) to dom0 through `xen-grant`, with the table's frames placed in the
//! platform device's BAR. dom0 maps it and checks the pattern; ending access while it is mapped
//! must be refused, and must succeed once dom0 unmapped it.

use alloc::format;

use xen_grant::{GrantError, GrantTable};
use xen_hal::{DomainId, OwnedPages, PAGE_SIZE};

use super::xenstore::{await_key, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::memory::PAGES;
use crate::pv::Pv;

/// Grant-table frames placed in the platform BAR.
const TABLE_FRAMES: u64 = 4;
/// The byte the granted page is filled with.
const PATTERN: u8 = 0xa5;

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let pv = Pv::setup(guest)?;
    let hv = pv.xen.hv();
    let first = pv
        .alloc_mmio_frames(TABLE_FRAMES)
        .ok_or("no room in the platform BAR for the grant table")?;
    let frames: alloc::vec::Vec<_> = (0..TABLE_FRAMES)
        .map(|i| xen_hal::Pfn(first.0 + i))
        .collect();
    let mut table = GrantTable::setup(&hv, &PAGES, &frames)
        .map_err(|e| format!("grant table set-up: {e:?}"))?;
    fact!("grant-capacity", "{}", table.capacity());
    let page = OwnedPages::new(&PAGES, 1).map_err(|_| "no page to grant")?;
    page.memory()
        .fill(0, PAGE_SIZE, PATTERN)
        .map_err(|e| format!("fill: {e:?}"))?;
    let gref = table
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
    match table.end_access(gref) {
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
    table
        .end_access(gref)
        .map_err(|e| format!("end_access after dom0 unmapped: {e:?}"))?;
    fact!("end-after-unmap", "ok");
    Ok(())
}
