//! The token endpoint: the client credentials grant (RFC 6749 §4.4, responses §5.1/§5.2).

use std::ops::Not;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use serde_json::json;

use super::scope::{grant_scope, OtherScopes};
use crate::app::App;
use crate::auth::authenticate;
use crate::clients::Client;
use crate::config::{Fault, TokenFormat, Variant};
use crate::endpoints::dpop;
use crate::events::Event;
use crate::form::Form;
use crate::request::{parse_form, Method, Request};
use crate::response::{self, ErrorCode, OAuthError, Reply, Status};
use crate::router::Realm;
use crate::tokens::{random_token, unix_now, Jti, OpaqueToken, StoreFull, TokenRecord};

const CLIENT_CREDENTIALS: &str = "client_credentials";

/// Answers a token request: a token, or the error RFC 6749 §5.2 asks for.
pub fn issue(app: &App, request: &Request<'_>) -> Reply {
    match grant(app, request) {
        Ok(reply) => dpop::with_next_nonce(app, request, reply),
        Err(error) if app.config.has(Fault::ErrorsNotJson) => html_error(error),
        Err(mut error)
            if app.config.has(Fault::PostAuthFailureWithoutChallenge)
                && error.status == Status::UNAUTHORIZED
                && matches!(request.authorization, crate::request::Header::Absent) =>
        {
            error.challenge = None;
            error.into_reply()
        }
        Err(error) => error.into_reply(),
    }
}

fn grant(app: &App, request: &Request<'_>) -> Result<Reply, OAuthError> {
    let config = &app.config;
    let query = request.query.as_bytes();
    let mut form = match request.method {
        Method::Post => request.form_body(config)?,
        Method::Get if config.has(Fault::AcceptGetTokenRequest) => parse_form(query, config)?,
        _ if config.has(Fault::MethodNotAllowedWithoutAllow) => {
            let reply = response::method_not_allowed("POST");
            return Ok(Reply {
                allow: None,
                ..reply
            });
        }
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
            if config.has(Fault::AcceptUnauthenticatedRequest)
                && crate::auth::presents_no_credentials(request, &form) =>
        {
            default_client(app, request).ok_or(e)?
        }
        Err(e)
            if config.has(Fault::AuthFailureForbidden)
                && e.code == ErrorCode::InvalidClient
                && e.status != Status::TOO_MANY_REQUESTS =>
        {
            return Ok(Reply::empty(Status::FORBIDDEN));
        }
        Err(e) => return Err(e),
    };

    let grant_type = if config.has(Fault::GrantTypeNotPercentDecoded) {
        // The raw value, as a server matching the body's bytes sees it.
        crate::form::raw_value(request.raw_body(), "grant_type")
            .filter(|raw| !raw.is_empty())
            .map(|raw| std::str::from_utf8(raw).unwrap_or("?"))
    } else {
        form.get("grant_type")
    };
    // Only the faults look at how grant_type was left out (a scan of the body, off the hot path).
    let sent_empty = || crate::form::sent_empty(request.raw_body(), "grant_type");
    match grant_type {
        // The faults: a missing (or an empty) grant_type taken as client_credentials.
        None if config.has(Fault::DefaultMissingGrantType) && !sent_empty() => {}
        None if config.has(Fault::EmptyGrantTypeAccepted) && sent_empty() => {}
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
        // The fault: the grant type sent is echoed, whatever its characters.
        Some(other) if config.has(Fault::ErrorDescriptionEchoesInput) => {
            return Ok(response::error_json(
                Status::BAD_REQUEST,
                ErrorCode::UnsupportedGrantType.as_str(),
                &format!("grant_type {other} is not supported"),
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
        // Client authentication's parameters are known too (RFC 6749 §2.3.1, RFC 7521 §4.2).
        const KNOWN: [&str; 6] = [
            "grant_type",
            "scope",
            "client_id",
            "client_secret",
            "client_assertion_type",
            "client_assertion",
        ];
        if form.names().any(|n| !KNOWN.contains(&n)) {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "unknown parameter",
            ));
        }
    }
    if !client.allows_grant(CLIENT_CREDENTIALS) && !config.has(Fault::IgnoreAllowedGrants) {
        return Err(OAuthError::bad_request(
            ErrorCode::UnauthorizedClient,
            "the client is not allowed the client_credentials grant",
        ));
    }
    let requested = form.get("scope");
    if config.has(Fault::EmptyScopeInvalidRequest)
        && requested.is_none()
        && crate::form::sent_empty(request.raw_body(), "scope")
    {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "the scope parameter must not be empty",
        ));
    }
    if config.has(Fault::MissingScopeInvalidRequest) && requested.is_none() {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "missing required parameter scope",
        ));
    }
    if config.has(Fault::ScopeOrderSensitive)
        && requested.is_some_and(|s| !in_registered_order(client, s))
    {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidScope,
            "the requested scope is unknown or not allowed for this client",
        ));
    }
    // RFC 6749 §3.3: without a scope the server grants a default or fails with invalid_scope.
    if config.require_scope && requested.is_none_or(|s| s.split(' ').all(str::is_empty)) {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidScope,
            "the scope parameter is required",
        ));
    }
    // RFC 9449 §5: a proof binds the token to its key; a bad one refuses the request.
    let jkt = match dpop::token_request(app, request, client) {
        Ok(jkt) => jkt,
        Err(refusal) => return Ok(*refusal),
    };
    // FAPI 2.0 §5.3.2.1 item 4: "shall only issue sender-constrained access tokens".
    if config.fapi2 && jkt.is_none() && request.client_certificate.is_none() {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "FAPI 2.0: tokens are sender-constrained (§5.3.2.1 item 4): send a DPoP proof or use mutual TLS",
        ));
    }
    let others = OtherScopes::of(config);
    let scope = grant_scope(client, requested, others)?;
    // The scope is in the response unless a fault changed it silently.
    let show_scope = match others {
        OtherScopes::Refuse => true,
        // grant-forbidden-scope-silently hides only the scopes it should not have granted.
        OtherScopes::GrantRegistered(_) => !beyond_client(client, &scope),
        OtherScopes::DropAll | OtherScopes::DropUnregistered(_) => false,
    };
    // RFC 6749 §5.1: scope is "OPTIONAL, if identical to the scope requested by the client".
    let show_scope = show_scope
        && !(config.uses(Variant::ScopeOmittedWhenRequested) && same_scope(requested, &scope));
    // RFC 8705 §3: a token issued over mutual TLS is bound to the client's certificate
    // (unless the server declines to bind, a legal variant).
    let x5t = request
        .client_certificate
        .filter(|_| !config.uses(Variant::MtlsBindingDeclined))
        .map(|c| c.thumbprint());
    Ok(mint(
        app,
        request.realm,
        client,
        scope,
        show_scope,
        jkt,
        x5t,
    ))
}

