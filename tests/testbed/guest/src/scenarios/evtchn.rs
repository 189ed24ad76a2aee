//! `evtchn`: event channels delivered by the callback interrupt, as on Windows.
//! - robustness, before the GSI is routed (IDT and local APIC ready, every I/O APIC entry
//!   masked): the callback vector raised by a self-IPI with no upcall pending must be counted
//!   as spurious (not ours), a stray vector as stray, neither fatal;
//! - the platform device's GSI is connected (I/O APIC entry; see `crate::irq`), then
//! - loopback: a port pair within this domain; each send must run the handler from the service
//!   routine (measured: send to handler, in microseconds);
//! - dom0: the guest allocates an unbound port for dom0, dom0's helper binds it and sends; the
//!   event counts only if its handler ran inside the service routine; the guest answers and
//!   dom0 confirms it got the answer.
//!
//! Nothing polls the pending bitmaps here: with no interrupt within the bound the scenario
//! fails, naming the GSI, the vector and the controllers' state.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use xen_hal::{Clock, DomainId, EventChannelPort, VcpuId};

use super::xenstore::{await_key, peer_wait_ms, put};
use super::{Guest, Outcome};
use crate::clock::TscClock;
use crate::fact;
use crate::irq;
use crate::platform;
use crate::pv::Pv;

/// Loopback sends measured.
const LOOPBACK_ROUNDS: u32 = 5;

/// Events the dom0 port's handler saw inside the service routine, and outside it.
static FROM_INTERRUPT: AtomicU32 = AtomicU32::new(0);
static OUTSIDE_INTERRUPT: AtomicU32 = AtomicU32::new(0);
static LAST_PORT: AtomicU32 = AtomicU32::new(0);
static EVENT_TSC: AtomicU64 = AtomicU64::new(0);
/// The loopback port's handler: runs inside the routine, outside it, and when (TSC).
static LOOP_FROM_INTERRUPT: AtomicU32 = AtomicU32::new(0);
static LOOP_OUTSIDE: AtomicU32 = AtomicU32::new(0);
static LOOP_TSC: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_event(_context: usize, port: u32) {
    LAST_PORT.store(port, Ordering::SeqCst);
    EVENT_TSC.store(platform::rdtsc(), Ordering::SeqCst);
    if irq::in_service_routine() {
        FROM_INTERRUPT.fetch_add(1, Ordering::SeqCst);
    } else {
        OUTSIDE_INTERRUPT.fetch_add(1, Ordering::SeqCst);
    }
}

extern "C" fn on_loopback(_context: usize, _port: u32) {
    LOOP_TSC.store(platform::rdtsc(), Ordering::SeqCst);
    if irq::in_service_routine() {
        LOOP_FROM_INTERRUPT.fetch_add(1, Ordering::SeqCst);
    } else {
        LOOP_OUTSIDE.fetch_add(1, Ordering::SeqCst);
    }
}

/// Microseconds of `cycles` TSC ticks.
fn tsc_us(clock: &TscClock, cycles: u64) -> u64 {
    let us = u128::from(cycles) * 1_000_000 / u128::from(clock.hz().max(1));
    u64::try_from(us).unwrap_or(u64::MAX)
}

/// Waits with interrupts enabled until `done` or `bound_ms` passed; whether `done` held.
fn wait_enabled(clock: &TscClock, bound_ms: u64, done: impl Fn() -> bool) -> bool {
    let deadline = clock.now().after_ms(bound_ms);
    irq::run_enabled(|| loop {
        if done() {
            return true;
        }
        if clock.now() >= deadline {
            return done();
        }
        platform::relax();
    })
}

