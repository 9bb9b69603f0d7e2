//! The runner against scripted servers (wiremock): discovery and its fallback, skip reasons,
//! legal variations that must pass, broken answers that must fail readably, and servers
//! whose answers change between steps.

use std::collections::BTreeMap;

use grantcheck::case::{Case, Role};
use grantcheck::exit::Exit;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use grantcheck::target::{self, ClientCredentials, EndpointOverrides, Target};
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
async fn cases_without_what_they_need_are_skipped_with_the_reason() {
    let server = MockServer::start().await;
    token_endpoint(&server, token_body("Bearer"), &[]).await;
    let results = run(
        &target(&server),
        &[
            "INTRO-001",
            "REVOKE-006",
            "AUTH-024",
            "RS-001",
            "META-002",
            "PARAM-007",
        ],
    )
    .await;
    let reasons: Vec<(String, Outcome, String)> = results
        .iter()
        .map(|r| (r.id.clone(), r.outcome, r.detail.clone()))
        .collect();
    for (id, o, detail) in &reasons {
        assert_eq!(*o, Outcome::Skip, "{id}: {detail}");
    }
    let reason = |id: &str| reasons.iter().find(|r| r.0 == id).unwrap().2.clone();
    assert!(reason("INTRO-001").contains("introspection endpoint"));
    assert!(reason("REVOKE-006").contains("revocation endpoint"));
    assert!(reason("AUTH-024").contains("'disabled' client"));
    assert!(reason("RS-001").contains("protected resource"));
    assert!(reason("META-002").contains("metadata"));
    assert!(reason("PARAM-007").contains("two scopes"));
}

#[tokio::test]
async fn long_lived_tokens_skip_expiry_cases_instead_of_waiting() {
    let server = MockServer::start().await;
    token_endpoint(&server, token_body("Bearer"), &[]).await;
    let mut t = target(&server);
    t.introspection_url = Some(format!("{}/introspect", server.uri()));
    let started = std::time::Instant::now();
    let results = run(&t, &["RESP-015"]).await;
    let (o, detail) = outcome(&results, "RESP-015");
    assert_eq!(o, Outcome::Skip);
    assert!(
        detail.contains("3600 s, longer than --max-wait 10 s"),
        "{detail}"
    );
    assert!(started.elapsed().as_secs() < 5);
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
async fn discovery_uses_rfc8414_path_insertion_then_openid_fallback() {
    let server = MockServer::start().await;
    let http = runner::http_client(std::time::Duration::from_secs(5));
    let issuer = format!("{}/tenant1", server.uri());
    // Only the OpenID location exists.
    Mock::given(method("GET"))
        .and(path("/tenant1/.well-known/openid-configuration"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer, "token_endpoint": format!("{}/t/token", server.uri()),
            "introspection_endpoint": format!("{}/t/introspect", server.uri()),
        })))
        .mount(&server)
        .await;
    let t = target::discover(
        &http,
        &grantcheck::settings::Settings::default(),
        Some(&issuer),
        EndpointOverrides::default(),
        main_client(),
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(t.token_url, format!("{}/t/token", server.uri()));
    assert_eq!(
        t.metadata_url.as_deref(),
        Some(format!("{}/tenant1/.well-known/openid-configuration", server.uri()).as_str())
    );
    assert!(t.revocation_url.is_none());
    // RFC 8414 wins when both exist, and explicit URLs override discovery.
    Mock::given(method("GET"))
        .and(path("/.well-known/oauth-authorization-server/tenant1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "issuer": issuer, "token_endpoint": format!("{}/rfc8414/token", server.uri()),
        })))
        .mount(&server)
        .await;
    let overrides = EndpointOverrides {
        revocation_url: Some("http://127.0.0.1:9/revoke".into()),
        ..Default::default()
    };
    let t = target::discover(
        &http,
        &grantcheck::settings::Settings::default(),
        Some(&issuer),
        overrides,
        main_client(),
        vec![],
        None,
    )
    .await
    .unwrap();
    assert_eq!(t.token_url, format!("{}/rfc8414/token", server.uri()));
    assert_eq!(
        t.revocation_url.as_deref(),
        Some("http://127.0.0.1:9/revoke")
    );
}