/// Whether the granted scope is the requested one (order and repeats aside, RFC 6749 §3.3).
fn same_scope(requested: Option<&str>, granted: &str) -> bool {
    let set = |s: &str| -> std::collections::BTreeSet<String> {
        s.split(' ')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    requested.is_some_and(|r| set(r) == set(granted))
}

/// Whether `scope` holds a scope the client may not have.
fn beyond_client(client: &Client, scope: &str) -> bool {
    scope
        .split(' ')
        .any(|s| !s.is_empty() && !client.scopes.iter().any(|mine| mine == s))
}

/// The client the fault `accept-unauthenticated-request` issues to when a request presents no
/// credentials: the enabled confidential client of the realm allowed the grant whose id sorts first.
fn default_client<'a>(app: &'a App, request: &Request<'_>) -> Option<&'a Client> {
    app.config
        .clients
        .iter()
        .filter(|c| {
            c.enabled
                && c.secret.is_some()
                && c.in_realm(&request.realm.name)
                && c.allows_grant(CLIENT_CREDENTIALS)
        })
        .min_by(|a, b| a.id.cmp(&b.id))
}

/// The fault `scope-order-sensitive`: the requested scopes, each one the client's, must come
/// in the order the client's scopes are registered in (unknown ones are left to
/// `grant_scope`).
fn in_registered_order(client: &Client, requested: &str) -> bool {
    let positions: Vec<usize> = requested
        .split(' ')
        .filter_map(|t| client.scopes.iter().position(|s| s == t))
        .collect();
    positions.windows(2).all(|w| w[0] <= w[1])
}

/// The `cnf.x5t#S256` clients are shown for a token bound to `x5t` (or not bound), as the
/// fault modes bend it.
pub(crate) fn shown_x5t<'a>(
    config: &crate::config::ServerConfig,
    x5t: Option<&'a str>,
) -> Option<&'a str> {
    match x5t {
        Some(_) if config.has(Fault::MtlsOmitCnf) => None,
        Some(x5t) => Some(x5t),
        None if config.has(Fault::MtlsBindWithoutCertificate) => Some(UNBOUND_X5T),
        None => None,
    }
}

