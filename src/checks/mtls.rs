//! Checks of certificate binding (RFC 8705 §3): a token issued over mutual TLS names the
//! client certificate as `cnf.x5t#S256` (base64url SHA-256 of its DER), in introspection
//! answers (§3.2) and in JWT access tokens (§3.1). The run's client certificate thumbprint is
//! the variable `mtls.x5t`.

use serde_json::Value;

use super::{Context, Verdict};
use crate::exchange::decode_jwt;

/// `cnf.x5t#S256` of `container` against the run's client certificate.
fn x5t_matches(cx: &Context<'_>, container: Option<&Value>, what: &str) -> Verdict {
    let Some(expected) = cx.var("mtls.x5t") else {
        return Verdict::NotApplicable("the run has no client certificate".into());
    };
    match container.and_then(|c| c.get("cnf")).and_then(|c| c.get("x5t#S256")) {
        Some(Value::String(x5t)) if x5t == expected => Verdict::Pass,
        Some(Value::String(x5t)) => Verdict::Fail(format!(
            "{what} cnf.x5t#S256 is {x5t}, not the SHA-256 thumbprint of the client certificate ({expected})"
        )),
        Some(other) => Verdict::Fail(format!("{what} cnf.x5t#S256 is {other}, not a string")),
        None => Verdict::Fail(format!(
            "{what} has no cnf.x5t#S256: the token's binding to the client certificate is not visible"
        )),
    }
}

pub(super) fn mtls_cnf_x5t(cx: &Context<'_>) -> Verdict {
    x5t_matches(cx, cx.json(), "the introspection answer")
}

pub(super) fn mtls_jwt_cnf_x5t(cx: &Context<'_>) -> Verdict {
    let Some(token) = cx.member_str("access_token") else {
        return Verdict::Blocked(format!(
            "no access token was issued ({})",
            cx.response.brief()
        ));
    };
    let Some(decoded) = decode_jwt(token) else {
        return Verdict::NotApplicable("the access token is opaque: no claims to read".into());
    };
    x5t_matches(cx, Some(&decoded["claims"]), "the JWT access token")
}
