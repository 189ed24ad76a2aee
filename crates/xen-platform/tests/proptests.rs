//! Property tests: the parsers of registry and xenstore values never panic on arbitrary input,
//! and whole-word matching holds wherever the switch sits.

use proptest::prelude::*;
use xen_platform::{ShutdownError, ShutdownRequest, StartOptions};

proptest! {
    #[test]
    fn start_options_never_panic(value in ".{0,600}") {
        let _ = StartOptions::parse(&value);
    }

    #[test]
    fn utf16_start_options_never_panic(units in proptest::collection::vec(any::<u16>(), 0..600)) {
        let _ = StartOptions::parse_utf16(&units);
    }

    #[test]
    fn nogplpv_is_found_between_any_other_words(
        before in proptest::collection::vec("[A-Z=:0-9]{1,12}", 0..8),
        after in proptest::collection::vec("[A-Z=:0-9]{1,12}", 0..8),
    ) {
        let others = |words: &[String]| words.iter().any(|w| w == "NOGPLPV");
        let mut value = String::new();
        for w in &before { value.push(' '); value.push_str(w); }
        value.push_str(" NOGPLPV");
        for w in &after { value.push_str("  "); value.push_str(w); }
        prop_assert!(StartOptions::parse(&value).no_pv);
        let mut without = String::new();
        for w in before.iter().chain(after.iter()) { without.push(' '); without.push_str(w); }
        prop_assert_eq!(StartOptions::parse(&without).no_pv, others(&before) || others(&after));
    }

    #[test]
    fn shutdown_values_parse_or_fail_typed(value in proptest::collection::vec(any::<u8>(), 0..100)) {
        match ShutdownRequest::parse(&value) {
            Ok(Some(r)) => {
                let trimmed = value.strip_suffix(&[0]).unwrap_or(&value).trim_ascii();
                prop_assert_eq!(trimmed, r.as_str().as_bytes());
            }
            Ok(None) => {}
            Err(ShutdownError::Unknown(text)) => prop_assert!(text.as_str().len() <= 32),
            Err(e) => prop_assert!(false, "unexpected {:?}", e),
        }
    }
}
