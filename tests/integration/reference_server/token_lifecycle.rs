//! An issued token's life: unique, introspected with its issuance values (by an authenticated
//! caller), revoked as RFC 7009 says, validated by the resource server through introspection,
//! expired everywhere; and JWT access tokens as RFC 9068 says.

use std::time::Duration;

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{ServerConfig, TokenFormat};
use serde_json::Value;

#[tokio::test]
async fn tokens_are_unique_and_introspect_with_issuance_values() {
    let server = start(ServerConfig::default()).await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..50 {
        assert!(seen.insert(issue(&server, "myClient", "forgerock", None).await));
    }
    let token = issue(&server, "myClient", "forgerock", Some("read write")).await;
    let info = introspect(&server, &token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "myClient");
    assert_eq!(info["sub"], "myClient");
    assert_eq!(info["scope"], "read write");
    assert_eq!(info["token_type"], "Bearer");
    assert_eq!(info["iss"], server.issuer("root"));
    assert_eq!(
        info["exp"].as_u64().unwrap() - info["iat"].as_u64().unwrap(),
        3600
    );
    assert!(info["jti"].is_string());
    // Hints never narrow the search.
    let url = server.introspection_url("root");
    for hint in ["access_token", "refresh_token", "foo"] {
        let reply = post_basic(
            &url,
            "rs-client",
            "rs-secret",
            &format!("token={token}&token_type_hint={hint}"),
        )
        .await;
        assert_eq!(reply.json()["active"], true, "{hint}");
    }
    // A client may introspect its own token via client_secret_post; others see nothing.
    let reply = post_form(
        &url,
        &format!("token={token}&client_id=myClient&client_secret=forgerock"),
    )
    .await;
    assert_eq!(reply.json()["active"], true);
    let reply = post_basic(
        &url,
        "otherClient",
        "other-secret-2",
        &format!("token={token}"),
    )
    .await;
    assert_eq!(reply.json(), serde_json::json!({"active": false}));
    // Tokens of one realm are unknown in another.
    let alpha = format!(
        "{}/oauth2/realms/root/realms/alpha/introspect",
        server.base_url()
    );
    let reply = post_basic(&alpha, "rs-client", "rs-secret", &format!("token={token}")).await;
    assert_eq!(reply.json(), serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_requires_caller_authentication_and_a_token() {
    let server = start(ServerConfig::default()).await;
    let token = issue(&server, "myClient", "forgerock", None).await;
    let url = server.introspection_url("root");
    let reply = post_form(&url, &format!("token={token}")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.header("www-authenticate").is_some());
    assert!(reply.json().get("active").is_none());
    let reply = post_basic(&url, "rs-client", "wrong", &format!("token={token}")).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let reply = post_basic(&url, "rs-client", "rs-secret", "").await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let reply = post_basic(&url, "rs-client", "rs-secret", "token=garbage").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({"active": false}));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let reply = send(
        Method::GET,
        &format!("{url}?token={token}"),
        &[("authorization", &basic("rs-client", "rs-secret"))],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn revocation_follows_rfc_7009() {
    let server = start(ServerConfig::default()).await;
    let url = server.revocation_url("root");
    let token = issue(&server, "myClient", "forgerock", None).await;
    // Only the owner may revoke; a refused revocation leaves the token active.
    let reply = post_basic(
        &url,
        "otherClient",
        "other-secret-2",
        &format!("token={token}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(introspect(&server, &token).await["active"], true);
    // Authentication and the token parameter are required.
    assert_eq!(
        post_form(&url, &format!("token={token}")).await.status,
        StatusCode::UNAUTHORIZED
    );
    let reply = post_basic(&url, "myClient", "forgerock", "").await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    // Unknown tokens: 200. A wrong or invalid hint changes nothing.
    assert_eq!(
        post_basic(&url, "myClient", "forgerock", "token=garbage")
            .await
            .status,
        StatusCode::OK
    );
    let reply = post_basic(
        &url,
        "myClient",
        "forgerock",
        &format!("token={token}&token_type_hint=refresh_token"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        introspect(&server, &token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        call_resource(&server, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Idempotent.
    let again = post_basic(&url, "myClient", "forgerock", &format!("token={token}")).await;
    assert_eq!(again.status, StatusCode::OK);
    let other = issue(&server, "myClient", "forgerock", None).await;
    let reply = post_basic(
        &url,
        "myClient",
        "forgerock",
        &format!("token={other}&token_type_hint=foo"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(introspect(&server, &other).await["active"], false);
}

#[tokio::test]
async fn the_resource_server_validates_through_introspection() {
    let server = start(ServerConfig::default()).await;
    let write = issue(&server, "myClient", "forgerock", Some("write")).await;
    let read = issue(&server, "myClient", "forgerock", Some("read")).await;
    let reply = call_resource(&server, &write).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["client_id"], "myClient");
    let lower = format!("bearer {write}");
    let reply = send(
        Method::GET,
        &server.resource_url(),
        &[("authorization", &lower)],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // No token: 401 + Bearer challenge without an error code (RFC 6750 §3.1).
    let reply = send(Method::GET, &server.resource_url(), &[], "").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"grantcheck\"")
    );
    // Invalid token: invalid_token.
    let reply = call_resource(&server, "garbage").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    // Insufficient scope: 403.
    let reply = call_resource(&server, &read).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let challenge = reply.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"write\""),
        "{challenge}"
    );
    // Query tokens are not accepted; header plus query is invalid_request.
    let reply = send(
        Method::GET,
        &format!("{}?access_token={write}", server.resource_url()),
        &[],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let auth = format!("Bearer {write}");
    let reply = send(
        Method::GET,
        &format!("{}?access_token={write}", server.resource_url()),
        &[("authorization", &auth)],
        "",
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn short_lived_tokens_expire_everywhere_and_are_purged() {
    let config = ServerConfig {
        purge_interval: Duration::from_millis(200),
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let token = issue(&server, "shortClient", "short-secret", None).await;
    assert_eq!(introspect(&server, &token).await["active"], true);
    assert_eq!(call_resource(&server, &token).await.status, StatusCode::OK);
    assert_eq!(server.stored_tokens(), 1);
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(
        introspect(&server, &token).await,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        call_resource(&server, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(server.stored_tokens(), 0, "expired tokens are purged");
}

#[tokio::test]
async fn jwt_access_tokens_follow_rfc_9068() {
    use base64::Engine;
    let config = ServerConfig {
        token_format: TokenFormat::Jwt,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let token = issue(&server, "myClient", "forgerock", None).await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    let header = decode(parts[0]);
    let claims = decode(parts[1]);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    let jwks = send(Method::GET, &server.jwks_url(), &[], "").await.json();
    assert_eq!(header["kid"], jwks["keys"][0]["kid"]);
    for claim in ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"] {
        assert!(claims.get(claim).is_some(), "{claim}");
    }
    assert_eq!(claims["iss"], server.issuer("root"));
    assert_eq!(introspect(&server, &token).await["active"], true);
    assert_eq!(call_resource(&server, &token).await.status, StatusCode::OK);
}