/// Why no interrupt came: the GSI, the vector and what the controllers show.
fn no_interrupt(pv: &Pv, what: &str, bound_ms: u64) -> String {
    let (entry, requested, in_service) = irq::describe(pv.callback_gsi);
    let stats = irq::stats();
    let upcall = pv.shared_info.read_u8(0).unwrap_or(0xff);
    format!(
        "no callback interrupt for {what} within {bound_ms} ms (GSI {}, vector {:#x}; I/O APIC entry {}; local APIC IRR {requested}, ISR {in_service}; upcall_pending {upcall}; {stats:?})",
        pv.callback_gsi,
        irq::CALLBACK_VECTOR,
        match entry {
            Some(e) => format!(
                "{:#x}:{:#010x}{}{}",
                e.high,
                e.low,
                if e.masked() { " masked" } else { "" },
                if e.remote_irr() { " remote-IRR" } else { "" }
            ),
            None => String::from("unreadable"),
        },
    )
}

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let pv = Pv::setup(guest)?;
    // Before the GSI is routed: a self-IPI at the callback vector must not be mistaken for
    // an event (routing first would let the edge IPI share the level line's vector).
    spurious_and_stray(&pv)?;
    let connected = pv.connect_interrupt()?;
    crate::say!(
        "evtchn: callback GSI {} -> vector {:#x} on APIC id {} (local APIC at {:#x}, version {:#x}, SVR {:#x}; I/O APIC {} pins, entry {:#x}:{:#010x}{})",
        connected.gsi,
        connected.vector,
        connected.apic_id,
        connected.local_apic_base,
        connected.local_apic_version,
        connected.local_apic_svr,
        connected.ioapic_pins,
        connected.entry.high,
        connected.entry.low,
        if connected.entry.masked() { ", MASKED" } else { "" }
    );
    fact!("callback-gsi", "{}", connected.gsi);
    fact!("callback-vector", "{:#x}", connected.vector);
    let result = loopback(&pv).and_then(|()| with_dom0(&pv));
    irq::disconnect(pv.callback_gsi);
    let stats = irq::stats();
    crate::say!(
        "evtchn: interrupt path: {} callback interrupts, {} handlers dispatched, {} spurious (upcall flag clear), {} unbound ports, {} left pending, {} errors",
        stats.callbacks,
        stats.dispatched,
        stats.not_ours,
        stats.unbound,
        stats.left_pending,
        stats.errors,
    );
    crate::say!(
        "evtchn: other vectors: {} stray (last {:#x}), {} local APIC spurious",
        stats.stray,
        stats.last_stray,
        stats.apic_spurious
    );
    fact!("isr-count", "{}", stats.callbacks);
    fact!("isr-spurious", "{}", stats.not_ours);
    fact!("isr-stray", "{}", stats.stray);
    result?;
    if stats.errors != 0 {
        return Err(format!(
            "the service routine could not reach shared_info or the event table {} times",
            stats.errors
        ));
    }
    Ok(())
}

/// A vector nobody programs: a self-IPI there must take the stray path.
const STRAY_TEST_VECTOR: u8 = 0x60;
/// Bound of the self-IPI waits (an IPI to oneself is taken at the next instruction boundary
/// with interrupts enabled; the bound only guards against a broken local APIC).
const SELF_IPI_WAIT_MS: u64 = 1_000;

/// The service routine entered with no upcall pending (a spurious interrupt, as a shared line
/// raised by another device would give Windows) and a stray vector: both counted, neither
/// fatal, and the routine still works afterwards (the loopback below).
fn spurious_and_stray(pv: &Pv) -> Outcome {
    irq::prepare_cpu().map_err(|e| format!("preparing the CPU for interrupts: {e}"))?;
    // Xen may have left vCPU 0's upcall flag (and selector bits) set. Drain both with a full
    // scan (no port is unmasked yet, so nothing is lost), so the routine's entry below is one
    // with nothing pending. Clearing only the flag would leave a selector bit set, and Xen
    // raises no upcall for a word whose selector bit is already set: every later event in
    // that word would be lost.
    let upcall_was_set = pv.shared_info.read_u8(0).unwrap_or(0) != 0;
    pv.with_events(|events| events.handle_upcall(VcpuId(0)))?
        .map_err(|e| format!("draining the upcall: {e:?}"))?;
    let before = irq::stats();
    if !irq::send_self(irq::CALLBACK_VECTOR) {
        return Err("no usable local APIC for a self-IPI".into());
    }
    let taken = wait_enabled(&pv.clock, SELF_IPI_WAIT_MS, || {
        irq::stats().callbacks > before.callbacks
    });
    if !taken {
        return Err(format!(
            "a self-IPI at vector {:#x} was not taken within {SELF_IPI_WAIT_MS} ms",
            irq::CALLBACK_VECTOR
        ));
    }
    let after = irq::stats();
    if after.not_ours != before.not_ours + 1 {
        return Err(format!(
            "a callback vector with no upcall pending was not counted as spurious ({after:?})"
        ));
    }
    if after.dispatched != before.dispatched {
        return Err(format!(
            "a spurious callback dispatched handlers ({after:?})"
        ));
    }
    if !irq::send_self(STRAY_TEST_VECTOR) {
        return Err("no usable local APIC for a self-IPI".into());
    }
    let stray = wait_enabled(&pv.clock, SELF_IPI_WAIT_MS, || {
        irq::stats().stray > before.stray
    });
    let after = irq::stats();
    if !stray || after.last_stray != u32::from(STRAY_TEST_VECTOR) {
        return Err(format!(
            "a self-IPI at vector {STRAY_TEST_VECTOR:#x} was not counted as stray ({after:?})"
        ));
    }
    crate::say!(
        "evtchn: callback vector with the upcall flag clear counted as spurious, stray vector {STRAY_TEST_VECTOR:#x} counted, neither fatal (upcall flag was {} at start)",
        if upcall_was_set { "set" } else { "clear" }
    );
    Ok(())
}

