//! Client authentication (RFC 6749 §2.3: `client_secret_basic` with form-encoded id and
//! secret, or `client_secret_post`; RFC 7523 §2.2 JWT assertions, `private_key_jwt` and
//! `client_secret_jwt`, verified by `client_assertion.rs`), with brute-force protection
//! when configured.

use std::borrow::Cow;

use base64::Engine;

use crate::app::App;
use crate::client_assertion::{self, Audience, ClientKeys, Lenience, Policy};
use crate::clients::{check_against_nothing, AuthMethod, Client};
use crate::config::{Fault, ServerConfig, Variant};
use crate::form::{decode_component, Form};
use crate::jose::{Alg, Jws};
use crate::request::{Header, Request};
use crate::response::{ErrorCode, OAuthError, Status};
use crate::router::Endpoint;
use crate::tokens::unix_now;

/// Authenticates the client calling one of `request.realm`'s endpoints; failures name the
/// realm's issuer in the challenge. With brute-force protection, failed attempts for a
/// registered client count per source address (`throttle.rs`); the resource server's own
/// introspection calls (`request.internal`) are never throttled, so nobody outside can make
/// the resource answer 503 by failing as `rs-client`.
pub fn authenticate<'a>(
    app: &'a App,
    request: &Request<'_>,
    form: &Form,
) -> Result<&'a Client, OAuthError> {
    let config = &app.config;
    let (realm, challenge_realm) = (&*request.realm.name, request.realm.issuer.as_str());
    if config.has(Fault::EmptySecretCountsAsMethod)
        && matches!(request.authorization, Header::One(_))
        && crate::form::sent_empty(request.raw_body(), "client_secret")
    {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "client authentication must use only one method",
        ));
    }
    let presented = presented_credentials(config, request.authorization, form, challenge_realm)?;
    let throttle = app.throttle.as_ref().filter(|_| !request.internal);
    // Only registered clients are throttled: an unknown id has no secret to guess.
    let Some((throttle, known)) = throttle.zip(config.clients.get(lookup_id(config, &presented)))
    else {
        return check_credentials(app, request, &presented, realm, challenge_realm);
    };
    crate::throttle::guard::guarded(app, request, throttle, &known.shared_id, || {
        check_credentials(app, request, &presented, realm, challenge_realm)
    })
}

/// The id the registry is searched for (the fault `trim-credentials` trims it first).
fn lookup_id<'p>(config: &ServerConfig, presented: &'p Presented<'_>) -> &'p str {
    if config.has(Fault::TrimCredentials) {
        presented.id.trim()
    } else {
        &presented.id
    }
}

