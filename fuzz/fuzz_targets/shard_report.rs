//! Shard reports (`grantcheck load merge` reads files other machines wrote): parsing,
//! merging and judging thresholds never panic, whatever the JSON says.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(report) = grantcheck::load::shard::ShardReport::parse(text, "fuzz.json") {
        if let Ok(merged) = grantcheck::load::merge::merge(&[report.clone(), report]) {
            for rule in ["p99<10ms", "error-rate<1%", "rps>=1", "max<1s for POST issue"] {
                let _ = grantcheck::load::threshold::judge(rule, &merged);
            }
        }
    }
});
