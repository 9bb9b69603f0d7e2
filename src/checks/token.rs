//! Checks of a token response (RFC 6749 §5.1): its members, their types, and the headers
//! that keep it out of caches.

use serde_json::Value;

use super::{listed, not_a_string, pass_unless, quoted_or_nothing, Context, Verdict};
use crate::headers::{is_json, lists_directive};
use crate::json_body::{duplicate_key, type_name};

pub(super) fn token_response(cx: &Context<'_>) -> Verdict {
    let status = cx.response.status;
    if status != 200 {
        return Verdict::Fail(format!("expected status 200, got {status}"));
    }
    let Some(Value::Object(_)) = cx.json() else {
        return Verdict::Fail("expected a JSON object body".into());
    };
    match cx.member("access_token") {
        Some(Value::String(t))
            if !t.is_empty() && t.bytes().all(|b| (0x20..=0x7e).contains(&b)) => {}
        Some(Value::String(_)) => {
            return Verdict::Fail("access_token is empty or not printable ASCII".into())
        }
        Some(other) => return not_a_string("access_token", other),
        None => return Verdict::Fail("access_token is missing".into()),
    }
    match cx.member("token_type") {
        Some(Value::String(t)) if !t.is_empty() => Verdict::Pass,
        Some(other) => Verdict::Fail(format!("token_type is {other}, not a non-empty string")),
        None => Verdict::Fail("token_type is missing".into()),
    }
}

pub(super) fn token_type_bearer(cx: &Context<'_>) -> Verdict {
    match cx.member_str("token_type") {
        // A DPoP-bound client's token (RFC 9449 §5: "token_type": "DPoP"); the dpop cases
        // judge it.
        Some(t) if cx.dpop_proof_sent && t.eq_ignore_ascii_case("dpop") => Verdict::NotApplicable(
            "the request carried a DPoP proof and got a DPoP-bound token (RFC 9449 §5); the dpop cases judge its token_type".into(),
        ),
        Some(t) if t.eq_ignore_ascii_case("bearer") => Verdict::Pass,
        Some(t) => Verdict::Fail(format!("expected token_type Bearer (any case), got '{t}'")),
        None => Verdict::Fail("token_type is missing".into()),
    }
}

pub(super) fn expires_in_positive_integer(cx: &Context<'_>) -> Verdict {
    match cx.member("expires_in") {
        None => Verdict::Pass,
        Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Verdict::Pass,
        Some(other) => Verdict::Fail(format!(
            "expires_in must be a positive JSON integer, got {other} ({})",
            type_name(other)
        )),
    }
}

pub(super) fn expires_in_present(cx: &Context<'_>) -> Verdict {
    match cx.member("expires_in") {
        Some(_) => Verdict::Pass,
        None => Verdict::Fail("expires_in is absent".into()),
    }
}

pub(super) fn expires_in_at_most_one_hour(cx: &Context<'_>) -> Verdict {
    match cx.member("expires_in").and_then(Value::as_u64) {
        Some(v) if v > 3600 => Verdict::Fail(format!("expires_in is {v} s, over one hour")),
        _ => Verdict::Pass,
    }
}

pub(super) fn no_store(cx: &Context<'_>) -> Verdict {
    header_is(cx, "cache-control", "Cache-Control: no-store", |v| {
        lists_directive(v.unwrap_or(""), "no-store")
    })
}

pub(super) fn pragma_no_cache(cx: &Context<'_>) -> Verdict {
    header_is(cx, "pragma", "Pragma: no-cache", |v| {
        v.is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"))
    })
}

pub(super) fn json_content_type(cx: &Context<'_>) -> Verdict {
    header_is(cx, "content-type", "Content-Type application/json", is_json)
}

/// Pass when the header `name` (its value, or `None` when absent) is `ok`; else fail with
/// `expected {expected}, got 'value'` (or `got nothing`).
fn header_is(
    cx: &Context<'_>,
    name: &str,
    expected: &str,
    ok: fn(Option<&str>) -> bool,
) -> Verdict {
    let value = cx.response.header(name);
    if ok(value) {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "expected {expected}, got {}",
            quoted_or_nothing(value)
        ))
    }
}

pub(super) fn no_token(cx: &Context<'_>) -> Verdict {
    match cx.member("access_token") {
        None => Verdict::Pass,
        Some(_) => Verdict::Fail(format!(
            "an access token was issued (status {})",
            cx.response.status
        )),
    }
}

/// A refusal, judged as a refusal only: any 4xx without a token. Which 4xx and which error
/// code is a separate rule (RFC 6749 §5.2 has no keyword for the status), judged once by
/// its own case, so that one deviation in the status is not counted by every refusal.
pub(super) fn request_refused(cx: &Context<'_>) -> Verdict {
    let status = cx.response.status;
    if cx.member("access_token").is_some() {
        return Verdict::Fail(format!("an access token was issued (status {status})"));
    }
    if (400..500).contains(&status) {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "the request was not refused: {}",
            cx.response.brief()
        ))
    }
}

pub(super) fn no_refresh_token(cx: &Context<'_>) -> Verdict {
    match cx.member("refresh_token") {
        None => Verdict::Pass,
        Some(_) => Verdict::Fail("a refresh_token was issued".into()),
    }
}

pub(super) fn no_null_members(cx: &Context<'_>) -> Verdict {
    let Some(map) = cx.object() else {
        return Verdict::Pass;
    };
    let nulls: Vec<&String> = map
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k)
        .collect();
    pass_unless(nulls, |nulls| {
        format!("members sent as null: {}", listed(&nulls))
    })
}

pub(super) fn no_duplicate_json_keys(cx: &Context<'_>) -> Verdict {
    match duplicate_key(&cx.response.body) {
        None => Verdict::Pass,
        Some(key) => Verdict::Fail(format!("member '{key}' appears more than once")),
    }
}
