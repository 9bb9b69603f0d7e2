//! The checks every load response gets, on borrowed bytes: the body is scanned once into
//! borrowed fields (no `serde_json::Value`, no owned strings unless a value has escapes), and
//! a failure's reason is a constant. [`process_issuance_response`] is the whole of the
//! generator's per-response work for one token response, synchronous and without a network,
//! for benchmarks that count its instructions.

use std::borrow::Cow;
use std::fmt;

use reqwest::header::{HeaderMap, WWW_AUTHENTICATE};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::context::TokenSet;
use super::recorder::{Problem, Recorder, Request};

/// A response as the checks see it: borrowed from the transport's buffers.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    pub status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// A JSON member's value, as much of it as the checks need.
#[derive(Debug, Default, PartialEq)]
pub enum Scalar<'a> {
    /// The member is not there.
    #[default]
    Absent,
    Str(Cow<'a, str>),
    /// A non-negative integer that fits 64 bits.
    UInt(u64),
    Bool(bool),
    /// null, a negative or fractional number, an array or an object.
    Other,
}

impl<'a> Scalar<'a> {
    fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::UInt(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(u64::try_from(v).map_or(Scalar::Other, Scalar::UInt))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// The members the load checks read; every other member is skipped unread.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct Fields<'a> {
    #[serde(borrow)]
    pub access_token: Scalar<'a>,
    #[serde(borrow)]
    pub token_type: Scalar<'a>,
    #[serde(borrow)]
    pub expires_in: Scalar<'a>,
    #[serde(borrow)]
    pub active: Scalar<'a>,
    #[serde(borrow)]
    pub client_id: Scalar<'a>,
    #[serde(borrow)]
    pub error: Scalar<'a>,
}

impl<'a> Fields<'a> {
    /// The body's members if it is one JSON object (a repeated member is not one).
    pub fn of(body: &'a [u8]) -> Option<Fields<'a>> {
        let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
        if *first != b'{' {
            return None;
        }
        serde_json::from_slice(body).ok()
    }
}

/// "unexpected status 500 Internal Server Error (expected 200)": only for a failed response.
fn unexpected_status(what: &str, status: u16, expected: u16) -> Problem {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    Cow::Owned(format!(
        "{what}: status {status} {reason} (expected {expected})"
    ))
}

/// Why a token response is wrong, if it is: status 200, a JSON object, a non-empty
/// `access_token`, `token_type` (`bearer` or `dpop`, any case), `expires_in` absent or a
/// positive integer. The access token is returned borrowed.
pub fn token_response<'a>(
    response: &ResponseView<'a>,
    token_type: &str,
) -> Result<Cow<'a, str>, Problem> {
    if response.status != 200 {
        return Err(unexpected_status("token request", response.status, 200));
    }
    let Some(fields) = Fields::of(response.body) else {
        return Err("token response is not a JSON object".into());
    };
    let token = match fields.access_token {
        Scalar::Str(t) if !t.is_empty() => t,
        _ => return Err("token response lacks a non-empty access_token".into()),
    };
    match fields.token_type.as_str() {
        Some(t) if t.eq_ignore_ascii_case(token_type) => {}
        _ if token_type == "dpop" => return Err("token_type is not DPoP".into()),
        _ => return Err("token_type is not Bearer".into()),
    }
    match fields.expires_in {
        Scalar::Absent => {}
        Scalar::UInt(n) if n > 0 => {}
        _ => return Err("expires_in is not a positive JSON integer".into()),
    }
    Ok(token)
}

/// Why an introspection response is wrong: status 200, `active` a boolean equal to
/// `active`, and an active token's `client_id` (when given) the main client's.
pub fn introspection_response(
    response: &ResponseView<'_>,
    active: bool,
    main_id: &str,
) -> Result<(), Problem> {
    if response.status != 200 {
        return Err(unexpected_status("introspection", response.status, 200));
    }
    let fields = Fields::of(response.body).unwrap_or_default();
    match fields.active {
        Scalar::Bool(a) if a != active => Err(if active {
            "introspection: an issued token is not active".into()
        } else {
            "introspection: a revoked token is still active".into()
        }),
        Scalar::Bool(_) => match fields.client_id.as_str() {
            Some(c) if active && c != main_id => {
                Err("introspection: client_id differs from the token's client".into())
            }
            _ => Ok(()),
        },
        _ => Err("introspection: active is not a JSON boolean".into()),
    }
}