#[tokio::test]
async fn failed_discovery_is_a_runtime_error_that_lists_what_was_tried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/.well-known/oauth-authorization-server"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>login</html>", "text/html"))
        .mount(&server)
        .await;
    let http = runner::http_client(std::time::Duration::from_secs(5));
    let err = target::discover(
        &http,
        &grantcheck::settings::Settings::default(),
        Some(&server.uri()),
        EndpointOverrides::default(),
        main_client(),
        vec![],
        None,
    )
    .await
    .unwrap_err();
    assert_eq!(err.exit, Exit::Runtime);
    assert!(
        err.message
            .contains("/.well-known/oauth-authorization-server: not a JSON object"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("/.well-known/openid-configuration: HTTP 404"),
        "{}",
        err.message
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

// ---- Verdicts a user can trust: preflight, blocked cases, rate limits ----

async fn preflight(target: &mut Target) -> grantcheck::preflight::Preflight {
    let settings = Settings::default();
    let http = runner::http_client(settings.request_timeout);
    grantcheck::preflight::run(target, &settings, &http).await
}

/// A server that refuses token requests without a scope (legal: RFC 6749 §3.3) and
/// issues one with `scope=read`.
async fn scope_requiring_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("scope=read"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"access_token": "tok-0123456789", "token_type": "Bearer", "expires_in": 3600, "scope": "read"}))
                .insert_header("cache-control", "no-store")
                .insert_header("pragma", "no-cache"),
        )
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_scope"}))
                .insert_header("cache-control", "no-store"),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn the_preflight_finds_the_scope_a_server_requires_and_cases_use_it() {
    let server = scope_requiring_server().await;
    let mut target = target(&server);
    let found = preflight(&mut target).await;
    assert!(found.fatal().is_none(), "{found:?}");
    assert_eq!(target.baseline.token_scope.as_deref(), Some("read"));
    assert_eq!(
        found.findings[0].status,
        grantcheck::preflight::Status::Adjusted
    );
    // Cases about Basic, response headers and parameters now get their token; the
    // case about omitting the scope still sends none, and invalid_scope is legal there.
    let ids = [
        "AUTH-001",
        "RESP-001",
        "RESP-008",
        "RESP-009",
        "PARAM-010",
        "SCOPE-003",
    ];
    let results = run(&target, &ids).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
    }
    // Without the preflight's scope they would have been refused: the token-response
    // cases block rather than fail, and AUTH-001 (issuance itself) fails.
    let mut bare = target.clone();
    bare.baseline = Default::default();
    let results = run(&bare, &ids).await;
    assert_eq!(outcome(&results, "AUTH-001").0, Outcome::Fail);
    for id in ["RESP-001", "RESP-008", "RESP-009"] {
        let (o, detail) = outcome(&results, id);
        assert_eq!(o, Outcome::Blocked, "{id}: {detail}");
        assert!(detail.contains("400 invalid_scope"), "{detail}");
    }
}

#[tokio::test]
async fn wrong_credentials_and_wrong_urls_end_in_the_preflight_with_what_to_check() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"error": "invalid_client"}))
                .insert_header("www-authenticate", "Basic realm=\"x\""),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/static"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("<html>hello</html>", "text/html"))
        .mount(&server)
        .await;
    let mut t = target(&server);
    let found = preflight(&mut t).await;
    let fatal = found.fatal().expect("no verdict without a token");
    assert!(
        fatal.contains("client-a got 401 invalid_client")
            && fatal.contains("check --client-id/--client-secret"),
        "{fatal}"
    );
    assert!(!fatal.contains("secret-a"), "{fatal}");
    let mut t = target(&server);
    t.token_url = format!("{}/static", server.uri());
    let fatal = preflight(&mut t).await.fatal().unwrap().to_owned();
    assert!(
        fatal.contains("200 text/html") && fatal.contains("check --token-url"),
        "{fatal}"
    );
}

