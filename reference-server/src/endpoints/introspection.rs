//! Token introspection (RFC 7662).

use serde::Serialize;
use serde_json::json;

use crate::app::App;
use crate::auth::authenticate;
use crate::config::{Fault, Variant};
use crate::form::Form;
use crate::request::Request;
use crate::response::{ErrorCode, OAuthError, Reply, Status};
use crate::tokens::{unix_now, TokenRecord};

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
pub fn token_parameter<'f>(form: &'f Form<'_>) -> Result<&'f str, OAuthError> {
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
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    client_id: &'a str,
    token_type: &'static str,
    exp: u64,
    iat: u64,
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    jti: &'a str,
    /// The key a DPoP-bound token is bound to (RFC 9449 §6.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    cnf: Option<Confirmation<'a>>,
}

/// `cnf` (RFC 7800 §3.1) with the JWK thumbprint of RFC 9449 §6.
#[derive(Serialize)]
struct Confirmation<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    jkt: Option<&'a str>,
    /// The client certificate of a certificate-bound token (RFC 8705 §3.2).
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none")]
    x5t: Option<&'a str>,
}

impl Active<'_> {
    /// The body, written directly (what serde_json writes for it, byte for byte: the unit test
    /// `the_active_answer_is_written_as_serde_would` holds them together).
    fn to_json(&self) -> Vec<u8> {
        use crate::response::write_json_str;
        let mut out = Vec::with_capacity(384);
        let member = |out: &mut Vec<u8>, name: &str, value: &str| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            write_json_str(out, value);
        };
        out.extend_from_slice(if self.active {
            b"{\"active\":true"
        } else {
            b"{\"active\":false"
        });
        if let Some(scope) = self.scope {
            member(&mut out, "scope", scope);
        }
        member(&mut out, "client_id", self.client_id);
        member(&mut out, "token_type", self.token_type);
        for (name, value) in [("exp", self.exp), ("iat", self.iat)] {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            serde_json::to_writer(&mut out, &value).expect("a number serialises");
        }
        member(&mut out, "iss", self.iss);
        member(&mut out, "sub", self.sub);
        member(&mut out, "aud", self.aud);
        member(&mut out, "jti", self.jti);
        if let Some(cnf) = &self.cnf {
            out.extend_from_slice(b",\"cnf\":{");
            let mut first = true;
            for (name, value) in [("jkt", cnf.jkt), ("x5t#S256", cnf.x5t)] {
                if let Some(value) = value {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.push(b'"');
                    out.extend_from_slice(name.as_bytes());
                    out.extend_from_slice(b"\":");
                    write_json_str(&mut out, value);
                }
            }
            out.push(b'}');
        }
        out.push(b'}');
        out
    }
}

fn answer(app: &App, request: &Request<'_>) -> Result<Reply, OAuthError> {
    let config = &app.config;
    let form = request.post_form(config, "introspection requires POST")?;
    crate::auth::assertion_refused_here(app, request, &form)?;
    // RFC 7662 §2.1: the endpoint MUST require some form of authorization from the caller.
    let caller = if config.has(Fault::IntrospectionWithoutAuthentication) {
        None
    } else {
        Some(authenticate(app, request, &form)?)
    };
    let token = token_parameter(&form)?;
    // The fault answers clients (not its own resource server) with an error for a token that
    // is not shaped like one of its own.
    if config.has(Fault::IntrospectionMalformedTokenError) && !request.internal && !own_shape(token)
    {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "malformed token",
        ));
    }
    // token_type_hint is optional and this server holds only access tokens, so any hint
    // (or none) leads to the same search (RFC 7662 §2.1: the search is extended).
    // Answered under the token's shard lock, from the record in place (no copy of it).
    if let Some(cache) = &app.token_cache {
        return Ok(through_cache(app, request, caller, token, cache));
    }
    let answer = app.tokens.read(token, |record| {
        app.sees(record)
            .then(|| known_token(app, request, caller, record))
    });
    Ok(answer.flatten().unwrap_or_else(|| inactive_answer(config)))
}

