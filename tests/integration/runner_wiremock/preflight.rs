//! The preflight against scripted servers: it finds the scope a server requires, ends a run
//! with wrong credentials or URLs before any verdict with what to check, and quotes the
//! server's own refusal.

use grantcheck::case::Role;
use grantcheck::runner::Outcome;
use grantcheck::target::ClientCredentials;
use serde_json::json;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{outcome, preflight, run, target, token_body, token_endpoint};

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
