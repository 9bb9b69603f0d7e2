//! Checks of JWT access tokens (RFC 9068). Opaque tokens make them not applicable; a
//! response that issued no token blocks them.

use serde_json::Value;

use super::{listed, pass_unless, Context, Verdict};
use crate::exchange::{decode_jwt, Response};

pub(super) fn jwt_access_token(cx: &Context<'_>) -> Verdict {
    let Some(token) = cx.member("access_token") else {
        return no_token_issued(cx.response);
    };
    let Some((header, claims)) = jwt_parts(token) else {
        return opaque();
    };
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !(typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")) {
        return Verdict::Fail(format!("JWT header typ must be at+jwt, got '{typ}'"));
    }
    let missing: Vec<&str> = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]
        .into_iter()
        .filter(|c| claims.get(c).is_none())
        .collect();
    pass_unless(missing, |missing| {
        format!(
            "JWT access token lacks the required claims {}",
            listed(&missing)
        )
    })
}

pub(super) fn jwt_signed(cx: &Context<'_>) -> Verdict {
    let Some(token) = cx.member("access_token") else {
        return no_token_issued(cx.response);
    };
    let Some((header, _)) = jwt_parts(token) else {
        return opaque();
    };
    match header.get("alg").and_then(Value::as_str) {
        Some(alg) if !alg.eq_ignore_ascii_case("none") => Verdict::Pass,
        Some(alg) => Verdict::Fail(format!("JWT alg is '{alg}': unsigned")),
        None => Verdict::Fail("JWT header has no alg: unsigned".into()),
    }
}

/// Header and claims of a JWT access token, or `None` when the token is opaque.
fn jwt_parts(token: &Value) -> Option<(Value, Value)> {
    let decoded = decode_jwt(token.as_str()?)?;
    Some((decoded["header"].clone(), decoded["claims"].clone()))
}

fn opaque() -> Verdict {
    Verdict::NotApplicable("the access token is opaque, not a JWT".into())
}

/// A token-response check on a response that issued no token: blocked, not failed.
fn no_token_issued(r: &Response) -> Verdict {
    Verdict::Blocked(format!(
        "no token was issued ({}), so there is no token to judge",
        r.brief()
    ))
}

#[cfg(test)]
mod tests {
    use crate::checks::tests::{response, verdict};
    use crate::checks::{Check, Verdict};

    #[test]
    fn checks_of_token_responses_block_when_no_token_was_issued() {
        let refused = response(403, &[], "");
        for check in [Check::JwtAccessToken, Check::JwtSigned] {
            assert!(matches!(
                verdict(check, &refused, None, &[]),
                Verdict::Blocked(_)
            ));
        }
        let opaque = response(
            200,
            &[("content-type", "application/json")],
            r#"{"access_token":"abc","token_type":"Bearer"}"#,
        );
        assert!(matches!(
            verdict(Check::JwtSigned, &opaque, None, &[]),
            Verdict::NotApplicable(_)
        ));
    }
}
