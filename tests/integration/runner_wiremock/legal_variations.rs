//! Answers the RFCs allow pass: lower-case `bearer`, extra members, `invalid_client` as 400
//! for body credentials, no `Pragma` under `oauth21`; and INFO cases record what they observed
//! in words that read as neither a pass nor a failure.

use grantcheck::runner::{self, Outcome, Settings};
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{only, outcome, run, target, token_body, token_endpoint};

#[tokio::test]
async fn legal_variations_pass() {
    let server = MockServer::start().await;
    // Lower-case bearer, scope omitted (equal to the request), an extra member, charset.
    let mut body = token_body("bearer");
    body["x-vendor-extra"] = json!({"anything": [1, 2]});
    token_endpoint(
        &server,
        body,
        &[
            ("cache-control", "private, no-store"),
            ("pragma", "no-cache"),
            ("content-type", "application/json; charset=utf-8"),
        ],
    )
    .await;
    let results = run(
        &target(&server),
        &[
            "RESP-001",
            "RESP-004",
            "RESP-006",
            "RESP-008",
            "RESP-009",
            "SCOPE-009",
            "SCOPE-012",
            "RESP-010",
        ],
    )
    .await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
    }
}

#[tokio::test]
async fn invalid_client_as_400_without_challenge_is_legal_for_body_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("client_secret=wrong"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let results = run(&target(&server), &["AUTH-011", "ERR-008", "AUTH-013"]).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
    }
    // ... but a Basic failure must be 401 with a challenge.
    let results = run(&target(&server), &["AUTH-010"]).await;
    let (o, detail) = outcome(&results, "AUTH-010");
    assert_eq!(o, Outcome::Fail);
    assert!(detail.contains("expected status 401, got 400"), "{detail}");
}

#[tokio::test]
async fn a_missing_pragma_is_recorded_not_judged_under_oauth21() {
    let server = MockServer::start().await;
    token_endpoint(
        &server,
        token_body("Bearer"),
        &[("cache-control", "no-store")],
    )
    .await;
    let settings = Settings {
        profile: "oauth21".into(),
        ..Settings::default()
    };
    let results = runner::run_cases(
        &target(&server),
        &only(&["RESP-009", "RESP-008"]),
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
    }
    assert!(outcome(&results, "RESP-009").1.starts_with("observed:"));
    // Under rfc6749 the same answer fails RESP-009.
    let results = run(&target(&server), &["RESP-009"]).await;
    assert_eq!(results[0].outcome, Outcome::Fail);
}

/// An INFO case records what the server did, starting "observed:", in words that read as
/// neither a pass nor a failure: an issued token and a refusal alike.
#[tokio::test]
async fn info_cases_say_what_they_observed_not_pass_or_expected() {
    let issues = MockServer::start().await;
    token_endpoint(&issues, token_body("Bearer"), &[]).await;
    let refuses = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": "invalid_scope"})))
        .mount(&refuses)
        .await;
    let (o, issued) = outcome(&run(&target(&issues), &["SCOPE-008"]).await, "SCOPE-008");
    assert_eq!(o, Outcome::Pass, "{issued}");
    assert_eq!(
        issued,
        "observed: 'step 1' was answered 200, a token issued (Bearer)"
    );
    let (o, refused) = outcome(&run(&target(&refuses), &["SCOPE-008"]).await, "SCOPE-008");
    assert_eq!(o, Outcome::Pass, "{refused}");
    assert_eq!(
        refused,
        "observed: 'step 1' was answered 403 invalid_scope, no token"
    );
}
