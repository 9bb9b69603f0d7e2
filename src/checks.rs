//! Named checks: expectations a fixed value cannot express. Cases refer to them by name in
//! `expect.checks`; each returns pass, a failure that says what was expected and what came
//! back, or a reason the check does not apply (which skips the case).

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::Value;

use crate::exchange::Response;
use crate::template::Vars;

macro_rules! checks {
    ($($variant:ident = $name:literal : $doc:literal;)*) => {
        /// A named check.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
        pub enum Check { $(#[serde(rename = $name)] #[doc = $doc] $variant),* }

        impl Check {
            pub const ALL: &'static [Check] = &[$(Check::$variant),*];
            pub fn name(self) -> &'static str { match self { $(Check::$variant => $name),* } }
            pub fn describe(self) -> &'static str { match self { $(Check::$variant => $doc),* } }
        }
    };
}

checks! {
    TokenResponse = "token_response":
        "200, JSON object with a non-empty printable-ASCII access_token and a token_type (RFC 6749 §5.1)";
    TokenTypeBearer = "token_type_bearer":
        "token_type is Bearer, compared case-insensitively (RFC 6749 §5.1, §7.1)";
    ExpiresInPositiveInteger = "expires_in_positive_integer":
        "expires_in, when present, is a positive JSON integer (RFC 6749 §5.1, Appendix A.14)";
    ExpiresInPresent = "expires_in_present":
        "expires_in is present (RFC 6749 §5.1 RECOMMENDED)";
    ExpiresInAtMostOneHour = "expires_in_at_most_one_hour":
        "expires_in is at most 3600 seconds (RFC 6750 §5.3: short-lived bearer tokens)";
    NoStore = "no_store":
        "Cache-Control includes no-store (RFC 6749 §5.1)";
    PragmaNoCache = "pragma_no_cache":
        "Pragma: no-cache (RFC 6749 §5.1)";
    JsonContentType = "json_content_type":
        "Content-Type is application/json, parameters allowed";
    NoToken = "no_token":
        "the response carries no access_token";
    NoRefreshToken = "no_refresh_token":
        "no refresh_token (RFC 6749 §4.4.3)";
    ErrorResponse = "error_response":
        "JSON error body whose error, error_description and error_uri use only the allowed characters (RFC 6749 §5.2)";
    ErrorCodeRegistered = "error_code_registered":
        "error is a registered code (RFC 6749 §5.2, §8.5)";
    ErrorStatusMatchesCode = "error_status_matches_code":
        "400, except invalid_client which may be 401 (RFC 6749 §5.2)";
    ChallengeOn401 = "challenge_on_401":
        "every 401 carries WWW-Authenticate (RFC 9110 §15.5.2)";
    NoServerError = "no_server_error":
        "no 5xx for a client's mistake";
    ScopeIsString = "scope_is_string":
        "scope, when present, is one space-delimited string (RFC 6749 §3.3, §5.1)";
    ScopeWithinRequest = "scope_within_request":
        "the granted scope is within the requested scope";
    IntrospectedScopeMatchesGrant = "introspected_scope_matches_grant":
        "the token carries the scope the token response reported, or the requested one when it reported none (RFC 6749 §3.3, §5.1)";
    InactiveOnlyActive = "inactive_only_active":
        "an inactive answer is {\"active\": false} and nothing else (RFC 7662 §2.2)";
    IntrospectionTypes = "introspection_types":
        "introspection members have the RFC 7662 §2.2 JSON types";
    IntrospectionMatchesIssuance = "introspection_matches_issuance":
        "client_id, scope, iss and exp agree with the issuance (RFC 7662 §2.2)";
    MetadataIssuerMatches = "metadata_issuer_matches":
        "the metadata issuer equals the issuer it was fetched for, exactly (RFC 8414 §3.3)";
    MetadataRequiredMembers = "metadata_required_members":
        "issuer, token_endpoint and response_types_supported are present (RFC 8414 §2)";
    MetadataAtRfc8414Location = "metadata_at_rfc8414_location":
        "RFC 8414 metadata is at the well-known URI inserted between host and path, not appended to the issuer (RFC 8414 §3, §3.1; skips OpenID-only servers)";
    MetadataNoFragment = "metadata_no_fragment":
        "endpoint URLs carry no fragment (RFC 6749 §3.2, RFC 8414 §2)";
    JwtAccessToken = "jwt_access_token":
        "a JWT access token has typ at+jwt and the RFC 9068 §2.2 claims (skips opaque tokens)";
    JwtSigned = "jwt_signed":
        "a JWT access token is signed: alg is not none (RFC 9068 §2.1; skips opaque tokens)";
    NoDuplicateJsonKeys = "no_duplicate_json_keys":
        "no member appears twice in the JSON body (RFC 6749 §3.2)";
    ChallengeWithoutError = "challenge_without_error":
        "a challenge to a request without credentials carries no error code (RFC 6750 §3.1)";
    ChallengeRealmOnce = "challenge_realm_once":
        "the challenge has at most one realm attribute (RFC 6750 §3)";
    AllowOn405 = "allow_on_405":
        "a 405 lists the allowed methods in Allow (RFC 9110 §15.5.6)";
    TokenOrInvalidScope = "token_or_invalid_scope":
        "either a token response or 400 invalid_scope (RFC 6749 §3.3)";
    ForbiddenScopeNotGranted = "forbidden_scope_not_granted":
        "a scope the client may not have is not granted (RFC 6819 §5.1.5.1)";
    NoNullMembers = "no_null_members":
        "optional members are omitted rather than sent as null";
    CleartextRefused = "cleartext_refused":
        "a request in plain HTTP is refused: no 2xx, no token, and no client authentication (401 or invalid_client) (RFC 6749 §3.2, §1.6)";
    InvalidClientChallenge = "invalid_client_challenge":
        "invalid_client for credentials sent in the Authorization header is 401 with a WWW-Authenticate challenge, Basic for Basic (RFC 6749 §5.2)";
    NoCredentialResendingRedirect = "no_credential_resending_redirect":
        "a redirect is not 307/308, which make clients send the request and its credentials again (RFC 9110 §15.4.8, §15.4.9)";
}

/// What a check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    /// The check does not apply to this target; the case is skipped with this reason.
    NotApplicable(String),
    /// What the check judges did not happen (no token was issued to judge): the case is
    /// blocked with this reason, not failed.
    Blocked(String),
}

/// What a check may look at.
pub struct Context<'a> {
    pub response: &'a Response,
    /// The `scope` the request asked for, if any.
    pub requested_scope: Option<&'a str>,
    pub vars: &'a Vars,
    /// The target's issuer identifier, when known.
    pub issuer: Option<&'a str>,
    /// The scheme of the request's `Authorization` header (`Basic`, `Bearer`, …), if any.
    pub auth_scheme: Option<&'a str>,
}

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

