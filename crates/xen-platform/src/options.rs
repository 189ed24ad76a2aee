//! Boot switches from the registry value `HKLM\SYSTEM\CurrentControlSet\Control\SystemStartOptions`.
//!
//! Windows stores the boot loader options there upper case, without the leading slashes, each
//! preceded by a space: `" NOEXECUTE=OPTIN  FASTDETECT NOGPLPV"`. Safe mode shows up as a
//! `SAFEBOOT:<MODE>` option (`SAFEBOOT:MINIMAL`, `SAFEBOOT:NETWORK`, `SAFEBOOT:DSREPAIR`, with an
//! optional `(ALTERNATESHELL)` suffix). Parsing is tolerant: any case, optional leading `/`,
//! any ASCII whitespace; an option matches only as a whole word (`NOGPLPVX` is not `NOGPLPV`).

use alloc::string::String;

/// The switch that turns PV off for one boot (no unplug, no hiding, emulated devices stay).
pub const OPTION_NO_PV: &str = "NOGPLPV";
/// The switch that asks for PV; accepted and redundant (PV is on by default).
pub const OPTION_PV: &str = "GPLPV";
/// Prefix of the safe-mode option.
pub const OPTION_SAFEBOOT: &str = "SAFEBOOT";

/// Longest value parsed; the rest is ignored (the registry value is a few hundred bytes at most).
pub const MAX_OPTIONS_LEN: usize = 4096;

/// The safe-mode flavour named by `SAFEBOOT:<mode>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SafeBoot {
    /// `SAFEBOOT:MINIMAL`.
    Minimal,
    /// `SAFEBOOT:NETWORK`.
    Network,
    /// `SAFEBOOT:DSREPAIR` (directory services repair).
    DsRepair,
    /// `SAFEBOOT` with a mode this parser does not know: still safe mode.
    Other,
}

/// The boot switches the Xen drivers care about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StartOptions {
    /// `NOGPLPV` was given: PV is off for this boot.
    pub no_pv: bool,
    /// `GPLPV` was given (accepted, changes nothing).
    pub pv: bool,
    /// Safe mode, if booted in it.
    pub safe_boot: Option<SafeBoot>,
}

impl StartOptions {
    /// Parses the `SystemStartOptions` value (see the module documentation).
    pub fn parse(value: &str) -> StartOptions {
        let mut options = StartOptions::default();
        let mut end = value.len().min(MAX_OPTIONS_LEN);
        // At most three steps back to a character boundary (0 always is one).
        while end > 0 && !value.is_char_boundary(end) {
            end -= 1;
        }
        let value = value.get(..end).unwrap_or("");
        for word in value.split(|c: char| c.is_ascii_whitespace()) {
            let word = word.strip_prefix('/').unwrap_or(word);
            if word.is_empty() {
                continue;
            }
            if word.eq_ignore_ascii_case(OPTION_NO_PV) {
                options.no_pv = true;
            } else if word.eq_ignore_ascii_case(OPTION_PV) {
                options.pv = true;
            } else if let Some(mode) = safe_boot_mode(word) {
                options.safe_boot = Some(mode);
            }
        }
        options
    }

    /// Parses the value as the registry returns it (`REG_SZ`, UTF-16, possibly NUL-terminated).
    /// Non-ASCII code units cannot be part of an option and become `?`.
    pub fn parse_utf16(units: &[u16]) -> StartOptions {
        let units = units.split(|&u| u == 0).next().unwrap_or(&[]);
        let units = units.get(..MAX_OPTIONS_LEN).unwrap_or(units);
        let mut text = String::new();
        if text.try_reserve_exact(units.len()).is_err() {
            // Without memory the options cannot be read; the safe answer is "PV off".
            return StartOptions {
                no_pv: true,
                ..StartOptions::default()
            };
        }
        for &unit in units {
            let c = u8::try_from(unit)
                .ok()
                .filter(u8::is_ascii)
                .map_or('?', char::from);
            text.push(c);
        }
        Self::parse(&text)
    }

    /// Whether Windows booted in safe mode.
    pub fn safe_mode(&self) -> bool {
        self.safe_boot.is_some()
    }
}

