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
    match cx.member_str("scope") {
        Some(scope) if scope.split(' ').any(|s| s == forbidden) => Verdict::Fail(format!(
            "scope '{forbidden}' was granted although the client may not have it"
        )),
        _ => Verdict::Pass,
    }
}