/// A wrong secret must be refused: 401, `invalid_client`, a challenge, and no token.
pub fn refusal_response(response: &ResponseView<'_>) -> Result<(), Problem> {
    let fields = Fields::of(response.body).unwrap_or_default();
    if fields.access_token != Scalar::Absent {
        return Err("a wrong secret got a token".into());
    }
    if response.status != 401 {
        return Err(unexpected_status("wrong secret", response.status, 401));
    }
    if fields.error.as_str() != Some("invalid_client") {
        return Err("wrong secret: error is not invalid_client".into());
    }
    if !response.headers.contains_key(WWW_AUTHENTICATE) {
        return Err("wrong secret: 401 without WWW-Authenticate".into());
    }
    Ok(())
}

/// A call with a fresh token (the resource, the revocation endpoint) must get 200.
pub fn accepted(response: &ResponseView<'_>, what: &'static str) -> Result<(), Problem> {
    if response.status == 200 {
        Ok(())
    } else {
        Err(what.into())
    }
}

/// The generator's whole per-response work for one issuance response (`request` is one of
/// the `issue` requests): the token response checks on borrowed bytes, the token's
/// uniqueness over the run when `tokens` is given, and the response recorded into
/// `recorder` with its latency and the timeline's `second`. Returns the access token
/// (borrowed from `response.body` unless it had JSON escapes) when every check passed.
///
/// It is synchronous and touches no network or clock, so a benchmark can call it N times
/// on one canned response and count instructions (`benches`' callgrind guard).
pub fn process_issuance_response<'a>(
    recorder: &mut Recorder,
    request: Request,
    response: &ResponseView<'a>,
    latency_us: u64,
    second: u64,
    tokens: Option<&TokenSet>,
) -> Option<Cow<'a, str>> {
    let token_type = if request == Request::IssueDpop {
        "dpop"
    } else {
        "bearer"
    };
    process_token_response(
        recorder, request, response, latency_us, second, tokens, token_type,
    )
}

/// [`process_issuance_response`] for a token whose `token_type` the caller knows: `dpop`
/// when the request carried a DPoP proof, `bearer` otherwise (an mTLS-bound token too:
/// RFC 8705 §3 leaves its type as it was).
pub fn process_token_response<'a>(
    recorder: &mut Recorder,
    request: Request,
    response: &ResponseView<'a>,
    latency_us: u64,
    second: u64,
    tokens: Option<&TokenSet>,
    token_type: &str,
) -> Option<Cow<'a, str>> {
    let outcome = token_response(response, token_type).and_then(|token| match tokens {
        Some(seen) if !seen.insert(&token) => Err("the same access_token was issued twice".into()),
        _ => Ok(token),
    });
    match outcome {
        Ok(token) => {
            recorder.record(request, latency_us, second, Ok(()));
            Some(token)
        }
        Err(problem) => {
            recorder.record(request, latency_us, second, Err(problem));
            None
        }
    }
}