#[tokio::test]
async fn a_setup_step_that_gets_no_token_blocks_its_case_instead_of_failing_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(403))
        .mount(&server)
        .await;
    let mut t = target(&server);
    t.introspection_url = Some(format!("{}/introspect", server.uri()));
    t.revocation_url = Some(format!("{}/revoke", server.uri()));
    let results = run(&t, &["INTRO-001", "REVOKE-009", "JWTAT-001", "RESP-004"]).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Blocked, "{}: {}", r.id, r.detail);
        assert!(r.detail.contains("403 with an empty body"), "{}", r.detail);
    }
    let (_, detail) = outcome(&results, "INTRO-001");
    assert!(
        detail.contains("setup step 'issue' needed an access token"),
        "{detail}"
    );
    let summary = grantcheck::report::Summary::of(&results);
    assert_eq!(summary.blocked, 4);
    let verdict = grantcheck::verdict::decide(&grantcheck::verdict::Evidence {
        summary,
        ..Default::default()
    });
    assert_eq!(verdict.exit(), Exit::Runtime);
}

#[tokio::test]
async fn a_rate_limit_is_waited_out_once_and_otherwise_blocks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    token_endpoint(&server, token_body("Bearer"), &[]).await;
    let started = std::time::Instant::now();
    let results = run(&target(&server), &["AUTH-001"]).await;
    assert_eq!(results[0].outcome, Outcome::Pass, "{}", results[0].detail);
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));

    let limited = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "30"))
        .mount(&limited)
        .await;
    let started = std::time::Instant::now();
    let results = run(&target(&limited), &["AUTH-001", "AUTH-010", "RESP-008"]).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Blocked, "{}: {}", r.id, r.detail);
        assert!(r.detail.contains("rate limiting"), "{}", r.detail);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let mut t = target(&limited);
    let fatal = preflight(&mut t).await.fatal().unwrap().to_owned();
    assert!(
        fatal.contains("rate limiting") && fatal.contains("--pace"),
        "{fatal}"
    );
}

#[tokio::test]
async fn a_refused_secondary_credential_skips_the_cases_that_need_it() {
    let server = crate::common::server::start(reference_server::ServerConfig::default()).await;
    let mut t = Target::reference(&server);
    t.clients
        .insert(Role::Second, ClientCredentials::new("otherClient", "typo"));
    t.clients.insert(
        Role::Introspector,
        ClientCredentials::new("rs-client", "typo"),
    );
    let found = preflight(&mut t).await;
    assert!(found.fatal().is_none());
    let second = &t.baseline.unusable_clients[&Role::Second];
    assert!(second.contains("check --second-client-id"), "{second}");
    let introspector = &t.baseline.unusable_clients[&Role::Introspector];
    assert!(
        introspector.contains("check --introspect-client-id"),
        "{introspector}"
    );
    // With the typo these revocation cases would have passed (a 401 looks like a refusal)
    // and the introspection ones failed; now they say why they did not run.
    let results = run(&t, &["REVOKE-006", "REVOKE-013", "INTRO-001", "INTRO-003"]).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Skip, "{}: {}", r.id, r.detail);
    }
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

