//! Checks of token introspection answers (RFC 7662 §2.2): their shape, their member types,
//! and whether they agree with what the token response said.

use serde_json::Value;

use super::scope::scope_set;
use super::{listed, pass_unless, Context, Verdict};

/// Fails with this when the introspection answer is not a JSON object.
const NOT_AN_OBJECT: &str = "introspection answer is not a JSON object";

pub(super) fn introspected_scope_matches_grant(cx: &Context<'_>) -> Verdict {
    let Some(reported) = cx.var("granted_scope") else {
        return Verdict::NotApplicable("no token response to compare with".into());
    };
    let reports_scope = cx.var("introspection_reports_scope") == Some("yes");
    // An answer without scope means "no scope" only where introspection is known to report
    // the scope of tokens that have one (RFC 7662 makes it OPTIONAL); elsewhere it says
    // nothing, unless nothing was granted either.
    let actual = match cx.member_str("scope") {
        Some(actual) => actual,
        None if reports_scope || reported.trim().is_empty() => "",
        None => {
            return Verdict::NotApplicable(
                "introspection on this target does not report scope (RFC 7662 §2.2: OPTIONAL), so the token's scope cannot be compared".into(),
            )
        }
    };
    if scope_set(actual) == scope_set(reported) {
        return Verdict::Pass;
    }
    Verdict::Fail(format!(
        "the token carries {} but the client was told '{reported}'{}",
        if actual.trim().is_empty() {
            "no scope (introspection, which names the scope of tokens that have one, lists none)"
                .to_owned()
        } else {
            format!("scope '{actual}'")
        },
        if cx.var("scope_reported") == Some("no") {
            " (the token response omitted scope, which means 'as requested')"
        } else {
            ""
        }
    ))
}

pub(super) fn inactive_only_active(cx: &Context<'_>) -> Verdict {
    match cx.object() {
        Some(map) if map.len() == 1 && map.get("active") == Some(&Value::Bool(false)) => {
            Verdict::Pass
        }
        Some(map) if map.get("active") == Some(&Value::Bool(false)) => {
            let extra: Vec<&String> = map.keys().filter(|k| *k != "active").collect();
            Verdict::Fail(format!("inactive answer also carries {}", listed(&extra)))
        }
        _ => Verdict::Fail("expected {\"active\": false}".into()),
    }
}

pub(super) fn introspection_types(cx: &Context<'_>) -> Verdict {
    // A refusal is no introspection answer: the case about the refusal judges it, once.
    if cx.response.status != 200 {
        return Verdict::NotApplicable(format!(
            "the introspection endpoint answered {}, not an introspection answer whose member types to judge",
            cx.response.status
        ));
    }
    let Some(map) = cx.object() else {
        return Verdict::Fail(NOT_AN_OBJECT.into());
    };
    if !matches!(map.get("active"), Some(Value::Bool(_))) {
        return Verdict::Fail(format!(
            "active must be a JSON boolean, got {}",
            map.get("active")
                .map_or("nothing".to_owned(), Value::to_string)
        ));
    }
    for (name, value) in map {
        let ok = match name.as_str() {
            "exp" | "iat" | "nbf" => value.as_i64().is_some(),
            "scope" | "client_id" | "username" | "token_type" | "sub" | "iss" | "jti" => {
                value.is_string()
            }
            "aud" => {
                value.is_string()
                    || value
                        .as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string))
            }
            _ => true,
        };
        if !ok {
            return Verdict::Fail(format!("{name} has the wrong JSON type: {value}"));
        }
    }
    Verdict::Pass
}

pub(super) fn introspection_matches_issuance(cx: &Context<'_>) -> Verdict {
    let Some(map) = cx.object() else {
        return Verdict::Fail(NOT_AN_OBJECT.into());
    };
    let claim = |name: &str| map.get(name).and_then(Value::as_str);
    let mut problems = Vec::new();
    if let (Some(actual), Some(expected)) = (claim("client_id"), cx.var("issued_to")) {
        if actual != expected {
            problems.push(format!(
                "client_id '{actual}' but the token was issued to '{expected}'"
            ));
        }
    }
    if let (Some(actual), Some(expected)) = (claim("scope"), cx.var("granted_scope")) {
        if scope_set(actual) != scope_set(expected) {
            problems.push(format!("scope '{actual}' but '{expected}' was granted"));
        }
    }
    if let (Some(actual), Some(expected)) = (claim("iss"), cx.issuer) {
        if actual != expected {
            problems.push(format!("iss '{actual}' but the issuer is '{expected}'"));
        }
    }
    let number = |name: &str| cx.var(name).and_then(|v| v.parse::<i64>().ok());
    if let (Some(exp), Some(issued), Some(lifetime)) = (
        map.get("exp").and_then(Value::as_i64),
        number("issued_at"),
        number("expires_in"),
    ) {
        if (exp - (issued + lifetime)).abs() > 5 {
            problems.push(format!(
                "exp {exp} is not issuance + expires_in ({}) ± 5 s",
                issued + lifetime
            ));
        }
    }
    pass_unless(problems, |problems| problems.join("; "))
}

#[cfg(test)]
mod tests {
    use crate::checks::tests::{response, verdict};
    use crate::checks::{Check, Verdict};

    #[test]
    fn an_introspection_without_scope_means_no_scope_where_scope_is_reported() {
        let no_scope = response(200, &[], r#"{"active":true}"#);
        // Told "as requested" (bogus), holds nothing: a MUST failure where introspection
        // reports scope for tokens that have one.
        let told = [("granted_scope", "bogus"), ("scope_reported", "no")];
        let mut reported = told.to_vec();
        reported.push(("introspection_reports_scope", "yes"));
        assert!(matches!(
            verdict(
                Check::IntrospectedScopeMatchesGrant,
                &no_scope,
                None,
                &reported
            ),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            verdict(Check::IntrospectedScopeMatchesGrant, &no_scope, None, &told),
            Verdict::NotApplicable(_)
        ));
        // Nothing granted, nothing reported: agrees.
        assert_eq!(
            verdict(
                Check::IntrospectedScopeMatchesGrant,
                &no_scope,
                None,
                &[("granted_scope", "")]
            ),
            Verdict::Pass
        );
    }
}