/// Whether `response` asks for a DPoP nonce (RFC 9449 §8 at the token endpoint: 400 with
/// `use_dpop_nonce`; §9 at a resource: 401 with a `DPoP` challenge naming it) and gives one.
pub fn asks_for_nonce(response: &ResponseView<'_>) -> bool {
    if !matches!(response.status, 400 | 401) || !response.headers.contains_key("dpop-nonce") {
        return false;
    }
    let in_body =
        Fields::of(response.body).is_some_and(|f| f.error.as_str() == Some("use_dpop_nonce"));
    in_body
        || response
            .headers
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains("use_dpop_nonce")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(status: u16, headers: &'a HeaderMap, body: &'a str) -> ResponseView<'a> {
        ResponseView {
            status,
            headers,
            body: body.as_bytes(),
        }
    }

    #[test]
    fn token_responses_are_judged_as_before() {
        let h = HeaderMap::new();
        let ok = r#"{"access_token":"abc","token_type":"Bearer","expires_in":3600,"scope":["x"]}"#;
        assert_eq!(token_response(&view(200, &h, ok), "bearer").unwrap(), "abc");
        let escaped = r#" {"access_token":"a\/b","token_type":"bearer"}"#;
        assert_eq!(
            token_response(&view(200, &h, escaped), "bearer").unwrap(),
            "a/b"
        );
        let problem =
            |status, body: &str| token_response(&view(status, &h, body), "bearer").unwrap_err();
        assert!(problem(500, ok).contains("status 500 Internal Server Error"));
        for (body, why) in [
            ("[1,2]", "not a JSON object"),
            ("{", "not a JSON object"),
            (
                r#"{"access_token":"abc","access_token":"d","token_type":"Bearer"}"#,
                "not a JSON object",
            ),
            (
                r#"{"access_token":"","token_type":"Bearer"}"#,
                "non-empty access_token",
            ),
            (
                r#"{"access_token":7,"token_type":"Bearer"}"#,
                "non-empty access_token",
            ),
            (r#"{"access_token":"a","token_type":"mac"}"#, "not Bearer"),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#,
                "positive JSON integer",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":0}"#,
                "positive JSON integer",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":1.5}"#,
                "positive JSON integer",
            ),
            (
                r#"{"access_token":"a","token_type":"Bearer","expires_in":null}"#,
                "positive JSON integer",
            ),
        ] {
            assert!(
                problem(200, body).contains(why),
                "{body}: {}",
                problem(200, body)
            );
        }
    }

    #[test]
    fn introspection_and_refusals() {
        let h = HeaderMap::new();
        let check = |body, active| introspection_response(&view(200, &h, body), active, "me");
        assert!(check(r#"{"active":true,"client_id":"me"}"#, true).is_ok());
        assert!(check(r#"{"active":true}"#, true).is_ok());
        assert!(check(r#"{"active":false}"#, false).is_ok());
        assert!(check(r#"{"active":true,"client_id":"you"}"#, true)
            .unwrap_err()
            .contains("client_id"));
        assert!(check(r#"{"active":true}"#, false)
            .unwrap_err()
            .contains("still active"));
        assert!(check(r#"{"active":"true"}"#, true)
            .unwrap_err()
            .contains("boolean"));
        assert!(check("nope", true).unwrap_err().contains("boolean"));

        let mut challenge = HeaderMap::new();
        challenge.insert(WWW_AUTHENTICATE, "Basic".parse().unwrap());
        let refused = r#"{"error":"invalid_client"}"#;
        assert!(refusal_response(&view(401, &challenge, refused)).is_ok());
        assert!(refusal_response(&view(401, &h, refused))
            .unwrap_err()
            .contains("WWW-Authenticate"));
        let granted = r#"{"access_token":null}"#;
        assert!(refusal_response(&view(200, &challenge, granted))
            .unwrap_err()
            .contains("got a token"));
        let status = refusal_response(&view(400, &challenge, refused)).unwrap_err();
        assert_eq!(
            status,
            "wrong secret: status 400 Bad Request (expected 401)"
        );
    }

    #[test]
    fn the_guard_function_checks_and_records_one_response() {
        let h = HeaderMap::new();
        let body = r#"{"access_token":"t1","token_type":"Bearer","expires_in":60}"#;
        let mut recorder = Recorder::new();
        let tokens = TokenSet::default();
        let r = view(200, &h, body);
        let first = process_issuance_response(
            &mut recorder,
            Request::IssueBasic,
            &r,
            180,
            0,
            Some(&tokens),
        );
        assert_eq!(first.as_deref(), Some("t1"));
        let again = process_issuance_response(
            &mut recorder,
            Request::IssueBasic,
            &r,
            180,
            0,
            Some(&tokens),
        );
        assert!(again.is_none(), "the same token twice is an error");
        assert!(
            process_issuance_response(&mut recorder, Request::IssueBasic, &r, 180, 0, None)
                .is_some()
        );
        assert_eq!(recorder.counts(), (2, 1));
    }
}
