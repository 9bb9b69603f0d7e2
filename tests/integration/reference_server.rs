//! The reference server, end to end over HTTP on loopback: it must implement the flow
//! correctly, because every conformance verdict is calibrated against it.

use std::time::Duration;

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{ServerConfig, TokenFormat};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const CC: &str = "grant_type=client_credentials";

/// A token request authenticated by a client assertion (RFC 7523 §2.2): `jwtClient` signs
/// with its test-only fixture key (`private_key_jwt`), `hmacClient` MACs with its secret.
fn asserted(method: &str, token_url: &str) -> String {
    use grantcheck::jose::{AssertionBuilder, AssertionFlaw, SigningKey};
    let (id, key) = if method == "private_key_jwt" {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys/client-es256.jwk.json");
        ("jwtClient", SigningKey::from_file(&path, None).unwrap())
    } else {
        let secret = reference_server::Secret::new("hmac-secret-0123456789abcdef0123456789abcdef");
        ("hmacClient", SigningKey::hmac(secret, None))
    };
    let mut builder = AssertionBuilder::new(std::sync::Arc::new(key), id, token_url);
    let assertion = builder
        .build(&AssertionFlaw::None, grantcheck::jose::unix_now())
        .unwrap();
    format!(
        "{CC}&client_id={id}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        assertion.expose()
    )
}

