//! A hostile backend drives a `FrontRing`: arbitrary `rsp_prod`, `req_event` and entries.
//! The ring must never panic and must end consistent or wedged in a typed error
//! (`xen_ring::hostile::front_responses` checks both after every step).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_ring::hostile::front_responses(data);
});
