//! The token endpoint: the client credentials grant (RFC 6749 §4.4, responses §5.1/§5.2).

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::auth::authenticate;
use crate::clients::{Client, ClientRegistry};
use crate::config::{Fault, TokenFormat};
use crate::form::Form;
use crate::request::{parse_form, Method, Request};
use crate::response::{self, ErrorCode, OAuthError, Reply, Status};
use crate::tokens::{random_token, unix_now, Jti, TokenRecord};

const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Answers a token request: a token, or the error RFC 6749 §5.2 asks for.
pub fn issue(app: &App, request: &Request<'_>) -> Reply {
    match grant(app, request) {
        Ok(reply) => reply,
        Err(error) if app.config.has(Fault::ErrorsNotJson) => html_error(error),
        Err(error) => error.into_reply(),
    }
}

fn grant(app: &App, request: &Request<'_>) -> Result<Reply, OAuthError> {
    let config = &app.config;
    let query = request.query.as_bytes();
    let mut form = match request.method {
        Method::Post => request.form_body(config)?,
        Method::Get if config.has(Fault::AcceptGetTokenRequest) => parse_form(query, config)?,
        _ => return Ok(response::method_not_allowed("POST")),
    };
    if config.has(Fault::AcceptCredentialsInQuery) {
        if let Ok(query) = Form::parse(query, true) {
            for name in ["client_id", "client_secret"] {
                if let Some(value) = query.get(name) {
                    form.insert_if_absent(name, value);
                }
            }
        }
    }
    let client = match authenticate(app, request, &form) {
        Ok(client) => client,
        Err(e)
            if config.has(Fault::AuthFailureForbidden)
                && e.code == ErrorCode::InvalidClient
                && e.status != Status::TOO_MANY_REQUESTS =>
        {
            return Ok(Reply::empty(Status::FORBIDDEN));
        }
        Err(e) => return Err(e),
    };

    match form.get("grant_type") {
        None => {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "missing required parameter grant_type",
            ))
        }
        Some(CLIENT_CREDENTIALS) => {}
        Some(_) if config.has(Fault::WrongUnsupportedGrantError) => {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "grant_type is not supported",
            ))
        }
        Some(_) => {
            return Err(OAuthError::bad_request(
                ErrorCode::UnsupportedGrantType,
                "only the client_credentials grant is supported",
            ))
        }
    }
    if config.has(Fault::RejectUnknownParameters) {
        const KNOWN: [&str; 4] = ["grant_type", "scope", "client_id", "client_secret"];
        if form.names().any(|n| !KNOWN.contains(&n)) {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "unknown parameter",
            ));
        }
    }
    if !client.allows_grant(CLIENT_CREDENTIALS) {
        return Err(OAuthError::bad_request(
            ErrorCode::UnauthorizedClient,
            "the client is not allowed the client_credentials grant",
        ));
    }
    let requested = form.get("scope");
    // RFC 6749 §3.3: without a scope the server grants a default or fails with invalid_scope.
    if config.require_scope && requested.is_none_or(|s| s.split(' ').all(str::is_empty)) {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidScope,
            "the scope parameter is required",
        ));
    }
    let others = if config.has(Fault::SilentlyReduceScope) {
        OtherScopes::DropAll
    } else if config.has(Fault::DropUnknownScope) {
        OtherScopes::DropUnregistered(&config.clients)
    } else {
        OtherScopes::Refuse
    };
    let scope = grant_scope(client, requested, others)?;

    let now = unix_now();
    let ttl = client
        .token_ttl_secs
        .unwrap_or(config.token_ttl.as_secs())
        .max(1);
    let realm = request.realm;
    let record = TokenRecord {
        client_id: client.shared_id.clone(),
        realm: realm.name.clone(),
        scope: scope.clone(),
        issued_at: now,
        expires_at: now + ttl,
        jti: Jti::random(),
    };
    let access_token = match config.token_format {
        TokenFormat::Opaque => random_token(32),
        TokenFormat::Jwt => app.signer.sign(&json!({
            "iss": realm.issuer,
            "sub": client.id,
            "aud": app.resource_audience,
            "client_id": client.id,
            "scope": &*scope,
            "iat": now,
            "exp": now + ttl,
            "jti": record.jti.as_str(),
        })),
    };
    app.tokens.insert(&access_token, record);

    let body = TokenResponse {
        access_token: &access_token,
        token_type: "Bearer",
        expires_in: if config.has(Fault::ExpiresInAsString) {
            ExpiresIn::Text(ttl.to_string())
        } else {
            ExpiresIn::Seconds(ttl)
        },
        scope: matches!(others, OtherScopes::Refuse).then_some(&*scope),
        refresh_token: config
            .has(Fault::IssueRefreshToken)
            .then(|| random_token(32)),
    };
    let mut reply = Reply::json(Status::OK, &body);
    if !config.has(Fault::OmitCacheControl) {
        reply = reply.no_store(false);
    }
    reply.pragma_no_cache = !config.has(Fault::OmitPragma);
    Ok(reply)
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: ExpiresIn,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum ExpiresIn {
    Seconds(u64),
    Text(String),
}

