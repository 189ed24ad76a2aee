//! `xenstore`: the xenstore client over the guest ring against the real xenstored: identity,
//! write/read/rm, errors (ENOENT, EACCES), a watch fired by dom0, and a transaction that dom0
//! makes conflict so that its commit fails with EAGAIN and is retried.

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicU64, Ordering};

use xen_hal::Clock;
use xenstore::{Error, XsErrno};

use super::{Guest, Outcome};
use crate::fact;
use crate::pv::{Pv, Xs};

/// Default bound of every wait on dom0 (the protocol's guest-side limit).
pub const DEFAULT_PEER_WAIT_MS: u64 = 30_000;

/// The bound of every wait on dom0: `peer-wait-ms=<n>` on the command line, or 30 s.
static PEER_WAIT: AtomicU64 = AtomicU64::new(DEFAULT_PEER_WAIT_MS);

/// Sets the bound of waits on dom0 (from the command line).
pub fn set_peer_wait_ms(ms: u64) {
    PEER_WAIT.store(ms.max(1), Ordering::Relaxed);
}

/// The bound of every wait on dom0, in milliseconds.
pub fn peer_wait_ms() -> u64 {
    PEER_WAIT.load(Ordering::Relaxed)
}
/// The guest's directory of the handshake (relative to its home path).
pub const BASE: &str = "data/testbed";

/// Reads a relative key of the handshake directory.
pub fn key(name: &str) -> String {
    format!("{BASE}/{name}")
}

/// Writes `data/testbed/<name>` = `value`.
pub fn put(xs: &mut Xs, name: &str, value: &str) -> Result<(), String> {
    xs.write(&key(name), value.as_bytes())
        .map_err(|e| format!("write {BASE}/{name}: {e:?}"))
}

/// Waits (polling every 50 ms, at most [`peer_wait_ms`]) until `data/testbed/<name>` exists and
/// returns its value.
pub fn await_key(pv: &Pv, xs: &mut Xs, name: &str) -> Result<String, String> {
    let wait = peer_wait_ms();
    let deadline = pv.clock.now().after_ms(wait);
    loop {
        match xs.read_string(&key(name)) {
            Ok(value) => return Ok(value),
            Err(Error::Xs(XsErrno::ENOENT)) => {}
            Err(e) => return Err(format!("read {BASE}/{name}: {e:?}")),
        }
        if pv.clock.now() >= deadline {
            return Err(format!("dom0 did not write {BASE}/{name} within {wait} ms"));
        }
        pv.clock.stall_us(50_000);
    }
}

/// Runs the scenario.
pub fn run(guest: &Guest<'_>) -> Outcome {
    let pv = Pv::setup(guest)?;
    let mut xs = pv.xenstore()?;

    let domid = xs
        .read_string("domid")
        .map_err(|e| format!("read domid: {e:?}"))?;
    fact!("domid", "{domid}");
    let name = xs
        .read_string("name")
        .map_err(|e| format!("read name: {e:?}"))?;
    fact!("name", "{name}");

    // Write, read back, remove; a missing key is ENOENT.
    let kv = key("kv");
    xs.write(&kv, b"value-from-guest")
        .map_err(|e| format!("write {kv}: {e:?}"))?;
    let back = xs.read(&kv).map_err(|e| format!("read {kv}: {e:?}"))?;
    if back != b"value-from-guest" {
        return Err(format!("{kv} read back {back:?}"));
    }
    xs.rm(&kv).map_err(|e| format!("rm {kv}: {e:?}"))?;
    match xs.read(&kv) {
        Err(Error::Xs(XsErrno::ENOENT)) => fact!("missing-read", "ENOENT"),
        other => return Err(format!("read of removed {kv}: {other:?}, expected ENOENT")),
    }
    // dom0's own nodes are not readable by an unprivileged guest.
    let foreign = "/local/domain/0/name";
    match xs.read(foreign) {
        Err(Error::Xs(XsErrno::EACCES)) => fact!("foreign-read", "EACCES"),
        other => return Err(format!("read of {foreign}: {other:?}, expected EACCES")),
    }

    // A watch that dom0 fires. Registration fires it once at once; wait for the node itself.
    let poke = key("poke");
    xs.watch(&poke, "poke")
        .map_err(|e| format!("watch {poke}: {e:?}"))?;
    put(&mut xs, "watching", "1")?;
    let deadline = pv.clock.now().after_ms(peer_wait_ms());
    let mut events = 0u32;
    loop {
        let event = xs.wait_watch_event_for("poke", deadline).map_err(|e| {
            format!("waiting for the watch on {poke} ({events} events so far): {e:?}")
        })?;
        events += 1;
        if xs.read(&poke).is_ok() {
            fact!("watch-event", "{}", event.path);
            break;
        }
    }
    fact!("watch-events", "{events}");
    xs.unwatch(&poke, "poke")
        .map_err(|e| format!("unwatch: {e:?}"))?;

    // A transaction dom0 makes conflict: the first commit must fail with EAGAIN.
    let counter = key("counter");
    let parse = |value: Result<String, Error>| -> Result<u64, String> {
        match value {
            Ok(text) => text
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{counter} holds '{text}'")),
            Err(Error::Xs(XsErrno::ENOENT)) => Ok(0),
            Err(e) => Err(format!("read {counter}: {e:?}")),
        }
    };
    let tx = xs
        .transaction_start()
        .map_err(|e| format!("transaction start: {e:?}"))?;
    let seen = parse(xs.in_transaction(tx).read_string(&counter))?;
    put(&mut xs, "tx-open", "1")?;
    await_key(&pv, &mut xs, "tx-poked")?;
    xs.in_transaction(tx)
        .write(&counter, format!("{}", seen + 1).as_bytes())
        .map_err(|e| format!("write {counter} in the transaction: {e:?}"))?;
    let mut retries = 0u32;
    match xs.transaction_end(tx, true) {
        Err(Error::Xs(XsErrno::EAGAIN)) => retries += 1,
        Ok(()) => crate::say!("the conflicting commit succeeded (dom0's write was not seen)"),
        Err(e) => return Err(format!("transaction commit: {e:?}")),
    }
    let mut written = 0;
    xs.transaction(|t| {
        let value = match t.read_string(&counter) {
            Ok(text) => text.trim().parse::<u64>().unwrap_or(0),
            Err(Error::Xs(XsErrno::ENOENT)) => 0,
            Err(e) => return Err(e),
        };
        written = value + 1;
        t.write(&counter, format!("{written}").as_bytes())
    })
    .map_err(|e| format!("retried transaction: {e:?}"))?;
    retries += xs.last_transaction_retries();
    fact!("tx-retries", "{retries}");
    let now = parse(xs.read_string(&counter))?;
    fact!("counter", "{now}");
    if now != written {
        return Err(format!(
            "{counter} is {now} after the commit, wrote {written}"
        ));
    }
    if retries == 0 {
        return Err("the transaction never conflicted with dom0's write".into());
    }
    Ok(())
}
