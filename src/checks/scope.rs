//! Checks of the scope a token response grants (RFC 6749 §3.3).

use std::collections::HashSet;

use serde_json::Value;

use super::{listed, not_a_string, pass_unless, token, Context, Verdict};

/// The scope tokens of a space-delimited scope string.
pub(super) fn scope_set(s: &str) -> HashSet<&str> {
    s.split(' ').filter(|t| !t.is_empty()).collect()
}

pub(super) fn scope_is_string(cx: &Context<'_>) -> Verdict {
    match cx.member("scope") {
        None | Some(Value::String(_)) => Verdict::Pass,
        Some(other) => not_a_string("scope", other),
    }
}

pub(super) fn scope_within_request(cx: &Context<'_>) -> Verdict {
    let Some(requested) = cx.requested_scope else {
        return Verdict::Pass;
    };
    let requested = scope_set(requested);
    let Some(granted) = cx.member_str("scope") else {
        return Verdict::Pass;
    };
    let extra: Vec<&str> = granted
        .split(' ')
        .filter(|s| !s.is_empty() && !requested.contains(s))
        .collect();
    pass_unless(extra, |extra| {
        format!(
            "granted scope '{granted}' includes {}, which was not requested",
            listed(&extra)
        )
    })
}

pub(super) fn token_or_invalid_scope(cx: &Context<'_>) -> Verdict {
    match token::token_response(cx) {
        Verdict::Pass => Verdict::Pass,
        Verdict::Fail(why) if cx.response.status == 400 => match cx.member_str("error") {
            Some("invalid_scope") => Verdict::Pass,
            Some(code) => Verdict::Fail(format!(
                "expected a token or error invalid_scope, got error '{code}'"
            )),
            None => Verdict::Fail(why),
        },
        other => other,
    }
}

pub(super) fn forbidden_scope_not_granted(cx: &Context<'_>) -> Verdict {
    let Some(forbidden) = cx.var("forbidden_scope") else {
        return Verdict::NotApplicable("no scope known to be forbidden (--forbidden-scope)".into());
    };
    let holds_forbidden = |scope: &str| scope.split(' ').any(|s| s == forbidden);
    match cx.member_str("scope") {
        Some(scope) if holds_forbidden(scope) => Verdict::Fail(format!(
            "scope '{forbidden}' was granted although the client may not have it"
        )),
        Some(_) => Verdict::Pass,
        // A token response judges at the introspection step that follows: it may show
        // another scope.
        None if cx.member("access_token").is_some() => Verdict::Pass,
        // RFC 6749 §5.1: an omitted scope is the requested one. Told so by the token
        // response and contradicted nowhere, the client holds the forbidden scope.
        None if cx.var("scope_reported") == Some("no")
            && cx.var("granted_scope").is_some_and(holds_forbidden) =>
        {
            Verdict::Fail(format!(
                "a token was issued for a request of '{forbidden}' with no scope in the token response (RFC 6749 §5.1: omitted means as requested) and none in introspection: the client was granted '{forbidden}'"
            ))
        }
        None => Verdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{response, verdict};
    use super::super::{Check, Verdict};

    const JSON: (&str, &str) = ("content-type", "application/json");

    /// RFC 6749 §5.1: a token response without scope grants the scope requested. Asked for
    /// the forbidden scope, told so by omission, and shown no scope in introspection either,
    /// the client holds it; another scope in introspection means it was not granted.
    #[test]
    fn a_forbidden_scope_granted_silently_fails_at_introspection() {
        let check = Check::ForbiddenScopeNotGranted;
        let silent = [
            ("forbidden_scope", "admin"),
            ("scope_reported", "no"),
            ("granted_scope", "admin"),
        ];
        let token = response(
            200,
            &[JSON],
            r#"{"access_token":"t","token_type":"Bearer"}"#,
        );
        assert_eq!(
            verdict(check, &token, Some("admin"), &silent),
            Verdict::Pass
        );
        let bare = response(200, &[JSON], r#"{"active":true}"#);
        assert!(matches!(
            verdict(check, &bare, None, &silent),
            Verdict::Fail(_)
        ));
        let other = response(200, &[JSON], r#"{"active":true,"scope":"read"}"#);
        assert_eq!(verdict(check, &other, None, &silent), Verdict::Pass);
        let reported = [
            ("forbidden_scope", "admin"),
            ("scope_reported", "yes"),
            ("granted_scope", "read"),
        ];
        assert_eq!(verdict(check, &bare, None, &reported), Verdict::Pass);
    }
}
