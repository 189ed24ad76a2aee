//! A hostile xenstored: arbitrary bytes as replies and watch events, through the codec, the
//! non-blocking client core and the blocking client (`xenstore::hostile::peer_bytes` asserts
//! that each ends in a reply, a typed error or the terminal connection state).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xenstore::hostile::peer_bytes(data);
});
