//! The request a step describes: method, URL, client authentication, form or raw body,
//! headers, with templates expanded and the preflight's scope where it applies.

use crate::form::encode;
use base64::Engine;
use reqwest::Method;

use crate::case::{Auth, Endpoint, Role, Step};
use crate::http::BuiltRequest;
use crate::jose::{AssertionBuilder, AssertionFlaw};
use crate::target::{AuthMethod, Target};
use crate::template::{expand, Vars};

/// The client a step acts as: as written, else the introspector at introspection and the
/// main client elsewhere.
pub fn step_role(step: &Step) -> Role {
    step.client.unwrap_or(match step.endpoint {
        Endpoint::Introspection => Role::Introspector,
        _ => Role::Main,
    })
}

pub(super) fn cleartext_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    crate::http::cleartext_twin(&parsed).map(String::from)
}

pub(super) fn endpoint_url(target: &Target, endpoint: Endpoint) -> Option<String> {
    match endpoint {
        Endpoint::Token => Some(target.token_url.clone()),
        Endpoint::Introspection => target.introspection_url.clone(),
        Endpoint::Revocation => target.revocation_url.clone(),
        Endpoint::Resource => target.resource_url.clone(),
        Endpoint::Metadata => target.metadata_url.clone(),
        Endpoint::Jwks => target.jwks_url.clone(),
    }
}

/// How a step that names no `auth` authenticates: at the endpoints that take client
/// authentication, as its client does (`--client-auth`), or with HTTP Basic when the step
/// writes the id or secret to present (it is about them); elsewhere not at all.
pub fn default_auth(step: &Step, method: AuthMethod) -> Auth {
    if !matches!(
        step.endpoint,
        Endpoint::Token | Endpoint::Introspection | Endpoint::Revocation
    ) {
        return Auth::None;
    }
    // A raw `Authorization` header is the step's own authentication.
    if step.authorization.is_some() {
        return Auth::None;
    }
    if step.id.is_some() || step.secret.is_some() {
        return Auth::Basic;
    }
    match method {
        AuthMethod::ClientSecretBasic => Auth::Basic,
        AuthMethod::ClientSecretPost => Auth::Post,
        AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt => Auth::Jwt,
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth | AuthMethod::None => {
            Auth::ClientId
        }
    }
}

/// Starts a request's error when the step's flaw cannot be made for this run (the case is
/// skipped with the rest of the message, not errored).
pub(super) const NOT_APPLICABLE: &str = "not applicable here: ";

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER: &str = crate::jose::assertion::CLIENT_ASSERTION_TYPE;

/// `client_id`, `client_assertion_type` and a fresh `client_assertion` with the step's flaw
/// (RFC 7521 §4.2, RFC 7523 §2.2).
fn assertion_params(
    step: &Step,
    id: &str,
    vars: &Vars,
    assertions: Option<&mut AssertionBuilder>,
) -> Result<Vec<(String, String)>, String> {
    let builder =
        assertions.ok_or("auth = \"jwt\" needs a client with a JWT key (key_jwt or secret_jwt)")?;
    let flaw = step.assertion.as_ref().unwrap_or(&AssertionFlaw::None);
    let assertion = builder
        .build(flaw, crate::jose::unix_now())
        .map_err(|e| match e {
            crate::jose::assertion::BuildError::NotApplicable(why) => {
                format!("{NOT_APPLICABLE}{why}")
            }
            e => format!("cannot make the client assertion: {e}"),
        })?;
    let assertion_type = match &step.assertion_type {
        Some(t) => expand(t, vars)?,
        None => JWT_BEARER.to_owned(),
    };
    Ok(vec![
        ("client_id".into(), id.to_owned()),
        ("client_assertion_type".into(), assertion_type),
        ("client_assertion".into(), assertion.expose().to_owned()),
    ])
}

