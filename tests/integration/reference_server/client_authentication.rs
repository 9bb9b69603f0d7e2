//! Client authentication: Basic's form-encoded id and secret, 401 with a matching challenge
//! (on every endpoint), and brute-force protection that slows one address without locking
//! out a client that knows its secret.

use std::time::Duration;

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::ServerConfig;
use serde_json::Value;

use super::CC;

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