/// `SAFEBOOT:<mode>[(ALTERNATESHELL)]` → the mode; other words → `None`.
fn safe_boot_mode(word: &str) -> Option<SafeBoot> {
    let (name, mode) = match word.split_once(':') {
        Some((name, mode)) => (name, mode),
        None => (word, ""),
    };
    if !name.eq_ignore_ascii_case(OPTION_SAFEBOOT) {
        return None;
    }
    let mode = mode.split('(').next().unwrap_or(mode);
    Some(if mode.eq_ignore_ascii_case("MINIMAL") {
        SafeBoot::Minimal
    } else if mode.eq_ignore_ascii_case("NETWORK") {
        SafeBoot::Network
    } else if mode.eq_ignore_ascii_case("DSREPAIR") {
        SafeBoot::DsRepair
    } else {
        SafeBoot::Other
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn opts(no_pv: bool, pv: bool, safe_boot: Option<SafeBoot>) -> StartOptions {
        StartOptions {
            no_pv,
            pv,
            safe_boot,
        }
    }

    #[test]
    fn real_world_values() {
        let table: &[(&str, StartOptions)] = &[
            // The example.
            (
                " NOEXECUTE=OPTIN  FASTDETECT NOGPLPV",
                opts(true, false, None),
            ),
            // A default Windows 10 install.
            (" NOEXECUTE=OPTIN", opts(false, false, None)),
            // Test-signing on, hypervisor launch type (Windows Server 2019 with Hyper-V role).
            (
                " TESTSIGNING  NOEXECUTE=OPTOUT  HYPERVISORLAUNCHTYPE=AUTO",
                opts(false, false, None),
            ),
            // Kernel debugging over serial.
            (
                " NOEXECUTE=OPTIN  DEBUG  DEBUGPORT=COM1  BAUDRATE=115200",
                opts(false, false, None),
            ),
            // Safe mode (F8 / msconfig "Minimal").
            (
                " NOEXECUTE=OPTIN  SAFEBOOT:MINIMAL",
                opts(false, false, Some(SafeBoot::Minimal)),
            ),
            (
                " SAFEBOOT:NETWORK  NOEXECUTE=OPTIN",
                opts(false, false, Some(SafeBoot::Network)),
            ),
            (
                " SAFEBOOT:MINIMAL(ALTERNATESHELL)",
                opts(false, false, Some(SafeBoot::Minimal)),
            ),
            (
                " SAFEBOOT:DSREPAIR",
                opts(false, false, Some(SafeBoot::DsRepair)),
            ),
            (
                " SAFEBOOT:FUTURE",
                opts(false, false, Some(SafeBoot::Other)),
            ),
            // GPLPV's own switches: GPLPV is accepted and redundant.
            (" GPLPV  FASTDETECT", opts(false, true, None)),
            (" GPLPV NOGPLPV", opts(true, true, None)),
            // boot.ini style with slashes and lower case (hand-edited values).
            (
                "/noexecute=optin /fastdetect /nogplpv",
                opts(true, false, None),
            ),
            // Whole words only.
            (" NOGPLPVX XNOGPLPV GPLPV2", opts(false, false, None)),
            (" NOEXECUTE=NOGPLPV", opts(false, false, None)),
            // Tabs and line breaks are whitespace too.
            ("\tNOGPLPV\r\n", opts(true, false, None)),
            ("", opts(false, false, None)),
            ("   ", opts(false, false, None)),
        ];
        for (value, expected) in table {
            assert_eq!(StartOptions::parse(value), *expected, "value {value:?}");
        }
    }

    #[test]
    fn safe_mode_follows_safeboot() {
        assert!(StartOptions::parse(" SAFEBOOT:NETWORK").safe_mode());
        assert!(!StartOptions::parse(" NOGPLPV").safe_mode());
    }

    #[test]
    fn utf16_registry_value_with_terminator_and_non_ascii() {
        let mut units: Vec<u16> = " FASTDETECT NOGPLPV".encode_utf16().collect();
        units.push(0);
        units.extend(" SAFEBOOT:MINIMAL".encode_utf16());
        // Only what precedes the terminator counts.
        assert_eq!(StartOptions::parse_utf16(&units), opts(true, false, None));
        let odd: Vec<u16> = " NOGPLPV\u{e9} NOGPLPV".encode_utf16().collect();
        assert_eq!(StartOptions::parse_utf16(&odd), opts(true, false, None));
        let mut odd: Vec<u16> = " N".encode_utf16().collect();
        odd.push(0xd800);
        odd.extend("GPLPV".encode_utf16());
        assert_eq!(StartOptions::parse_utf16(&odd), opts(false, false, None));
        assert_eq!(StartOptions::parse_utf16(&[]), opts(false, false, None));
    }

    #[test]
    fn overlong_value_is_cut_not_a_panic() {
        let mut long = String::new();
        for _ in 0..3000 {
            long.push_str(" X");
        }
        long.push_str(" NOGPLPV");
        // The switch sits beyond the parsed prefix.
        assert_eq!(StartOptions::parse(&long), opts(false, false, None));
        // "a" then two-byte characters: byte MAX_OPTIONS_LEN falls inside one of them.
        let mut multibyte = String::from("a");
        for _ in 0..MAX_OPTIONS_LEN {
            multibyte.push('\u{e9}');
        }
        multibyte.push_str(" NOGPLPV");
        // The cut lands inside a UTF-8 sequence and moves back to a character boundary.
        assert_eq!(StartOptions::parse(&multibyte), opts(false, false, None));
    }
}
