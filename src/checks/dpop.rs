//! Checks of DPoP binding (RFC 9449 §6): a bound token names the key of the proof it was
//! issued with, as the RFC 7638 thumbprint `cnf.jkt`, in introspection answers (§6.2) and
//! in JWT access tokens (§6.1). The run's key thumbprint is the variable `dpop.jkt`.

use serde_json::Value;

use super::{Context, Verdict};
use crate::exchange::decode_jwt;

/// `cnf.jkt` of `container`, when it has one, against the run's key (§6.1: "The value of
/// the jkt member MUST be the base64url encoding ... of the JWK SHA-256 Thumbprint"). No
/// `cnf.jkt` passes: §6 lets the binding be conveyed by other means, and
/// [`cnf_jkt_shown`] records its absence.
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
        None => Verdict::Pass,
    }
}

/// Whether `container` shows the binding as `cnf.jkt` at all.
fn cnf_jkt_shown(cx: &Context<'_>, container: Option<&Value>, what: &str) -> Verdict {
    if cx.var("dpop.jkt").is_none() {
        return Verdict::NotApplicable("the run has no DPoP key".into());
    }
    match container.and_then(|c| c.pointer("/cnf/jkt")) {
        Some(_) => Verdict::Pass,
        None => Verdict::Fail(format!(
            "{what} has no cnf.jkt: the token's binding to the DPoP key is not shown this way"
        )),
    }
}

/// The claims of the JWT access token in a token response; `Err` when there is none to read.
fn jwt_claims(cx: &Context<'_>) -> Result<Value, Verdict> {
    let Some(token) = cx.member_str("access_token") else {
        return Err(Verdict::Blocked(format!(
            "no access token was issued ({})",
            cx.response.brief()
        )));
    };
    match decode_jwt(token) {
        Some(decoded) => Ok(decoded["claims"].clone()),
        None => Err(Verdict::NotApplicable(
            "the access token is opaque: no claims to read".into(),
        )),
    }
}

