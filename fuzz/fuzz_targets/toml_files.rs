//! The TOML loaders users feed: cases, load profiles, client registrations.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = grantcheck::case::parse_file(text, "fuzz.toml", "fuzz");
        let _ = grantcheck::load::profile::parse(text, "fuzz.toml", "fuzz");
        let _ = reference_server::ClientRegistry::from_toml(text, "fuzz.toml");
    }
});
