//! A hostile frontend drives a `BackRing` (the simulator's backends): arbitrary `req_prod`,
//! `rsp_event` and entries. The ring must never panic and must end consistent or wedged in a
//! typed error (`xen_ring::hostile::back_requests` checks both after every step).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = xen_ring::hostile::back_requests(data);
});
