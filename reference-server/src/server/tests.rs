//! The resource server over real sockets: its introspection calls go over HTTP to the realm
//! that issued the token.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::ReferenceServer;
use crate::config::{ServerConfig, TokenFormat};

/// The brief's token request: client_secret_post, scope `write`.
const BRIEF: &str =
    "grant_type=client_credentials&client_id=myClient&client_secret=forgerock&scope=write";

struct Answer {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

/// A form POST (`form`) or a GET with a bearer token.
async fn send(url: &str, form: Option<&str>, bearer: Option<&str>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = hyper::Request::builder().uri(url);
    if let Some(token) = bearer {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = match form {
        Some(form) => request
            .method(hyper::Method::POST)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(form.to_owned()))),
        None => request.body(Full::new(Bytes::new())),
    };
    let response = client.request(request.unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        challenge,
        body,
    }
}

async fn token(url: &str, form: &str) -> String {
    let answer = send(url, Some(form), None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_alpha_token_is_validated_at_alpha_over_http() {
    for token_format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let config = ServerConfig {
            token_format,
            ..ServerConfig::default()
        };
        let server = ReferenceServer::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let resource = server.resource_url();
        let introspect = |token: &str| {
            let form = format!("token={token}&client_id=rs-client&client_secret=rs-secret");
            let url = server.introspection_url("alpha");
            async move { send(&url, Some(&form), None).await.body }
        };

        let alpha = token(&server.token_url("alpha"), BRIEF).await;
        let served = send(&resource, None, Some(&alpha)).await;
        assert_eq!(served.status, 200, "{token_format:?}: {}", served.body);
        assert_eq!(served.body["client_id"], "myClient");
        assert_eq!(served.body["scope"], "write");
        let introspected = introspect(&alpha).await;
        assert_eq!(introspected["active"], true);
        assert_eq!(introspected["iss"], server.issuer("alpha"));

        let revoke = format!("token={alpha}&client_id=myClient&client_secret=forgerock");
        let revoked = send(&server.revocation_url("alpha"), Some(&revoke), None).await;
        assert_eq!(revoked.status, 200);
        assert_eq!(introspect(&alpha).await, json!({"active": false}));
        let refused = send(&resource, None, Some(&alpha)).await;
        assert_eq!(refused.status, 401, "{token_format:?}");
        assert_eq!(refused.body["error"], "invalid_token");
        assert!(refused
            .challenge
            .unwrap()
            .contains("error=\"invalid_token\""));

        // Root tokens keep working; alpha refuses a client registered only in root.
        let root = token(&server.token_url("root"), BRIEF).await;
        assert_eq!(send(&resource, None, Some(&root)).await.status, 200);
        let other =
            "grant_type=client_credentials&client_id=otherClient&client_secret=other-secret-2";
        let refused = send(&server.token_url("alpha"), Some(other), None).await;
        assert_eq!(
            (refused.status, refused.body["error"].as_str()),
            (401, Some("invalid_client"))
        );
        server.shutdown().await;
    }
}
