//! The harness side of the console protocol: dom0's `TESTBED: ...` lines (printed by
//! `tests/testbed/dom0/scenarios.sh`) parsed into events.

/// One protocol line from dom0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// dom0 userspace started.
    Boot,
    /// The toolstack is up; scenarios follow.
    Ready,
    /// Round `round` of a repeated run starts.
    Round { round: u32 },
    /// dom0 could not bring the toolstack up.
    BootFailed(String),
    /// A scenario (re)starts.
    Begin { name: String, attempt: u32 },
    /// An attempt died of an emulator fault and is retried.
    Retry { name: String, detail: String },
    /// A scenario passed (detail: timing, attempt).
    Pass { name: String, detail: String },
    /// A scenario failed.
    Fail { name: String, reason: String },
    /// A scenario could not run.
    NotRun { name: String, reason: String },
    /// Start of a failure dump.
    DumpBegin(String),
    /// End of a failure dump.
    DumpEnd,
    /// All scenarios are done.
    Done,
}

/// Marker that starts every protocol line. Xen may print its own text before it on the same
/// console line, so it is searched anywhere in the line.
const MARKER: &str = "TESTBED: ";

/// `name rest...` split at the first space; `name: reason` split at the first `: `.
fn split_word(text: &str) -> (String, String) {
    match text.split_once(' ') {
        Some((word, rest)) => (word.to_owned(), rest.trim().to_owned()),
        None => (text.to_owned(), String::new()),
    }
}

fn split_reason(text: &str) -> (String, String) {
    match text.split_once(": ") {
        Some((name, reason)) => (name.trim().to_owned(), reason.trim().to_owned()),
        None => (text.trim().to_owned(), String::new()),
    }
}

/// Parses one console line; `None` for lines that are not protocol lines.
pub fn parse(line: &str) -> Option<Event> {
    let start = line.find(MARKER)?;
    let text = line
        .get(start + MARKER.len()..)?
        .trim_end_matches(['\r', '\n']);
    let (keyword, rest) = split_word(text);
    Some(match keyword.as_str() {
        "BOOT" => Event::Boot,
        "READY" => Event::Ready,
        "RUN" => {
            let (round, _) = split_word(&rest);
            Event::Round {
                round: round.parse().ok()?,
            }
        }
        "BOOT-FAILED" => Event::BootFailed(rest),
        "BEGIN" => {
            let (name, tail) = split_word(&rest);
            let attempt = tail
                .strip_prefix("attempt ")
                .and_then(|n| n.trim().parse().ok())
                .unwrap_or(1);
            Event::Begin { name, attempt }
        }
        "RETRY" => {
            let (name, tail) = split_word(&rest);
            Event::Retry { name, detail: tail }
        }
        "PASS" => {
            let (name, detail) = split_word(&rest);
            Event::Pass { name, detail }
        }
        "FAIL" => {
            let (name, reason) = split_reason(&rest);
            Event::Fail { name, reason }
        }
        "NOTRUN" => {
            let (name, reason) = split_reason(&rest);
            Event::NotRun { name, reason }
        }
        "DUMP-BEGIN" => Event::DumpBegin(rest),
        "DUMP-END" => Event::DumpEnd,
        "DONE" => Event::Done,
        _ => return None,
    })
}

/// An emulator fault that Xen reports on its console (see the reference's Stability section);
/// dom0's own lines quoting one (RETRY, dumps) do not count again.
pub fn is_emulator_fault(line: &str) -> bool {
    (line.contains("Triple fault") || line.contains("Insn mismatch")) && !line.contains("TESTBED")
}

#[cfg(test)]
mod tests {
    use super::{is_emulator_fault, parse, Event};

    #[test]
    fn parses_results() {
        assert_eq!(
            parse("TESTBED: PASS evtchn (12.3s, attempt 1)\r"),
            Some(Event::Pass {
                name: "evtchn".into(),
                detail: "(12.3s, attempt 1)".into()
            })
        );
        assert_eq!(
            parse("TESTBED: FAIL grant: guest reported: FAIL grant: bad gref (3s, attempt 2)"),
            Some(Event::Fail {
                name: "grant".into(),
                reason: "guest reported: FAIL grant: bad gref (3s, attempt 2)".into()
            })
        );
        assert_eq!(
            parse("TESTBED: NOTRUN unplug: test guest not available"),
            Some(Event::NotRun {
                name: "unplug".into(),
                reason: "test guest not available".into()
            })
        );
    }

    #[test]
    fn parses_progress_lines() {
        assert_eq!(
            parse("TESTBED: BEGIN xenstore attempt 2"),
            Some(Event::Begin {
                name: "xenstore".into(),
                attempt: 2
            })
        );
        assert_eq!(
            parse("TESTBED: RETRY shutdown attempt 1: emulator fault"),
            Some(Event::Retry {
                name: "shutdown".into(),
                detail: "attempt 1: emulator fault".into()
            })
        );
        assert_eq!(
            parse("TESTBED: READY toolstack up at 6s"),
            Some(Event::Ready)
        );
        assert_eq!(parse("TESTBED: DONE at 99s"), Some(Event::Done));
        assert_eq!(
            parse("TESTBED: RUN 3 of 5"),
            Some(Event::Round { round: 3 })
        );
        assert_eq!(parse("TESTBED: RUN x of 5"), None);
        assert_eq!(
            parse("TESTBED: DUMP-BEGIN grant"),
            Some(Event::DumpBegin("grant".into()))
        );
    }

    #[test]
    fn finds_the_marker_after_other_console_text() {
        assert_eq!(parse("(XEN) foo TESTBED: DONE"), Some(Event::Done));
        assert_eq!(parse("TESTBED-GUEST: PASS grant"), None);
        assert_eq!(parse("TESTBED: SOMETHING else"), None);
        assert_eq!(parse("plain kernel line"), None);
    }

    #[test]
    fn recognises_emulator_faults() {
        assert!(is_emulator_fault(
            "(XEN) d3v0 Triple fault - invoking HVM shutdown action 1"
        ));
        assert!(is_emulator_fault(
            "(XEN) Insn mismatch: Expected opcode 0xf0031"
        ));
        assert!(!is_emulator_fault("(XEN) d3v0 upcall vector f3"));
        assert!(!is_emulator_fault(
            "TESTBED: RETRY x attempt 1: emulator fault ((XEN) d1v0 Triple fault - ...)"
        ));
    }
}
