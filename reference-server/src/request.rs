//! Reading requests: bounded bodies, form content type, and client authentication
//! (RFC 6749 §2.3: `client_secret_basic` with form-encoded id and secret, or `client_secret_post`).

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, StatusCode};

use crate::clients::{AuthMethod, Client};
use crate::config::{Fault, ServerConfig};
use crate::form::{decode_component, Form, FormError};
use crate::response::{ErrorCode, OAuthError};
use crate::throttle::{FailureThrottle, Source};

/// A request body that records whether it was read to the end. One left unread means the
/// client may still be sending it, so the connection cannot carry another request: the
/// server then says `Connection: close` in the response (see `server.rs`).
pub struct RequestBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

/// Set once the body has been read to the end (at once for an empty body).
#[derive(Clone)]
pub struct ReadToEnd(Arc<AtomicBool>);

impl ReadToEnd {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl RequestBody {
    pub fn new(inner: Incoming) -> (RequestBody, ReadToEnd) {
        let finished = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let flag = ReadToEnd(finished.clone());
        (RequestBody { inner, finished }, flag)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let at_end = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if at_end {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads the whole body, refusing more than `limit` bytes (413) or a body slower than
/// `timeout` (408), so neither a large nor a dripping request can hold the server.
pub async fn read_body(
    headers: &HeaderMap,
    body: RequestBody,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, OAuthError> {
    let too_large = OAuthError {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: ErrorCode::InvalidRequest,
        description: "request body too large",
        challenge: None,
        retry_after: None,
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large);
    }
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large),
        Ok(Err(_)) => Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "request body could not be read",
        )),
        Err(_) => Err(OAuthError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: ErrorCode::InvalidRequest,
            description: "request body not received in time",
            challenge: None,
            retry_after: None,
        }),
    }
}

/// True when the request declares a form body; the media type is case-insensitive and may
/// carry parameters such as `charset` (RFC 9110 §8.3.1).
pub fn is_form_content_type(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| {
            t.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// Parses a form body, mapping malformed input to `invalid_request`.
pub fn parse_form(body: &[u8], config: &ServerConfig) -> Result<Form, OAuthError> {
    Form::parse(body, config.has(Fault::AcceptRepeatedParameters)).map_err(form_error)
}

/// A form problem as a 400 `invalid_request`.
pub fn form_error(e: FormError) -> OAuthError {
    let description = match e {
        FormError::BadPercentEscape => "malformed percent-encoding in the request",
        FormError::NotUtf8 => "request parameters must be UTF-8",
        FormError::Repeated(_) => "request parameters must not be repeated",
        FormError::TooManyParameters => "too many request parameters",
    };
    OAuthError::bad_request(ErrorCode::InvalidRequest, description)
}

/// Requires a form body: content type, size and encoding.
pub async fn read_form(
    headers: &HeaderMap,
    body: RequestBody,
    config: &ServerConfig,
) -> Result<Form, OAuthError> {
    if !is_form_content_type(headers) {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = read_body(headers, body, config.max_body_bytes, config.body_timeout).await?;
    parse_form(&bytes, config)
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
struct Presented {
    id: String,
    secret: Option<String>,
    method: AuthMethod,
}

/// The address a request's connection came from, in the request's extensions. Only the TCP
/// peer counts: a forwarded-for header is whatever the sender says.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// Authenticates the calling client. `realm` is the realm whose endpoint was called and
/// `challenge_realm` the label put into `WWW-Authenticate`; `throttle` is brute-force
/// protection with the source the attempt comes from.
pub fn authenticate<'a>(
    config: &'a ServerConfig,
    throttle: Option<(&FailureThrottle, Source)>,
    headers: &HeaderMap,
    form: &Form,
    realm: &str,
    challenge_realm: &str,
) -> Result<&'a Client, OAuthError> {
    let presented = presented_credentials(config, headers, form, challenge_realm)?;
    let Some((throttle, source)) = throttle else {
        return check_credentials(config, &presented, realm, challenge_realm);
    };
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

fn check_credentials<'a>(
    config: &'a ServerConfig,
    presented: &Presented,
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

fn presented_credentials(
    config: &ServerConfig,
    headers: &HeaderMap,
    form: &Form,
    challenge_realm: &str,
) -> Result<Presented, OAuthError> {
    let mut authorizations = headers.get_all(AUTHORIZATION).iter();
    let authorization = authorizations.next();
    if authorizations.next().is_some() {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "only one Authorization header is allowed",
        ));
    }
    let Some(authorization) = authorization else {
        return match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), secret) => Ok(Presented {
                id: id.to_owned(),
                secret: secret.map(str::to_owned),
                method: AuthMethod::ClientSecretPost,
            }),
            (None, _) => Err(OAuthError::invalid_client(
                challenge_realm,
                "client authentication is required",
            )),
        };
    };
    // Whatever went wrong in the Authorization header, the client tried to authenticate with
    // it, and RFC 6749 §5.2 answers that with 401 and a challenge.
    let failed = |description| client_failure(config, true, challenge_realm, description);
    let malformed = || failed("malformed Basic credentials in the Authorization header");
    let value = authorization.to_str().map_err(|_| malformed())?;
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
        id,
        secret: Some(secret),
        method: AuthMethod::ClientSecretBasic,
    })
}
