//! The runner against scripted servers (wiremock): discovery and its fallback, skip reasons,
//! legal variations that must pass, broken answers that must fail readably, and servers
//! whose answers change between steps. This file holds the helpers and the tests that
//! `verdicts.rs`'s `DEMONSTRATED_ELSEWHERE` names: broken answers that fail the MUST cases no
//! fault mode can fail alone. They stay here: that check reads the files directly under
//! `tests/integration/`. The other tests by subject:
//!
//! - `legal_variations`: answers the RFCs allow pass, and INFO cases say what they observed.
//! - `discovery`: RFC 8414 path insertion, the OpenID fallback, and failed discovery.
//! - `preflight`: the scope a server requires, wrong credentials and URLs, and the server's
//!   own refusal quoted.
//! - `skips_and_blocks`: what a case lacks makes it skip or block with the reason, never
//!   error; rate limits.

mod discovery;
mod legal_variations;
mod preflight;
mod skips_and_blocks;

use std::collections::BTreeMap;

use grantcheck::case::{Case, Role};
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use grantcheck::target::{self, ClientCredentials, Target};
use serde_json::json;
use wiremock::matchers::{body_string_contains, header_exists, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn main_client() -> BTreeMap<Role, ClientCredentials> {
    let mut clients = BTreeMap::new();
    clients.insert(Role::Main, ClientCredentials::new("client-a", "secret-a"));
    clients.insert(
        Role::Introspector,
        ClientCredentials::new("client-a", "secret-a"),
    );
    clients
}

fn target(server: &MockServer) -> Target {
    Target {
        issuer: Some(server.uri()),
        scopes: vec!["read".into()],
        ..Target::external("mock", format!("{}/token", server.uri()), main_client())
    }
}

fn only(ids: &[&str]) -> Vec<Case> {
    let cases: Vec<Case> = grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .collect();
    assert_eq!(cases.len(), ids.len(), "unknown case id among {ids:?}");
    cases
}

async fn run(target: &Target, ids: &[&str]) -> Vec<CaseResult> {
    let settings = Settings::default();
    runner::run_cases(
        target,
        &only(ids),
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await
}

fn outcome(results: &[CaseResult], id: &str) -> (Outcome, String) {
    let r = results.iter().find(|r| r.id == id).unwrap();
    (r.outcome, r.detail.clone())
}

fn token_body(token_type: &str) -> serde_json::Value {
    json!({"access_token": "tok-0123456789", "token_type": token_type, "expires_in": 3600})
}

async fn token_endpoint(server: &MockServer, body: serde_json::Value, headers: &[(&str, &str)]) {
    let mut response = ResponseTemplate::new(200).set_body_json(body);
    for (n, v) in headers {
        response = response.insert_header(*n, *v);
    }
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(response)
        .mount(server)
        .await;
}

#[tokio::test]
async fn broken_token_responses_fail_with_readable_details() {
    let cases: &[(&str, ResponseTemplate, &str, &str)] = &[
        (
            "html",
            ResponseTemplate::new(200).set_body_raw("<html>ok</html>", "text/html"),
            "RESP-001",
            "expected a JSON object body",
        ),
        (
            "no token_type",
            ResponseTemplate::new(200).set_body_json(json!({"access_token": "abcdefgh"})),
            "RESP-001",
            "token_type is missing",
        ),
        (
            "string expires_in",
            ResponseTemplate::new(200).set_body_json(
                json!({"access_token": "abcdefgh", "token_type": "Bearer", "expires_in": "3600"}),
            ),
            "RESP-006",
            "positive JSON integer",
        ),
        (
            "array scope",
            ResponseTemplate::new(200).set_body_json(
                json!({"access_token": "abcdefgh", "token_type": "Bearer", "scope": ["read"]}),
            ),
            "SCOPE-009",
            "not a string",
        ),
        (
            "no cache-control",
            ResponseTemplate::new(200).set_body_json(token_body("Bearer")),
            "RESP-008",
            "expected Cache-Control: no-store, got nothing",
        ),
        (
            "duplicate keys",
            ResponseTemplate::new(200).set_body_raw(
                r#"{"access_token":"abcdefgh","token_type":"Bearer","token_type":"Bearer"}"#,
                "application/json",
            ),
            "RESP-010",
            "appears more than once",
        ),
    ];
    for (label, response, id, needle) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(response.clone())
            .mount(&server)
            .await;
        let results = run(&target(&server), &[id]).await;
        let (o, detail) = outcome(&results, id);
        assert_eq!(o, Outcome::Fail, "{label}: {detail}");
        assert!(detail.contains(needle), "{label}: {detail}");
        assert!(
            !detail.contains("secret-a"),
            "{label}: a secret leaked into {detail}"
        );
    }
}

#[tokio::test]
async fn a_server_that_changes_its_answer_between_steps_is_caught() {
    let server = MockServer::start().await;
    token_endpoint(&server, token_body("Bearer"), &[]).await;
    // Introspection says active once, then inactive for every token after that.
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(header_exists("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": true})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"active": false})))
        .with_priority(2)
        .mount(&server)
        .await;
    let mut t = target(&server);
    t.introspection_url = Some(format!("{}/introspect", server.uri()));
    let results = run(&t, &["INTRO-001", "INTRO-008", "RESP-016"]).await;
    assert_eq!(outcome(&results, "INTRO-001").0, Outcome::Pass);
    let (o, detail) = outcome(&results, "INTRO-008");
    assert_eq!(o, Outcome::Fail);
    assert!(
        detail.contains("expected /active = true, got false"),
        "{detail}"
    );
    // The same token twice is recorded (INFO), never failed.
    let (o, detail) = outcome(&results, "RESP-016");
    assert_eq!(o, Outcome::Pass);
    assert!(detail.starts_with("observed:"), "{detail}");
    assert!(
        !detail.contains("tok-0123456789"),
        "tokens are redacted: {detail}"
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(307).insert_header("location", "http://127.0.0.1:9/steal"),
        )
        .mount(&server)
        .await;
    let results = run(&target(&server), &["TOKEN-009", "AUTH-001"]).await;
    let (o, detail) = outcome(&results, "AUTH-001");
    assert_eq!(o, Outcome::Fail);
    assert!(detail.contains("expected status 200, got 307"), "{detail}");
    // INFO: recorded in words that are neither a pass nor a failure.
    let (_, detail) = outcome(&results, "TOKEN-009");
    assert!(
        detail.starts_with("observed:") && detail.contains("was answered 307"),
        "{detail}"
    );
}

