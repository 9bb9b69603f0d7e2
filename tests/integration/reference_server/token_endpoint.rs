//! The token endpoint: the brief's request gets the brief's response, request errors use
//! RFC 6749's codes, legal variations are accepted, `--require-scope` refuses requests without
//! a scope, and only POST reaches it.

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::ServerConfig;

use super::CC;

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