impl Check {
    pub fn evaluate(self, cx: &Context<'_>) -> Verdict {
        let r = cx.response;
        let json = r.json.as_ref();
        let member = |name: &str| json.and_then(|j| j.get(name));
        let fail = |msg: String| Verdict::Fail(msg);
        match self {
            Check::TokenResponse => {
                if r.status != 200 {
                    return fail(format!("expected status 200, got {}", r.status));
                }
                let Some(Value::Object(_)) = json else {
                    return fail("expected a JSON object body".into());
                };
                match member("access_token") {
                    Some(Value::String(t))
                        if !t.is_empty() && t.bytes().all(|b| (0x20..=0x7e).contains(&b)) => {}
                    Some(Value::String(_)) => {
                        return fail("access_token is empty or not printable ASCII".into())
                    }
                    Some(other) => {
                        return fail(format!(
                            "access_token is a JSON {}, not a string",
                            type_name(other)
                        ))
                    }
                    None => return fail("access_token is missing".into()),
                }
                match member("token_type") {
                    Some(Value::String(t)) if !t.is_empty() => Verdict::Pass,
                    Some(other) => fail(format!("token_type is {other}, not a non-empty string")),
                    None => fail("token_type is missing".into()),
                }
            }
            Check::TokenTypeBearer => match member("token_type").and_then(Value::as_str) {
                Some(t) if t.eq_ignore_ascii_case("bearer") => Verdict::Pass,
                Some(t) => fail(format!("expected token_type Bearer (any case), got '{t}'")),
                None => fail("token_type is missing".into()),
            },
            Check::ExpiresInPositiveInteger => match member("expires_in") {
                None => Verdict::Pass,
                Some(Value::Number(n)) if n.as_u64().is_some_and(|v| v > 0) => Verdict::Pass,
                Some(other) => fail(format!(
                    "expires_in must be a positive JSON integer, got {other} ({})",
                    type_name(other)
                )),
            },
            Check::ExpiresInPresent => match member("expires_in") {
                Some(_) => Verdict::Pass,
                None => fail("expires_in is absent".into()),
            },
            Check::ExpiresInAtMostOneHour => match member("expires_in").and_then(Value::as_u64) {
                Some(v) if v > 3600 => fail(format!("expires_in is {v} s, over one hour")),
                _ => Verdict::Pass,
            },
            Check::NoStore => {
                let value = r.header("cache-control").unwrap_or("");
                if value
                    .split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
                {
                    Verdict::Pass
                } else {
                    fail(format!(
                        "expected Cache-Control: no-store, got {}",
                        shown(r.header("cache-control"))
                    ))
                }
            }
            Check::PragmaNoCache => {
                if r.header("pragma")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("no-cache"))
                {
                    Verdict::Pass
                } else {
                    fail(format!(
                        "expected Pragma: no-cache, got {}",
                        shown(r.header("pragma"))
                    ))
                }
            }
            Check::JsonContentType => {
                let media = r
                    .header("content-type")
                    .and_then(|v| v.split(';').next())
                    .map(str::trim);
                match media {
                    Some(m) if m.eq_ignore_ascii_case("application/json") => Verdict::Pass,
                    _ => fail(format!(
                        "expected Content-Type application/json, got {}",
                        shown(r.header("content-type"))
                    )),
                }
            }
            Check::NoToken => match member("access_token") {
                None => Verdict::Pass,
                Some(_) => fail(format!("an access token was issued (status {})", r.status)),
            },
            Check::NoRefreshToken => match member("refresh_token") {
                None => Verdict::Pass,
                Some(_) => fail("a refresh_token was issued".into()),
            },
            Check::ErrorResponse => error_response(r),
            Check::ErrorCodeRegistered => match member("error").and_then(Value::as_str) {
                Some(code) if REGISTERED_ERRORS.contains(&code) => Verdict::Pass,
                Some(code) => fail(format!("error '{code}' is not a registered error code")),
                None => fail("no error member".into()),
            },
            Check::ErrorStatusMatchesCode => {
                let code = member("error").and_then(Value::as_str).unwrap_or("");
                match (r.status, code) {
                    (400, _) | (401, "invalid_client") => Verdict::Pass,
                    (status, code) => fail(format!(
                        "error '{code}' must come with 400{}, got {status}",
                        if code == "invalid_client" {
                            " or 401"
                        } else {
                            ""
                        }
                    )),
                }
            }
            Check::ChallengeOn401 => {
                if r.status != 401 || r.header("www-authenticate").is_some() {
                    Verdict::Pass
                } else {
                    fail("401 without WWW-Authenticate".into())
                }
            }
            Check::NoServerError => {
                if r.status >= 500 {
                    fail(format!("server error {} for a client's mistake", r.status))
                } else {
                    Verdict::Pass
                }
            }
            Check::ScopeIsString => match member("scope") {
                None | Some(Value::String(_)) => Verdict::Pass,
                Some(other) => fail(format!(
                    "scope is a JSON {}, not a string",
                    type_name(other)
                )),
            },
            Check::ScopeWithinRequest => {
                let Some(requested) = cx.requested_scope else {
                    return Verdict::Pass;
                };
                let requested: HashSet<&str> =
                    requested.split(' ').filter(|s| !s.is_empty()).collect();
                match member("scope").and_then(Value::as_str) {
                    None => Verdict::Pass,
                    Some(granted) => {
                        let extra: Vec<&str> = granted
                            .split(' ')
                            .filter(|s| !s.is_empty() && !requested.contains(s))
                            .collect();
                        if extra.is_empty() {
                            Verdict::Pass
                        } else {
                            fail(format!("granted scope '{granted}' includes {extra:?}, which was not requested"))
                        }
                    }
                }
            }
            Check::IntrospectedScopeMatchesGrant => {
                let Some(reported) = cx.vars.get("granted_scope") else {
                    return Verdict::NotApplicable("no token response to compare with".into());
                };
                let reports_scope = cx
                    .vars
                    .get("introspection_reports_scope")
                    .is_some_and(|v| v == "yes");
                // An answer without scope means "no scope" only where introspection is
                // known to report the scope of tokens that have one (RFC 7662 makes it
                // OPTIONAL); elsewhere it says nothing, unless nothing was granted either.
                let actual = match member("scope").and_then(Value::as_str) {
                    Some(actual) => actual,
                    None if reports_scope || reported.trim().is_empty() => "",
                    None => {
                        return Verdict::NotApplicable(
                            "introspection on this target does not report scope (RFC 7662 §2.2: OPTIONAL), so the token's scope cannot be compared".into(),
                        )
                    }
                };
                match actual {
                    actual if scope_set(actual) == scope_set(reported) => Verdict::Pass,
                    actual => fail(format!(
                        "the token carries {} but the client was told '{reported}'{}",
                        if actual.trim().is_empty() {
                            "no scope (introspection, which names the scope of tokens that have one, lists none)".to_owned()
                        } else {
                            format!("scope '{actual}'")
                        },
                        if cx.vars.get("scope_reported").is_some_and(|v| v == "no") {
                            " (the token response omitted scope, which means 'as requested')"
                        } else {
                            ""
                        }
                    )),
                }
            }
            Check::InactiveOnlyActive => match json {
                Some(Value::Object(map))
                    if map.len() == 1 && map.get("active") == Some(&Value::Bool(false)) =>
                {
                    Verdict::Pass
                }
                Some(Value::Object(map)) if map.get("active") == Some(&Value::Bool(false)) => {
                    let extra: Vec<&String> = map.keys().filter(|k| *k != "active").collect();
                    fail(format!("inactive answer also carries {extra:?}"))
                }
                _ => fail("expected {\"active\": false}".into()),
            },
            Check::IntrospectionTypes => introspection_types(json),
            Check::IntrospectionMatchesIssuance => introspection_matches(cx),
            Check::MetadataIssuerMatches => {
                match (member("issuer").and_then(Value::as_str), cx.issuer) {
                    (Some(actual), Some(expected)) if actual == expected => Verdict::Pass,
                    (Some(actual), Some(expected)) => fail(format!(
                        "metadata issuer '{actual}' differs from the issuer '{expected}'"
                    )),
                    (None, _) => fail("metadata has no issuer".into()),
                    (_, None) => Verdict::NotApplicable(
                        "the target's issuer is unknown (no --target)".into(),
                    ),
                }
            }
            Check::MetadataRequiredMembers => {
                let missing: Vec<&str> = ["issuer", "token_endpoint", "response_types_supported"]
                    .into_iter()
                    .filter(|m| member(m).is_none())
                    .collect();
                if missing.is_empty() {
                    Verdict::Pass
                } else {
                    fail(format!("metadata lacks {missing:?}"))
                }
            }
            Check::MetadataAtRfc8414Location => {
                match cx.vars.get("metadata_location").map(String::as_str) {
                    Some("rfc8414") => Verdict::Pass,
                    Some("appended") => fail(format!(
                        "the metadata is only at {{issuer}}/.well-known/oauth-authorization-server, not where RFC 8414 §3.1 puts it (the well-known segment between host and path: {})",
                        cx.issuer
                            .and_then(|i| url::Url::parse(i).ok())
                            .map(|u| crate::target::metadata_urls(&u)[0].clone())
                            .unwrap_or_default()
                    )),
                    Some("openid") => Verdict::NotApplicable(
                        "the server publishes OpenID Connect Discovery metadata only".into(),
                    ),
                    _ => Verdict::NotApplicable("where the metadata was found is unknown".into()),
                }
            }
            Check::MetadataNoFragment => {
                let Some(Value::Object(map)) = json else {
                    return fail("metadata is not a JSON object".into());
                };
                let bad: Vec<&String> = map
                    .iter()
                    .filter(|(k, v)| {
                        (k.ends_with("_endpoint") || *k == "issuer")
                            && v.as_str().is_some_and(|s| s.contains('#'))
                    })
                    .map(|(k, _)| k)
                    .collect();
                if bad.is_empty() {
                    Verdict::Pass
                } else {
                    fail(format!("{bad:?} contain a fragment"))
                }
            }
            Check::JwtAccessToken => match member("access_token") {
                None => no_token_issued(r),
                token => jwt_access_token(token),
            },
            Check::JwtSigned => match jwt_parts(member("access_token")) {
                None if member("access_token").is_none() => no_token_issued(r),
                None => Verdict::NotApplicable("the access token is opaque, not a JWT".into()),
                Some((header, _)) => match header.get("alg").and_then(Value::as_str) {
                    Some(alg) if !alg.eq_ignore_ascii_case("none") => Verdict::Pass,
                    other => fail(format!("JWT alg is {other:?}: unsigned")),
                },
            },
            Check::NoDuplicateJsonKeys => match duplicate_key(&r.body) {
                None => Verdict::Pass,
                Some(key) => fail(format!("member '{key}' appears more than once")),
            },
            Check::ChallengeWithoutError => match r.header("www-authenticate") {
                Some(c) if challenge_param(c, "error").is_some() => {
                    fail(format!("challenge carries an error code: {c}"))
                }
                _ => Verdict::Pass,
            },
            Check::ChallengeRealmOnce => match r.header("www-authenticate") {
                Some(c) if c.to_ascii_lowercase().matches("realm=").count() > 1 => {
                    fail(format!("realm appears more than once: {c}"))
                }
                _ => Verdict::Pass,
            },
            Check::TokenOrInvalidScope => match Check::TokenResponse.evaluate(cx) {
                Verdict::Pass => Verdict::Pass,
                Verdict::Fail(why) if r.status == 400 => {
                    match member("error").and_then(Value::as_str) {
                        Some("invalid_scope") => Verdict::Pass,
                        Some(code) => fail(format!(
                            "expected a token or error invalid_scope, got error '{code}'"
                        )),
                        None => fail(why),
                    }
                }
                other => other,
            },
            Check::ForbiddenScopeNotGranted => {
                let Some(forbidden) = cx.vars.get("forbidden_scope") else {
                    return Verdict::NotApplicable(
                        "no scope known to be forbidden (--forbidden-scope)".into(),
                    );
                };
                match member("scope").and_then(Value::as_str) {
                    Some(scope) if scope.split(' ').any(|s| s == forbidden) => fail(format!(
                        "scope '{forbidden}' was granted although the client may not have it"
                    )),
                    _ => Verdict::Pass,
                }
            }
            Check::NoNullMembers => match json {
                Some(Value::Object(map)) => {
                    let nulls: Vec<&String> = map
                        .iter()
                        .filter(|(_, v)| v.is_null())
                        .map(|(k, _)| k)
                        .collect();
                    if nulls.is_empty() {
                        Verdict::Pass
                    } else {
                        fail(format!("members sent as null: {nulls:?}"))
                    }
                }
                _ => Verdict::Pass,
            },
            Check::CleartextRefused => {
                let error = member("error").and_then(Value::as_str);
                if member("access_token").is_some() {
                    fail(format!(
                        "issued a token over plain HTTP (status {})",
                        r.status
                    ))
                } else if (200..300).contains(&r.status) {
                    fail(format!("answered {} over plain HTTP", r.status))
                } else if r.status == 401 || error == Some("invalid_client") {
                    fail(format!(
                        "authenticated the client over plain HTTP: {} {} to credentials sent in clear",
                        r.status,
                        error.unwrap_or("(no error code)")
                    ))
                } else {
                    Verdict::Pass
                }
            }
            Check::NoCredentialResendingRedirect => match r.status {
                307 | 308 => fail(format!(
                    "{} redirect to {}: a client that follows it sends its credentials again",
                    r.status,
                    r.header("location").unwrap_or("(no Location)")
                )),
                _ => Verdict::Pass,
            },
            Check::InvalidClientChallenge => {
                let error = member("error").and_then(Value::as_str);
                let Some(scheme) = cx.auth_scheme else {
                    return Verdict::Pass;
                };
                if r.status != 401 && error != Some("invalid_client") {
                    return Verdict::Pass;
                }
                let challenge = r.header("www-authenticate");
                let basic = scheme.eq_ignore_ascii_case("basic");
                match challenge {
                    _ if r.status != 401 => fail(format!(
                        "invalid_client to credentials in the Authorization header ({scheme}) must be 401, got {}",
                        r.status
                    )),
                    None => fail(format!(
                        "401 to credentials in the Authorization header ({scheme}) without WWW-Authenticate"
                    )),
                    // §5.2 wants the scheme the client used; a scheme the server does not
                    // support cannot be challenged, so any challenge answers that.
                    Some(c) if basic && !challenge_scheme(c).eq_ignore_ascii_case("basic") => {
                        fail(format!("the client used Basic but the challenge is '{c}'"))
                    }
                    Some(_) => Verdict::Pass,
                }
            }
            Check::AllowOn405 => {
                if r.status != 405 || r.header("allow").is_some() {
                    Verdict::Pass
                } else {
                    fail("405 without an Allow header".into())
                }
            }
        }
    }
}

