//! JWT decoding (snapshots, checks): never panic on hostile tokens.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = grantcheck::exchange::decode_jwt(text);
    }
});