/// Decodes a Basic payload into id and secret (RFC 6749 §2.3.1: each form-urlencoded before
/// Base64, split at the first `:`). `None` when it is not Base64, has no colon, or is not
/// UTF-8 / valid form-encoding once decoded.
pub fn decode_basic(payload: &str, form_decode: bool) -> Option<(String, String)> {
    // Decoded on the stack (a usual id and secret fit), else in a Vec.
    let payload = payload.trim_start_matches(' ');
    let engine = base64::engine::general_purpose::STANDARD;
    let mut stack = [0u8; 384];
    let heap;
    let decoded: &[u8] = match engine.decode_slice(payload, &mut stack) {
        Ok(len) => &stack[..len],
        Err(base64::DecodeSliceError::OutputSliceTooSmall) => {
            heap = engine.decode(payload).ok()?;
            &heap
        }
        Err(base64::DecodeSliceError::DecodeError(_)) => return None,
    };
    let colon = decoded.iter().position(|&b| b == b':')?;
    let (raw_id, raw_secret) = (&decoded[..colon], &decoded[colon + 1..]);
    if form_decode {
        Some((
            decode_component(raw_id).ok()?.into_owned(),
            decode_component(raw_secret).ok()?.into_owned(),
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
    /// `client_assertion_type` and `client_assertion`, for the JWT methods.
    assertion: Option<client_assertion::Presented<'f>>,
    /// With an assertion, the body's `client_id` when it names another client than the
    /// assertion (the fault `assertion-token-for-client-id` issues to it).
    other_named: Option<&'f str>,
}

fn check_credentials<'a>(
    app: &'a App,
    request: &Request<'_>,
    presented: &Presented<'_>,
    realm: &str,
    challenge_realm: &str,
) -> Result<&'a Client, OAuthError> {
    let config = &app.config;
    if let Some(assertion) = presented.assertion {
        return check_assertion(app, request, presented, assertion, realm, challenge_realm);
    }
    let via_header = presented.method == AuthMethod::ClientSecretBasic;
    let failed = |description| client_failure(config, via_header, challenge_realm, description);
    let trim = config.has(Fault::TrimCredentials);
    // Every check of a presented secret compares it once, at most MAX_SECRET_BYTES of it, whether
    // the id is known or not, so that timing tells neither ids nor secret lengths apart.
    let Some(client) = config.clients.get(lookup_id(config, presented)) else {
        if let Some(secret) = presented.secret.as_deref() {
            check_against_nothing(secret);
        }
        return Err(failed("client authentication failed"));
    };
    // The resource server's own introspection calls (`internal`) keep their secret.
    if config.fapi2
        && presented.secret.is_some()
        && !request.internal
        && !config.has(Fault::Fapi2AcceptSecrets)
    {
        return Err(failed(
            "FAPI 2.0: clients authenticate with private_key_jwt or mutual TLS (§5.3.2.1 item 6)",
        ));
    }
    let Some(secret) = presented.secret.as_deref() else {
        // RFC 8705 §2: `client_id` in the body and the connection's certificate.
        if client.uses_mtls() && presented.method == AuthMethod::ClientSecretPost {
            return check_certificate(app, request, client, realm, challenge_realm);
        }
        // The fault: `client_secret=` sent empty is taken as a secret with nothing to check.
        let empty_sent = presented.method == AuthMethod::ClientSecretPost
            && config.has(Fault::EmptySecretSkipsCheck)
            && crate::form::sent_empty(request.raw_body(), "client_secret");
        if empty_sent
            && client.secret.is_some()
            && client.auth_methods.contains(&AuthMethod::ClientSecretPost)
            && client.enabled
            && client.in_realm(realm)
        {
            return Ok(client);
        }
        // The fault: a public client is taken as authenticated by its id.
        if client.is_public()
            && config.has(Fault::PublicClientsGetTokens)
            && client.enabled
            && client.in_realm(realm)
        {
            return Ok(client);
        }
        if client.is_public() {
            return Err(OAuthError::bad_request(
                ErrorCode::UnauthorizedClient,
                "public clients may not use this endpoint",
            ));
        }
        return Err(failed("client authentication failed"));
    };
    let Some(stored) = client.secret.as_ref() else {
        check_against_nothing(secret);
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

/// Mutual-TLS client authentication (RFC 8705 §2): the client's registration decides which
/// certificate authenticates it (`mtls.rs`). Every failure is `invalid_client`.
fn check_certificate<'a>(
    app: &'a App,
    request: &Request<'_>,
    client: &'a Client,
    realm: &str,
    challenge_realm: &str,
) -> Result<&'a Client, OAuthError> {
    let config = &app.config;
    let failed = |description| {
        if config.has(Fault::MtlsRefusalForbidden) {
            return OAuthError::new(Status::FORBIDDEN, ErrorCode::InvalidClient, description);
        }
        client_failure(config, false, challenge_realm, description)
    };
    let enabled = client.enabled || config.has(Fault::AcceptDisabledClient);
    if !enabled || !client.in_realm(realm) {
        return Err(failed("client authentication failed"));
    }
    let lenience = crate::mtls::Lenience {
        skip_chain: config.has(Fault::MtlsSkipChainValidation),
        accept_expired: config.has(Fault::MtlsAcceptExpiredCertificate),
        self_signed_any: config.has(Fault::MtlsSelfSignedAnyCertificate),
        accept_without_certificate: config.has(Fault::MtlsAcceptWithoutCertificate),
    };
    crate::mtls::authenticate(
        client,
        request.client_certificate,
        &config.client_ca,
        rustls::pki_types::UnixTime::now(),
        lenience,
    )
    .map_err(|refusal| failed(refusal.describe()))?;
    Ok(client)
}

/// A JWT client assertion (RFC 7523 §3.1, §3.2): the registered client's keys verify it
/// (`client_assertion.rs`), and its `jti` is spent. Every failure is `invalid_client`.
fn check_assertion<'a>(
    app: &'a App,
    request: &Request<'_>,
    presented: &Presented<'_>,
    assertion: client_assertion::Presented<'_>,
    realm: &str,
    challenge_realm: &str,
) -> Result<&'a Client, OAuthError> {
    let config = &app.config;
    let failed = |description| assertion_failure(config, challenge_realm, description);
    let Some(client) = config.clients.get(lookup_id(config, presented)) else {
        return Err(failed("client authentication failed"));
    };
    // The algorithm says which method the client used; one that names neither a MAC nor a
    // signature (`none`, unknown) is judged as the client's own method, so that it fails
    // there for its algorithm, not for the method.
    let alg = Jws::parse(assertion.assertion).map_or(String::new(), |jws| jws.header.alg);
    let confused = config.has(Fault::AssertionAlgConfusion)
        && alg == "HS256"
        && client.auth_methods.contains(&AuthMethod::PrivateKeyJwt);
    let method = if confused {
        AuthMethod::PrivateKeyJwt
    } else if alg.starts_with("HS") || Alg::from_name(&alg).is_some() {
        presented.method
    } else if client.auth_methods.contains(&AuthMethod::PrivateKeyJwt) {
        AuthMethod::PrivateKeyJwt
    } else {
        AuthMethod::ClientSecretJwt
    };
    let enabled = client.enabled || config.has(Fault::AcceptDisabledClient);
    // FAPI 2.0 §5.3.2.1 item 6: no client_secret_jwt.
    let method_ok = client.auth_methods.contains(&method)
        && !(config.fapi2 && method == AuthMethod::ClientSecretJwt);
    if !enabled || !method_ok || !client.in_realm(realm) {
        return Err(failed("client authentication failed"));
    }
    let keys = match (method, &client.secret) {
        (AuthMethod::PrivateKeyJwt, _) => ClientKeys::Public {
            keys: &client.public_keys,
            algs: if config.fapi2 {
                Alg::FAPI2
            } else {
                Alg::ASYMMETRIC
            },
        },
        (AuthMethod::ClientSecretJwt, Some(secret)) => {
            ClientKeys::Secret(secret.expose().as_bytes())
        }
        _ => return Err(failed("client authentication failed")),
    };
    let token_endpoint = app.endpoint_url(realm, Endpoint::Token);
    let audience = Audience {
        issuer: challenge_realm,
        // The legal variant takes the issuer alone (RFC 7523 §3 item 3: the token endpoint
        // URL "MAY be used"; the strings are configured out of band).
        // FAPI 2.0 §5.3.2.1 item 8: "shall only accept its issuer identifier value ... as a
        // string in the aud claim".
        token_endpoint: if config.uses(Variant::AssertionAudienceIssuerOnly)
            || (config.fapi2 && !config.has(Fault::Fapi2TokenEndpointAud))
        {
            challenge_realm
        } else {
            &token_endpoint
        },
        string_only: config.fapi2 && !config.has(Fault::Fapi2AudArray),
    };
    let policy = Policy {
        lenience: Lenience {
            accept_alg_none: config.has(Fault::AcceptAssertionAlgNone),
            skip_signature: config.has(Fault::SkipAssertionSignature),
            any_audience: config.has(Fault::AcceptAnyAssertionAudience),
            accept_expired: config.has(Fault::AcceptExpiredAssertion),
            trust_hs256_header: config.has(Fault::AssertionAlgConfusion),
            exp_optional: config.has(Fault::AcceptAssertionWithoutExp),
            ignore_nbf: config.has(Fault::IgnoreAssertionNbf),
            any_iss: config.has(Fault::AcceptAnyAssertionIss),
            any_sub: config.has(Fault::AcceptAnyAssertionSub),
        },
        clock_skew: if config.has(Fault::AssertionNoClockSkew) {
            0
        } else if config.has(Fault::AssertionClockSkew120) {
            120
        } else {
            client_assertion::POLICY.clock_skew
        },
        ..client_assertion::POLICY
    };
    let now = unix_now();
    // The fault: a refused assertion answered as a refused authorization grant.
    let refused = |e: client_assertion::AssertionError| {
        if config.has(Fault::AssertionRefusalInvalidGrant) {
            OAuthError::bad_request(ErrorCode::InvalidGrant, e.describe())
        } else {
            failed(e.describe())
        }
    };
    let checked = client_assertion::check(assertion, &client.id, keys, audience, now, policy)
        .map_err(refused)?;
    if !config.has(Fault::SkipAssertionReplayCheck) {
        let mut jtis = app
            .assertion_jtis
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if config.has(Fault::RaceReplay) {
            // The fault: checked now, recorded after the window (`race.rs`).
            let pending = checked
                .check_unused(&mut jtis, now)
                .map_err(|e| failed(e.describe()))?;
            drop(jtis);
            let cache = app.assertion_jtis.clone();
            request.deferred.push(move || {
                let mut jtis = cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                jtis.record(pending);
            });
        } else {
            checked
                .record_use(&mut jtis, now)
                .map_err(|e| failed(e.describe()))?;
        }
    }
    if config.has(Fault::AssertionTokenForClientId) {
        if let Some(named) = presented.other_named.and_then(|id| config.clients.get(id)) {
            return Ok(named);
        }
    }
    Ok(client)
}

