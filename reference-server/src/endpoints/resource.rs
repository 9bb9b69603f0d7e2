//! The protected resource (RFC 6750). It validates bearer tokens the way a separate resource
//! server would: by calling the introspection endpoint over HTTP with its own credentials
//! (steps 4–5 of the flow), never by reading the token store.

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::app::App;
use crate::config::Fault;
use crate::form::{encode_component, Form};
use crate::request::RequestBody;
use crate::response::{self, Body};

/// The client the resource server introspects as (registered in fixtures/clients.toml).
pub const RESOURCE_SERVER_CLIENT: &str = "rs-client";

const CHALLENGE_REALM: &str = "grantcheck";

pub async fn handle(app: &App, req: Request<RequestBody>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::POST {
        return response::method_not_allowed("GET, POST");
    }
    let token = match bearer_token(&req) {
        Ok(Some(token)) => token,
        Ok(None) => return unauthorized(app, None),
        Err(()) => {
            return challenge(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "use exactly one way of sending the access token",
                None,
            )
        }
    };
    let introspected = match introspect(app, &token).await {
        Ok(v) => v,
        Err(reason) => {
            let mut r = response::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "temporarily_unavailable", "error_description": reason}),
            );
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static("1"));
            return r;
        }
    };
    let active = introspected["active"] == Value::Bool(true);
    if !active && !app.config.has(Fault::ResourceAcceptsInactiveTokens) {
        return unauthorized(app, Some("the access token is not active"));
    }
    let scope = introspected["scope"].as_str().unwrap_or("");
    let required = app.config.resource_scope.as_str();
    let check_scope = active && !app.config.has(Fault::ResourceIgnoresScope);
    if check_scope && !scope.split(' ').any(|s| s == required) {
        return challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "the access token lacks the required scope",
            Some(required),
        );
    }
    let mut response = response::json(
        StatusCode::OK,
        &json!({
            "resource": "grantcheck protected resource",
            "client_id": introspected["client_id"],
            "scope": scope,
        }),
    );
    response::no_store(&mut response, false);
    response
}

/// The token from `Authorization: Bearer` (scheme case-insensitive, RFC 9110 §11.1).
/// Tokens in the query are not accepted (RFC 6750 §2.3 SHOULD NOT); sending one beside a
/// header is two methods at once (RFC 6750 §3.1 `invalid_request`).
fn bearer_token(req: &Request<RequestBody>) -> Result<Option<String>, ()> {
    let mut values = req.headers().get_all(AUTHORIZATION).iter();
    let header = values.next();
    if values.next().is_some() {
        return Err(());
    }
    let in_query = req
        .uri()
        .query()
        .and_then(|q| Form::parse(q.as_bytes(), true).ok())
        .is_some_and(|f| f.get("access_token").is_some());
    let Some(header) = header else {
        return Ok(None);
    };
    if in_query {
        return Err(());
    }
    let Ok(value) = header.to_str() else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.split_once(' ') else {
        return Ok(None);
    };
    let token = token.trim_start_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Ok(None);
    }
    Ok(Some(token.to_owned()))
}

/// Asks the introspection endpoint about `token`, as `rs-client`.
async fn introspect(app: &App, token: &str) -> Result<Value, &'static str> {
    let client = app
        .config
        .clients
        .get(RESOURCE_SERVER_CLIENT)
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
    let request = Request::post(&app.local_introspection_url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(AUTHORIZATION, format!("Basic {basic}"))
        .body(Full::new(Bytes::from(format!(
            "token={}&token_type_hint=access_token",
            encode_component(token)
        ))))
        .map_err(|_| "could not build the introspection request")?;
    let response = tokio::time::timeout(app.config.body_timeout, app.http.request(request))
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

fn unauthorized(app: &App, error: Option<&'static str>) -> Response<Body> {
    if app.config.has(Fault::ResourceChallengeMissing) {
        return response::json(
            StatusCode::UNAUTHORIZED,
            &json!({"error": error.map(|_| "invalid_token")}),
        );
    }
    match error {
        // RFC 6750 §3.1: no error code when the request carried no token.
        None => {
            let mut r = response::json(StatusCode::UNAUTHORIZED, &json!({}));
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"grantcheck\""),
            );
            r
        }
        Some(description) => {
            challenge(StatusCode::UNAUTHORIZED, "invalid_token", description, None)
        }
    }
}

/// An RFC 6750 §3 error: `WWW-Authenticate: Bearer realm=…, error=…` plus a JSON body.
fn challenge(
    status: StatusCode,
    error: &'static str,
    description: &'static str,
    scope: Option<&str>,
) -> Response<Body> {
    let mut value =
        format!("Bearer realm=\"{CHALLENGE_REALM}\", error=\"{error}\", error_description=\"{description}\"");
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    let mut r = response::json(
        status,
        &json!({"error": error, "error_description": description}),
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        r.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    r
}
