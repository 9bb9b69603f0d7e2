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
    // RFC 7662 §2.2: only `active` is REQUIRED, and the server "MAY respond differently to
    // different protected resources making the same request": an answer that tells this
    // caller nothing but `active` shows no binding to judge.
    if cx
        .object()
        .is_some_and(|o| o.len() == 1 && o.contains_key("active"))
    {
        return Verdict::NotApplicable(
            "the introspection answer carries only active (RFC 7662 §2.2: the server MAY answer this caller minimally), so it shows no binding to judge".into(),
        );
    }
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

#[cfg(test)]
mod tests {
    use super::super::tests::{response, verdict};
    use super::super::{Check, Verdict};

    /// An introspection answer that tells this caller only `active` (RFC 7662 §2.2 lets the
    /// server answer each protected resource differently) shows no binding: skipped, not
    /// judged as a missing one.
    #[test]
    fn a_minimal_introspection_answer_is_not_judged() {
        let json = [("content-type", "application/json")];
        let vars = [("mtls.x5t", "abc")];
        let minimal = response(200, &json, r#"{"active":true}"#);
        assert!(matches!(
            verdict(Check::MtlsCnfX5t, &minimal, None, &vars),
            Verdict::NotApplicable(_)
        ));
        let without = response(200, &json, r#"{"active":true,"client_id":"c"}"#);
        assert!(matches!(
            verdict(Check::MtlsCnfX5t, &without, None, &vars),
            Verdict::Fail(_)
        ));
    }
}