/// A case whose only judged step is left out by a condition has judged nothing: it skips
/// with the condition, never passes (the loader refuses such cases; the runner holds too
/// for cases built without it).
#[tokio::test]
async fn a_case_that_judged_nothing_skips_instead_of_passing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/meta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issuer": server.uri()})))
        .mount(&server)
        .await;
    let case: Case = toml::from_str(
        r#"
id = "X-001"
title = "t"
spec = "s"
level = "MUST"
[[step]]
setup = true
endpoint = "metadata"
capture = { issuer = "/issuer" }
[[step]]
name = "judge"
run_if = { var = "issuer", contains = "nowhere" }
endpoint = "metadata"
"#,
    )
    .unwrap();
    let mut t = target(&server);
    t.metadata_url = Some(format!("{}/meta", server.uri()));
    let settings = Settings::default();
    let results = runner::run_cases(
        &t,
        &[case],
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await;
    assert_eq!(results[0].outcome, Outcome::Skip, "{}", results[0].detail);
    assert!(
        results[0].detail.contains("nothing was judged") && results[0].detail.contains("nowhere"),
        "{}",
        results[0].detail
    );
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

/// The preflight's refusal messages quote the server's own `error` and `error_description`,
/// so the user sees the cause: for the main client and for a JWT client.
#[tokio::test]
async fn preflight_refusals_quote_the_servers_error_description() {
    use grantcheck::jose::{Alg, SigningKey};
    let refused = |description: &str| {
        ResponseTemplate::new(401)
            .insert_header("www-authenticate", "Basic")
            .set_body_json(json!({"error": "invalid_client", "error_description": description}))
    };
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(refused(
            "client authentication failed: unknown client\nretry",
        ))
        .mount(&server)
        .await;
    let mut t = target(&server);
    let fatal = preflight(&mut t).await.fatal().unwrap().to_owned();
    assert!(
        fatal
            .contains("401 invalid_client (\"client authentication failed: unknown clientretry\")"),
        "{fatal}"
    );

    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("client_assertion="))
        .respond_with(refused("Invalid claim: 'aud'"))
        .with_priority(1)
        .mount(&server)
        .await;
    token_endpoint(&server, token_body("Bearer"), &[]).await;
    let mut t = target(&server);
    let key = SigningKey::generate(Alg::Es256).unwrap();
    t.clients
        .insert(Role::KeyJwt, ClientCredentials::with_key("jwt-client", key));
    let found = preflight(&mut t).await;
    assert!(found.fatal().is_none(), "{found:#?}");
    let jwt = found
        .findings
        .iter()
        .find(|f| f.message.contains("private_key_jwt"))
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        jwt.message
            .contains("401 invalid_client (\"Invalid claim: 'aud'\")"),
        "{}",
        jwt.message
    );
}

/// A missing prerequisite is never an error: a step that needs the token an earlier step
/// did not obtain blocks; a token without `expires_in` (RFC 6749 §5.1: RECOMMENDED) leaves
/// nothing to wait out, so the case skips; one with a non-numeric `expires_in` blocks.
#[tokio::test]
async fn missing_prerequisites_block_or_skip_never_error() {
    let case = |body: &str| -> Case { toml::from_str(body).unwrap() };
    let needs_token = case(
        r#"
id = "X-010"
title = "t"
spec = "s"
level = "MUST"
[[step]]
form = { grant_type = "client_credentials" }
[step.expect]
checks = ["token_or_invalid_scope"]
[[step]]
name = "use it"
endpoint = "introspection"
form = { token = "{access_token}" }
"#,
    );
    let waits = case(
        r#"
id = "X-011"
title = "t"
spec = "s"
level = "MUST"
[[step]]
setup = true
form = { grant_type = "client_credentials" }
[[step]]
name = "after expiry"
endpoint = "introspection"
wait_for_expiry = true
form = { token = "{access_token}" }
"#,
    );
    let settings = Settings::default();
    let http = runner::http_client(settings.request_timeout);
    let outcomes = |server: &MockServer, case: &Case| {
        let mut t = target(server);
        t.introspection_url = Some(format!("{}/introspect", server.uri()));
        let (case, settings, http) = (case.clone(), settings.clone(), http.clone());
        async move {
            let results = runner::run_cases(&t, &[case], &settings, &http, |_| {}).await;
            (results[0].outcome, results[0].detail.clone())
        }
    };
    let refuses = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_scope"})))
        .mount(&refuses)
        .await;
    let (o, detail) = outcomes(&refuses, &needs_token).await;
    assert_eq!(o, Outcome::Blocked, "{detail}");
    assert!(detail.contains("{access_token}"), "{detail}");

    let no_lifetime = MockServer::start().await;
    let body = json!({"access_token": "tok-0123456789", "token_type": "Bearer"});
    token_endpoint(&no_lifetime, body, &[]).await;
    let (o, detail) = outcomes(&no_lifetime, &waits).await;
    assert_eq!(o, Outcome::Skip, "{detail}");
    assert!(detail.contains("no expires_in"), "{detail}");

    let text_lifetime = MockServer::start().await;
    let body = json!({"access_token": "tok-0123456789", "token_type": "Bearer", "expires_in": "2"});
    token_endpoint(&text_lifetime, body, &[]).await;
    let (o, detail) = outcomes(&text_lifetime, &waits).await;
    assert_eq!(o, Outcome::Blocked, "{detail}");
    assert!(detail.contains("\"2\", not a number"), "{detail}");
}
