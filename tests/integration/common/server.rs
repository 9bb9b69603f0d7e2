//! The reference server in-process on an ephemeral loopback port, and requests to it.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::HeaderMap;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use reference_server::{Fault, ReferenceServer, ServerConfig};
use serde_json::Value;

pub const FORM: &str = "application/x-www-form-urlencoded";

pub async fn start(config: ServerConfig) -> ReferenceServer {
    ReferenceServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the reference server starts")
}

pub async fn start_with(faults: &[Fault]) -> ReferenceServer {
    let mut config = ServerConfig::default();
    config.faults.extend(faults.iter().copied());
    start(config).await
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_owned()
    }

    pub fn has_token(&self) -> bool {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v.get("access_token").cloned())
            .is_some()
    }
}

/// Sends one request; `headers` are (name, value) pairs.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let response = client.request(req).await.expect("request sent");
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `Authorization: Basic` with id and secret form-encoded first (RFC 6749 §2.3.1).
pub fn basic(id: &str, secret: &str) -> String {
    raw_basic(&format!(
        "{}:{}",
        grantcheck::form::encode(id),
        grantcheck::form::encode(secret)
    ))
}

/// `Authorization: Basic base64(payload)` without any encoding of the parts.
pub fn raw_basic(payload: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(payload)
    )
}

/// POSTs a form with Basic credentials.
pub async fn post_basic(url: &str, id: &str, secret: &str, body: &str) -> Reply {
    let auth = basic(id, secret);
    send(
        Method::POST,
        url,
        &[("content-type", FORM), ("authorization", &auth)],
        body,
    )
    .await
}

/// POSTs a form without Authorization.
pub async fn post_form(url: &str, body: &str) -> Reply {
    send(Method::POST, url, &[("content-type", FORM)], body).await
}

/// Issues a token to `myClient` at the root realm and returns it.
pub async fn issue(
    server: &ReferenceServer,
    id: &str,
    secret: &str,
    scope: Option<&str>,
) -> String {
    let body = match scope {
        Some(s) => format!(
            "grant_type=client_credentials&scope={}",
            grantcheck::form::encode(s)
        ),
        None => "grant_type=client_credentials".into(),
    };
    let reply = post_basic(&server.token_url("root"), id, secret, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

pub async fn introspect(server: &ReferenceServer, token: &str) -> Value {
    let reply = post_basic(
        &server.introspection_url("root"),
        "rs-client",
        "rs-secret",
        &format!("token={}", grantcheck::form::encode(token)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply);
    reply.json()
}

pub async fn call_resource(server: &ReferenceServer, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    send(
        Method::GET,
        &server.resource_url(),
        &[("authorization", &auth)],
        "",
    )
    .await
}