/// The preflight against `target`, as `conform` runs it before the cases.
async fn preflight(target: &mut Target) -> grantcheck::preflight::Preflight {
    let settings = Settings::default();
    let http = runner::http_client(settings.request_timeout);
    grantcheck::preflight::run(target, &settings, &http).await
}

/// Each level correction against a scripted server that does what a real one did.
#[tokio::test]
async fn level_corrections_hold_against_servers_that_behave_as_real_ones_did() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        token_body("Bearer"),
        &[("cache-control", "no-store"), ("pragma", "no-cache")],
    )
    .await;
    // Metadata without token_endpoint_auth_methods_supported: RFC 8414 §2 says that means
    // client_secret_basic, so META-007 runs Basic (and passes), META-006 has nothing to try
    // and skips (it judged nothing: no pass).
    Mock::given(method("GET"))
        .and(path("/meta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": server.uri(),
            "token_endpoint": format!("{}/token", server.uri()),
            "response_types_supported": ["code"]
        })))
        .mount(&server)
        .await;
    // Introspection: a bare 400 for a request without `token`; otherwise the token
    // belongs to the body's client_id (a server that issued to the unauthenticated id).
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .and(body_string_contains("token="))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"active": true, "client_id": "client-b"})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(ResponseTemplate::new(400))
        .with_priority(2)
        .mount(&server)
        .await;
    // The password grant refused with a 404 and no JSON.
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("grant_type=password"))
        .respond_with(ResponseTemplate::new(404))
        .with_priority(1)
        .mount(&server)
        .await;
    let mut t = target(&server);
    t.metadata_url = Some(format!("{}/meta", server.uri()));
    t.introspection_url = Some(format!("{}/introspect", server.uri()));
    t.clients
        .insert(Role::Second, ClientCredentials::new("client-b", "secret-b"));
    let results = run(
        &t,
        &["META-007", "META-006", "INTRO-010", "AUTH-032", "BCP-004"],
    )
    .await;
    assert_eq!(outcome(&results, "META-007").0, Outcome::Pass);
    let (o, detail) = outcome(&results, "META-006");
    assert_eq!(o, Outcome::Skip, "{detail}");
    assert!(
        detail.contains("does not offer client_secret_post"),
        "{detail}"
    );
    // RFC 7662 defines no error for a missing token: a bare 400 warns, never fails.
    assert_eq!(outcome(&results, "INTRO-010").0, Outcome::Warn);
    // A token for the body's client_id, which never authenticated: a MUST failure.
    let (o, detail) = outcome(&results, "AUTH-032");
    assert_eq!(o, Outcome::Fail, "{detail}");
    assert!(detail.contains("client-b"), "{detail}");
    for profile in ["rfc6749", "strict", "oauth21"] {
        let settings = Settings {
            profile: profile.into(),
            ..Settings::default()
        };
        let results = runner::run_cases(
            &t,
            &only(&["BCP-004"]),
            &settings,
            &runner::http_client(settings.request_timeout),
            |_| {},
        )
        .await;
        assert_eq!(
            results[0].outcome,
            Outcome::Pass,
            "{profile}: {}",
            results[0].detail
        );
    }
    // The same server issuing to the Basic client keeps AUTH-032.
    let keeps = MockServer::start().await;
    token_endpoint(&keeps, token_body("Bearer"), &[]).await;
    Mock::given(method("POST"))
        .and(path("/introspect"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"active": true, "client_id": "client-a"})),
        )
        .mount(&keeps)
        .await;
    let mut t = target(&keeps);
    t.introspection_url = Some(format!("{}/introspect", keeps.uri()));
    t.clients
        .insert(Role::Second, ClientCredentials::new("client-b", "secret-b"));
    let results = run(&t, &["AUTH-032"]).await;
    assert_eq!(results[0].outcome, Outcome::Pass, "{}", results[0].detail);
}

/// A server whose metadata lists client_secret_basic but refuses HTTP Basic (it takes the
/// same credentials in the body) fails META-007: RFC 6749 §2.3.1 requires Basic. No fault
/// mode of the reference server can show this alone, since every other case authenticates
/// with Basic.
#[tokio::test]
async fn metadata_that_lists_basic_while_basic_is_refused_fails_meta_007() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header_exists("authorization"))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("www-authenticate", "Basic")
                .set_body_json(json!({"error": "invalid_client"})),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    token_endpoint(
        &server,
        token_body("Bearer"),
        &[("cache-control", "no-store")],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/meta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": server.uri(),
            "token_endpoint": format!("{}/token", server.uri()),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "response_types_supported": ["code"]
        })))
        .mount(&server)
        .await;
    let mut t = target(&server);
    t.metadata_url = Some(format!("{}/meta", server.uri()));
    let results = run(&t, &["META-007", "META-006"]).await;
    let (o, detail) = outcome(&results, "META-007");
    assert_eq!(o, Outcome::Fail, "{detail}");
    assert!(detail.contains("401"), "{detail}");
    assert_eq!(outcome(&results, "META-006").0, Outcome::Pass);
}
