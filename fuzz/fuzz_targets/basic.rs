//! Basic credentials: never panic, whatever the payload.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = reference_server::decode_basic(text, true);
        let _ = reference_server::decode_basic(text, false);
    }
});
