//! Checks of an error response (RFC 6749 §5.2): its body, its code and its status.

use serde_json::Value;

use super::{not_a_string, quoted_or_nothing, Context, Verdict};
use crate::headers::is_json;

const REGISTERED_ERRORS: &[&str] = &[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "invalid_dpop_proof",
    "use_dpop_nonce",
    "unsupported_token_type",
];

/// RFC 6749 §5.2: `error` and `error_description` are `%x20-21 / %x23-5B / %x5D-7E`
/// (`error` without spaces would be stricter, but the ABNF allows them), `error_uri` is
/// `%x21 / %x23-5B / %x5D-7E`.
pub(super) fn error_response(cx: &Context<'_>) -> Verdict {
    let content_type = cx.response.header("content-type");
    if !is_json(content_type) {
        return Verdict::Fail(format!(
            "expected a JSON error body, got Content-Type {}",
            quoted_or_nothing(content_type)
        ));
    }
    let Some(map) = cx.object() else {
        return Verdict::Fail("the error body is not a JSON object".into());
    };
    let allowed =
        |b: u8, space: bool| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) || (space && b == 0x20);
    match map.get("error") {
        Some(Value::String(code)) if !code.is_empty() && code.bytes().all(|b| allowed(b, true)) => {
        }
        Some(Value::String(code)) => {
            return Verdict::Fail(format!(
                "error '{code}' has characters outside %x20-21/%x23-5B/%x5D-7E"
            ))
        }
        Some(other) => return not_a_string("error", other),
        None => return Verdict::Fail("the error body has no error member".into()),
    }
    for (name, space) in [("error_description", true), ("error_uri", false)] {
        match map.get(name) {
            None => {}
            Some(Value::String(s)) if s.bytes().all(|b| allowed(b, space)) => {}
            Some(Value::String(s)) => {
                return Verdict::Fail(format!(
                    "{name} has characters the RFC does not allow: {s:?}"
                ))
            }
            Some(other) => return not_a_string(name, other),
        }
    }
    Verdict::Pass
}

pub(super) fn error_code_registered(cx: &Context<'_>) -> Verdict {
    match cx.member_str("error") {
        Some(code) if REGISTERED_ERRORS.contains(&code) => Verdict::Pass,
        Some(code) => Verdict::Fail(format!("error '{code}' is not a registered error code")),
        None => Verdict::Fail("no error member".into()),
    }
}

pub(super) fn error_status_matches_code(cx: &Context<'_>) -> Verdict {
    let code = cx.member_str("error").unwrap_or("");
    match (cx.response.status, code) {
        (400, _) | (401, "invalid_client") => Verdict::Pass,
        (status, code) => Verdict::Fail(format!(
            "error '{code}' must come with 400{}, got {status}",
            if code == "invalid_client" {
                " or 401"
            } else {
                ""
            }
        )),
    }
}

pub(super) fn no_server_error(cx: &Context<'_>) -> Verdict {
    let status = cx.response.status;
    if status >= 500 {
        Verdict::Fail(format!("server error {status} for a client's mistake"))
    } else {
        Verdict::Pass
    }
}
