//! Checks of DPoP binding (RFC 9449 §6): a bound token names the key of the proof it was
//! issued with, as the RFC 7638 thumbprint `cnf.jkt`, in introspection answers (§6.2) and
//! in JWT access tokens (§6.1). The run's key thumbprint is the variable `dpop.jkt`.

use serde_json::Value;

use super::{Context, Verdict};
use crate::exchange::decode_jwt;

/// `cnf.jkt` of `container` against the run's key.
fn jkt_matches(cx: &Context<'_>, container: Option<&Value>, what: &str) -> Verdict {
    let Some(expected) = cx.var("dpop.jkt") else {
        return Verdict::NotApplicable("the run has no DPoP key".into());
    };
    match container.and_then(|c| c.pointer("/cnf/jkt")) {
        Some(Value::String(jkt)) if jkt == expected => Verdict::Pass,
        Some(Value::String(_)) => Verdict::Fail(format!(
            "{what} cnf.jkt is not the RFC 7638 thumbprint of the key that signed the proof"
        )),
        Some(other) => Verdict::Fail(format!("{what} cnf.jkt is {other}, not a string")),
        None => Verdict::Fail(format!(
            "{what} has no cnf.jkt: the token's binding to the DPoP key is not visible"
        )),
    }
}

pub(super) fn dpop_cnf_jkt(cx: &Context<'_>) -> Verdict {
    // §6.2: "If the token_type member is included in the introspection response, it MUST
    // contain the value DPoP."
    match cx.member("token_type") {
        Some(Value::String(t)) if !t.eq_ignore_ascii_case("DPoP") => {
            return Verdict::Fail(format!(
                "the introspection answer says token_type {t}; for a DPoP-bound token it must be DPoP"
            ))
        }
        _ => {}
    }
    jkt_matches(cx, cx.json(), "the introspection answer")
}

pub(super) fn dpop_jwt_cnf_jkt(cx: &Context<'_>) -> Verdict {
    let Some(token) = cx.member_str("access_token") else {
        return Verdict::Blocked(format!(
            "no access token was issued ({})",
            cx.response.brief()
        ));
    };
    let Some(decoded) = decode_jwt(token) else {
        return Verdict::NotApplicable("the access token is opaque: no claims to read".into());
    };
    jkt_matches(cx, Some(&decoded["claims"]), "the JWT access token")
}

/// `dpop_signing_alg_values_supported` (RFC 9449 §5.1) names no algorithm a DPoP proof may
/// not use: `none`, or a MAC (`HS…`), which needs a shared secret (§11.6: "only asymmetric
/// digital signature algorithms"). Not published: nothing to judge.
pub(super) fn dpop_algs_asymmetric(cx: &Context<'_>) -> Verdict {
    let Some(algs) = cx.member("dpop_signing_alg_values_supported") else {
        return Verdict::NotApplicable(
            "the metadata has no dpop_signing_alg_values_supported".into(),
        );
    };
    let Some(algs) = algs.as_array() else {
        return Verdict::Fail(format!(
            "dpop_signing_alg_values_supported is {algs}, not a JSON array"
        ));
    };
    let bad: Vec<&str> = algs
        .iter()
        .filter_map(Value::as_str)
        .filter(|a| a.eq_ignore_ascii_case("none") || a.to_ascii_uppercase().starts_with("HS"))
        .collect();
    if bad.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "dpop_signing_alg_values_supported lists {}: DPoP proofs take asymmetric algorithms only",
            bad.join(", ")
        ))
    }
}
