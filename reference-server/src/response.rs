//! Building HTTP responses: JSON bodies, OAuth error bodies (RFC 6749 §5.2) and cache headers.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use hyper::{Response, StatusCode};
use serde::Serialize;

pub type Body = Full<Bytes>;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// The error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 that this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
        }
    }
}

/// An OAuth error answer. `description` must stay within the RFC 6749 §5.2 character set
/// (printable ASCII without `"` and `\`); it never echoes request data.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub description: &'static str,
    /// `WWW-Authenticate` value, required with 401.
    pub challenge: Option<String>,
    /// `Retry-After` seconds, with 429.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// 400 with the given code.
    pub fn bad_request(code: ErrorCode, description: &'static str) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            code,
            description,
            challenge: None,
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`: too many failed authentications for this client from here.
    pub fn too_many_failures(retry_after: u64) -> OAuthError {
        OAuthError {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: ErrorCode::InvalidClient,
            description: "too many failed authentication attempts for this client from this address; retry later",
            challenge: None,
            retry_after: Some(retry_after),
        }
    }

    /// 401 `invalid_client` with a Basic challenge naming the realm (RFC 6749 §5.2).
    pub fn invalid_client(realm: &str, description: &'static str) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            code: ErrorCode::InvalidClient,
            description,
            challenge: Some(format!(
                "Basic realm=\"{realm}\", error=\"invalid_client\", error_description=\"{description}\""
            )),
            retry_after: None,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let body = serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        });
        let mut response = json(self.status, &body);
        no_store(&mut response, true);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(hyper::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge {
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                response.headers_mut().insert(WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, body: &T) -> Response<Body> {
    let bytes = serde_json::to_vec(body).expect("serialising a JSON value cannot fail");
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, JSON);
    response
}

/// Adds `Cache-Control: no-store` and, when asked, `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(response: &mut Response<Body>, pragma: bool) {
    response.headers_mut().insert(CACHE_CONTROL, NO_STORE);
    if pragma {
        response.headers_mut().insert(PRAGMA, NO_CACHE);
    }
}

/// An empty response with the given status.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// 404 for paths the server does not serve.
pub fn not_found() -> Response<Body> {
    json(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "not_found", "error_description": "no such endpoint"}),
    )
}

/// 405 with `Allow` (RFC 9110 §15.5.6), body in OAuth error form so clients can read it.
pub fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = json(
        StatusCode::METHOD_NOT_ALLOWED,
        &serde_json::json!({
            "error": "invalid_request",
            "error_description": "method not allowed",
        }),
    );
    response
        .headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    no_store(&mut response, true);
    response
}
