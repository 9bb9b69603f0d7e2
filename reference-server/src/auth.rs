//! Client authentication (RFC 6749 §2.3: `client_secret_basic` with form-encoded id and
//! secret, or `client_secret_post`), with brute-force protection when configured.

use std::borrow::Cow;

use base64::Engine;

use crate::app::App;
use crate::clients::{AuthMethod, Client};
use crate::config::{Fault, ServerConfig};
use crate::form::{decode_component, Form};
use crate::request::{Header, Request};
use crate::response::{ErrorCode, OAuthError};

/// Authenticates the client calling one of `request.realm`'s endpoints; failures name the
/// realm's issuer in the challenge. With brute-force protection, attempts count per client
/// id and source address.
pub fn authenticate<'a>(
    app: &'a App,
    request: &Request<'_>,
    form: &Form,
) -> Result<&'a Client, OAuthError> {
    let config = &app.config;
    let (realm, challenge_realm) = (&*request.realm.name, request.realm.issuer.as_str());
    let presented = presented_credentials(config, request.authorization, form, challenge_realm)?;
    let Some(throttle) = &app.throttle else {
        return check_credentials(config, &presented, realm, challenge_realm);
    };
    let source = request.peer.into();
    if let Some(retry_after) = throttle.locked(&presented.id, source) {
        return Err(OAuthError::too_many_failures(retry_after));
    }
    let result = check_credentials(config, &presented, realm, challenge_realm);
    match &result {
        Ok(_) => throttle.record_success(&presented.id, source),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            throttle.record_failure(&presented.id, source)
        }
        Err(_) => {}
    }
    result
}

/// Decodes a Basic payload into id and secret (RFC 6749 §2.3.1: each form-urlencoded before
/// Base64, split at the first `:`). `None` when it is not Base64, has no colon, or is not
/// UTF-8 / valid form-encoding once decoded.
pub fn decode_basic(payload: &str, form_decode: bool) -> Option<(String, String)> {
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(payload.trim_start_matches(' '))
        .ok()?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    let (raw_id, raw_secret) = (&decoded[..colon], &decoded[colon + 1..]);
    if form_decode {
        Some((
            decode_component(raw_id).ok()?,
            decode_component(raw_secret).ok()?,
        ))
    } else {
        Some((
            String::from_utf8(raw_id.to_vec()).ok()?,
            String::from_utf8(raw_secret.to_vec()).ok()?,
        ))
    }
}

/// The credentials a request carries, before they are checked.
struct Presented<'f> {
    id: Cow<'f, str>,
    secret: Option<Cow<'f, str>>,
    method: AuthMethod,
}

fn check_credentials<'a>(
    config: &'a ServerConfig,
    presented: &Presented<'_>,
    realm: &str,
    challenge_realm: &str,
) -> Result<&'a Client, OAuthError> {
    let via_header = presented.method == AuthMethod::ClientSecretBasic;
    let failed = |description| client_failure(config, via_header, challenge_realm, description);
    let trim = config.has(Fault::TrimCredentials);
    let id = if trim {
        presented.id.trim()
    } else {
        &presented.id
    };
    let Some(client) = config.clients.get(id) else {
        return Err(failed("client authentication failed"));
    };
    let Some(secret) = presented.secret.as_deref() else {
        if client.is_public() {
            return Err(OAuthError::bad_request(
                ErrorCode::UnauthorizedClient,
                "public clients may not use this endpoint",
            ));
        }
        return Err(failed("client authentication failed"));
    };
    let Some(stored) = client.secret.as_ref() else {
        return Err(failed("client authentication failed"));
    };
    let secret_ok = if config.has(Fault::AcceptWrongSecret) {
        true
    } else if config.has(Fault::CaseInsensitiveSecret) {
        stored.expose().eq_ignore_ascii_case(secret)
    } else if trim {
        stored.matches(secret.trim())
    } else {
        stored.matches(secret)
    };
    let enabled = client.enabled || config.has(Fault::AcceptDisabledClient);
    let method_ok = client.auth_methods.contains(&presented.method);
    if !secret_ok || !enabled || !method_ok || !client.in_realm(realm) {
        return Err(failed("client authentication failed"));
    }
    Ok(client)
}

/// Failed client authentication: 401 `invalid_client` with a Basic challenge (RFC 6749 §5.2).
/// `via_header`: the client tried the Authorization header, which is what the fault
/// `invalid-client-without-challenge` answers with 400 and no challenge instead.
fn client_failure(
    config: &ServerConfig,
    via_header: bool,
    challenge_realm: &str,
    description: &'static str,
) -> OAuthError {
    if via_header && config.has(Fault::InvalidClientWithoutChallenge) {
        OAuthError::bad_request(ErrorCode::InvalidClient, description)
    } else {
        OAuthError::invalid_client(challenge_realm, description)
    }
}

fn presented_credentials<'f>(
    config: &ServerConfig,
    authorization: Header<'_>,
    form: &'f Form,
    challenge_realm: &str,
) -> Result<Presented<'f>, OAuthError> {
    let value = match authorization {
        Header::Absent => return posted_credentials(form, challenge_realm),
        Header::Repeated => {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidRequest,
                "only one Authorization header is allowed",
            ))
        }
        Header::One(value) => Some(value),
        Header::Unreadable => None,
    };
    // Whatever went wrong in the Authorization header, the client tried to authenticate with
    // it, and RFC 6749 §5.2 answers that with 401 and a challenge.
    let failed = |description| client_failure(config, true, challenge_realm, description);
    let malformed = || failed("malformed Basic credentials in the Authorization header");
    let value = value.ok_or_else(malformed)?;
    let (scheme, payload) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        // §5.2 asks for a challenge "matching the authentication scheme used by the client",
        // but a Bearer or Digest challenge would invite credentials this endpoint cannot
        // take. RFC 9110 §11.6.1 wants a challenge applicable to the resource: Basic, the
        // only scheme it accepts, which also tells the client what to use instead.
        return Err(failed("unsupported client authentication scheme"));
    }
    let form_decode = !config.has(Fault::BasicWithoutFormDecoding);
    let (id, secret) = decode_basic(payload, form_decode).ok_or_else(malformed)?;
    if form.get("client_secret").is_some() {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "client authentication must use only one method",
        ));
    }
    if form.get("client_id").is_some_and(|body_id| body_id != id) {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "client_id in the body does not match the authenticated client",
        ));
    }
    Ok(Presented {
        id: Cow::Owned(id),
        secret: Some(Cow::Owned(secret)),
        method: AuthMethod::ClientSecretBasic,
    })
}

/// `client_secret_post`: the credentials in the form, borrowed from it.
fn posted_credentials<'f>(
    form: &'f Form,
    challenge_realm: &str,
) -> Result<Presented<'f>, OAuthError> {
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), secret) => Ok(Presented {
            id: Cow::Borrowed(id),
            secret: secret.map(Cow::Borrowed),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, _) => Err(OAuthError::invalid_client(
            challenge_realm,
            "client authentication is required",
        )),
    }
}
