//! Case templates: never panic, never blow up (repeat is capped).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let vars = [("client.id".to_string(), "myClient".to_string())]
            .into_iter()
            .collect();
        let _ = grantcheck::template::expand(text, &vars);
    }
});