pub(super) fn dpop_cnf_jkt(cx: &Context<'_>) -> Verdict {
    let token_type = cx.member_str("token_type");
    let shows_jkt = cx.json().and_then(|j| j.pointer("/cnf/jkt")).is_some();
    // No binding to judge: the server declined to bind (§5 "MAY elect to issue access
    // tokens that are not DPoP bound"). A cnf.jkt beside a Bearer token_type is judged.
    if !shows_jkt && !is_dpop(token_type) {
        return Verdict::NotApplicable(format!(
            "the introspection answer shows no binding (token_type {}, no cnf.jkt): the server did not bind the token, which RFC 9449 §5 allows, so there is no binding to judge",
            token_type.unwrap_or("absent")
        ));
    }
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

pub(super) fn dpop_cnf_jkt_shown(cx: &Context<'_>) -> Verdict {
    cnf_jkt_shown(cx, cx.json(), "the introspection answer")
}

pub(super) fn dpop_jwt_cnf_jkt(cx: &Context<'_>) -> Verdict {
    match jwt_claims(cx) {
        // Nothing to judge: DPOP-029 records the absence (§6 allows other means).
        Ok(claims) if claims.pointer("/cnf/jkt").is_none() => Verdict::NotApplicable(
            "the JWT access token has no cnf.jkt, so there is no thumbprint to judge".into(),
        ),
        Ok(claims) => jkt_matches(cx, Some(&claims), "the JWT access token"),
        Err(verdict) => verdict,
    }
}

pub(super) fn dpop_jwt_cnf_jkt_shown(cx: &Context<'_>) -> Verdict {
    match jwt_claims(cx) {
        Ok(claims) => cnf_jkt_shown(cx, Some(&claims), "the JWT access token"),
        Err(verdict) => verdict,
    }
}

fn is_dpop(token_type: Option<&str>) -> bool {
    token_type.is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
}

/// Not bound, as far as anyone can see: RFC 9449 §5 lets the server decline.
fn unbound(token_type: Option<&str>, where_: &str) -> Verdict {
    Verdict::Observed(format!(
        "token_type {} and no cnf.jkt in {where_}: the server did not bind the token, which RFC 9449 §5 allows (\"MAY elect to issue access tokens that are not DPoP bound\")",
        token_type.unwrap_or("absent")
    ))
}

/// A token response to a request with a proof (RFC 9449 §5): `token_type` DPoP, or a token
/// that is visibly not bound. A JWT whose `cnf.jkt` shows the binding must say DPoP; an
/// opaque one is left to [`dpop_token_type_introspected`].
pub(super) fn dpop_token_type(cx: &Context<'_>) -> Verdict {
    let token_type = cx.member_str("token_type");
    if is_dpop(token_type) {
        return Verdict::Pass;
    }
    match jwt_claims(cx) {
        Ok(claims) if claims.pointer("/cnf/jkt").is_some() => Verdict::Fail(format!(
            "the JWT access token is bound to the proof key (cnf.jkt) but token_type is {}: it must be DPoP",
            token_type.unwrap_or("absent")
        )),
        Ok(_) => unbound(token_type, "the JWT access token"),
        Err(Verdict::NotApplicable(_)) => Verdict::Pass,
        Err(verdict) => verdict,
    }
}

/// The introspection answer for a token whose response said `token_type` (the variable
/// `token_type`) other than DPoP: a `cnf.jkt` there shows it bound after all.
pub(super) fn dpop_token_type_introspected(cx: &Context<'_>) -> Verdict {
    let token_type = cx.var("token_type");
    if is_dpop(token_type) {
        return Verdict::Pass;
    }
    match cx.json().and_then(|j| j.pointer("/cnf/jkt")) {
        Some(_) => Verdict::Fail(format!(
            "introspection shows the token bound to the proof key (cnf.jkt) but the token response said token_type {}: it must be DPoP",
            token_type.unwrap_or("absent")
        )),
        None => unbound(token_type, "the introspection answer"),
    }
}

/// The answer's `DPoP` challenge, among all it makes (RFC 9449 §7.2 allows a `Bearer`
/// one beside it), carries `error` and `algs` (§7.1: both SHOULD).
pub(super) fn dpop_challenge(cx: &Context<'_>) -> Verdict {
    let all = cx.response.all_headers("www-authenticate");
    let Some(challenge) = crate::headers::find_challenge(&all, "DPoP") else {
        return Verdict::Fail(format!(
            "no DPoP challenge in WWW-Authenticate ({})",
            if all.is_empty() {
                "none".to_owned()
            } else {
                format!("'{all}'")
            }
        ));
    };
    let missing: Vec<&str> = ["error", "algs"]
        .into_iter()
        .filter(|name| challenge.param(name).is_none())
        .collect();
    super::pass_unless(missing, |missing| {
        format!(
            "the DPoP challenge has no {}: '{} {}'",
            super::listed(&missing),
            challenge.scheme,
            challenge.params
        )
    })
}

/// A resource's demand for its own DPoP nonce (RFC 9449 §9: "Resource servers use an HTTP
/// 401 (Unauthorized) error code with an accompanying WWW-Authenticate: DPoP value and
/// DPoP-Nonce value"): 401, a DPoP challenge with `error="use_dpop_nonce"`, and the nonce.
/// An answer that asks for no nonce (no `DPoP-Nonce`, no `use_dpop_nonce` anywhere) has
/// nothing to judge: a resource may choose not to.
pub(super) fn resource_nonce_demand(cx: &Context<'_>) -> Verdict {
    let all = cx.response.all_headers("www-authenticate");
    let challenge = crate::headers::find_challenge(&all, "DPoP");
    let error_in_challenge = challenge
        .as_ref()
        .and_then(|c| c.param("error"))
        .is_some_and(|e| e == "use_dpop_nonce");
    let nonce = cx.response.header("dpop-nonce").is_some();
    let asks = nonce || error_in_challenge || cx.member_str("error") == Some("use_dpop_nonce");
    if !asks {
        return Verdict::NotApplicable(format!(
            "the resource did not ask for a DPoP nonce (answered {}; RFC 9449 §9: resource servers \"can also choose\" to)",
            cx.response.status
        ));
    }
    let mut problems = Vec::new();
    if cx.response.status != 401 {
        problems.push(format!("status {} instead of 401", cx.response.status));
    }
    if !error_in_challenge {
        problems.push(format!(
            "no WWW-Authenticate: DPoP error=\"use_dpop_nonce\" ({})",
            if all.is_empty() {
                "no challenge".to_owned()
            } else {
                format!("'{all}'")
            }
        ));
    }
    if !nonce {
        problems.push("no DPoP-Nonce header".into());
    }
    super::pass_unless(problems, |problems| {
        format!("the nonce demand has {}", super::listed(&problems))
    })
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

#[cfg(test)]
mod tests {
    use crate::checks::tests::{response, verdict};
    use crate::checks::{Check, Verdict};

    const JSON: (&str, &str) = ("content-type", "application/json");

    /// DPOP-002's premise is a binding: an introspection answer that shows none skips, one
    /// with cnf.jkt and token_type Bearer fails.
    #[test]
    fn introspection_of_an_unbound_token_is_not_judged_and_a_bound_bearer_fails() {
        let vars = vec![("dpop.jkt", "k1")];
        let unbound = response(200, &[JSON], r#"{"active":true,"token_type":"Bearer"}"#);
        assert!(matches!(
            verdict(Check::DpopCnfJkt, &unbound, None, &vars),
            Verdict::NotApplicable(_)
        ));
        let bound = r#"{"active":true,"token_type":"Bearer","cnf":{"jkt":"k1"}}"#;
        assert!(matches!(
            verdict(
                Check::DpopCnfJkt,
                &response(200, &[JSON], bound),
                None,
                &vars
            ),
            Verdict::Fail(_)
        ));
    }

    /// RFC 9449 §5: a server may decline to bind; a Bearer token that shows no binding is
    /// recorded, not failed, and one whose binding shows must say DPoP.
    #[test]
    fn an_unbound_bearer_token_is_recorded_and_a_bound_one_fails() {
        let opaque = response(
            200,
            &[JSON],
            r#"{"access_token":"t0k3n","token_type":"Bearer"}"#,
        );
        // Opaque: introspection decides.
        assert_eq!(
            verdict(Check::DpopTokenType, &opaque, None, &[]),
            Verdict::Pass
        );
        let unbound = response(200, &[JSON], r#"{"active":true}"#);
        assert!(matches!(
            verdict(
                Check::DpopTokenTypeIntrospected,
                &unbound,
                None,
                &[("token_type", "Bearer")]
            ),
            Verdict::Observed(_)
        ));
        let bound = response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k1"}}"#);
        assert!(matches!(
            verdict(
                Check::DpopTokenTypeIntrospected,
                &bound,
                None,
                &[("token_type", "Bearer")]
            ),
            Verdict::Fail(_)
        ));
        // No cnf.jkt is no wrong cnf.jkt: only the value is a MUST. With neither cnf.jkt
        // nor token_type DPoP there is no binding to judge at all.
        let dpop_no_cnf = response(200, &[JSON], r#"{"active":true,"token_type":"DPoP"}"#);
        assert_eq!(
            verdict(Check::DpopCnfJkt, &dpop_no_cnf, None, &[("dpop.jkt", "k1")]),
            Verdict::Pass
        );
        assert!(matches!(
            verdict(Check::DpopCnfJkt, &unbound, None, &[("dpop.jkt", "k1")]),
            Verdict::NotApplicable(_)
        ));
        let bearer_type = response(
            200,
            &[JSON],
            r#"{"active":true,"token_type":"Bearer","cnf":{"jkt":"k1"}}"#,
        );
        assert!(matches!(
            verdict(Check::DpopCnfJkt, &bearer_type, None, &[("dpop.jkt", "k1")]),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn the_dpop_challenge_is_found_among_several_header_fields() {
        let two_fields = response(
            401,
            &[
                ("www-authenticate", "Bearer realm=\"x\""),
                (
                    "www-authenticate",
                    r#"DPoP error="invalid_token", algs="ES256""#,
                ),
            ],
            "",
        );
        assert_eq!(
            verdict(Check::DpopChallenge, &two_fields, None, &[]),
            Verdict::Pass
        );
        let none = response(401, &[("www-authenticate", "Bearer realm=\"x\"")], "");
        assert!(matches!(
            verdict(Check::DpopChallenge, &none, None, &[]),
            Verdict::Fail(_)
        ));
    }

    /// RFC 9449 §5: a DPoP-bound client's token says `token_type: DPoP`; RESP-004 leaves it to
    /// the dpop cases when the request carried a proof, and still fails it without one.
    #[test]
    fn token_type_dpop_is_not_judged_as_bearer_after_a_proof() {
        let json = ("content-type", "application/json");
        let dpop = response(
            200,
            &[json],
            r#"{"access_token":"t0k3n","token_type":"DPoP"}"#,
        );
        let with_proof = verdict(
            Check::TokenTypeBearer,
            &dpop,
            None,
            &[("dpop_proof_sent", "yes")],
        );
        assert!(
            matches!(with_proof, Verdict::NotApplicable(_)),
            "{with_proof:?}"
        );
        let without = verdict(Check::TokenTypeBearer, &dpop, None, &[]);
        assert!(matches!(without, Verdict::Fail(_)), "{without:?}");
    }
}