/// What the fault `mtls-bind-without-certificate` shows: the SHA-256 of nothing.
const UNBOUND_X5T: &str = "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

/// Issues and stores an access token for `client` with `scope`: the successful response
/// (RFC 6749 §5.1), or 503 when the store is full.
fn mint(
    app: &App,
    realm: &Realm,
    client: &Client,
    scope: Arc<str>,
    show_scope: bool,
    jkt: Option<String>,
    x5t: Option<&str>,
) -> Reply {
    let config = &app.config;
    // Checked first too, so that a flood at the bound costs no signing.
    if let Some(full) = app.tokens.full() {
        return store_full(app, full);
    }
    let now = unix_now();
    let ttl = client
        .token_ttl_secs
        .unwrap_or(config.token_ttl.as_secs())
        .max(1);
    let record = TokenRecord {
        client_id: client.shared_id.clone(),
        realm: realm.name.clone(),
        scope: scope.clone(),
        issued_at: now,
        expires_at: now + ttl,
        jti: Jti::random(),
        jkt: jkt.as_deref().map(Arc::from),
        x5t: x5t.map(Arc::from),
        scope_hidden: config.has(Fault::GrantForbiddenScopeSilently)
            && beyond_client(client, &scope),
        replica: app.node.as_ref().map_or_else(Default::default, |node| {
            crate::cluster::Replica::written(node.stamp())
        }),
    };
    // RFC 9449 §6.1: a JWT names the key it is bound to in `cnf.jkt`.
    let show_cnf = !config.has(Fault::DpopOmitCnf);
    // An opaque token is made inline (no allocation); a JWT is a string.
    let opaque = (config.token_format == TokenFormat::Opaque).then(OpaqueToken::random);
    let jwt;
    let access_token: &str = match &opaque {
        Some(opaque) => opaque.as_str(),
        None => {
            let mut claims = json!({
                "iss": realm.issuer,
                "sub": client.id,
                "aud": app.resource_audience,
                "client_id": client.id,
                "scope": &*scope,
                "iat": now,
                "exp": now + ttl,
                "jti": record.jti.as_str(),
            });
            if record.scope_hidden {
                if let Some(claims) = claims.as_object_mut() {
                    claims.remove("scope");
                }
            }
            // A JWT of the server's own shape, not RFC 9068's: no client_id (its jti stays,
            // so that two tokens issued in the same second differ).
            if config.uses(Variant::JwtTypJwt) {
                if let Some(claims) = claims.as_object_mut() {
                    claims.remove("client_id");
                }
            }
            if let Some(jkt) = jkt.as_deref().filter(|_| show_cnf) {
                claims["cnf"] = json!({ "jkt": jkt });
            }
            // RFC 8705 §3.1: and the certificate it is bound to in `cnf.x5t#S256`.
            if let Some(x5t) = shown_x5t(config, x5t) {
                claims["cnf"]["x5t#S256"] = json!(x5t);
            }
            jwt = sign_access_token(app, &claims);
            &jwt
        }
    };
    let held = match &opaque {
        Some(opaque) => app.tokens.insert_opaque(opaque, record),
        None => app.tokens.insert(access_token, record),
    };
    if let Err(full) = held {
        return store_full(app, full);
    }

    let body = TokenResponse {
        access_token,
        // RFC 9449 §5: a bound token is of type DPoP.
        token_type: token_type_omitted(config, client).not().then_some(
            match (
                jkt.is_some() && !config.has(Fault::DpopTokenTypeBearer),
                config.uses(Variant::TokenTypeLowercase),
            ) {
                (true, false) => "DPoP",
                (true, true) => "dpop",
                (false, _) if config.has(Fault::TokenTypeJwt) => "JWT",
                (false, false) => "Bearer",
                (false, true) => "bearer",
            },
        ),
        expires_in: if config.has(Fault::ExpiresInAsString) {
            ExpiresIn::Text(ttl.to_string())
        } else {
            ExpiresIn::Seconds(ttl)
        },
        scope: show_scope.then_some(&*scope),
        refresh_token: config
            .has(Fault::IssueRefreshToken)
            .then(|| random_token(32)),
    };
    let mut reply = Reply::with_body(Status::OK, response::JSON, Bytes::from(body.to_json()));
    if !config.has(Fault::OmitCacheControl) {
        reply = reply.no_store(false);
        if config.uses(Variant::CacheControlPrivate) {
            reply.cache_control = Some(crate::response::NO_STORE_PRIVATE);
        }
    }
    reply.pragma_no_cache = !config.has(Fault::OmitPragma);
    reply
}

