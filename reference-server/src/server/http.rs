//! The HTTP face of the server: a hyper request becomes a [`Request`] for the decision its
//! route names, and the decision's [`Reply`] becomes a hyper response. The only I/O here is
//! reading the body and, for the protected resource, asking introspection over HTTP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{
    HeaderName, HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA,
    RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::http::request::Parts;
use hyper::{HeaderMap, StatusCode};
use hyper_rustls::HttpsConnector;

use crate::mtls::ClientCertificate;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::body::{read_body, RequestBody};
use crate::app::App;
use crate::config::Fault;
use crate::endpoints::{introspection, metadata, resource, revocation, token};
use crate::form::encode_component;
use crate::request::{Body, Header, Method, Request};
use crate::response::{self, Reply, Status};
use crate::router::{endpoint_path, Endpoint};

/// The body of every response the server sends.
pub type ResponseBody = Full<Bytes>;

/// Largest total size of a request's header fields; larger requests get 431 (hyper refuses a
/// head over `MAX_HEAD_BYTES` before this is asked).
const MAX_HEADER_BYTES: usize = super::MAX_HEAD_BYTES;

/// The header by which the resource server's own introspection calls prove they are its
/// own: its value is 256 random bits made at start, which never leave the process except in
/// those calls to its own listening address. Requests that carry it are not throttled.
/// A pre-parsed name: looking a header up by a string parses and lowercases it every time.
static INTERNAL_PROOF: HeaderName = HeaderName::from_static("x-grantcheck-internal");

/// RFC 9449 §4.1: the proof of possession.
static DPOP: HeaderName = HeaderName::from_static("dpop");
/// RFC 9449 §8: the nonce the server wants in the next proof.
static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// The app and the one HTTP client it needs, shared by all connections.
pub struct Handler {
    pub app: App,
    introspection: IntrospectionClient,
    /// The value of [`INTERNAL_PROOF`] (never logged).
    internal_proof: HeaderValue,
}

impl Handler {
    /// `local_url`: where the server listens, for the resource server's introspection calls.
    pub fn new(app: App, local_url: &str) -> Handler {
        let mut proof = HeaderValue::try_from(crate::tokens::random_token(32))
            .expect("base64url is a valid header value");
        proof.set_sensitive(true);
        let introspection = IntrospectionClient::new(&app, local_url, proof.clone());
        Handler {
            app,
            introspection,
            internal_proof: proof,
        }
    }

    /// True when the request carries the internal proof (compared in constant time).
    fn is_internal(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(&INTERNAL_PROOF).iter();
        match (values.next(), values.next()) {
            (Some(value), None) => value
                .as_bytes()
                .ct_eq(self.internal_proof.as_bytes())
                .into(),
            _ => false,
        }
    }

    /// Answers one request. `arrived` is called once the request is complete (its body read,
    /// when the endpoint reads one): from then on the connection is busy, not idle, and is not
    /// shed at the connection limit.
    pub async fn handle(
        &self,
        parts: Parts,
        body: RequestBody,
        peer: IpAddr,
        certificate: Option<&ClientCertificate>,
        arrived: &(dyn Fn() + Sync),
    ) -> hyper::Response<ResponseBody> {
        into_response(self.reply(parts, body, peer, certificate, arrived).await)
    }

    async fn reply(
        &self,
        parts: Parts,
        body: RequestBody,
        peer: IpAddr,
        certificate: Option<&ClientCertificate>,
        arrived: &(dyn Fn() + Sync),
    ) -> Reply {
        let head_bytes: usize = parts
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if head_bytes > MAX_HEADER_BYTES {
            return response::error_json(
                Status::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "invalid_request",
                "request headers too large",
            );
        }
        let app = &self.app;
        let appended_only = app.config.has(Fault::MetadataAppendedOnly);
        let Some((realm, endpoint)) = app.realms.route(parts.uri.path(), appended_only) else {
            return response::not_found();
        };
        let deferred = crate::race::Deferred::default();
        let mut request = Request {
            method: match parts.method {
                hyper::Method::GET => Method::Get,
                hyper::Method::POST => Method::Post,
                _ => Method::Other,
            },
            realm,
            query: parts.uri.query().unwrap_or(""),
            authorization: header(&parts.headers, &AUTHORIZATION),
            dpop: header(&parts.headers, &DPOP),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            peer,
            client_certificate: certificate,
            internal: self.is_internal(&parts.headers),
            body: Body::Unread,
            deferred: &deferred,
        };
        let read = if endpoint.takes_form() && request.wants_body() {
            let config = &app.config;
            Some(
                read_body(
                    &parts.headers,
                    body,
                    config.max_body_bytes,
                    config.body_timeout,
                )
                .await,
            )
        } else {
            None
        };
        arrived();
        request.body = match &read {
            None => Body::Unread,
            Some(Ok(bytes)) => Body::Read(bytes),
            Some(Err(e)) => Body::Failed(*e),
        };
        let reply = match endpoint {
            Endpoint::Token => token::issue(app, &request),
            Endpoint::Introspection => introspection::introspect(app, &request),
            Endpoint::Revocation => revocation::revoke(app, &request),
            Endpoint::Metadata => metadata::metadata(app, &request),
            Endpoint::Jwks => metadata::jwks(app, &request),
            Endpoint::Resource => self.resource(&request).await,
        };
        // A race fault's window: the writes its decision deferred are made after it, and
        // before the answer (`race.rs`).
        let commits = deferred.into_commits();
        if !commits.is_empty() {
            tokio::time::sleep(crate::race::WINDOW).await;
            for commit in commits {
                commit();
            }
        }
        reply
    }