/// The fault `race-revocation`: the token's state read through a cache. A miss reads the
/// store and writes what it read back after the window (`race.rs`); a revocation in that
/// window is then overwritten by the stale record, answered active until it ages out.
fn through_cache(
    app: &App,
    request: &Request<'_>,
    caller: Option<&crate::clients::Client>,
    token: &str,
    cache: &std::sync::Arc<crate::race::TokenStateCache>,
) -> Reply {
    let record = cache.get(token).or_else(|| {
        let record = app.tokens.get(token).filter(|r| app.sees(r))?;
        let (cache, token, stale) = (cache.clone(), token.to_owned(), record.clone());
        request.deferred.push(move || cache.put(token, stale));
        Some(record)
    });
    match record {
        Some(record) => known_token(app, request, caller, &record),
        None => inactive_answer(&app.config),
    }
}

/// The answer about a token the server knows (expired or not).
fn known_token(
    app: &App,
    request: &Request<'_>,
    caller: Option<&crate::clients::Client>,
    record: &TokenRecord,
) -> Reply {
    let config = &app.config;
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
            return Reply::json(Status::OK, &leaked);
        }
        return inactive_answer(config);
    }
    // RFC 7662 §2.2: only `active` is REQUIRED, and the server "MAY respond differently to
    // different protected resources making the same request".
    let other_clients_token = caller.is_some_and(|c| *c.id != *record.client_id);
    if config.uses(Variant::IntrospectionMinimalForOtherClients)
        && other_clients_token
        && !request.internal
    {
        return Reply::json(Status::OK, &json!({"active": true}));
    }
    // The server's own resource server always sees the scope it enforces.
    let scope_shown = request.internal
        || !(record.scope_hidden || config.uses(Variant::ScopeOmittedWhenRequested));
    let body = Active {
        active: true,
        scope: scope_shown.then_some(&*record.scope),
        client_id: &record.client_id,
        token_type: if record.jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        exp: record.expires_at,
        iat: record.issued_at,
        iss: &request.realm.issuer,
        sub: &record.client_id,
        aud: &app.resource_audience,
        jti: record.jti.as_str(),
        // The fault hides the binding from clients; the resource server (its own
        // introspection calls) still sees it, so the fault breaks only what clients see.
        cnf: confirmation(
            record
                .jkt
                .as_deref()
                .filter(|_| request.internal || !config.has(Fault::DpopOmitCnf)),
            if request.internal {
                record.x5t.as_deref()
            } else {
                crate::endpoints::token::shown_x5t(config, record.x5t.as_deref())
            },
        ),
    };
    if config.has(Fault::IntrospectionNullMembers) {
        let mut body = serde_json::to_value(&body).unwrap_or_default();
        body["username"] = serde_json::Value::Null;
        body["nbf"] = serde_json::Value::Null;
        return Reply::json(Status::OK, &body);
    }
    Reply::with_body(Status::OK, crate::response::JSON, body.to_json().into())
}

/// The answer for a token that is not active: `{"active":false}`, or with the fault
/// `introspection-null-members` the members it has no value for as null.
fn inactive_answer(config: &crate::config::ServerConfig) -> Reply {
    if config.has(Fault::IntrospectionNullMembers) {
        let nulls = json!({"active": false, "scope": null, "client_id": null, "exp": null});
        return Reply::json(Status::OK, &nulls);
    }
    inactive()
}

