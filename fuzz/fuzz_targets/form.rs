//! Form bodies and percent-decoding: never panic; what decodes re-encodes to the same value.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reference_server::form::{decode_component, encode_component, Form};

fuzz_target!(|data: &[u8]| {
    let _ = Form::parse(data, false);
    let _ = Form::parse(data, true);
    if let Ok(value) = decode_component(data) {
        assert_eq!(
            decode_component(encode_component(&value).as_bytes()).as_deref(),
            Ok(value.as_str())
        );
    }
});