/// A token-response check on a response that issued no token: blocked, not failed.
fn no_token_issued(r: &Response) -> Verdict {
    Verdict::Blocked(format!(
        "no token was issued ({}), so there is no token to judge",
        crate::runner::describe_response(r)
    ))
}

fn scope_set(s: &str) -> HashSet<&str> {
    s.split(' ').filter(|t| !t.is_empty()).collect()
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "nothing".to_owned(), |v| format!("'{v}'"))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// RFC 6749 §5.2: `error` and `error_description` are `%x20-21 / %x23-5B / %x5D-7E`
/// (`error` without spaces would be stricter, but the ABNF allows them), `error_uri` is
/// `%x21 / %x23-5B / %x5D-7E`.
fn error_response(r: &Response) -> Verdict {
    let media = r
        .header("content-type")
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !media.is_some_and(|m| m.eq_ignore_ascii_case("application/json")) {
        return Verdict::Fail(format!(
            "expected a JSON error body, got Content-Type {}",
            shown(r.header("content-type"))
        ));
    }
    let Some(Value::Object(map)) = &r.json else {
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
        Some(other) => {
            return Verdict::Fail(format!(
                "error is a JSON {}, not a string",
                type_name(other)
            ))
        }
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
            Some(other) => {
                return Verdict::Fail(format!(
                    "{name} is a JSON {}, not a string",
                    type_name(other)
                ))
            }
        }
    }
    Verdict::Pass
}