/// A port pair within this domain: each send on one end must reach the other end's handler
/// through the interrupt.
fn loopback(pv: &Pv) -> Outcome {
    let hv = pv.xen.hv();
    let (sender, receiver) = pv.with_events(|events| -> Result<_, String> {
        let sender = events
            .alloc_unbound(&hv, DomainId::SELF)
            .map_err(|e| format!("alloc_unbound(self): {e:?}"))?;
        let receiver = events
            .bind_interdomain(&hv, DomainId::SELF, sender)
            .map_err(|e| format!("bind_interdomain(self, {}): {e:?}", sender.0))?;
        events
            .bind_handler(&hv, receiver, on_loopback, 0)
            .map_err(|e| format!("bind_handler({}): {e:?}", receiver.0))?;
        Ok((sender, receiver))
    })??;
    crate::say!("evtchn: loopback ports {} -> {}", sender.0, receiver.0);
    let bound = peer_wait_ms();
    let mut latencies = [0u64; LOOPBACK_ROUNDS as usize];
    for round in 0..LOOPBACK_ROUNDS {
        let before = LOOP_FROM_INTERRUPT.load(Ordering::SeqCst);
        let start = platform::rdtsc();
        pv.with_events(|events| events.notify(&hv, sender))?
            .map_err(|e| format!("notify({}): {e:?}", sender.0))?;
        let arrived = wait_enabled(&pv.clock, bound, || {
            LOOP_FROM_INTERRUPT.load(Ordering::SeqCst) > before
        });
        if !arrived {
            return Err(no_interrupt(
                pv,
                &format!("loopback event {} on port {}", round + 1, receiver.0),
                bound,
            ));
        }
        let cycles = LOOP_TSC.load(Ordering::SeqCst).wrapping_sub(start);
        if let Some(slot) = latencies.get_mut(round as usize) {
            *slot = tsc_us(&pv.clock, cycles);
        }
    }
    let outside = LOOP_OUTSIDE.load(Ordering::SeqCst);
    if outside != 0 {
        return Err(format!(
            "the loopback handler ran {outside} times outside the service routine"
        ));
    }
    let min = latencies.iter().copied().min().unwrap_or(0);
    let max = latencies.iter().copied().max().unwrap_or(0);
    crate::say!(
        "evtchn: loopback: {LOOPBACK_ROUNDS} sends, each handled in the service routine; send to handler {min}..{max} us ({latencies:?})"
    );
    fact!(
        "loopback-interrupts",
        "{}",
        LOOP_FROM_INTERRUPT.load(Ordering::SeqCst)
    );
    fact!("loopback-latency-us", "{min}..{max}");
    pv.with_events(|events| -> Result<(), String> {
        events
            .close(&hv, receiver)
            .map_err(|e| format!("close({}): {e:?}", receiver.0))?;
        events
            .close(&hv, sender)
            .map_err(|e| format!("close({}): {e:?}", sender.0))
    })?
}

/// The event exchange with dom0's helper.
fn with_dom0(pv: &Pv) -> Outcome {
    let hv = pv.xen.hv();
    let port = pv.with_events(|events| -> Result<EventChannelPort, String> {
        let port = events
            .alloc_unbound(&hv, DomainId::DOM0)
            .map_err(|e| format!("alloc_unbound: {e:?}"))?;
        events
            .bind_handler(&hv, port, on_event, 0)
            .map_err(|e| format!("bind_handler: {e:?}"))?;
        Ok(port)
    })??;
    fact!("port", "{}", port.0);
    let got = {
        let mut xs = pv.xenstore()?;
        put(&mut xs, "port", &format!("{}", port.0))?;
        // Interrupts are off while xenstore is polled: dom0's event (sent right after it
        // writes dom0-bound) waits at the I/O APIC until they are enabled below.
        await_key(pv, &mut xs, "dom0-bound")?;
        let bound = peer_wait_ms();
        let start = platform::rdtsc();
        let arrived = wait_enabled(&pv.clock, bound, || {
            FROM_INTERRUPT.load(Ordering::SeqCst) > 0
        });
        if !arrived {
            let outside = OUTSIDE_INTERRUPT.load(Ordering::SeqCst);
            let mut reason = no_interrupt(pv, &format!("dom0's event on port {}", port.0), bound);
            if outside != 0 {
                reason.push_str(&format!(
                    "; the handler ran {outside} times outside the service routine (not counted)"
                ));
            }
            return Err(reason);
        }
        let waited = tsc_us(
            &pv.clock,
            EVENT_TSC.load(Ordering::SeqCst).wrapping_sub(start),
        );
        let last = LAST_PORT.load(Ordering::SeqCst);
        if last != port.0 {
            return Err(format!("the handler ran for port {last}, not {}", port.0));
        }
        crate::say!(
            "evtchn: dom0's event on port {} handled in the service routine {waited} us after interrupts were enabled",
            port.0
        );
        fact!("delivered-by", "interrupt");
        put(&mut xs, "guest-got", "1")?;
        pv.with_events(|events| events.notify(&hv, port))?
            .map_err(|e| format!("notify: {e:?}"))?;
        await_key(pv, &mut xs, "dom0-got")?
    };
    fact!("dom0-got", "{got}");
    pv.with_events(|events| events.close(&hv, port))?
        .map_err(|e| format!("close: {e:?}"))
}
