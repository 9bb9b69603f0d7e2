//! Verdicts a user can trust when a case cannot judge: what it lacks (an endpoint, a client,
//! a token, a lifetime) makes it skip or block with the reason, never pass or error; a rate
//! limit is waited out once and otherwise blocks.

use grantcheck::case::{Case, Role};
use grantcheck::exit::Exit;
use grantcheck::runner::{self, Outcome, Settings};
use grantcheck::target::{ClientCredentials, Target};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{outcome, preflight, run, target, token_body, token_endpoint};

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