fn introspection_types(json: Option<&Value>) -> Verdict {
    let Some(Value::Object(map)) = json else {
        return Verdict::Fail("introspection answer is not a JSON object".into());
    };
    if !matches!(map.get("active"), Some(Value::Bool(_))) {
        return Verdict::Fail(format!(
            "active must be a JSON boolean, got {:?}",
            map.get("active")
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

fn introspection_matches(cx: &Context<'_>) -> Verdict {
    let Some(Value::Object(map)) = cx.response.json.as_ref() else {
        return Verdict::Fail("introspection answer is not a JSON object".into());
    };
    let mut problems = Vec::new();
    if let (Some(actual), Some(expected)) = (
        map.get("client_id").and_then(Value::as_str),
        cx.vars.get("issued_to"),
    ) {
        if actual != expected {
            problems.push(format!(
                "client_id '{actual}' but the token was issued to '{expected}'"
            ));
        }
    }
    if let (Some(actual), Some(expected)) = (
        map.get("scope").and_then(Value::as_str),
        cx.vars.get("granted_scope"),
    ) {
        if scope_set(actual) != scope_set(expected) {
            problems.push(format!("scope '{actual}' but '{expected}' was granted"));
        }
    }
    if let (Some(actual), Some(expected)) = (map.get("iss").and_then(Value::as_str), cx.issuer) {
        if actual != expected {
            problems.push(format!("iss '{actual}' but the issuer is '{expected}'"));
        }
    }
    let issued = cx.vars.get("issued_at").and_then(|v| v.parse::<i64>().ok());
    let lifetime = cx
        .vars
        .get("expires_in")
        .and_then(|v| v.parse::<i64>().ok());
    if let (Some(exp), Some(issued), Some(lifetime)) =
        (map.get("exp").and_then(Value::as_i64), issued, lifetime)
    {
        if (exp - (issued + lifetime)).abs() > 5 {
            problems.push(format!(
                "exp {exp} is not issuance + expires_in ({}) ± 5 s",
                issued + lifetime
            ));
        }
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(problems.join("; "))
    }
}

/// Header and claims of a JWT access token, or `None` when the token is opaque.
fn jwt_parts(token: Option<&Value>) -> Option<(Value, Value)> {
    let decoded = crate::exchange::decode_jwt(token?.as_str()?)?;
    Some((decoded["header"].clone(), decoded["claims"].clone()))
}

fn jwt_access_token(token: Option<&Value>) -> Verdict {
    let Some((header, claims)) = jwt_parts(token) else {
        return Verdict::NotApplicable("the access token is opaque, not a JWT".into());
    };
    let typ = header.get("typ").and_then(Value::as_str).unwrap_or("");
    if !(typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")) {
        return Verdict::Fail(format!("JWT header typ must be at+jwt, got '{typ}'"));
    }
    let missing: Vec<&str> = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"]
        .into_iter()
        .filter(|c| claims.get(c).is_none())
        .collect();
    if missing.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "JWT access token lacks the required claims {missing:?}"
        ))
    }
}

/// The first member name that appears twice in one JSON object of `body`, if any.
pub fn duplicate_key(body: &[u8]) -> Option<String> {
    use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
    use std::cell::RefCell;

    struct Finder<'a>(&'a RefCell<Option<String>>);

    impl<'de> DeserializeSeed<'de> for Finder<'_> {
        type Value = ();
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Finder<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element_seed(Finder(self.0))?.is_some() {}
            Ok(())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = HashSet::new();
            while let Some(key) = map.next_key::<String>()? {
                if !seen.insert(key.clone()) && self.0.borrow().is_none() {
                    *self.0.borrow_mut() = Some(key);
                }
                map.next_value_seed(Finder(self.0))?;
            }
            Ok(())
        }
    }

    let found = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    Finder(&found).deserialize(&mut de).ok()?;
    found.into_inner()
}