    /// The protected resource: the bearer token, the answer of the introspection of the realm
    /// that issued it (I/O; `endpoints/resource.rs` says which realms to ask and when to
    /// stop), and the decision on that answer.
    async fn resource(&self, request: &Request<'_>) -> Reply {
        let presented = match resource::presented_token(&self.app, request) {
            Ok(presented) => presented,
            Err(refusal) => return *refusal,
        };
        let token = presented.token;
        let timeout = self.app.config.body_timeout;
        let mut answer = Err("the resource server serves no realm");
        for realm in resource::realms_to_ask(&self.app, token) {
            answer = self.introspection.ask(realm, token, timeout).await;
            if resource::settles(&answer) {
                break;
            }
        }
        resource::serve_presented(&self.app, request, presented, answer)
    }
}

/// One header field as the decisions see it.
fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Header<'a> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Header::Absent,
        (Some(_), Some(_)) => Header::Repeated,
        (Some(value), None) => value.to_str().map_or(Header::Unreadable, Header::One),
    }
}

/// A decision's reply as a hyper response, headers in the order [`Reply`] documents.
fn into_response(reply: Reply) -> hyper::Response<ResponseBody> {
    let mut response = hyper::Response::new(Full::new(reply.body));
    *response.status_mut() =
        StatusCode::from_u16(reply.status.0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    let fixed = [
        (CONTENT_TYPE, reply.content_type),
        (ALLOW, reply.allow),
        (CACHE_CONTROL, reply.cache_control),
        (PRAGMA, reply.pragma_no_cache.then_some("no-cache")),
    ];
    for (name, value) in fixed {
        if let Some(value) = value {
            headers.insert(name, static_value(value));
        }
    }
    if let Some(seconds) = reply.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Some(Ok(challenge)) = reply.www_authenticate.map(HeaderValue::try_from) {
        headers.insert(WWW_AUTHENTICATE, challenge);
    }
    if let Some(Ok(nonce)) = reply.dpop_nonce.map(HeaderValue::try_from) {
        headers.insert(DPOP_NONCE.clone(), nonce);
    }
    response
}

/// A header value from a decision's `&'static str`: the usual ones checked once, at compile
/// time (`HeaderValue::from_static` checks every byte each time it runs).
fn static_value(value: &'static str) -> HeaderValue {
    const JSON: HeaderValue = HeaderValue::from_static(response::JSON);
    const NO_STORE: HeaderValue = HeaderValue::from_static(response::NO_STORE);
    const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
    match value {
        response::JSON => JSON,
        response::NO_STORE => NO_STORE,
        "no-cache" => NO_CACHE,
        other => HeaderValue::from_static(other),
    }
}

/// The resource server's connection to the introspection endpoints (flow steps 4–5).
struct IntrospectionClient {
    http: HttpClient<HttpsConnector<HttpConnector>, ResponseBody>,
    /// The introspection endpoint of each realm the resource serves, at the listening
    /// address, which works from inside even when the public URL only resolves outside.
    urls: HashMap<Arc<str>, String>,
    /// `Basic …` for the resource server's client, or why it cannot introspect.
    authorization: Result<HeaderValue, &'static str>,
    /// The server's internal proof: these calls are its own.
    internal_proof: HeaderValue,
}

impl IntrospectionClient {
    fn new(app: &App, local_url: &str, internal_proof: HeaderValue) -> IntrospectionClient {
        let tls = match &app.config.tls {
            Some(identity) => identity.pinned_client_config(),
            None => crate::tls::plain_client_config(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        IntrospectionClient {
            http: HttpClient::builder(TokioExecutor::new()).build(connector),
            urls: app
                .resource_realms
                .iter()
                .map(|realm| {
                    let path = endpoint_path(realm, Endpoint::Introspection);
                    (realm.clone(), format!("{local_url}{path}"))
                })
                .collect(),
            authorization: basic_authorization(app),
            internal_proof,
        }
    }

    /// Asks `realm`'s introspection endpoint about `token`, as the resource server's client.
    async fn ask(
        &self,
        realm: &str,
        token: &str,
        timeout: std::time::Duration,
    ) -> Result<Value, &'static str> {
        let url = self
            .urls
            .get(realm)
            .ok_or("the resource server does not serve this realm")?;
        let request = hyper::Request::post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(AUTHORIZATION, self.authorization.clone()?)
            .header(&INTERNAL_PROOF, self.internal_proof.clone())
            .body(Full::new(Bytes::from(format!(
                "token={}&token_type_hint=access_token",
                encode_component(token)
            ))))
            .map_err(|_| "could not build the introspection request")?;
        let response = tokio::time::timeout(timeout, self.http.request(request))
            .await
            .map_err(|_| "introspection timed out")?
            .map_err(|_| "introspection endpoint unreachable")?;
        if response.status() != StatusCode::OK {
            return Err("introspection refused the resource server");
        }
        let body = Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map_err(|_| "introspection answer unreadable")?
            .to_bytes();
        serde_json::from_slice(&body).map_err(|_| "introspection answer is not JSON")
    }
}

/// `Basic …` with the resource server's id and secret, each form-encoded (RFC 6749 §2.3.1).
fn basic_authorization(app: &App) -> Result<HeaderValue, &'static str> {
    let client = app
        .config
        .clients
        .get(resource::RESOURCE_SERVER_CLIENT)
        .ok_or("the resource server has no introspection client")?;
    let secret = client
        .secret
        .as_ref()
        .ok_or("the resource server has no introspection secret")?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        encode_component(&client.id),
        encode_component(secret.expose())
    ));
    HeaderValue::try_from(format!("Basic {basic}"))
        .map_err(|_| "could not build the introspection request")
}