/// A refused client assertion: 401 `invalid_client` with a challenge, or 403 without one
/// under the legal variant `assertion-refusal-403` (RFC 6749 §5.2 requires 401 only for
/// credentials sent in the Authorization header; an assertion travels in the body).
fn assertion_failure(
    config: &ServerConfig,
    challenge_realm: &str,
    description: &'static str,
) -> OAuthError {
    if config.uses(Variant::AssertionRefusal403) {
        OAuthError::new(Status::FORBIDDEN, ErrorCode::InvalidClient, description)
    } else {
        client_failure(config, false, challenge_realm, description)
    }
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
        Header::Absent if has_assertion(form) => {
            return asserted_credentials(config, form, challenge_realm)
        }
        // The fault `assertion-ignores-basic`: two methods, and the header is dropped.
        Header::One(_) if has_assertion(form) && config.has(Fault::AssertionIgnoresBasic) => {
            return asserted_credentials(config, form, challenge_realm)
        }
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
    if !scheme.eq_ignore_ascii_case("basic") && !config.has(Fault::AnySchemeAsBasic) {
        // §5.2 asks for a challenge "matching the authentication scheme used by the client",
        // but a Bearer or Digest challenge would invite credentials this endpoint cannot
        // take. RFC 9110 §11.6.1 wants a challenge applicable to the resource: Basic, the
        // only scheme it accepts, which also tells the client what to use instead.
        return Err(failed("unsupported client authentication scheme"));
    }
    let form_decode = !config.has(Fault::BasicWithoutFormDecoding);
    let (id, secret) = decode_basic(payload, form_decode).ok_or_else(malformed)?;
    if form.get("client_secret").is_some() || has_assertion(form) {
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
        assertion: None,
        other_named: None,
    })
}