/// The value of an auth-param in a challenge (`error="invalid_token"` → `invalid_token`).
pub fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find(&format!("{name}=")) {
        let start = search + found;
        let boundary = start == 0 || matches!(lower.as_bytes()[start - 1], b' ' | b',');
        let value_start = start + name.len() + 1;
        if boundary {
            let rest = &challenge[value_start..];
            return Some(if let Some(quoted) = rest.strip_prefix('"') {
                quoted.split('"').next().unwrap_or("").to_owned()
            } else {
                rest.split([',', ' ']).next().unwrap_or("").to_owned()
            });
        }
        search = value_start;
    }
    None
}

/// The scheme of a challenge (`Basic realm=…` → `Basic`).
pub fn challenge_scheme(challenge: &str) -> &str {
    challenge
        .trim_start()
        .split([' ', ','])
        .next()
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: bytes::Bytes::from(body.to_owned()),
            json: serde_json::from_str(body).ok(),
        }
    }

    fn verdict(check: Check, r: &Response, scope: Option<&str>, vars: &[(&str, &str)]) -> Verdict {
        let vars: Vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        check.evaluate(&Context {
            response: r,
            requested_scope: scope,
            vars: &vars,
            issuer: Some("https://as.example"),
            auth_scheme: vars.get("auth_scheme").map(String::as_str),
        })
    }

    fn jwt(header: &str, claims: &str) -> String {
        use base64::Engine;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!("{}.{}.sig", e(header), e(claims))
    }

    /// The legal ways to refuse plain HTTP pass; every way of serving it fails.
    #[test]
    fn cleartext_refusal_accepts_legal_refusals_only() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let keeps = [
            response(302, &[("location", "https://as.example/t")], ""),
            response(
                400,
                &[("content-type", "text/html")],
                "<h1>The plain HTTP request was sent to HTTPS port</h1>",
            ),
            response(
                400,
                &[JSON],
                r#"{"error":"invalid_request","error_description":"TLS required"}"#,
            ),
            response(403, &[], "TLS required"),
            response(404, &[], "not found"),
            response(426, &[("upgrade", "TLS/1.2")], ""),
        ];
        for r in &keeps {
            assert_eq!(
                verdict(Check::CleartextRefused, r, None, &[]),
                Verdict::Pass,
                "{}",
                r.status
            );
        }
        let breaks = [
            response(
                200,
                &[JSON],
                r#"{"access_token":"t","token_type":"Bearer"}"#,
            ),
            response(400, &[JSON], r#"{"error":"invalid_client"}"#),
            response(401, &[("www-authenticate", "Basic realm=\"x\"")], ""),
            response(204, &[], ""),
        ];
        for r in &breaks {
            assert!(
                matches!(
                    verdict(Check::CleartextRefused, r, None, &[]),
                    Verdict::Fail(_)
                ),
                "{}",
                r.status
            );
        }
    }

    /// Every named check fails an answer that breaks its rule and passes one that keeps it.
    #[test]
    fn every_check_fails_a_breaking_answer_and_passes_a_keeping_one() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let good_jwt = jwt(
            r#"{"alg":"RS256","typ":"at+jwt"}"#,
            r#"{"iss":"i","exp":1,"aud":"a","sub":"s","client_id":"c","iat":1,"jti":"j"}"#,
        );
        let token =
            |extra: &str| format!(r#"{{"access_token":"t0k3n","token_type":"Bearer"{extra}}}"#);
        type Case<'a> = (
            Check,
            Response,
            Response,
            Option<&'a str>,
            Vec<(&'a str, &'a str)>,
        );
        let cases: Vec<Case> = vec![
            (
                Check::TokenResponse,
                response(200, &[JSON], &token("")),
                response(200, &[JSON], r#"{"token_type":"Bearer"}"#),
                None,
                vec![],
            ),
            (
                Check::TokenTypeBearer,
                response(200, &[JSON], &token("").replace("Bearer", "bearer")),
                response(200, &[JSON], &token("").replace("Bearer", "mac")),
                None,
                vec![],
            ),
            (
                Check::ExpiresInPositiveInteger,
                response(200, &[JSON], &token(r#","expires_in":60"#)),
                response(200, &[JSON], &token(r#","expires_in":"60""#)),
                None,
                vec![],
            ),
            (
                Check::ExpiresInPresent,
                response(200, &[JSON], &token(r#","expires_in":60"#)),
                response(200, &[JSON], &token("")),
                None,
                vec![],
            ),
            (
                Check::ExpiresInAtMostOneHour,
                response(200, &[JSON], &token(r#","expires_in":3600"#)),
                response(200, &[JSON], &token(r#","expires_in":86400"#)),
                None,
                vec![],
            ),
            (
                Check::NoStore,
                response(200, &[("cache-control", "private, No-Store")], "{}"),
                response(200, &[("cache-control", "no-cache")], "{}"),
                None,
                vec![],
            ),
            (
                Check::PragmaNoCache,
                response(200, &[("pragma", "no-cache")], "{}"),
                response(200, &[], "{}"),
                None,
                vec![],
            ),
            (
                Check::JsonContentType,
                response(
                    200,
                    &[("content-type", "application/json; charset=utf-8")],
                    "{}",
                ),
                response(200, &[("content-type", "text/html")], "{}"),
                None,
                vec![],
            ),
            (
                Check::NoToken,
                response(401, &[JSON], r#"{"error":"invalid_client"}"#),
                response(200, &[JSON], &token("")),
                None,
                vec![],
            ),
            (
                Check::NoRefreshToken,
                response(200, &[JSON], &token("")),
                response(200, &[JSON], &token(r#","refresh_token":"r""#)),
                None,
                vec![],
            ),
            (
                Check::ErrorResponse,
                response(
                    400,
                    &[JSON],
                    r#"{"error":"invalid_request","error_description":"bad thing"}"#,
                ),
                response(
                    400,
                    &[JSON],
                    r#"{"error":"invalid_request","error_description":"say "hi""}"#,
                ),
                None,
                vec![],
            ),
            (
                Check::ErrorCodeRegistered,
                response(400, &[JSON], r#"{"error":"invalid_scope"}"#),
                response(400, &[JSON], r#"{"error":"invalid_credentials"}"#),
                None,
                vec![],
            ),
            (
                Check::ErrorStatusMatchesCode,
                response(401, &[JSON], r#"{"error":"invalid_client"}"#),
                response(401, &[JSON], r#"{"error":"invalid_grant"}"#),
                None,
                vec![],
            ),
            (
                Check::ChallengeOn401,
                response(401, &[("www-authenticate", "Basic realm=\"x\"")], "{}"),
                response(401, &[], "{}"),
                None,
                vec![],
            ),
            (
                Check::NoServerError,
                response(400, &[], ""),
                response(500, &[], ""),
                None,
                vec![],
            ),
            (
                Check::ScopeIsString,
                response(200, &[JSON], &token(r#","scope":"a b""#)),
                response(200, &[JSON], &token(r#","scope":["a"]"#)),
                None,
                vec![],
            ),
            (
                Check::ScopeWithinRequest,
                response(200, &[JSON], &token(r#","scope":"a""#)),
                response(200, &[JSON], &token(r#","scope":"a admin""#)),
                Some("a b"),
                vec![],
            ),
            (
                Check::IntrospectedScopeMatchesGrant,
                response(200, &[JSON], r#"{"active":true,"scope":"b a"}"#),
                response(200, &[JSON], r#"{"active":true,"scope":"a"}"#),
                None,
                vec![("granted_scope", "a b")],
            ),
            (
                Check::InactiveOnlyActive,
                response(200, &[JSON], r#"{"active":false}"#),
                response(200, &[JSON], r#"{"active":false,"exp":1}"#),
                None,
                vec![],
            ),
            (
                Check::IntrospectionTypes,
                response(200, &[JSON], r#"{"active":true,"exp":1,"aud":["x"]}"#),
                response(200, &[JSON], r#"{"active":"true"}"#),
                None,
                vec![],
            ),
            (
                Check::IntrospectionMatchesIssuance,
                response(
                    200,
                    &[JSON],
                    r#"{"active":true,"client_id":"c","iss":"https://as.example"}"#,
                ),
                response(200, &[JSON], r#"{"active":true,"client_id":"other"}"#),
                None,
                vec![("issued_to", "c")],
            ),
            (
                Check::MetadataIssuerMatches,
                response(200, &[JSON], r#"{"issuer":"https://as.example"}"#),
                response(200, &[JSON], r#"{"issuer":"https://as.example/"}"#),
                None,
                vec![],
            ),
            (
                Check::MetadataRequiredMembers,
                response(
                    200,
                    &[JSON],
                    r#"{"issuer":"i","token_endpoint":"t","response_types_supported":[]}"#,
                ),
                response(200, &[JSON], r#"{"issuer":"i"}"#),
                None,
                vec![],
            ),
            (
                Check::MetadataNoFragment,
                response(200, &[JSON], r#"{"token_endpoint":"https://a/t"}"#),
                response(200, &[JSON], r#"{"token_endpoint":"https://a/t#x"}"#),
                None,
                vec![],
            ),
            (
                Check::JwtAccessToken,
                response(200, &[JSON], &format!(r#"{{"access_token":"{good_jwt}"}}"#)),
                response(
                    200,
                    &[JSON],
                    &format!(
                        r#"{{"access_token":"{}"}}"#,
                        jwt(r#"{"alg":"RS256","typ":"JWT"}"#, "{}")
                    ),
                ),
                None,
                vec![],
            ),
            (
                Check::JwtSigned,
                response(200, &[JSON], &format!(r#"{{"access_token":"{good_jwt}"}}"#)),
                response(
                    200,
                    &[JSON],
                    &format!(r#"{{"access_token":"{}"}}"#, jwt(r#"{"alg":"none"}"#, "{}")),
                ),
                None,
                vec![],
            ),
            (
                Check::NoDuplicateJsonKeys,
                response(200, &[JSON], r#"{"a":1}"#),
                response(200, &[JSON], r#"{"a":1,"a":2}"#),
                None,
                vec![],
            ),
            (
                Check::ChallengeWithoutError,
                response(401, &[("www-authenticate", "Bearer realm=\"x\"")], ""),
                response(
                    401,
                    &[("www-authenticate", "Bearer error=\"invalid_token\"")],
                    "",
                ),
                None,
                vec![],
            ),
            (
                Check::ChallengeRealmOnce,
                response(401, &[("www-authenticate", "Bearer realm=\"x\"")], ""),
                response(
                    401,
                    &[("www-authenticate", "Bearer realm=\"x\", realm=\"y\"")],
                    "",
                ),
                None,
                vec![],
            ),
            (
                Check::AllowOn405,
                response(405, &[("allow", "POST")], ""),
                response(405, &[], ""),
                None,
                vec![],
            ),
            (
                Check::TokenOrInvalidScope,
                response(400, &[JSON], r#"{"error":"invalid_scope"}"#),
                response(400, &[JSON], r#"{"error":"invalid_request"}"#),
                None,
                vec![],
            ),
            (
                Check::ForbiddenScopeNotGranted,
                response(200, &[JSON], &token(r#","scope":"read""#)),
                response(200, &[JSON], &token(r#","scope":"read admin""#)),
                None,
                vec![("forbidden_scope", "admin")],
            ),
            (
                Check::NoNullMembers,
                response(200, &[JSON], &token("")),
                response(200, &[JSON], &token(r#","scope":null"#)),
                None,
                vec![],
            ),
            (
                Check::CleartextRefused,
                response(301, &[("location", "https://as.example/t")], ""),
                response(401, &[JSON], r#"{"error":"invalid_client"}"#),
                None,
                vec![],
            ),
            (
                Check::InvalidClientChallenge,
                response(
                    401,
                    &[("www-authenticate", "Basic realm=\"x\"")],
                    r#"{"error":"invalid_client"}"#,
                ),
                response(400, &[JSON], r#"{"error":"invalid_client"}"#),
                None,
                vec![("auth_scheme", "Basic")],
            ),
            (
                Check::MetadataAtRfc8414Location,
                response(200, &[JSON], "{}"),
                response(200, &[JSON], "{}"),
                None,
                vec![("metadata_location", "rfc8414")],
            ),
            (
                Check::NoCredentialResendingRedirect,
                response(301, &[("location", "https://as.example/t")], ""),
                response(308, &[("location", "https://as.example/t")], ""),
                None,
                vec![],
            ),
        ];
        let covered: HashSet<&str> = cases.iter().map(|c| c.0.name()).collect();
        for check in Check::ALL {
            assert!(
                covered.contains(check.name()),
                "{} has no keep/break test",
                check.name()
            );
        }
        for (check, keeps, breaks, scope, vars) in &cases {
            assert_eq!(
                verdict(*check, keeps, *scope, vars),
                Verdict::Pass,
                "{} should pass",
                check.name()
            );
            // Where the metadata was found is the one thing a response cannot show.
            let break_vars = match check {
                Check::MetadataAtRfc8414Location => vec![("metadata_location", "appended")],
                _ => vars.clone(),
            };
            assert!(
                matches!(
                    verdict(*check, breaks, *scope, &break_vars),
                    Verdict::Fail(_)
                ),
                "{} should fail",
                check.name()
            );
        }
    }

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

    #[test]
    fn invalid_client_challenge_legal_variations() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let any_challenge = response(
            401,
            &[("www-authenticate", "Bearer realm=\"x\"")],
            r#"{"error":"invalid_client"}"#,
        );
        // Another scheme cannot be challenged with itself; any challenge answers it.
        assert_eq!(
            verdict(
                Check::InvalidClientChallenge,
                &any_challenge,
                None,
                &[("auth_scheme", "Digest")]
            ),
            Verdict::Pass
        );
        // Basic must be challenged with Basic.
        assert!(matches!(
            verdict(
                Check::InvalidClientChallenge,
                &any_challenge,
                None,
                &[("auth_scheme", "Basic")]
            ),
            Verdict::Fail(_)
        ));
        // Not about client authentication, or no Authorization header: nothing to judge.
        let bad_request = response(400, &[JSON], r#"{"error":"invalid_request"}"#);
        assert_eq!(
            verdict(
                Check::InvalidClientChallenge,
                &bad_request,
                None,
                &[("auth_scheme", "Basic")]
            ),
            Verdict::Pass
        );
        let body_auth = response(400, &[JSON], r#"{"error":"invalid_client"}"#);
        assert_eq!(
            verdict(Check::InvalidClientChallenge, &body_auth, None, &[]),
            Verdict::Pass
        );
        let no_challenge = response(401, &[JSON], r#"{"error":"invalid_client"}"#);
        assert!(matches!(
            verdict(
                Check::InvalidClientChallenge,
                &no_challenge,
                None,
                &[("auth_scheme", "Bearer")]
            ),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn finds_duplicate_keys_at_any_depth() {
        assert_eq!(duplicate_key(br#"{"a":1,"a":2}"#).as_deref(), Some("a"));
        assert_eq!(
            duplicate_key(br#"{"a":{"b":1,"b":1}}"#).as_deref(),
            Some("b")
        );
        assert_eq!(duplicate_key(br#"{"a":1,"b":[{"c":1}]}"#), None);
        assert_eq!(duplicate_key(b"not json"), None);
    }

    #[test]
    fn parses_challenges() {
        let c = r#"Bearer realm="x", error="invalid_token", error_description="no""#;
        assert_eq!(challenge_scheme(c), "Bearer");
        assert_eq!(
            challenge_param(c, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(challenge_param(c, "realm").as_deref(), Some("x"));
        assert_eq!(challenge_param(r#"Basic realm="a""#, "error"), None);
        assert_eq!(
            challenge_param("Bearer error=invalid_token", "error").as_deref(),
            Some("invalid_token")
        );
    }
}
