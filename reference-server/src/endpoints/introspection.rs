//! Token introspection (RFC 7662).

use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::auth::authenticate;
use crate::config::Fault;
use crate::form::Form;
use crate::request::Request;
use crate::response::{ErrorCode, OAuthError, Reply, Status};
use crate::tokens::unix_now;

/// Answers an introspection request (RFC 7662 §2.2), or its error.
pub fn introspect(app: &App, request: &Request<'_>) -> Reply {
    match answer(app, request) {
        Ok(reply) => reply.no_store(false),
        Err(error) => without_challenge_if_faulty(app, error).into_reply(),
    }
}

/// The fault `introspection-challenge-missing`: 401 without `WWW-Authenticate`, here and at
/// revocation.
pub fn without_challenge_if_faulty(app: &App, mut error: OAuthError) -> OAuthError {
    if app.config.has(Fault::IntrospectionChallengeMissing) && error.status == Status::UNAUTHORIZED
    {
        error.challenge = None;
    }
    error
}

/// The `token` parameter, which introspection and revocation require.
pub fn token_parameter(form: &Form) -> Result<&str, OAuthError> {
    form.get("token").ok_or_else(|| {
        OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "missing required parameter token",
        )
    })
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

fn answer(app: &App, request: &Request<'_>) -> Result<Reply, OAuthError> {
    let config = &app.config;
    let form = request.post_form(config, "introspection requires POST")?;
    // RFC 7662 §2.1: the endpoint MUST require some form of authorization from the caller.
    let caller = if config.has(Fault::IntrospectionWithoutAuthentication) {
        None
    } else {
        Some(authenticate(app, request, &form)?)
    };
    let token = token_parameter(&form)?;
    // token_type_hint is optional and this server holds only access tokens, so any hint
    // (or none) leads to the same search (RFC 7662 §2.1: the search is extended).
    let Some(record) = app.tokens.get(token) else {
        return Ok(inactive());
    };
    let now = unix_now();
    let fresh = !record.is_expired(now) || config.has(Fault::ExpiredTokensActive);
    // A caller that may not see this token learns nothing about it (RFC 7662 §2.2).
    let allowed = caller.is_none_or(|c| c.introspect || *c.id == *record.client_id);
    if !(fresh && allowed && *record.realm == *request.realm.name) {
        if config.has(Fault::InactiveIntrospectionLeaksClaims) {
            let leaked = json!({
                "active": false,
                "client_id": &*record.client_id,
                "exp": record.expires_at,
                "scope": &*record.scope,
            });
            return Ok(Reply::json(Status::OK, &leaked));
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
        iss: &request.realm.issuer,
        sub: &record.client_id,
        aud: &app.resource_audience,
        jti: record.jti.as_str(),
    };
    Ok(Reply::json(Status::OK, &body))
}

/// `{"active":false}` and nothing else: an inactive token reveals nothing.
fn inactive() -> Reply {
    Reply::json(Status::OK, &json!({"active": false}))
}