/// What happens to requested scopes the client may not have.
#[derive(Clone, Copy)]
enum OtherScopes<'a> {
    /// `invalid_scope`: the correct answer.
    Refuse,
    /// Dropped (fault `silently-reduce-scope`).
    DropAll,
    /// Dropped if no client has them, refused otherwise (fault `drop-unknown-scope`).
    DropUnregistered(&'a ClientRegistry),
}

/// The scope to grant (RFC 6749 §3.3): the request's scopes if the client may have all of
/// them, its default scopes if it asked for none, `invalid_scope` otherwise.
fn grant_scope(
    client: &Client,
    requested: Option<&str>,
    others: OtherScopes<'_>,
) -> Result<Arc<str>, OAuthError> {
    let default = || {
        if client.default_scopes.is_empty() {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "no scope requested and the client has no default scope",
            ));
        }
        Ok(client.default_scope.clone())
    };
    let Some(requested) = requested else {
        return default();
    };
    let mut granted: Vec<&str> = Vec::new();
    let mut dropped = false;
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "scope contains characters outside the scope-token grammar",
            ));
        }
        if !client.scopes.iter().any(|s| s == token) {
            let drop = match others {
                OtherScopes::Refuse => false,
                OtherScopes::DropAll => true,
                OtherScopes::DropUnregistered(clients) => !clients.knows_scope(token),
            };
            if drop {
                dropped = true;
                continue;
            }
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "the requested scope is unknown or not allowed for this client",
            ));
        }
        if !granted.contains(&token) {
            granted.push(token);
        }
    }
    if granted.is_empty() {
        // drop-unknown-scope grants the nothing that remains, not the default.
        if dropped && matches!(others, OtherScopes::DropUnregistered(_)) {
            return Ok(Arc::from(""));
        }
        return default();
    }
    let granted = granted.join(" ");
    // Most requests ask for the default scope: share its string instead of allocating.
    if granted == *client.default_scope {
        return Ok(client.default_scope.clone());
    }
    Ok(granted.into())
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    token
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// The `errors-not-json` fault: an HTML error page instead of the JSON error body. The
/// status and any challenge stay, so the fault breaks only the body's format.
fn html_error(error: OAuthError) -> Reply {
    let page = format!(
        "<html><body><h1>Error</h1><p>{}</p></body></html>",
        error.code.as_str()
    );
    Reply {
        www_authenticate: error.challenge,
        ..Reply::with_body(error.status, "text/html", Bytes::from(page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        let reg = ClientRegistry::fixtures();
        let a = reg.get("myClient").unwrap();
        let refuse = OtherScopes::Refuse;
        assert_eq!(&*grant_scope(a, None, refuse).unwrap(), "write");
        assert_eq!(
            &*grant_scope(a, Some("read  write read"), refuse).unwrap(),
            "read write"
        );
        assert!(grant_scope(a, Some("admin"), refuse).is_err());
        assert!(grant_scope(a, Some("READ"), refuse).is_err());
        assert!(grant_scope(a, Some("re\"ad"), refuse).is_err());
        assert_eq!(&*grant_scope(a, Some(" "), refuse).unwrap(), "write");
        let drop_all = OtherScopes::DropAll;
        assert_eq!(
            &*grant_scope(a, Some("read admin"), drop_all).unwrap(),
            "read"
        );
        assert_eq!(&*grant_scope(a, Some("admin"), drop_all).unwrap(), "write");
        // drop-unknown-scope: only scopes no client has are dropped, and nothing stays nothing.
        let unregistered = OtherScopes::DropUnregistered(&reg);
        let grant = |scope| grant_scope(a, Some(scope), unregistered);
        assert_eq!(&*grant("read bogus").unwrap(), "read");
        assert_eq!(&*grant("bogus").unwrap(), "");
        assert!(grant("read admin").is_err(), "admin is otherClient's");
        assert!(grant("re\"ad").is_err());
        assert_eq!(&*grant_scope(a, None, unregistered).unwrap(), "write");
    }
}
