//! Client authentication (RFC 6749 §2.3: `client_secret_basic` with form-encoded id and
//! secret, or `client_secret_post`), with brute-force protection when configured.

use std::borrow::Cow;

use base64::Engine;

use crate::app::App;
use crate::clients::{check_against_nothing, AuthMethod, Client};
use crate::config::{Fault, ServerConfig};
use crate::events::Event;
use crate::form::{decode_component, Form};
use crate::request::{Header, Request};
use crate::response::{ErrorCode, OAuthError};
use crate::throttle::{Noted, Source};

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
    let presented = presented_credentials(config, request.authorization, form, challenge_realm)?;
    let throttle = app.throttle.as_ref().filter(|_| !request.internal);
    // Only registered clients are throttled: an unknown id has no secret to guess.
    let Some((throttle, known)) = throttle.zip(config.clients.get(lookup_id(config, &presented)))
    else {
        return check_credentials(config, &presented, realm, challenge_realm);
    };
    let (client, source) = (&known.shared_id, Source::from(request.peer));
    if let Some(retry_after) = throttle.waiting(client, source) {
        return Err(OAuthError::too_many_failures(retry_after));
    }
    let result = check_credentials(config, &presented, realm, challenge_realm);
    match &result {
        Ok(_) => throttle.record_success(client, source),
        Err(e) if e.code == ErrorCode::InvalidClient => {
            let settings = throttle.settings();
            match throttle.record_failure(client, source) {
                Noted::Nothing => {}
                Noted::StartedWaiting => app.events.note(Event::ThrottleDelay, || {
                    format!(
                        "client '{client}' from {source}: {} failed authentications; its attempts from there now wait (1 s, doubling up to {} s)",
                        settings.max_failures,
                        settings.max_delay.as_secs()
                    )
                }),
                Noted::Shared => app.events.note(Event::ThrottleTableFull, || {
                    format!(
                        "brute-force table full: failed authentications of client '{client}' from addresses not yet tracked (such as {source}) now share one limit"
                    )
                }),
            }
        }
        Err(_) => {}
    }
    result
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
    // Every check of a presented secret hashes it once, at most MAX_SECRET_BYTES of it, whether
    // the id is known or not, so that timing tells neither ids nor secret lengths apart.
    let Some(client) = config.clients.get(lookup_id(config, presented)) else {
        if let Some(secret) = presented.secret.as_deref() {
            check_against_nothing(secret);
        }
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::clients::testing::take_hashed;
    use crate::clients::MAX_SECRET_BYTES;
    use crate::config::BruteForce;
    use crate::request::testing::{app, TestRequest};
    use crate::response::Status;

    fn guarded(max_failures: u32) -> App {
        app(ServerConfig {
            brute_force: Some(BruteForce {
                max_failures,
                window: Duration::from_secs(60),
                max_delay: Duration::from_secs(30),
            }),
            log_security_events: false,
            ..ServerConfig::default()
        })
    }

    fn try_auth(app: &App, request: &TestRequest) -> Result<String, OAuthError> {
        let request = request.at(app);
        let form = request.form_body(&app.config)?;
        authenticate(app, &request, &form).map(|c| c.id.clone())
    }

    fn posted(id: &str, secret: &str) -> TestRequest {
        TestRequest::post(&format!(
            "grant_type=client_credentials&client_id={id}&client_secret={secret}"
        ))
    }

    /// Issue 14 item 6: 10,000 junk ids used to fill the table and switch the protection off
    /// for `myClient`. Unknown ids are not tracked at all now.
    #[test]
    fn junk_ids_do_not_switch_the_protection_off() {
        let app = guarded(50);
        for i in 0..20_000 {
            let reply = try_auth(&app, &TestRequest::post("").basic(&format!("junk{i}"), "x"));
            assert_eq!(reply.unwrap_err().status, Status::UNAUTHORIZED);
        }
        let throttle = app.throttle.as_ref().unwrap();
        assert_eq!(throttle.tracked_pairs(), 0, "unknown ids are not tracked");
        for _ in 0..50 {
            let e = try_auth(&app, &posted("myClient", "guess")).unwrap_err();
            assert_eq!(e.status, Status::UNAUTHORIZED);
        }
        let e = try_auth(&app, &posted("myClient", "forgerock")).unwrap_err();
        assert_eq!(
            (e.status, e.retry_after),
            (Status::TOO_MANY_REQUESTS, Some(1))
        );
        assert!(app.events.lines()[0].contains("client 'myClient' from 127.0.0.1"));
    }

    /// Issue 14 item 5: the resource server's own introspection calls carry the internal
    /// proof and are never throttled, whatever strangers at the same address send.
    #[test]
    fn the_resource_servers_own_calls_are_never_throttled() {
        let app = guarded(5);
        for _ in 0..100 {
            let _ = try_auth(
                &app,
                &TestRequest::post("token=t").basic("rs-client", "guess"),
            );
        }
        let outsider = try_auth(
            &app,
            &TestRequest::post("token=t").basic("rs-client", "rs-secret"),
        );
        assert_eq!(outsider.unwrap_err().status, Status::TOO_MANY_REQUESTS);
        let own = TestRequest::post("token=t").basic("rs-client", "rs-secret");
        let mut request = own.at(&app);
        request.internal = true;
        let form = request.form_body(&app.config).unwrap();
        assert_eq!(authenticate(&app, &request, &form).unwrap().id, "rs-client");
        // And a wrong secret on the internal path still fails.
        let wrong = TestRequest::post("token=t").basic("rs-client", "guess");
        let mut request = wrong.at(&app);
        request.internal = true;
        let form = request.form_body(&app.config).unwrap();
        assert_eq!(
            authenticate(&app, &request, &form).unwrap_err().status,
            Status::UNAUTHORIZED
        );
    }

    /// Issue 14 item 9: every check hashes the presented secret once, at most
    /// MAX_SECRET_BYTES of it, whether the id is known, unknown or has no secret.
    #[test]
    fn every_check_hashes_the_same_whatever_the_id() {
        let app = app(ServerConfig::default());
        let long = "s".repeat(60 * 1024);
        for id in ["myClient", "nobody", "publicClient"] {
            for (secret, hashed) in [(long.as_str(), MAX_SECRET_BYTES), ("short", 5)] {
                take_hashed();
                let _ = try_auth(&app, &posted(id, secret));
                assert_eq!(take_hashed(), [hashed], "{id} with {} bytes", secret.len());
            }
        }
        take_hashed();
        assert!(try_auth(&app, &posted("myClient", "forgerock")).is_ok());
        assert_eq!(take_hashed(), [9]);
    }

    /// Issue 14 item 9, measured: a 60 KB wrong secret takes as long to refuse for a known id
    /// as for an unknown one (it took 124 µs against 93 µs before).
    #[test]
    fn a_long_secret_takes_as_long_for_known_and_unknown_ids() {
        let app = app(ServerConfig::default());
        let long = "s".repeat(60 * 1024);
        let requests = [posted("myClient", &long), posted("nobody", &long)];
        // The form is parsed once: what is timed is the authentication alone.
        let parsed: Vec<_> = requests
            .iter()
            .map(|r| {
                let request = r.at(&app);
                let form = request.form_body(&app.config).unwrap();
                (request, form)
            })
            .collect();
        let mut samples = [Vec::new(), Vec::new()];
        for _ in 0..300 {
            for ((request, form), samples) in parsed.iter().zip(&mut samples) {
                let started = Instant::now();
                for _ in 0..5 {
                    let _ = authenticate(&app, request, form);
                }
                samples.push(started.elapsed() / 5);
            }
        }
        let [known, unknown] = samples.map(|mut s| {
            s.sort();
            s[s.len() / 2]
        });
        println!("60 KB secret, median per check: known id {known:?}, unknown id {unknown:?}");
        let (slow, fast) = (known.max(unknown), known.min(unknown));
        assert!(
            slow.as_secs_f64() < fast.as_secs_f64() * 2.0 + 5e-6,
            "known {known:?} vs unknown {unknown:?}"
        );
    }
}
