use serde_json::json;

use super::{all, brief, failing_step, full};
use crate::report::testing::{exchange, revoked_still_active};

#[test]
fn the_failing_step_is_the_one_the_detail_names() {
    let r = revoked_still_active();
    assert_eq!(failing_step(&r), Some(2));
    let mut other = revoked_still_active();
    other.detail = "revoke: expected status 200, got 503".into();
    assert_eq!(failing_step(&other), Some(1));
    // A detail that names no step: the last exchange decided it.
    other.detail = "run deadline reached".into();
    assert_eq!(failing_step(&other), Some(2));
    other.exchanges.clear();
    assert_eq!(failing_step(&other), None);
}

#[test]
fn a_full_exchange_reads_as_http() {
    let r = revoked_still_active();
    let text = full(&r.exchanges[2]);
    assert!(
        text.starts_with(
            "POST http://127.0.0.1:1/oauth2/introspect\nauthorization: Basic <redacted>\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\n\ntoken=<redacted>\n\nHTTP 200 OK\ncontent-type: application/json\n"),
        "{text}"
    );
    assert!(text.contains("\"active\": true"), "{text}");
}

#[test]
fn a_brief_exchange_keeps_what_matters() {
    let r = revoked_still_active();
    assert_eq!(
        brief(&r.exchanges[1]),
        "POST http://127.0.0.1:1/oauth2/token/revoke → 200 (empty body)"
    );
    assert_eq!(
        brief(&r.exchanges[2]),
        "POST http://127.0.0.1:1/oauth2/introspect → 200 {active: true, …}"
    );
    let error = exchange("issue", "/token", 401, json!({"error": "invalid_client"}));
    assert_eq!(
        brief(&error),
        "POST http://127.0.0.1:1/token → 401 {error: \"invalid_client\"}"
    );
    let long = exchange("issue", "/token", 200, json!({"scope": "x".repeat(300)}));
    assert!(brief(&long).ends_with("…"), "{}", brief(&long));
    assert!(brief(&long).chars().count() < 160);
}

#[test]
fn every_step_is_listed_with_the_failing_one_marked() {
    let text = all(&revoked_still_active());
    assert!(text.starts_with("--- step 1: issue ---\nPOST "), "{text}");
    assert!(
        text.contains("--- step 2: revoke ---\nPOST http://127.0.0.1:1/oauth2/token/revoke"),
        "{text}"
    );
    assert!(
        text.contains("--- step 3: introspect (the failing step) ---"),
        "{text}"
    );
    assert!(!text.contains("\"method\""), "HTTP text, not JSON: {text}");
}
