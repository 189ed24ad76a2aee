//! `evtchn`: an interdomain event channel with dom0, both directions. The guest allocates an
//! unbound port for dom0, dom0's helper binds it and sends; the guest sees the event through
//! `xen-evtchn`'s upcall dispatch (run by polling: `evtchn_upcall_pending` and the pending
//! bitmaps in shared_info, no interrupt), answers, and dom0 confirms it got the answer.

use alloc::format;
use core::sync::atomic::{AtomicU32, Ordering};

use xen_hal::{Clock, DomainId, VcpuId};

use super::xenstore::{await_key, peer_wait_ms, put};
use super::{Guest, Outcome};
use crate::fact;
use crate::pv::Pv;

/// Events the handler saw, and the last port it saw one on.
static EVENTS: AtomicU32 = AtomicU32::new(0);
static LAST_PORT: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_event(_context: usize, port: u32) {
    LAST_PORT.store(port, Ordering::SeqCst);
    EVENTS.fetch_add(1, Ordering::SeqCst);
}

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let mut pv = Pv::setup(guest)?;
    let hv = pv.xen.hv();
    let port = pv
        .events_mut()
        .alloc_unbound(&hv, DomainId::DOM0)
        .map_err(|e| format!("alloc_unbound: {e:?}"))?;
    pv.events_mut()
        .bind_handler(&hv, port, on_event, 0)
        .map_err(|e| format!("bind_handler: {e:?}"))?;
    fact!("port", "{}", port.0);
    let got = {
        let mut xs = pv.xenstore()?;
        put(&mut xs, "port", &format!("{}", port.0))?;
        await_key(&pv, &mut xs, "dom0-bound")?;
        let deadline = pv.clock.now().after_ms(peer_wait_ms());
        let mut rounds = 0u32;
        while EVENTS.load(Ordering::SeqCst) == 0 {
            let stats = pv
                .events()
                .handle_upcall(VcpuId(0))
                .map_err(|e| format!("handle_upcall: {e:?}"))?;
            rounds += stats.rounds;
            if pv.clock.now() >= deadline {
                return Err(format!(
                    "no event from dom0 on port {} within {} ms",
                    port.0,
                    peer_wait_ms()
                ));
            }
            pv.clock.stall_us(1_000);
        }
        let last = LAST_PORT.load(Ordering::SeqCst);
        if last != port.0 {
            return Err(format!("the handler ran for port {last}, not {}", port.0));
        }
        fact!("event-rounds", "{rounds}");
        put(&mut xs, "guest-got", "1")?;
        pv.events()
            .notify(&hv, port)
            .map_err(|e| format!("notify: {e:?}"))?;
        await_key(&pv, &mut xs, "dom0-got")?
    };
    fact!("dom0-got", "{got}");
    pv.events_mut()
        .close(&hv, port)
        .map_err(|e| format!("close: {e:?}"))?;
    Ok(())
}