#[tokio::test]
async fn the_briefs_request_gets_the_briefs_response_in_both_realms() {
    let server = start(ServerConfig::default()).await;
    let body =
        "grant_type=client_credentials&client_id=myClient&client_secret=forgerock&scope=write";
    for url in [
        server.token_url("root"),
        format!(
            "{}/oauth2/realms/root/realms/alpha/access_token",
            server.base_url()
        ),
    ] {
        let reply = post_form(&url, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {reply:?}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        assert_eq!(reply.header("pragma"), Some("no-cache"));
        let json = reply.json();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
        assert_eq!(json["token_type"], "Bearer");
        assert_eq!(json["scope"], "write");
        assert_eq!(json["expires_in"], 3600);
        assert!(json["access_token"].as_str().unwrap().len() >= 43);
        assert!(json.get("refresh_token").is_none());
    }
}

#[tokio::test]
async fn basic_auth_form_decodes_id_and_secret() {
    let server = start(ServerConfig::default()).await;
    let url = server.token_url("root");
    // The fixture client "s:1 %&+ä" / "p+w/=:&ä q" only works if both are form-decoded.
    let reply = post_basic(&url, "s:1 %&+ä", "p+w/=:&ä q", CC).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    // Sent raw, "+" decodes to a space and ":" splits early: refused.
    let raw = raw_basic("s:1 %&+ä:p+w/=:&ä q");
    let reply = send(
        Method::POST,
        &url,
        &[("content-type", FORM), ("authorization", &raw)],
        CC,
    )
    .await;
    assert!(!reply.has_token(), "{reply:?}");
    // client_secret_post with the same client.
    let body = format!(
        "{CC}&client_id={}&client_secret={}",
        grantcheck::form::encode("s:1 %&+ä"),
        grantcheck::form::encode("p+w/=:&ä q")
    );
    assert_eq!(post_form(&url, &body).await.status, StatusCode::OK);
    // The scheme name is case-insensitive.
    let lower = basic("myClient", "forgerock").replacen("Basic", "bAsIc", 1);
    let reply = send(
        Method::POST,
        &url,
        &[("content-type", FORM), ("authorization", &lower)],
        CC,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn failed_client_authentication_is_401_with_a_matching_challenge() {
    let server = start(ServerConfig::default()).await;
    let url = server.token_url("root");
    let cases = [
        ("myClient", "wrong"),
        ("myClient", "FORGEROCK"),
        ("myClient", "forgerock "),
        ("myClient", " forgerock"),
        ("myClient", "forgeroc"),
        ("myClient", "forgerockx"),
        ("myClient", ""),
        ("myClient ", "forgerock"),
        ("myclient", "forgerock"),
        ("nosuch", "forgerock"),
        ("disabledClient", "disabled-secret"),
        ("rs-client", "wrong"),
    ];
    for (id, secret) in cases {
        let reply = post_basic(&url, id, secret, CC).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{id:?}/{secret:?}");
        assert_eq!(reply.error(), "invalid_client");
        assert!(reply
            .header("www-authenticate")
            .unwrap()
            .starts_with("Basic realm="));
        assert!(!reply.has_token());
    }
    // client_secret_post failures and no authentication at all: 401 with a challenge too.
    for body in [
        format!("{CC}&client_id=myClient&client_secret=wrong"),
        format!("{CC}&client_id=myClient&client_secret="),
        format!("{CC}&client_id=myClient"),
        CC.to_string(),
        format!("{CC}&client_secret=forgerock"),
    ] {
        let reply = post_form(&url, &body).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(reply.error(), "invalid_client");
        assert!(reply.header("www-authenticate").is_some());
    }
    // Credentials in the URL are not client authentication.
    let reply = post_form(
        &format!("{url}?client_id=myClient&client_secret=forgerock"),
        CC,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Malformed Basic payloads and other schemes are still attempts to authenticate with the
    // Authorization header: 401 and a challenge (RFC 6749 §5.2). For another scheme the
    // challenge is Basic, the only scheme this endpoint accepts.
    let bearer = basic("myClient", "forgerock").replacen("Basic", "Bearer", 1);
    for header in [
        "Basic !!!",
        "Basic ",
        "Basic",
        &raw_basic("myClient"),
        &raw_basic("foo with %:bar"),
        &raw_basic("my\u{0}Client:forgerock\u{ff}"),
        &bearer,
        "Bearer x",
        "Digest username=\"myClient\", realm=\"x\", nonce=\"1\", uri=\"/\", response=\"2\"",
        "SOME_KEY abc",
    ] {
        let reply = send(
            Method::POST,
            &url,
            &[("content-type", FORM), ("authorization", header)],
            CC,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{header}");
        assert_eq!(reply.error(), "invalid_client", "{header}");
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Basic realm="),
            "{header}: {challenge}"
        );
    }
    // A client registered for Basic only may not use the body.
    let reply = post_form(
        &url,
        &format!("{CC}&client_id=basicOnlyClient&client_secret=basic-only-secret"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Realm membership: otherClient is not registered in alpha.
    let alpha = format!(
        "{}/oauth2/realms/root/realms/alpha/access_token",
        server.base_url()
    );
    let reply = post_basic(&alpha, "otherClient", "other-secret-2", CC).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

/// RFC 9110 §15.5.2: every 401 carries WWW-Authenticate, on every endpoint and method, for
/// every way of getting authentication wrong.
#[tokio::test]
async fn every_401_carries_a_challenge() {
    let server = start(ServerConfig::default()).await;
    let alpha = format!("{}/oauth2/realms/root/realms/alpha", server.base_url());
    let urls = [
        server.token_url("root"),
        server.introspection_url("root"),
        server.revocation_url("root"),
        format!("{alpha}/access_token"),
        format!("{alpha}/introspect"),
        format!("{alpha}/token/revoke"),
        server.resource_url(),
    ];
    let wrong = basic("myClient", "wrong");
    let unknown = basic("nosuch", "x");
    let no_colon = raw_basic("myClient");
    let authorizations = [
        None,
        Some(wrong.as_str()),
        Some(unknown.as_str()),
        Some(no_colon.as_str()),
        Some("Basic !!!"),
        Some("Bearer not-a-token"),
        Some("Digest username=\"myClient\""),
    ];
    let bodies = [
        format!("{CC}&token=x"),
        format!("{CC}&token=x&client_id=myClient&client_secret=wrong"),
        format!("{CC}&token=x&client_id=myClient"),
    ];
    let methods = [Method::GET, Method::POST, Method::PUT, Method::DELETE];
    let mut unauthorized = 0;
    for url in &urls {
        for method in &methods {
            for authorization in authorizations {
                for body in &bodies {
                    let mut headers = vec![("content-type", FORM)];
                    if let Some(value) = authorization {
                        headers.push(("authorization", value));
                    }
                    let target = format!("{url}?{body}");
                    let reply = send(method.clone(), &target, &headers, body).await;
                    assert!(!reply.has_token());
                    if reply.status == StatusCode::UNAUTHORIZED {
                        unauthorized += 1;
                        assert!(
                            reply.header("www-authenticate").is_some(),
                            "{method} {url} {authorization:?} {body}: {reply:?}"
                        );
                    }
                    let basic_attempt = authorization.is_some_and(|a| a.starts_with("Basic"));
                    let error = serde_json::from_slice::<Value>(&reply.body)
                        .ok()
                        .and_then(|v| v["error"].as_str().map(str::to_owned));
                    if basic_attempt && error.as_deref() == Some("invalid_client") {
                        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{url}");
                        let challenge = reply.header("www-authenticate").unwrap();
                        assert!(challenge.starts_with("Basic "), "{url}: {challenge}");
                    }
                }
            }
        }
    }
    assert!(unauthorized > 100, "only {unauthorized} answers were 401");
}

#[tokio::test]
async fn request_errors_use_the_rfc_6749_codes() {
    let server = start(ServerConfig::default()).await;
    let url = server.token_url("root");
    let cases: &[(&str, StatusCode, &str)] = &[
        ("scope=write", StatusCode::BAD_REQUEST, "invalid_request"),
        ("grant_type=", StatusCode::BAD_REQUEST, "invalid_request"),
        (
            "Grant_Type=client_credentials",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type[]=client_credentials",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=foo",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "grant_type=password&username=u&password=p",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "grant_type=Client_Credentials",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials%20",
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "grant_type=client_credentials&grant_type=client_credentials",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=read&scope=write",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=bogus",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=admin",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=READ",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=read%0Ainjected",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=a%22b",
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "grant_type=client_credentials&scope=%FF%FE",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&scope=%zz",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&client_secret=forgerock",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "grant_type=client_credentials&client_id=otherClient",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ];
    for (body, status, error) in cases {
        let reply = post_basic(&url, "myClient", "forgerock", body).await;
        assert_eq!(reply.status, *status, "{body}: {reply:?}");
        assert_eq!(reply.error(), *error, "{body}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let description = reply.json()["error_description"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            description
                .bytes()
                .all(|b| matches!(b, 0x20..=0x21 | 0x23..=0x5B | 0x5D..=0x7E)),
            "{description}"
        );
    }
    // Not allowed the grant; public client.
    let reply = post_basic(&url, "noGrantClient", "no-grant-secret", CC).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    let reply = post_form(&url, &format!("{CC}&client_id=publicClient")).await;
    assert_eq!(
        (reply.status, reply.error().as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client")
    );
    // Wrong content types.
    let auth = basic("myClient", "forgerock");
    for content_type in [
        None,
        Some("application/json"),
        Some("text/plain"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(ct) = content_type {
            headers.push(("content-type", ct));
        }
        let reply = send(Method::POST, &url, &headers, CC).await;
        assert_eq!(
            (reply.status, reply.error().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{content_type:?}"
        );
    }
    // Two Authorization headers.
    let reply = send(
        Method::POST,
        &url,
        &[
            ("content-type", FORM),
            ("authorization", &auth),
            ("authorization", &basic("otherClient", "other-secret-2")),
        ],
        CC,
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn legal_variations_are_accepted() {
    let server = start(ServerConfig::default()).await;
    let url = server.token_url("root");
    let auth = basic("myClient", "forgerock");
    let ok = |reply: &Reply| reply.status == StatusCode::OK && reply.has_token();
    // Media type parameters and case.
    let reply = send(
        Method::POST,
        &url,
        &[
            (
                "content-type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            ),
            ("authorization", &auth),
        ],
        CC,
    )
    .await;
    assert!(ok(&reply), "{reply:?}");
    for body in [
        "grant_type=client%5Fcredentials",
        "&&grant_type=client_credentials&",
        "grant_type=client_credentials&foo=bar&x-ext=1",
        "grant_type=client_credentials&foo=&bar",
        "grant_type=client_credentials&client_id=myClient",
        "grant_type=client_credentials&client_secret=",
        "grant_type=client_credentials&scope=",
        "grant_type=client_credentials&username=u&password=p&code=x&redirect_uri=https%3A%2F%2Fx",
    ] {
        let reply = post_basic(&url, "myClient", "forgerock", body).await;
        assert!(ok(&reply), "{body}: {reply:?}");
        assert!(reply.json().get("refresh_token").is_none());
    }
    // Scope: order, "+" as space, duplicates, default.
    let scope_of = |reply: Reply| reply.json()["scope"].as_str().unwrap().to_owned();
    assert_eq!(
        scope_of(
            post_basic(
                &url,
                "myClient",
                "forgerock",
                "grant_type=client_credentials&scope=write%20read"
            )
            .await
        ),
        "write read"
    );
    assert_eq!(
        scope_of(
            post_basic(
                &url,
                "myClient",
                "forgerock",
                "grant_type=client_credentials&scope=read+write"
            )
            .await
        ),
        "read write"
    );
    assert_eq!(
        scope_of(
            post_basic(
                &url,
                "myClient",
                "forgerock",
                "grant_type=client_credentials&scope=read%20read"
            )
            .await
        ),
        "read"
    );
    assert_eq!(
        scope_of(post_basic(&url, "myClient", "forgerock", CC).await),
        "write"
    );
    assert_eq!(
        scope_of(
            post_basic(
                &url,
                "otherClient",
                "other-secret-2",
                "grant_type=client_credentials&scope=admin"
            )
            .await
        ),
        "admin"
    );
}

#[tokio::test]
async fn require_scope_refuses_requests_without_a_scope() {
    let config = ServerConfig {
        require_scope: true,
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let url = server.token_url("root");
    // myClient has a default scope; it is not used.
    for body in [
        CC.to_string(),
        format!("{CC}&scope="),
        format!("{CC}&scope=%20%20"),
    ] {
        let reply = post_basic(&url, "myClient", "forgerock", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}: {reply:?}");
        assert_eq!(reply.json()["error"], "invalid_scope", "{body}");
        assert!(!reply.has_token());
    }
    let post = format!("{CC}&client_id=myClient&client_secret=forgerock");
    assert_eq!(post_form(&url, &post).await.error(), "invalid_scope");
    // Wrong credentials are still invalid_client: authentication comes first.
    let reply = post_basic(&url, "myClient", "wrong", CC).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // A scope works as before.
    let reply = post_basic(&url, "myClient", "forgerock", &format!("{CC}&scope=read")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["scope"], "read");
    let reply = post_basic(&url, "myClient", "forgerock", &format!("{CC}&scope=admin")).await;
    assert_eq!(reply.error(), "invalid_scope");
    server.shutdown().await;
    // Off by default: the client's default scope is granted.
    let server = start(ServerConfig::default()).await;
    let reply = post_basic(&server.token_url("root"), "myClient", "forgerock", CC).await;
    assert_eq!(reply.json()["scope"], "write");
}

#[tokio::test]
async fn only_post_reaches_the_token_endpoint() {
    let server = start(ServerConfig::default()).await;
    let url = server.token_url("root");
    let auth = basic("myClient", "forgerock");
    for method in [Method::GET, Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = send(
            method.clone(),
            &format!("{url}?{CC}"),
            &[("authorization", &auth)],
            "",
        )
        .await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.header("allow"), Some("POST"));
        assert!(!reply.has_token());
    }
}

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
async fn metadata_describes_what_the_server_does() {
    let server = start(ServerConfig::default()).await;
    for realm in ["root", "alpha"] {
        let rfc8414 = send(Method::GET, &server.metadata_url(realm), &[], "")
            .await
            .json();
        let oidc_url = format!("{}/.well-known/openid-configuration", server.issuer(realm));
        let oidc = send(Method::GET, &oidc_url, &[], "").await.json();
        assert_eq!(rfc8414, oidc);
        assert_eq!(rfc8414["issuer"], server.issuer(realm));
        assert_eq!(rfc8414["token_endpoint"], server.token_url(realm));
        assert_eq!(
            rfc8414["introspection_endpoint"],
            server.introspection_url(realm)
        );
        assert_eq!(rfc8414["revocation_endpoint"], server.revocation_url(realm));
        assert_eq!(
            rfc8414["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        // Each advertised method works.
        for method in rfc8414["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
        {
            let url = rfc8414["token_endpoint"].as_str().unwrap();
            let reply = match method.as_str().unwrap() {
                "client_secret_basic" => post_basic(url, "myClient", "forgerock", CC).await,
                "client_secret_post" => {
                    post_form(
                        url,
                        &format!("{CC}&client_id=myClient&client_secret=forgerock"),
                    )
                    .await
                }
                jwt @ ("private_key_jwt" | "client_secret_jwt") => {
                    post_form(url, &asserted(jwt, url)).await
                }
                other => panic!("unexpected method {other}"),
            };
            assert_eq!(reply.status, StatusCode::OK, "{realm} {method}");
        }
    }
    let jwks = send(Method::GET, &server.jwks_url(), &[], "").await.json();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(
        send(Method::GET, &format!("{}/nope", server.base_url()), &[], "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let unknown_realm = format!(
        "{}/oauth2/realms/root/realms/nosuch/access_token",
        server.base_url()
    );
    assert_eq!(
        post_basic(&unknown_realm, "myClient", "forgerock", CC)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
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

#[tokio::test]
async fn oversized_slow_and_malformed_requests_are_refused_cleanly() {
    let config = ServerConfig {
        header_timeout: Duration::from_millis(500),
        body_timeout: Duration::from_millis(500),
        ..ServerConfig::default()
    };
    let server = start(config).await;
    let url = server.token_url("root");
    // Over the body limit: 413, declared or streamed.
    let big = format!("{CC}&pad={}", "x".repeat(70 * 1024));
    let reply = post_basic(&url, "myClient", "forgerock", &big).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Thousands of parameters.
    let many: String = (0..5000).map(|i| format!("p{i}=1&")).collect();
    let reply = post_basic(&url, "myClient", "forgerock", &format!("{many}{CC}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    // Raw invalid UTF-8 and NUL bytes.
    let reply = post_basic(
        &url,
        "myClient",
        "forgerock",
        "grant_type=client_credentials&scope=\u{0}",
    )
    .await;
    assert!(reply.status.is_client_error());
    let reply = post_basic(&url, "myClient", "forgerock%00junk", CC).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let addr = server.addr();
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let body = b"grant_type=client_credentials&scope=\xC3\x28";
    let auth = basic("myClient", "forgerock");
    let head = format!(
        "POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\nauthorization: {auth}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    raw.write_all(head.as_bytes()).await.unwrap();
    raw.write_all(body).await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Huge header value: refused, not a 5xx.
    let huge = "x".repeat(80 * 1024);
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\nx-big: {huge}\r\n\r\n");
    let _ = raw.write_all(head.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut answer))
        .await
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    // Slow-loris headers: the connection is closed after the header timeout.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a stalled request head must be dropped");
    // A body that never finishes: 408 after the body timeout.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    let head = format!("POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\ncontent-length: 100\r\n\r\ngrant_type");
    raw.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    // A client that disconnects mid-request does not hurt the server.
    let mut raw = TcpStream::connect(addr).await.unwrap();
    raw.write_all(head.as_bytes()).await.unwrap();
    drop(raw);
    assert_eq!(
        post_basic(&url, "myClient", "forgerock", CC).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn concurrent_and_pipelined_requests_all_succeed() {
    let server = std::sync::Arc::new(start(ServerConfig::default()).await);
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let server = server.clone();
        tasks.push(tokio::spawn(async move {
            issue(&server, "myClient", "forgerock", None).await
        }));
    }
    let mut tokens = std::collections::HashSet::new();
    for task in tasks {
        tokens.insert(task.await.unwrap());
    }
    assert_eq!(tokens.len(), 100);
    for token in tokens.iter().take(10) {
        assert_eq!(introspect(&server, token).await["active"], true);
    }
    // Three pipelined requests on one connection get three answers in order.
    let auth = basic("myClient", "forgerock");
    let one = format!(
        "POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\ncontent-type: {FORM}\r\nauthorization: {auth}\r\ncontent-length: {}\r\n\r\n{CC}",
        CC.len()
    );
    let mut raw = TcpStream::connect(server.addr()).await.unwrap();
    raw.write_all(format!("{one}{one}{one}").as_bytes())
        .await
        .unwrap();
    let mut seen = String::new();
    let mut buf = vec![0; 4096];
    while seen.matches("HTTP/1.1 200").count() < 3 {
        let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "connection closed early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}

fn with_brute_force(max_failures: u32, max_delay: Duration) -> ServerConfig {
    ServerConfig {
        brute_force: Some(reference_server::BruteForce {
            max_failures,
            window: Duration::from_secs(60),
            max_delay,
        }),
        ..ServerConfig::default()
    }
}

/// A client whose connections come from `source`, one of the loopback addresses.
fn client_from(source: &str) -> reqwest::Client {
    grantcheck::http::client_builder(Duration::from_secs(10), &Default::default())
        .local_address(source.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// A token request with Basic credentials: the status and `Retry-After`.
async fn ask(http: &reqwest::Client, url: &str, id: &str, secret: &str) -> (u16, Option<String>) {
    let reply = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (reply.status().as_u16(), retry_after)
}

#[tokio::test]
async fn repeated_wrong_secrets_make_the_client_wait_at_that_address_only() {
    let server = start(with_brute_force(50, Duration::from_secs(30))).await;
    let url = server.token_url("root");
    let (here, there) = (client_from("127.0.0.1"), client_from("127.0.0.2"));
    for _ in 0..50 {
        assert_eq!(ask(&here, &url, "myClient", "wrong").await.0, 401);
    }
    // Waiting here: even the right secret waits, so guessing gains nothing.
    let locked = ask(&here, &url, "myClient", "forgerock").await;
    assert_eq!(locked, (429, Some("1".into())));
    assert_eq!(ask(&here, &url, "myClient", "wrong").await.0, 429);
    // The same client from another address, and other clients from here, are not affected.
    assert_eq!(ask(&there, &url, "myClient", "forgerock").await.0, 200);
    assert_eq!(ask(&there, &url, "myClient", "wrong").await.0, 401);
    assert_eq!(
        ask(&here, &url, "otherClient", "other-secret-2").await.0,
        200
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ask(&here, &url, "myClient", "forgerock").await.0, 200);
}

/// A source that succeeds knows the secret: its failures are forgotten, so a conformance
/// run (wrong secrets on purpose among right ones) can be repeated without a lockout.
#[tokio::test]
async fn failures_between_successes_never_lock_out() {
    let server = start(with_brute_force(5, Duration::from_secs(30))).await;
    let url = server.token_url("root");
    let here = client_from("127.0.0.1");
    for round in 0..30 {
        for _ in 0..4 {
            let status = ask(&here, &url, "myClient", "wrong").await.0;
            assert_eq!(status, 401, "round {round}");
        }
        let status = ask(&here, &url, "myClient", "forgerock").await.0;
        assert_eq!(status, 200, "round {round}");
    }
}

#[tokio::test]
async fn a_public_url_names_the_server_while_its_resource_server_introspects_locally() {
    let config = ServerConfig {
        public_url: Some("https://as.example:9443".into()),
        ..ServerConfig::default()
    };
    let server = reference_server::ReferenceServer::start(config, "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    let local = format!("http://127.0.0.1:{}", server.addr().port());
    assert_eq!(server.issuer("root"), "https://as.example:9443/oauth2");
    let metadata = send(
        Method::GET,
        &format!("{local}/.well-known/oauth-authorization-server/oauth2"),
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(metadata["issuer"], "https://as.example:9443/oauth2");
    assert_eq!(
        metadata["token_endpoint"],
        "https://as.example:9443/oauth2/access_token"
    );
    let issued = post_basic(
        &format!("{local}/oauth2/access_token"),
        "myClient",
        "forgerock",
        "grant_type=client_credentials&scope=write",
    )
    .await
    .json();
    let bearer = format!("Bearer {}", issued["access_token"].as_str().unwrap());
    let resource = send(
        Method::GET,
        &format!("{local}/api/resource"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(resource.status, StatusCode::OK, "{resource:?}");
    server.shutdown().await;
}

/// A body far over `max_body_bytes` is refused with 413 before it is read. The client is
/// still sending it then, so the server must announce the close (`Connection: close`) and
/// close gracefully: closing a socket with unread data sends a reset, which can destroy the
/// 413 in the client's receive buffer before it is read (`Broken pipe`, `connection closed
/// before message completed`). Repeated because that race only shows now and then.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_always_gets_its_413_over_http_and_tls() {
    const ATTEMPTS: usize = 50;
    let body = format!("{CC}&pad={}", "x".repeat(1024 * 1024));
    for tls in [false, true] {
        let mut config = ServerConfig::default();
        assert_eq!(config.max_body_bytes, 64 * 1024);
        let mut trust = grantcheck::http::TlsTrust::default();
        if tls {
            let identity = reference_server::TlsIdentity::generate(&[]).unwrap();
            trust
                .add_pem(identity.certificate_pem().as_bytes())
                .unwrap();
            config.tls = Some(identity);
        }
        let server = start(config).await;
        let client = grantcheck::http::client(Duration::from_secs(10), &trust).unwrap();
        let url = server.token_url("root");
        let mut failures = Vec::new();
        for attempt in 0..ATTEMPTS {
            let sent = client
                .post(&url)
                .basic_auth("myClient", Some("forgerock"))
                .header("content-type", FORM)
                .body(body.clone())
                .send()
                .await;
            let reply = match sent {
                Ok(reply) => reply,
                Err(e) => {
                    failures.push(format!("attempt {attempt}: {}", error_chain(&e)));
                    continue;
                }
            };
            assert_eq!(reply.status(), StatusCode::PAYLOAD_TOO_LARGE);
            let connection = reply.headers().get("connection").cloned();
            if connection.as_ref().map(|v| v.as_bytes()) != Some(b"close") {
                failures.push(format!("attempt {attempt}: connection: {connection:?}"));
            }
            match reply.text().await {
                Ok(text) => assert!(text.contains("invalid_request"), "{text}"),
                Err(e) => failures.push(format!("attempt {attempt}: {}", error_chain(&e))),
            }
        }
        let scheme = if tls { "https" } else { "http" };
        assert!(
            failures.is_empty(),
            "{scheme}: {} of {ATTEMPTS} attempts failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
        server.shutdown().await;
    }
}

/// An error and its causes, one after the other.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