/// The request a step describes. `token_scope` is the preflight's scope for
/// client-credentials token requests that name none (unless the step is `exact`);
/// `assertions` makes the step client's JWT assertions (`auth = "jwt"`).
pub fn build_request(
    step: &Step,
    method_of_client: AuthMethod,
    base_url: &str,
    vars: &Vars,
    token_scope: Option<&str>,
    assertions: Option<&mut AssertionBuilder>,
) -> Result<BuiltRequest, String> {
    let default_method = match step.endpoint {
        Endpoint::Resource | Endpoint::Metadata | Endpoint::Jwks => "GET",
        _ => "POST",
    };
    let method_name = step
        .method
        .as_deref()
        .unwrap_or(default_method)
        .to_ascii_uppercase();
    let method = Method::from_bytes(method_name.as_bytes())
        .map_err(|_| format!("bad method '{method_name}'"))?;
    let mut url = base_url.to_owned();
    if let Some(query) = &step.query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&expand(query, vars)?);
    }

    let auth = step
        .auth
        .unwrap_or_else(|| default_auth(step, method_of_client));
    let id = expand(step.id.as_deref().unwrap_or("{client.id}"), vars)?;
    let secret = || expand(step.secret.as_deref().unwrap_or("{client.secret}"), vars);

    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(form) = &step.form {
        for (name, value) in form {
            let value = match value {
                toml::Value::String(s) => expand(s, vars)?,
                other => other.to_string(),
            };
            params.push((name.clone(), value));
        }
        let client_credentials = form
            .get("grant_type")
            .is_some_and(|g| g.as_str() == Some("client_credentials"));
        if let Some(scope) = token_scope {
            if step.endpoint == Endpoint::Token
                && client_credentials
                && !step.exact
                && !form.contains_key("scope")
            {
                params.push(("scope".into(), scope.to_owned()));
            }
        }
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut auth_params: Vec<(String, String)> = Vec::new();
    match (&step.authorization, &step.bearer, auth) {
        (Some(raw), _, _) => headers.push(("authorization".into(), expand(raw, vars)?)),
        (None, Some(token), _) => headers.push((
            "authorization".into(),
            format!("Bearer {}", expand(token, vars)?),
        )),
        (None, None, _) if step.dpop_token.is_some() => {
            let token = step.dpop_token.as_deref().unwrap_or_default();
            headers.push((
                "authorization".into(),
                format!("DPoP {}", expand(token, vars)?),
            ));
        }
        (None, None, Auth::Basic) => {
            let pair = format!("{}:{}", encode(&id), encode(&secret()?));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization".into(), format!("Basic {encoded}")));
        }
        (None, None, Auth::Post) => {
            auth_params.push(("client_id".into(), id.clone()));
            // A public client has no secret to send; any other needs its own.
            if method_of_client != AuthMethod::None || step.secret.is_some() {
                auth_params.push(("client_secret".into(), secret()?));
            }
        }
        (None, None, Auth::ClientId) => auth_params.push(("client_id".into(), id.clone())),
        (None, None, Auth::None | Auth::Jwt) => {}
    }
    // An assertion goes in the body whatever the header carries (a raw `authorization`
    // beside it sends two methods at once).
    if auth == Auth::Jwt {
        auth_params.extend(assertion_params(step, &id, vars, assertions)?);
    }
    // A raw body is sent as written, but a client that authenticates in the body still
    // does so where the step left its authentication to it.
    let raw_body_auth = match &step.body {
        Some(_) if step.auth.is_none() => std::mem::take(&mut auth_params),
        _ => Vec::new(),
    };
    params.extend(auth_params);
    let scope = params
        .iter()
        .find(|(n, _)| n == "scope")
        .map(|(_, v)| v.clone());
    let body = match &step.body {
        Some(raw) => {
            let mut body = expand(raw, vars)?;
            for (n, v) in &raw_body_auth {
                if !body.is_empty() {
                    body.push('&');
                }
                body.push_str(&format!("{}={}", encode(n), encode(v)));
            }
            body
        }
        None => params
            .iter()
            .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
            .collect::<Vec<_>>()
            .join("&"),
    };
    let scope = scope.or_else(|| {
        step.body
            .as_ref()
            .and_then(|_| crate::form::first_value(&body, "scope"))
    });
    let sends_body = !body.is_empty() || method == Method::POST;
    match &step.content_type {
        Some(ct) if ct.is_empty() => {}
        Some(ct) => headers.push(("content-type".into(), expand(ct, vars)?)),
        None if sends_body => headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )),
        None => {}
    }
    for (name, value) in &step.headers {
        headers.push((name.to_ascii_lowercase(), expand(value, vars)?));
    }
    Ok(BuiltRequest {
        method,
        url,
        headers,
        body,
        scope,
    })
}
