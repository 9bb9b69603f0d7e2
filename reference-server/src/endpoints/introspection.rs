//! Token introspection (RFC 7662).

use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::config::Fault;
use crate::request::{read_form, RequestBody};
use crate::response::{self, Body, ErrorCode, OAuthError};
use crate::tokens::unix_now;

pub async fn handle(app: &App, realm: &str, req: Request<RequestBody>) -> Response<Body> {
    match introspect(app, realm, req).await {
        Ok(mut response) => {
            response::no_store(&mut response, false);
            response
        }
        Err(error) => without_challenge_if_faulty(app, error).into_response(),
    }
}

/// The fault `introspection-challenge-missing`: 401 without `WWW-Authenticate`, here and at
/// revocation.
pub fn without_challenge_if_faulty(app: &App, mut error: OAuthError) -> OAuthError {
    if app.config.has(Fault::IntrospectionChallengeMissing)
        && error.status == StatusCode::UNAUTHORIZED
    {
        error.challenge = None;
    }
    error
}

/// An `active: true` answer (RFC 7662 §2.2), serialised without building a JSON tree.
#[derive(Serialize)]
struct Active<'a> {
    active: bool,
    scope: &'a str,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: &'a str,
}

async fn introspect(
    app: &App,
    realm: &str,
    req: Request<RequestBody>,
) -> Result<Response<Body>, OAuthError> {
    let config = &app.config;
    if req.method() != Method::POST {
        return Err(OAuthError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            ..OAuthError::bad_request(ErrorCode::InvalidRequest, "introspection requires POST")
        });
    }
    let (parts, body) = req.into_parts();
    let form = read_form(&parts.headers, body, config).await?;
    // RFC 7662 §2.1: the endpoint MUST require some form of authorization from the caller.
    let caller = if config.has(Fault::IntrospectionWithoutAuthentication) {
        None
    } else {
        Some(app.authenticate(&parts, &form, realm)?)
    };
    let Some(token) = form.get("token") else {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "missing required parameter token",
        ));
    };
    // token_type_hint is optional and this server holds only access tokens, so any hint
    // (or none) leads to the same search (RFC 7662 §2.1: the search is extended).
    let Some(record) = app.tokens.get(token) else {
        return Ok(inactive());
    };
    let now = unix_now();
    let fresh = !record.is_expired(now) || config.has(Fault::ExpiredTokensActive);
    // A caller that may not see this token learns nothing about it (RFC 7662 §2.2).
    let allowed = caller.is_none_or(|c| c.introspect || *c.id == *record.client_id);
    if !(fresh && allowed && *record.realm == *realm) {
        if config.has(Fault::InactiveIntrospectionLeaksClaims) {
            let leaked = json!({
                "active": false,
                "client_id": &*record.client_id,
                "exp": record.expires_at,
                "scope": &*record.scope,
            });
            return Ok(response::json(StatusCode::OK, &leaked));
        }
        return Ok(inactive());
    }
    let body = Active {
        active: true,
        scope: &record.scope,
        client_id: &record.client_id,
        token_type: "Bearer",
        exp: record.expires_at,
        iat: record.issued_at,
        iss: app.issuer(realm),
        sub: &record.client_id,
        aud: &app.resource_audience,
        jti: record.jti.as_str(),
    };
    Ok(response::json(StatusCode::OK, &body))
}

/// `{"active":false}` and nothing else: an inactive token reveals nothing.
fn inactive() -> Response<Body> {
    response::json(StatusCode::OK, &json!({"active": false}))
}
