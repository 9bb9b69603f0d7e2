//! Discovery against scripted servers: RFC 8414 path insertion, then the OpenID location;
//! explicit URLs override it; a failed discovery is a runtime error listing what was tried.

use grantcheck::exit::Exit;
use grantcheck::runner::{self};
use grantcheck::target::{self, EndpointOverrides};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::main_client;

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
