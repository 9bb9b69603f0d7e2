//! Checks of authentication challenges (`WWW-Authenticate`, RFC 9110 §11.6.1, RFC 6750 §3)
//! and of the other headers a refusal must carry.

use super::{Context, Verdict};
use crate::headers::{challenge_param, challenge_scheme};

pub(super) fn challenge_on_401(cx: &Context<'_>) -> Verdict {
    status_carries(cx, 401, "www-authenticate", "401 without WWW-Authenticate")
}

pub(super) fn invalid_client_challenge(cx: &Context<'_>) -> Verdict {
    let r = cx.response;
    let error = cx.member_str("error");
    let Some(scheme) = cx.auth_scheme else {
        return Verdict::Pass;
    };
    if r.status != 401 && error != Some("invalid_client") {
        return Verdict::Pass;
    }
    let challenge = r.header("www-authenticate");
    let basic = scheme.eq_ignore_ascii_case("basic");
    match challenge {
        _ if r.status != 401 => Verdict::Fail(format!(
            "invalid_client to credentials in the Authorization header ({scheme}) must be 401, got {}",
            r.status
        )),
        None => Verdict::Fail(format!(
            "401 to credentials in the Authorization header ({scheme}) without WWW-Authenticate"
        )),
        // §5.2 wants the scheme the client used; a scheme the server does not support
        // cannot be challenged, so any challenge answers that.
        Some(c) if basic && !challenge_scheme(c).eq_ignore_ascii_case("basic") => {
            Verdict::Fail(format!("the client used Basic but the challenge is '{c}'"))
        }
        Some(_) => Verdict::Pass,
    }
}

pub(super) fn challenge_without_error(cx: &Context<'_>) -> Verdict {
    match cx.response.header("www-authenticate") {
        Some(c) if challenge_param(c, "error").is_some() => {
            Verdict::Fail(format!("challenge carries an error code: {c}"))
        }
        _ => Verdict::Pass,
    }
}

pub(super) fn challenge_realm_once(cx: &Context<'_>) -> Verdict {
    match cx.response.header("www-authenticate") {
        Some(c) if c.to_ascii_lowercase().matches("realm=").count() > 1 => {
            Verdict::Fail(format!("realm appears more than once: {c}"))
        }
        _ => Verdict::Pass,
    }
}

pub(super) fn allow_on_405(cx: &Context<'_>) -> Verdict {
    status_carries(cx, 405, "allow", "405 without an Allow header")
}

/// An answer with `status` must carry the header `name`; `missing` says that it did not.
fn status_carries(cx: &Context<'_>, status: u16, name: &str, missing: &str) -> Verdict {
    let r = cx.response;
    if r.status != status || r.header(name).is_some() {
        Verdict::Pass
    } else {
        Verdict::Fail(missing.into())
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::tests::{response, verdict};
    use crate::checks::{Check, Verdict};

    #[test]
    fn invalid_client_challenge_legal_variations() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let any_challenge = response(
            401,
            &[("www-authenticate", "Bearer realm=\"x\"")],
            r#"{"error":"invalid_client"}"#,
        );
        // Another scheme cannot be challenged with itself; any challenge answers it.
        assert_eq!(
            verdict(
                Check::InvalidClientChallenge,
                &any_challenge,
                None,
                &[("auth_scheme", "Digest")]
            ),
            Verdict::Pass
        );
        // Basic must be challenged with Basic.
        assert!(matches!(
            verdict(
                Check::InvalidClientChallenge,
                &any_challenge,
                None,
                &[("auth_scheme", "Basic")]
            ),
            Verdict::Fail(_)
        ));
        // Not about client authentication, or no Authorization header: nothing to judge.
        let bad_request = response(400, &[JSON], r#"{"error":"invalid_request"}"#);
        assert_eq!(
            verdict(
                Check::InvalidClientChallenge,
                &bad_request,
                None,
                &[("auth_scheme", "Basic")]
            ),
            Verdict::Pass
        );
        let body_auth = response(400, &[JSON], r#"{"error":"invalid_client"}"#);
        assert_eq!(
            verdict(Check::InvalidClientChallenge, &body_auth, None, &[]),
            Verdict::Pass
        );
        let no_challenge = response(401, &[JSON], r#"{"error":"invalid_client"}"#);
        assert!(matches!(
            verdict(
                Check::InvalidClientChallenge,
                &no_challenge,
                None,
                &[("auth_scheme", "Bearer")]
            ),
            Verdict::Fail(_)
        ));
    }
}
