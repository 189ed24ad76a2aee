//! dom0 helper of the testbed: the dom0 half of the `evtchn` and `grant` scenarios.
//!
//! `testbed-dom0 evtchn DOMID` and `testbed-dom0 grant DOMID` follow the handshakes of the
//! testbed's guest protocol through xenstore keys under `/local/domain/DOMID/data/testbed/`,
//! using Linux's `/dev/xen/evtchn` and `/dev/xen/gntdev`. Prints what it did; exits non-zero
//! with the reason on the last line when a step fails. Every wait is bounded.

mod sys;
mod xenstore;

use std::process::ExitCode;
use std::time::Duration;

/// Bound of each handshake step when dom0 gives none (the protocol gives dom0 60 s).
const STEP: Duration = Duration::from_secs(60);

/// Bound of each handshake step: `TESTBED_STEP_SECS` (dom0's bound, stretched by the bed's
/// slowness), else [`STEP`].
fn step() -> Duration {
    step_from(std::env::var("TESTBED_STEP_SECS").ok().as_deref())
}

fn step_from(value: Option<&str>) -> Duration {
    value
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&secs| secs > 0)
        .map_or(STEP, Duration::from_secs)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [command, domid] => match domid.parse::<u32>() {
            Ok(domid) => match command.as_str() {
                "evtchn" => evtchn(domid),
                "grant" => grant(domid),
                other => Err(format!("unknown command `{other}`")),
            },
            Err(_) => Err(format!("bad domain id `{domid}`")),
        },
        _ => Err("usage: testbed-dom0 evtchn|grant DOMID".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            println!("testbed-dom0: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The xenstore directory of the handshake.
fn base(domid: u32) -> String {
    format!("/local/domain/{domid}/data/testbed")
}

/// Parses a decimal or `0x` hexadecimal number written by the guest.
fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// Event channel: bind to the guest's unbound port, notify it, wait for its notification back.
fn evtchn(domid: u32) -> Result<(), String> {
    let base = base(domid);
    let step = step();
    let port_text = xenstore::wait(&format!("{base}/port"), step)?;
    let remote_port = parse_number(&port_text)
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| format!("guest wrote a bad port `{port_text}`"))?;
    let evtchn = sys::EventChannels::open()?;
    let local = evtchn.bind_interdomain(domid, remote_port)?;
    println!("bound local port {local} to domain {domid} port {remote_port}");
    xenstore::write(&format!("{base}/dom0-bound"), "1")?;
    evtchn.notify(local)?;
    println!("notified the guest");
    let fired = evtchn.wait(step)?;
    if fired != local {
        return Err(format!("event on port {fired}, expected {local}"));
    }
    evtchn.unmask(fired)?;
    let got = xenstore::wait(&format!("{base}/guest-got"), step)?;
    if got.trim() != "1" {
        return Err(format!("guest-got is `{got}`"));
    }
    println!("guest saw dom0's event and notified back on port {remote_port}");
    xenstore::write(&format!("{base}/dom0-got"), "1")?;
    Ok(())
}

/// Grant: map the guest's page, check its pattern, hold it while the guest tries to end access.
fn grant(domid: u32) -> Result<(), String> {
    let base = base(domid);
    let step = step();
    let gref_text = xenstore::wait(&format!("{base}/gref"), step)?;
    let pattern_text = xenstore::wait(&format!("{base}/pattern"), step)?;
    let gref = parse_number(&gref_text)
        .and_then(|g| u32::try_from(g).ok())
        .ok_or_else(|| format!("guest wrote a bad gref `{gref_text}`"))?;
    let pattern = u64::from_str_radix(pattern_text.trim().trim_start_matches("0x"), 16)
        .ok()
        .and_then(|p| u8::try_from(p).ok())
        .ok_or_else(|| format!("guest wrote a bad pattern `{pattern_text}`"))?;
    let gntdev = sys::GrantDevice::open()?;
    let mapping = gntdev.map(domid, gref)?;
    let page = mapping.read()?;
    if let Some(at) = page.iter().position(|b| *b != pattern) {
        return Err(format!(
            "mapped gref {gref}: byte {at} is {:#04x}, expected {pattern:#04x}",
            page.get(at).copied().unwrap_or(0)
        ));
    }
    println!(
        "mapped gref {gref} of domain {domid}: all {} bytes are {pattern:#04x}",
        page.len()
    );
    xenstore::write(&format!("{base}/mapped"), "ok")?;
    let refused = xenstore::wait(&format!("{base}/end-while-mapped"), step)?;
    if refused.trim() != "refused" {
        return Err(format!(
            "guest ended access while dom0 mapped the page: `{refused}`"
        ));
    }
    drop(mapping);
    println!("unmapped gref {gref}");
    xenstore::write(&format!("{base}/unmapped"), "1")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{parse_number, step_from, STEP};
    use std::time::Duration;

    #[test]
    fn step_bound_from_the_environment() {
        assert_eq!(step_from(Some("300")), Duration::from_secs(300));
        assert_eq!(step_from(None), STEP);
        assert_eq!(step_from(Some("0")), STEP);
        assert_eq!(step_from(Some("soon")), STEP);
    }

    #[test]
    fn numbers_in_decimal_and_hex() {
        assert_eq!(parse_number("42\n"), Some(42));
        assert_eq!(parse_number("0x1f"), Some(31));
        assert_eq!(parse_number("zz"), None);
        assert_eq!(parse_number(""), None);
    }
}
