//! The keep/break table: every named check passes an answer that keeps its rule and fails one
//! that breaks it (set checks: `race/tests.rs`). A check without a row fails the test.

use std::collections::HashSet;

use super::{Check, Context, Verdict};
use crate::exchange::Response;
use crate::template::Vars;

pub(super) fn response(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
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

pub(super) fn verdict(
    check: Check,
    r: &Response,
    scope: Option<&str>,
    vars: &[(&str, &str)],
) -> Verdict {
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
        dpop_proof_sent: vars.contains_key("dpop_proof_sent"),
        tls_probes: None,
        race: None,
    })
}

fn jwt(header: &str, claims: &str) -> String {
    use base64::Engine;
    let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.sig", e(header), e(claims))
}

/// Every named check fails an answer that breaks its rule and passes one that keeps it.
#[test]
fn every_check_fails_a_breaking_answer_and_passes_a_keeping_one() {
    const JSON: (&str, &str) = ("content-type", "application/json");
    let good_jwt = jwt(
        r#"{"alg":"RS256","typ":"at+jwt"}"#,
        r#"{"iss":"i","exp":1,"aud":"a","sub":"s","client_id":"c","iat":1,"jti":"j"}"#,
    );
    let token = |extra: &str| format!(r#"{{"access_token":"t0k3n","token_type":"Bearer"{extra}}}"#);
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
            Check::RequestRefused,
            response(403, &[JSON], r#"{"error":"invalid_dpop_proof"}"#),
            response(200, &[JSON], r#"{"active":true}"#),
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
            Check::DpopCnfJkt,
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k1"}}"#),
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k2"}}"#),
            None,
            vec![("dpop.jkt", "k1")],
        ),
        (
            Check::DpopJwtCnfJkt,
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"jkt":"k1"}}"#)
                ),
            ),
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"jkt":"k2"}}"#)
                ),
            ),
            None,
            vec![("dpop.jkt", "k1")],
        ),
        (
            Check::DpopJwtCnfJktShown,
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"jkt":"k2"}}"#)
                ),
            ),
            response(200, &[JSON], &format!(r#"{{"access_token":"{good_jwt}"}}"#)),
            None,
            vec![("dpop.jkt", "k1")],
        ),
        (
            Check::DpopCnfJktShown,
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k2"}}"#),
            response(200, &[JSON], r#"{"active":true}"#),
            None,
            vec![("dpop.jkt", "k1")],
        ),
        (
            Check::DpopTokenType,
            response(200, &[JSON], &token("").replace("Bearer", "DPoP")),
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}","token_type":"Bearer"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"jkt":"k1"}}"#)
                ),
            ),
            None,
            vec![("dpop.jkt", "k1")],
        ),
        (
            Check::DpopTokenTypeIntrospected,
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k1"}}"#),
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"k1"}}"#),
            None,
            vec![("token_type", "DPoP")],
        ),
        (
            Check::Fapi2AuthMethods,
            response(
                200,
                &[JSON],
                r#"{"token_endpoint_auth_methods_supported":["private_key_jwt","tls_client_auth"]}"#,
            ),
            response(
                200,
                &[JSON],
                r#"{"token_endpoint_auth_methods_supported":["private_key_jwt","client_secret_post"]}"#,
            ),
            None,
            vec![],
        ),
        (
            Check::ResourceNonceDemand,
            response(
                401,
                &[
                    (
                        "www-authenticate",
                        r#"DPoP error="use_dpop_nonce", algs="ES256""#,
                    ),
                    ("dpop-nonce", "n-1"),
                ],
                "",
            ),
            response(
                400,
                &[JSON, ("dpop-nonce", "n-1")],
                r#"{"error":"use_dpop_nonce"}"#,
            ),
            None,
            vec![],
        ),
        (
            Check::DpopChallenge,
            response(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer, DPoP error="invalid_token", algs="ES256""#,
                )],
                "",
            ),
            response(
                401,
                &[(
                    "www-authenticate",
                    r#"Bearer error="invalid_token", DPoP algs="ES256""#,
                )],
                "",
            ),
            None,
            vec![],
        ),
        (
            Check::MtlsCnfX5t,
            response(200, &[JSON], r#"{"active":true,"cnf":{"x5t#S256":"t1"}}"#),
            response(200, &[JSON], r#"{"active":true,"cnf":{"jkt":"t1"}}"#),
            None,
            vec![("mtls.x5t", "t1")],
        ),
        (
            Check::MtlsJwtCnfX5t,
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"x5t#S256":"t1"}}"#)
                ),
            ),
            response(
                200,
                &[JSON],
                &format!(
                    r#"{{"access_token":"{}"}}"#,
                    jwt(r#"{"alg":"RS256"}"#, r#"{"cnf":{"x5t#S256":"t2"}}"#)
                ),
            ),
            None,
            vec![("mtls.x5t", "t1")],
        ),
        (
            Check::DpopAlgsAsymmetric,
            response(
                200,
                &[JSON],
                r#"{"dpop_signing_alg_values_supported":["ES256"]}"#,
            ),
            response(
                200,
                &[JSON],
                r#"{"dpop_signing_alg_values_supported":["ES256","HS256"]}"#,
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
    let mut covered: HashSet<&str> = cases.iter().map(|c| c.0.name()).collect();
    // The TLS checks judge the preflight's probes, not a response: their rows are tls's.
    covered.extend(super::tls::tests::KEEP_BREAK.iter().map(|c| c.name()));
    for check in Check::ALL.iter().filter(|c| !c.judges_a_set()) {
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
            Check::DpopTokenTypeIntrospected => vec![("token_type", "Bearer")],
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