/// The fault `jwt-auth-token-endpoint-only`: client assertions refused outside the token
/// endpoint (introspection, revocation), although the metadata lists them there.
pub fn assertion_refused_here(
    app: &App,
    request: &Request<'_>,
    form: &Form,
) -> Result<(), OAuthError> {
    if app.config.has(Fault::JwtAuthTokenEndpointOnly) && has_assertion(form) {
        return Err(OAuthError::invalid_client(
            &request.realm.issuer,
            "client assertions are taken at the token endpoint only",
        ));
    }
    Ok(())
}

/// True when a request carries no client authentication at all: no Authorization header,
/// no `client_id`, no assertion (what the faults `accept-unauthenticated-request` and
/// `revocation-without-authentication` let through).
pub fn presents_no_credentials(request: &Request<'_>, form: &Form) -> bool {
    matches!(request.authorization, Header::Absent)
        && form.get("client_id").is_none()
        && form.get("client_secret").is_none()
        && !has_assertion(form)
}

fn has_assertion(form: &Form) -> bool {
    form.get("client_assertion").is_some() || form.get("client_assertion_type").is_some()
}

/// A JWT assertion in the form (RFC 7521 §4.2): the client is `client_id` when given, else
/// the assertion's `sub` (verification then requires both to be that client). An HMAC
/// algorithm means `client_secret_jwt`, anything else `private_key_jwt`.
fn asserted_credentials<'f>(
    config: &ServerConfig,
    form: &'f Form,
    challenge_realm: &str,
) -> Result<Presented<'f>, OAuthError> {
    if form.get("client_secret").is_some() {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "client authentication must use only one method",
        ));
    }
    let (Some(assertion_type), Some(assertion)) = (
        form.get("client_assertion_type"),
        form.get("client_assertion"),
    ) else {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "client_assertion_type and client_assertion go together (RFC 7521 §4.2)",
        ));
    };
    let asserted = || {
        client_assertion::unverified_client_id(assertion).ok_or_else(|| {
            assertion_failure(config, challenge_realm, "client authentication failed")
        })
    };
    // The faults `assertion-ignores-client-id` and `assertion-token-for-client-id` take the
    // client from the assertion whatever client_id says.
    let from_assertion =
        config.has(Fault::AssertionIgnoresClientId) || config.has(Fault::AssertionTokenForClientId);
    let (id, other_named) = match form.get("client_id") {
        Some(named) if from_assertion => {
            let asserted = asserted()?;
            let other = (named != asserted).then_some(named);
            (Cow::Owned(asserted), other)
        }
        Some(id) => (Cow::Borrowed(id), None),
        None => (Cow::Owned(asserted()?), None),
    };
    let hmac = Jws::parse(assertion).is_ok_and(|jws| jws.header.alg.starts_with("HS"));
    Ok(Presented {
        id,
        secret: None,
        method: if hmac {
            AuthMethod::ClientSecretJwt
        } else {
            AuthMethod::PrivateKeyJwt
        },
        assertion: Some(client_assertion::Presented {
            assertion_type,
            assertion,
        }),
        other_named,
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
            assertion: None,
            other_named: None,
        }),
        (None, _) => Err(OAuthError::invalid_client(
            challenge_realm,
            "client authentication is required",
        )),
    }
}

#[cfg(test)]
mod tests;
