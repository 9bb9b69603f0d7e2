//! Results the reporters' unit tests render: redacted records, as a run makes them.

use serde_json::{json, Value};

use crate::case::Level;
use crate::exchange::{Exchange, RequestRecord, ResponseRecord};
use crate::outcome::{CaseResult, Outcome};

/// A POST to `http://127.0.0.1:1{path}` with a redacted token, answered `status` and `body`.
pub fn exchange(step: &str, path: &str, status: u16, body: Value) -> Exchange {
    Exchange {
        step: step.to_owned(),
        request: RequestRecord {
            method: "POST".into(),
            url: format!("http://127.0.0.1:1{path}"),
            headers: vec![
                ("authorization".into(), "Basic <redacted>".into()),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body: "token=<redacted>".into(),
        },
        response: Some(ResponseRecord {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
            access_token_jwt: None,
        }),
        error: None,
        race: None,
    }
}

/// A case in `area` with `outcome` and no exchange.
pub fn result(id: &str, area: &str, outcome: Outcome) -> CaseResult {
    CaseResult {
        id: id.into(),
        title: format!("{id}'s title"),
        spec: "RFC 6749 §5.1".into(),
        level: Level::Must,
        area: area.into(),
        tags: Vec::new(),
        outcome,
        detail: String::new(),
        note: None,
        source: String::new(),
        location: "scenarios/x.toml:1".into(),
        duration_ms: 1,
        race: None,
        propagation: None,
        exchanges: Vec::new(),
    }
}

/// INTRO-007 against a server that ignores revocation: issue, revoke (200), introspect
/// (still active).
pub fn revoked_still_active() -> CaseResult {
    CaseResult {
        detail: "introspect: expected /active = false, got true".into(),
        exchanges: vec![
            exchange(
                "issue",
                "/oauth2/access_token",
                200,
                json!({"access_token": "<redacted>", "token_type": "Bearer", "expires_in": 3600}),
            ),
            exchange("revoke", "/oauth2/token/revoke", 200, Value::Null),
            exchange(
                "introspect",
                "/oauth2/introspect",
                200,
                json!({"active": true, "scope": "write", "client_id": "myClient"}),
            ),
        ],
        ..result("INTRO-007", "introspection", Outcome::Fail)
    }
}