/// Shaped like a token this server issues: 43 base64url characters at least (an opaque
/// token), or a JWT's three base64url parts.
fn own_shape(token: &str) -> bool {
    token.len() >= 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn confirmation<'a>(jkt: Option<&'a str>, x5t: Option<&'a str>) -> Option<Confirmation<'a>> {
    (jkt.is_some() || x5t.is_some()).then_some(Confirmation { jkt, x5t })
}

/// `{"active":false}` and nothing else: an inactive token reveals nothing.
fn inactive() -> Reply {
    Reply::json(Status::OK, &json!({"active": false}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_answer_is_written_as_serde_would() {
        for (scope, cnf) in [
            (Some("read write"), None),
            (
                None,
                Some(Confirmation {
                    jkt: Some("k\"ey"),
                    x5t: None,
                }),
            ),
            (
                Some("caf\u{e9}"),
                Some(Confirmation {
                    jkt: Some("jkt"),
                    x5t: Some("x5t"),
                }),
            ),
            (
                Some(""),
                Some(Confirmation {
                    jkt: None,
                    x5t: Some("x5t"),
                }),
            ),
        ] {
            let body = Active {
                active: true,
                scope,
                client_id: "my\\Client",
                token_type: "Bearer",
                exp: 4_000_000_000,
                iat: 0,
                iss: "http://127.0.0.1:8080/oauth2",
                sub: "myClient",
                aud: "http://127.0.0.1:8080/api",
                jti: "abc\n",
                cnf,
            };
            let by_serde = serde_json::to_vec(&body).unwrap();
            assert_eq!(
                String::from_utf8(body.to_json()).unwrap(),
                String::from_utf8(by_serde).unwrap()
            );
        }
    }
    use crate::config::ServerConfig;
    use crate::request::testing::{app, issued_token, TestRequest};
    use crate::request::Method;

    fn ask(app: &App, body: &str, caller: Option<(&str, &str)>) -> Reply {
        let mut request = TestRequest::post(body);
        if let Some((id, secret)) = caller {
            request = request.basic(id, secret);
        }
        introspect(app, &request.at(app))
    }

    #[test]
    fn a_resource_server_sees_any_token_and_a_client_its_own() {
        let app = app(ServerConfig::default());
        let token = issued_token(&app, "myClient", "forgerock");
        let reply = ask(
            &app,
            &format!("token={token}"),
            Some(("rs-client", "rs-secret")),
        );
        assert_eq!(reply.status, Status::OK);
        assert_eq!(
            (reply.cache_control, reply.pragma_no_cache),
            (Some("no-store"), false)
        );
        let body = reply.json_body();
        assert_eq!(body["active"], true);
        assert_eq!(body["client_id"], "myClient");
        assert_eq!(body["scope"], "write");
        assert_eq!(body["iss"], "http://rs.test/oauth2");
        assert_eq!(body["aud"], "http://rs.test/api");
        let own = ask(
            &app,
            &format!("token={token}"),
            Some(("myClient", "forgerock")),
        );
        assert_eq!(own.json_body()["active"], true);
        let other = ask(
            &app,
            &format!("token={token}"),
            Some(("otherClient", "other-secret-2")),
        );
        assert_eq!(other.json_body(), json!({"active": false}));
        let unknown = ask(&app, "token=nope", Some(("rs-client", "rs-secret")));
        assert_eq!(unknown.json_body(), json!({"active": false}));
        // A token of the root realm is unknown in another realm.
        let request = TestRequest::post(&format!("token={token}"))
            .basic("rs-client", "rs-secret")
            .realm("alpha");
        assert_eq!(
            introspect(&app, &request.at(&app)).json_body()["active"],
            false
        );
    }

    #[test]
    fn the_caller_must_authenticate_unless_a_fault_lets_anyone_ask() {
        let app_ok = app(ServerConfig::default());
        let token = issued_token(&app_ok, "myClient", "forgerock");
        let body = format!("token={token}");
        let reply = ask(&app_ok, &body, Some(("rs-client", "wrong")));
        assert_eq!(reply.status, Status::UNAUTHORIZED);
        assert_eq!(reply.json_body()["error"], "invalid_client");
        assert!(reply.www_authenticate.is_some());
        assert_eq!(ask(&app_ok, &body, None).status, Status::UNAUTHORIZED);

        let faulty = app(ServerConfig::default().with_fault(Fault::IntrospectionChallengeMissing));
        let reply = ask(&faulty, "token=x", Some(("rs-client", "wrong")));
        assert_eq!(
            (reply.status, reply.www_authenticate),
            (Status::UNAUTHORIZED, None)
        );

        let open =
            app(ServerConfig::default().with_fault(Fault::IntrospectionWithoutAuthentication));
        let token = issued_token(&open, "myClient", "forgerock");
        let reply = ask(&open, &format!("token={token}"), None);
        assert_eq!(reply.json_body()["active"], true);
    }

    #[test]
    fn the_request_needs_post_and_a_token() {
        let app = app(ServerConfig::default());
        let reply = ask(
            &app,
            "token_type_hint=access_token",
            Some(("rs-client", "rs-secret")),
        );
        assert_eq!(reply.status, Status::BAD_REQUEST);
        assert_eq!(reply.json_body()["error"], "invalid_request");
        let get = TestRequest::post("token=x")
            .method(Method::Get)
            .basic("rs-client", "rs-secret");
        let reply = introspect(&app, &get.at(&app));
        assert_eq!(
            (reply.status, reply.allow),
            (Status::METHOD_NOT_ALLOWED, None)
        );
    }
}