/// A JWT access token: `at+jwt` and RS256 (RFC 9068 §2.1), unless a variant or fault
/// types it `JWT` or leaves it unsigned.
fn sign_access_token(app: &App, claims: &serde_json::Value) -> String {
    let config = &app.config;
    if config.has(Fault::AccessTokenAlgNone) {
        return crate::jwt::unsigned(claims);
    }
    let typ = if config.uses(Variant::JwtTypJwt) || config.has(Fault::AccessTokenTypJwt) {
        "JWT"
    } else {
        "at+jwt"
    };
    app.signer.sign_typed(claims, typ)
}

/// The faults that answer a JWT-authenticated client without `token_type`.
fn token_type_omitted(config: &crate::config::ServerConfig, client: &Client) -> bool {
    use crate::clients::AuthMethod;
    let uses = |method| client.auth_methods.contains(&method);
    (config.has(Fault::KeyJwtTokenWithoutType) && uses(AuthMethod::PrivateKeyJwt))
        || (config.has(Fault::SecretJwtTokenWithoutType) && uses(AuthMethod::ClientSecretJwt))
}

/// The store holds `max_live_tokens`: 503 with `Retry-After` (when the first held token
/// expires) instead of taking more memory. RFC 6749 §5.2 has no error code for it;
/// `temporarily_unavailable` is the one §4.1.2.1 defines for the same situation.
fn store_full(app: &App, full: StoreFull) -> Reply {
    let limit = app.tokens.capacity();
    app.events.note(Event::TokenStoreFull, || {
        format!("token store full ({limit} tokens held): token requests get 503 with Retry-After until tokens expire or are revoked")
    });
    Reply {
        retry_after: Some(full.retry_after),
        ..response::error_json(
            Status::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the server holds as many tokens as it may; retry later",
        )
        .no_store(true)
    }
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
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

impl TokenResponse<'_> {
    /// The body, written directly (what serde_json writes for it, byte for byte: the unit test
    /// `the_token_response_is_written_as_serde_would` holds them together), without going
    /// through a serializer.
    fn to_json(&self) -> Vec<u8> {
        use crate::response::write_json_str;
        let mut out = Vec::with_capacity(192);
        out.extend_from_slice(b"{\"access_token\":");
        write_json_str(&mut out, self.access_token);
        if let Some(token_type) = self.token_type {
            out.extend_from_slice(b",\"token_type\":");
            write_json_str(&mut out, token_type);
        }
        out.extend_from_slice(b",\"expires_in\":");
        match &self.expires_in {
            ExpiresIn::Seconds(seconds) => {
                serde_json::to_writer(&mut out, seconds).expect("a number serialises")
            }
            ExpiresIn::Text(text) => write_json_str(&mut out, text),
        }
        if let Some(scope) = self.scope {
            out.extend_from_slice(b",\"scope\":");
            write_json_str(&mut out, scope);
        }
        if let Some(refresh_token) = &self.refresh_token {
            out.extend_from_slice(b",\"refresh_token\":");
            write_json_str(&mut out, refresh_token);
        }
        out.push(b'}');
        out
    }
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
mod tests;
