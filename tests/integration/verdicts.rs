//! The suite's verdicts against the reference server: every case passes it as it is, and
//! each fault mode makes exactly the cases fail (or warn) that check the broken rule.

use std::collections::BTreeSet;

use grantcheck::case::Case;
use grantcheck::http::TlsTrust;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use reference_server::{Fault, ServerConfig, TlsIdentity, TokenFormat, Variant};

use crate::common::server;

/// The built-in cases of an RFC run (the FAPI 2.0 profile's own cases are `fapi2.rs`'s).
fn cases(skip_expiry: bool) -> Vec<Case> {
    grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| !(skip_expiry && c.area == "expiry") && c.runs_under("rfc6749"))
        .collect()
}

async fn conform(config: ServerConfig, profile: &str, cases: &[Case]) -> Vec<CaseResult> {
    let server_tls = config.tls.clone();
    let server = server::start(config).await;
    let settings = Settings {
        profile: profile.into(),
        // The matrices run six or ten whole runs at once on a two-core machine, where a
        // race's release spread is the machine's load: the race cases are judged here with
        // a 10 ms bound (as --race-spread 10). Their own 1 ms bound is `races.rs`'s to prove,
        // 100 runs in a row, alone.
        race_spread: std::time::Duration::from_millis(10),
        ..Settings::default()
    };
    // An HTTPS server's certificate is trusted as `--ca-cert` would trust it.
    let mut trust = TlsTrust::default();
    if let Some(identity) = &server_tls {
        trust
            .add_pem(identity.certificate_pem().as_bytes())
            .unwrap();
    }
    let http = grantcheck::http::client(settings.request_timeout, &trust).unwrap();
    // As `conform` runs: metadata found by discovery, then the preflight.
    let mut target = grantcheck::target::embedded(&server, &http).await;
    if server_tls.is_some() {
        // As `conform --embedded-tls`: the test-only client certificates (RFC 8705).
        let clients = grantcheck::mtls::MtlsClients::embedded(settings.request_timeout, &trust);
        target.mtls = Some(std::sync::Arc::new(clients.unwrap()));
    }
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    runner::run_cases(&target, cases, &settings, &http, |_| {}).await
}

/// The reference server over HTTPS, with a new self-signed certificate.
fn with_tls(config: ServerConfig) -> ServerConfig {
    ServerConfig {
        tls: Some(TlsIdentity::generate(&[]).unwrap()),
        ..config
    }
}

fn ids(results: &[CaseResult], outcome: Outcome) -> BTreeSet<String> {
    results
        .iter()
        .filter(|r| r.outcome == outcome)
        .map(|r| r.id.clone())
        .collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Over plain HTTP the TLS cases skip; over HTTPS every case runs (JWT ones need JWTs).
#[tokio::test]
async fn every_case_passes_the_reference_server_in_both_token_formats_and_over_https() {
    let runs = [
        (TokenFormat::Opaque, false),
        (TokenFormat::Jwt, false),
        (TokenFormat::Opaque, true),
    ];
    for (format, https) in runs {
        let mut config = ServerConfig {
            token_format: format,
            ..ServerConfig::default()
        };
        if https {
            config = with_tls(config);
        }
        let results = conform(config, "rfc6749", &cases(false)).await;
        let not_passed: Vec<String> = results
            .iter()
            .filter(|r| {
                let jwt_only = r.area == "jwt" || r.tags.iter().any(|t| t == "jwt");
                // The resource's own DPoP nonces are optional (RFC 9449 §9); the reference
                // server gives them under the `resource-dpop-nonce` variant, where
                // `resource_nonces_are_judged_where_the_resource_gives_them` runs them.
                // The brute-force race is opt-in (--only RACE-006); the cluster cases need
                // other nodes (cluster_cases.rs).
                let legal_skip = r.outcome == Outcome::Skip
                    && (r.area == "cluster"
                        || (jwt_only && format == TokenFormat::Opaque)
                        || (r.tags.iter().any(|t| t == "tls" || t == "mtls") && !https)
                        || r.tags
                            .iter()
                            .any(|t| t == "resource_nonce" || t == "brute_force"));
                r.outcome != Outcome::Pass && !legal_skip
            })
            .map(|r| format!("{} {:?}: {}", r.id, r.outcome, r.detail))
            .collect();
        assert!(
            not_passed.is_empty(),
            "{format:?} https={https}: {not_passed:#?}"
        );
        let tls_passed = results
            .iter()
            .filter(|r| r.tags.iter().any(|t| t == "tls") && r.outcome == Outcome::Pass)
            .count();
        assert_eq!(tls_passed, if https { 4 } else { 0 });
    }
}

/// For each fault mode: the cases that must fail (MUST) and warn (SHOULD), and no others.
fn expected(fault: Fault) -> (&'static [&'static str], &'static [&'static str]) {
    match fault {
        Fault::AcceptWrongSecret => (
            &[
                "AUTH-010",
                "AUTH-011",
                "AUTH-017",
                "AUTH-018",
                "AUTH-019",
                "AUTH-028",
                "ERR-001",
                "INTRO-003",
            ],
            &["ERR-003"],
        ),
        Fault::CaseInsensitiveSecret => (&["AUTH-018"], &[]),
        Fault::TrimCredentials => (&["AUTH-019"], &[]),
        Fault::BasicWithoutFormDecoding => (&["AUTH-002"], &[]),
        Fault::AcceptDisabledClient => (&["AUTH-024"], &[]),
        Fault::AcceptCredentialsInQuery => (&["TOKEN-004"], &[]),
        Fault::AcceptGetTokenRequest => (&[], &["TOKEN-002"]),
        Fault::AcceptRepeatedParameters => (&["PARAM-006", "PARAM-007", "PARAM-008"], &[]),
        Fault::RejectUnknownParameters => (&["PARAM-010"], &[]),
        Fault::WrongUnsupportedGrantError => (&["PARAM-002"], &[]),
        Fault::InvalidClientWithoutChallenge => {
            (&["AUTH-010", "AUTH-012", "AUTH-031", "INTRO-020"], &[])
        }
        // The format of error responses is ERR-002's rule, judged once: the other refusal
        // cases cannot read their error code from a body that is not JSON, and skip.
        Fault::ErrorsNotJson => (&["ERR-002"], &[]),
        Fault::SilentlyReduceScope => (
            &["SCOPE-002", "SCOPE-005", "SCOPE-011"],
            &["INTRO-013", "SCOPE-004"],
        ),
        Fault::OmitCacheControl => (&["RESP-008"], &[]),
        Fault::OmitPragma => (&["RESP-009"], &[]),
        Fault::ExpiresInAsString => (&["RESP-006"], &[]),
        Fault::IssueRefreshToken => (&[], &["RESP-007"]),
        Fault::IntrospectionWithoutAuthentication => (&["INTRO-002", "INTRO-003"], &[]),
        Fault::ExpiredTokensActive => (&["RESP-015", "RESP-017"], &["INTRO-019"]),
        Fault::InactiveIntrospectionLeaksClaims => (&[], &["INTRO-019"]),
        Fault::IgnoreRevocation => (
            &["INTRO-007", "REVOKE-007", "REVOKE-008", "RS-011"],
            &["INTRO-005"],
        ),
        Fault::RevokeOtherClientsTokens => (&["REVOKE-006"], &["REVOKE-013"]),
        Fault::RevocationUnknownTokenError => (&["REVOKE-003", "REVOKE-009"], &[]),
        Fault::MetadataIssuerMismatch => (&["META-002"], &[]),
        Fault::ResourceAcceptsInactiveTokens => (&["RS-004", "RS-011"], &["RS-010"]),
        Fault::ResourceIgnoresScope => (&[], &["RS-005"]),
        Fault::ResourceChallengeMissing => (&["RS-003", "RS-004"], &["RS-010"]),
        Fault::AcceptPlainHttp => (&["BCP-007", "INTRO-017", "TOKEN-001"], &[]),
        Fault::TrustForwardedProto => (&["BCP-007"], &[]),
        // A refused assertion is still refused (the JWTAUTH refusal cases pass): the empty
        // body loses invalid_client (MUST, once per method) and 403 is not 400/401 (SHOULD).
        // 403 with an empty body: the 401 that Basic credentials must get (AUTH-010, 011,
        // 012) and the JSON error body (ERR-002) are broken; the cases that read the error
        // code skip (premise_skips); how refused assertions are answered is a SHOULD.
        Fault::AuthFailureForbidden => (
            &["AUTH-010", "AUTH-011", "AUTH-012", "ERR-002"],
            &["AUTH-004", "AUTH-023", "JWTAUTH-021", "JWTAUTH-109"],
        ),
        Fault::DropUnknownScope => (
            &["SCOPE-002", "SCOPE-005", "SCOPE-011"],
            &["INTRO-013", "SCOPE-004"],
        ),
        Fault::IntrospectionChallengeMissing => (&["ERR-013", "ERR-014"], &[]),
        Fault::MetadataAppendedOnly => (&["META-010"], &[]),
        Fault::MetadataSigningAlgNone => (&["META-011"], &[]),
        Fault::JwtAuthTokenEndpointOnly => (&[], &["JWTAUTH-018", "JWTAUTH-019"]),
        Fault::DpopAnyTyp => (&["DPOP-004"], &[]),
        Fault::DpopAcceptAlgNone => (&["DPOP-005"], &[]),
        Fault::DpopAcceptHs256 => (&["DPOP-006"], &[]),
        Fault::DpopAcceptPrivateJwk => (&["DPOP-007"], &[]),
        Fault::DpopAnyHtm => (&["DPOP-008"], &[]),
        Fault::DpopAnyHtu => (&["DPOP-009"], &[]),
        // The error code is a SHOULD (RFC 9449 §5 has no keyword): the refusal passes.
        Fault::DpopInvalidRequestError => (&[], &["DPOP-026"]),
        // The proof is accepted: DPOP-015 fails it once; DPOP-026 (the refusal's code) skips.
        Fault::DpopAcceptMissingJti => (&["DPOP-015"], &[]),
        // A day is no "limited time" (§11.1 MUST): DPOP-032 fails; ten minutes is "on the
        // order of minutes": DPOP-011 warns; the future iat of DPOP-012 is a MAY, recorded.
        Fault::DpopAnyIat => (&["DPOP-032"], &["DPOP-011"]),
        // jti replay detection is a "can" (§11.1): DPOP-013 and DPOP-022 record it.
        Fault::DpopNoReplayCheck => (&[], &[]),
        Fault::DpopIgnoreRepeatedHeader => (&["DPOP-014"], &[]),
        Fault::DpopNonceWrongError => (&[], &["DPOP-027"]),
        Fault::DpopNonceNotEnforced => (&["DPOP-016"], &[]),
        Fault::DpopBoundClientWithoutProof => (&["DPOP-017"], &[]),
        Fault::DpopTokenTypeBearer => (&["DPOP-001"], &[]),
        // A missing cnf.jkt breaks no keyword (§6: other means by agreement): DPOP-028 and
        // DPOP-029 record it.
        Fault::DpopOmitCnf => (&[], &[]),
        // DPOP-003 (cnf.jkt in JWTs) breaks too, in the JWT run: see tests/integration/dpop.rs.
        Fault::DpopJktHex => (&["DPOP-002"], &[]),
        Fault::DpopAcceptSymmetricJwk => (&["DPOP-033"], &[]),
        Fault::ResourceDpopRefusesBoundTokens => (&["DPOP-018"], &[]),
        Fault::DpopMetadataSymmetric => (&["DPOP-025"], &[]),
        // Accepting is failed once, by the refusal case; the cases about the refusal's status
        // and challenge (DPOP-030, DPOP-031) skip.
        Fault::ResourceDpopAcceptsBearer => (&["DPOP-019"], &[]),
        Fault::ResourceDpopAnyKey => (&["DPOP-020"], &[]),
        Fault::ResourceDpopAnyAth => (&["DPOP-021"], &[]),
        Fault::ResourceDpopBearerChallenge => (&[], &["DPOP-023", "DPOP-031"]),
        // Refusing is the MUST (DPOP-019, 020, 021 pass); 401 and the challenge are SHOULDs.
        Fault::ResourceDpopRefusesWith403 => (&[], &["DPOP-023", "DPOP-030", "DPOP-031"]),
        // How the resource asks for its nonce is DPOP-034's (SHOULD); taking any nonce, 035's.
        Fault::ResourceDpopNonce400 => (&[], &["DPOP-034"]),
        Fault::ResourceDpopNonceAny => (&["DPOP-035"], &[]),
        // Clock skew is judged under FAPI 2.0 only (tests/integration/fapi2.rs): RFC 7523
        // sets no window, and no case of this matrix sends a time a few seconds ahead.
        Fault::AssertionNoClockSkew | Fault::AssertionClockSkew120 => (&[], &[]),
        // FAPI 2.0 mode's faults bend nothing of the plain server (tests/integration/fapi2.rs).
        Fault::Fapi2AcceptSecrets | Fault::Fapi2TokenEndpointAud | Fault::Fapi2AudArray => {
            (&[], &[])
        }
        Fault::AcceptAssertionAlgNone => (&["JWTAUTH-002", "JWTAUTH-103"], &[]),
        Fault::SkipAssertionSignature => (&["JWTAUTH-003", "JWTAUTH-102"], &[]),
        Fault::AcceptAnyAssertionAudience => (&["JWTAUTH-014", "JWTAUTH-015", "JWTAUTH-106"], &[]),
        Fault::AcceptExpiredAssertion => (&["JWTAUTH-005", "JWTAUTH-104"], &[]),
        Fault::SkipAssertionReplayCheck => (&[], &["JWTAUTH-011", "JWTAUTH-105"]),
        // The mutual-TLS faults run over HTTPS (see `needs_tls`); MTLS-008 (cnf in JWTs)
        // skips for opaque tokens.
        Fault::MtlsSkipChainValidation => (&["MTLS-002", "MTLS-004"], &[]),
        Fault::MtlsAcceptExpiredCertificate => (&["MTLS-004"], &[]),
        Fault::MtlsSelfSignedAnyCertificate => (&["MTLS-006"], &[]),
        Fault::MtlsAcceptWithoutCertificate => (&["MTLS-003"], &[]),
        Fault::MtlsOmitCnf => (&[], &["MTLS-007"]),
        Fault::MtlsBindWithoutCertificate => (&[], &["MTLS-011"]),
        Fault::ResourceMtlsIgnoresBinding => (&["MTLS-009", "MTLS-010"], &[]),
        Fault::GrantForbiddenScopeSilently => (&["SCOPE-010"], &[]),
        // The refusal's status and code are judged once, by MTLS-013 (SHOULD) and MTLS-014.
        Fault::MtlsRefusalForbidden => (&[], &["MTLS-013"]),
        Fault::ResourceMtlsRefusesWith403 => (&["MTLS-014"], &[]),
        // Issuing to the assertion's client keeps the MUST; only the refusal is missing.
        Fault::AssertionIgnoresClientId => (&[], &["JWTAUTH-022"]),
        Fault::AssertionTokenForClientId => (&["JWTAUTH-023"], &["JWTAUTH-022"]),
        Fault::AssertionIgnoresBasic => (&[], &["JWTAUTH-110"]),
        Fault::KeyJwtTokenWithoutType => (&["JWTAUTH-001"], &[]),
        Fault::SecretJwtTokenWithoutType => (&["JWTAUTH-101"], &[]),
        // Run with JWT access tokens, the server claiming RFC 9068 (see `needs_jwt`).
        Fault::AccessTokenTypJwt => (&["JWTAT-001"], &[]),
        Fault::AccessTokenAlgNone => (&["JWTAT-002"], &[]),
        Fault::RevocationWithoutAuthentication => (&["REVOKE-005"], &[]),
        // Credentials only in the query are no client authentication (RFC 6749 §2.3.1), so
        // TOKEN-004's request is unauthenticated too.
        Fault::AcceptUnauthenticatedRequest => (&["AUTH-013", "TOKEN-004"], &["AUTH-027"]),
        Fault::IgnoreAllowedGrants => (&["AUTH-015"], &["AUTH-030"]),
        Fault::EmptySecretSkipsCheck => (&["AUTH-016"], &[]),
        Fault::EmptySecretCountsAsMethod => (&["AUTH-029"], &[]),
        Fault::AnySchemeAsBasic => (&["AUTH-022"], &[]),
        // The nulls are members of the inactive answer too: INTRO-005 warns.
        Fault::IntrospectionNullMembers => (&["INTRO-001", "INTRO-012"], &["INTRO-005"]),
        // INTRO-012 introspects the same malformed token and gets no answer to judge the types
        // of: it skips (premise_skips).
        Fault::IntrospectionMalformedTokenError => (&["INTRO-004"], &[]),
        Fault::MetadataOmitResponseTypes => (&["META-003"], &[]),
        Fault::MetadataEndpointFragment => (&["TOKEN-003"], &[]),
        Fault::GrantTypeNotPercentDecoded => (&["PARAM-014"], &[]),
        // SCOPE-001 sends its space as %20, so only the case about '+' fails.
        Fault::PlusNotSpace => (&["PARAM-015"], &[]),
        Fault::EmptyScopeInvalidRequest => (&["PARAM-012"], &[]),
        // An empty scope is an omitted one (PARAM-012); AUTH-002's client has no scope the run
        // knows, so it asks without one and accepts a token or invalid_scope (RFC 6749 §3.3).
        Fault::MissingScopeInvalidRequest => {
            (&["AUTH-002", "PARAM-012", "SCOPE-003"], &["SCOPE-004"])
        }
        Fault::ScopeOrderSensitive => (&["SCOPE-001"], &[]),
        Fault::TokenTypeJwt => (&["RESP-004"], &[]),
        Fault::RevocationMissingTokenOk => (&["REVOKE-004"], &[]),
        // RS-002 and RS-005 send valid bearer tokens too (SHOULDs: the scheme's case, 403).
        Fault::ResourceRefusesBearerTokens => (&["RS-001"], &["RS-002", "RS-005"]),
        Fault::ResourceChallengeRealmTwice => (&["RS-008"], &[]),
        Fault::MethodNotAllowedWithoutAllow => (&["TOKEN-010"], &[]),
        Fault::PostAuthFailureWithoutChallenge => (&["ERR-008"], &[]),
        // The requests whose only grant_type is misnamed (case, array syntax) or absent are
        // defaulted too, so the SHOULDs that expect them refused warn.
        Fault::DefaultMissingGrantType => (
            &["PARAM-001"],
            &["ERR-003", "PARAM-013", "PARAM-017", "PARAM-019"],
        ),
        Fault::EmptyGrantTypeAccepted => (&["PARAM-005"], &[]),
        Fault::PublicClientsGetTokens => (&["AUTH-014"], &[]),
        Fault::ErrorDescriptionEchoesInput => (&["ERR-005"], &[]),
        Fault::AssertionRefusalInvalidGrant => (&["JWTAUTH-020", "JWTAUTH-108"], &[]),
        Fault::AssertionAlgConfusion => (&["JWTAUTH-004"], &[]),
        Fault::AcceptAssertionWithoutExp => (&["JWTAUTH-006"], &[]),
        Fault::IgnoreAssertionNbf => (&["JWTAUTH-008"], &[]),
        Fault::AcceptAnyAssertionIss => (&["JWTAUTH-012"], &[]),
        Fault::AcceptAnyAssertionSub => (&["JWTAUTH-013", "JWTAUTH-107"], &[]),
        // Race faults (issue 21): sequentially invisible, so every case that sends one
        // request at a time passes them; the race cases (`parallel = N` steps) catch them.
        // RACE-001 is a SHOULD (OIDC Core §9 against RFC 7523's MAY); RACE-002/003 are INFO
        // (RFC 9449 §11.1 "can"): they record 20 × 200 and pass.
        Fault::RaceReplay => (&[], &["RACE-001"]),
        Fault::RaceRevocation => (&["RACE-004"], &[]),
        // RACE-006 fails it only with brute-force protection on and `--max-parallel-guesses`
        // (races.rs); the matrix runs the library's default server (no brute-force protection).
        Fault::ThrottleRace => (&[], &[]),
        // CLUSTER-003 warns it against a three-node cluster asked with `--node URL`
        // (cluster_cases.rs); the matrix runs one node, where the fault changes nothing.
        Fault::ClusterRevocationLocal => (&[], &[]),
    }
}

/// The faults only JWT access tokens can show (the JWTAT cases skip opaque tokens).
fn needs_jwt(fault: Fault) -> bool {
    matches!(fault, Fault::AccessTokenTypJwt | Fault::AccessTokenAlgNone)
}

/// The faults only an HTTPS server can show: plain HTTP on the TLS port, and mutual TLS.
fn needs_tls(fault: Fault) -> bool {
    matches!(fault, Fault::AcceptPlainHttp | Fault::TrustForwardedProto)
        || fault.name().starts_with("mtls-")
        || fault.name().starts_with("resource-mtls-")
}

/// Cases the faultless server skips that a fault does not: the faults about a resource's own
/// DPoP nonce (RFC 9449 §9) give DPOP-034/035 their premise, and a resource that refuses
/// bound tokens blocks DPOP-035 on its setup before the case can find there is no nonce.
fn not_skipped(fault: Fault) -> &'static [&'static str] {
    match fault {
        Fault::ResourceDpopNonce400 | Fault::ResourceDpopNonceAny => &["DPOP-034", "DPOP-035"],
        Fault::ResourceDpopRefusesBoundTokens => &["DPOP-035"],
        _ => &[],
    }
}

/// Cases a fault legitimately skips because it takes away their premise. A DPoP-bound token
/// answered with `token_type` Bearer looks, from the client's side, like a token the server
/// chose not to bind (RFC 9449 §5 allows that), so the resource cases, which judge how a
/// bound token is enforced, skip; DPOP-001 fails it, since introspection shows the binding.
/// The cases that judge how a refusal is answered (`only_refusals`) skip when the fault
/// makes the server accept the request instead: the refusal case fails that, once.
fn premise_skips(fault: Fault) -> &'static [&'static str] {
    match fault {
        Fault::DpopTokenTypeBearer => &[
            "DPOP-018", "DPOP-019", "DPOP-020", "DPOP-021", "DPOP-022", "DPOP-023", "DPOP-030",
            "DPOP-031", "RACE-003",
        ],
        // The race cases' premise is the rule kept one request at a time: a server that
        // breaks it there is judged by the sequential case (JWTAUTH-011, DPOP-013/022,
        // INTRO-007), and the race case skips.
        Fault::SkipAssertionReplayCheck => &["RACE-001"],
        Fault::DpopNoReplayCheck => &["RACE-002", "RACE-003"],
        Fault::IgnoreRevocation => &["RACE-004"],
        // A request the fault accepts leaves no refusal whose status or code to judge: the
        // case about the refusal fails it, the case about its form skips.
        Fault::DpopAcceptMissingJti => &["DPOP-026"],
        Fault::DpopNonceNotEnforced => &["DPOP-027"],
        Fault::ResourceDpopAcceptsBearer => &["DPOP-030"],
        Fault::ResourceDpopAnyKey | Fault::ResourceDpopAnyAth => &["DPOP-031"],
        Fault::MtlsSkipChainValidation => &["MTLS-013"],
        // Hidden from clients, the binding is no premise they can see: the resource cases
        // skip as they do for a server that binds nothing (mtls-binding-declined).
        Fault::MtlsOmitCnf => &["MTLS-009", "MTLS-010", "MTLS-014"],
        // With JWT access tokens, DPOP-003 finds no cnf.jkt in the token to judge (it skips
        // opaque tokens anyway).
        Fault::DpopOmitCnf => &["DPOP-003"],
        Fault::ResourceMtlsIgnoresBinding => &["MTLS-014"],
        Fault::SkipAssertionSignature => {
            &["JWTAUTH-020", "JWTAUTH-021", "JWTAUTH-108", "JWTAUTH-109"]
        }
        Fault::IntrospectionWithoutAuthentication => &["INTRO-020"],
        // The wrong secret accepted leaves no refusal whose format ERR-002 could judge.
        Fault::AcceptWrongSecret => &["ERR-002", "INTRO-020"],
        Fault::RevocationWithoutAuthentication => &["REVOKE-014"],
        Fault::IntrospectionMalformedTokenError => &["INTRO-012"],
        Fault::AuthFailureForbidden => &[
            "AUTH-027",
            "ERR-001",
            "ERR-003",
            "ERR-011",
            "JWTAUTH-020",
            "JWTAUTH-108",
        ],
        Fault::ErrorsNotJson => &[
            "AUTH-007",
            "AUTH-010",
            "AUTH-011",
            "AUTH-012",
            "AUTH-014",
            "AUTH-027",
            "AUTH-030",
            "ERR-001",
            "ERR-003",
            "ERR-005",
            "ERR-011",
            "JWTAUTH-020",
            "JWTAUTH-108",
            "PARAM-001",
            "PARAM-002",
            "PARAM-005",
            "PARAM-006",
            "PARAM-007",
            "PARAM-019",
            "ROBUST-003",
            "SCOPE-002",
            "SCOPE-005",
            "SCOPE-006",
            "SCOPE-011",
        ],
        _ => &[],
    }
}

/// What a fault fails and warns beyond `expected()` when the server issues JWT access tokens
/// (`--embedded-token-format jwt`): the JWT-only cases (DPOP-003, DPOP-029, JWTAT-*,
/// MTLS-008, which skip for opaque tokens) that judge the same rule in the token itself.
fn expected_jwt_extra(fault: Fault) -> (&'static [&'static str], &'static [&'static str]) {
    match fault {
        // The thumbprint in the JWT's cnf.jkt is hex too.
        Fault::DpopJktHex => (&["DPOP-003"], &[]),
        // The JWT names no certificate either (RFC 8705 §3.1, a SHOULD).
        Fault::MtlsOmitCnf => (&[], &["MTLS-008"]),
        _ => (&[], &[]),
    }
}

/// Cases a fault legitimately blocks: a prerequisite the case needs is what the fault breaks
/// (and another case judges). An `expires_in` sent as a string (RESP-006 fails it) leaves the
/// expiry cases no lifetime to wait out.
///
/// A resource that serves no DPoP-bound token leaves DPOP-022 (a proof replayed at the
/// resource) no first use to replay.
fn fault_blocks(fault: Fault) -> &'static [&'static str] {
    match fault {
        Fault::ExpiresInAsString => &["INTRO-019", "RESP-015", "RESP-017"],
        Fault::ResourceDpopRefusesBoundTokens => &["DPOP-022", "DPOP-035", "RACE-003"],
        _ => &[],
    }
}

/// Fault runs at once. Each run's start (server, HTTP client, target) is work on the test's
/// one thread, and runs started together delay each other's first requests: all of them at
/// once (or a dozen on a loaded machine) made discovery's first request of some runs wait
/// past its timeout, so their metadata was found at the OpenID location only.
const MATRIX_CONCURRENCY: usize = 6;

/// Runs every fault mode with `format` access tokens and returns what differs from
/// `expected()` (plus `expected_jwt_extra()` for JWTs): other failures or warnings, any error,
/// blocked cases beyond `fault_blocks()`, and skips the faultless server does not have beyond
/// `premise_skips()`. The faults only JWTs can show run in the JWT matrix only.
async fn fault_matrix(format: TokenFormat) -> Vec<String> {
    use futures_util::StreamExt;
    let config = move |fault: Option<Fault>, tls: bool| {
        let mut config = ServerConfig {
            token_format: format,
            ..ServerConfig::default()
        };
        if let Some(fault) = fault {
            config = config.with_fault(fault);
        }
        if tls {
            config = with_tls(config);
        }
        config
    };
    // The cases are parsed once: every run parsing them at once slowed the others' discovery.
    let (with_expiry, without_expiry) = (&cases(false), &cases(true));
    let plain_skips = ids(
        &conform(config(None, false), "rfc6749", without_expiry).await,
        Outcome::Skip,
    );
    let tls_skips = ids(
        &conform(config(None, true), "rfc6749", without_expiry).await,
        Outcome::Skip,
    );
    let faults = Fault::ALL
        .iter()
        .copied()
        .filter(|&f| format == TokenFormat::Jwt || !needs_jwt(f));
    let runs = faults.map(|fault| async move {
        // Expiry cases wait on a real clock; only the faults about expiry need them.
        let needs_clock = matches!(
            fault,
            Fault::ExpiredTokensActive
                | Fault::InactiveIntrospectionLeaksClaims
                | Fault::ExpiresInAsString
        );
        let cases = if needs_clock {
            with_expiry
        } else {
            without_expiry
        };
        let results = conform(config(Some(fault), needs_tls(fault)), "rfc6749", cases).await;
        (fault, results)
    });
    let results: Vec<(Fault, Vec<CaseResult>)> = futures_util::stream::iter(runs)
        .buffer_unordered(MATRIX_CONCURRENCY)
        .collect()
        .await;
    let mut problems = Vec::new();
    for (fault, results) in results {
        let label = format!("{} ({format:?})", fault.name());
        let baseline_skips = if needs_tls(fault) {
            &tls_skips
        } else {
            &plain_skips
        };
        let (mut fail, mut warn) = (set(expected(fault).0), set(expected(fault).1));
        if format == TokenFormat::Jwt {
            fail.extend(set(expected_jwt_extra(fault).0));
            warn.extend(set(expected_jwt_extra(fault).1));
        }
        let (got_fail, got_warn) = (ids(&results, Outcome::Fail), ids(&results, Outcome::Warn));
        if got_fail != fail || got_warn != warn {
            problems.push(format!("{label}: failed {got_fail:?} (expected {fail:?}), warned {got_warn:?} (expected {warn:?})"));
        }
        let errors = ids(&results, Outcome::Error);
        if !errors.is_empty() {
            problems.push(format!("{label}: errors {errors:?}"));
        }
        // No cascade: a fault that breaks one rule blocks no case about another (unless it
        // takes away that case's prerequisite), and skips no more than the faultless
        // server does.
        let blocked = ids(&results, Outcome::Blocked);
        if blocked != set(fault_blocks(fault)) {
            problems.push(format!(
                "{label}: blocked {blocked:?} (expected {:?})",
                fault_blocks(fault)
            ));
        }
        let skipped = ids(&results, Outcome::Skip);
        let baseline_skips: BTreeSet<String> = baseline_skips
            .iter()
            .cloned()
            .chain(premise_skips(fault).iter().map(|s| s.to_string()))
            .filter(|id| !not_skipped(fault).contains(&id.as_str()))
            .collect();
        if skipped != baseline_skips {
            let why: Vec<String> = results
                .iter()
                .filter(|r| skipped.contains(&r.id) != baseline_skips.contains(&r.id))
                .map(|r| format!("{} {:?}: {}", r.id, r.outcome, r.detail))
                .collect();
            problems.push(format!(
                "{label}: skips differ from the faultless server's: {why:#?}"
            ));
        }
    }
    problems
}

#[tokio::test]
async fn each_fault_mode_fails_exactly_the_cases_that_check_its_rule() {
    let problems = fault_matrix(TokenFormat::Opaque).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The same matrix with JWT access tokens (as `conform --embedded-token-format jwt`), so the
/// rules judged in a JWT access token are proven too; where the run differs, it is by
/// `expected_jwt_extra()`.
#[tokio::test]
async fn each_fault_mode_fails_exactly_the_cases_that_check_its_rule_with_jwt_access_tokens() {
    let problems = fault_matrix(TokenFormat::Jwt).await;
    assert!(problems.is_empty(), "{problems:#?}");
}

/// MUST cases whose failure is shown by another test than the fault matrix: (case, test).
/// The test is a function in `tests/integration/`.
const DEMONSTRATED_ELSEWHERE: &[(&str, &str)] = &[
    // The main client's Basic token and its response are the preflight's premise: a server
    // that breaks them ends the run there, so wiremock servers show the cases failing.
    ("AUTH-001", "redirects_are_never_followed"),
    (
        "RESP-001",
        "broken_token_responses_fail_with_readable_details",
    ),
    (
        "RESP-010",
        "broken_token_responses_fail_with_readable_details",
    ),
    (
        "SCOPE-009",
        "broken_token_responses_fail_with_readable_details",
    ),
    (
        "AUTH-032",
        "level_corrections_hold_against_servers_that_behave_as_real_ones_did",
    ),
    (
        "INTRO-008",
        "a_server_that_changes_its_answer_between_steps_is_caught",
    ),
    // Every other case and the preflight authenticate the main client with Basic: a fault
    // that refused it would end the run there. A wiremock server lists Basic and refuses it.
    (
        "META-007",
        "metadata_that_lists_basic_while_basic_is_refused_fails_meta_007",
    ),
    // The premise of the other mutual-TLS cases: see the test.
    (
        "MTLS-001",
        "mtls_token_cases_fail_when_the_server_issues_no_token_to_a_mutual_tls_client",
    ),
    (
        "MTLS-005",
        "mtls_token_cases_fail_when_the_server_issues_no_token_to_a_mutual_tls_client",
    ),
    // No fault of the reference server loses concurrent issuances; a hand-written server
    // whose token store is written back whole fails RACE-005 (race-revocation fails RACE-004).
    (
        "RACE-005",
        "a_server_whose_checks_race_fails_the_race_cases",
    ),
    // The cluster cases need other nodes: the matrix runs one. A three-node reference
    // cluster that replicates 300 ms late fails both (cluster_cases.rs).
    (
        "CLUSTER-001",
        "replication_delay_and_a_local_revocation_are_caught",
    ),
    (
        "CLUSTER-002",
        "replication_delay_and_a_local_revocation_are_caught",
    ),
];

/// A test must be able to fail: every builtin MUST case (under the default profile,
/// rfc6749) is failed by some fault mode (`expected()`, or `expected_jwt_extra()` in the
/// JWT run), or named in `DEMONSTRATED_ELSEWHERE` with the test that shows it failing.
#[test]
fn every_must_case_is_shown_failing_by_a_fault_mode_or_a_named_test() {
    use grantcheck::case::Level;
    let must: BTreeSet<String> = cases(false)
        .iter()
        .filter(|c| c.level_for("rfc6749") == Level::Must)
        .map(|c| c.id.clone())
        .collect();
    let by_fault: BTreeSet<String> = Fault::ALL
        .iter()
        .flat_map(|&f| expected(f).0.iter().chain(expected_jwt_extra(f).0))
        .map(|id| id.to_string())
        .collect();
    let elsewhere: BTreeSet<String> = DEMONSTRATED_ELSEWHERE
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let unproven: Vec<&String> = must
        .iter()
        .filter(|id| !by_fault.contains(*id) && !elsewhere.contains(*id))
        .collect();
    assert!(
        unproven.is_empty(),
        "MUST cases no fault mode fails and no test in DEMONSTRATED_ELSEWHERE shows failing: {unproven:?}"
    );
    // The lists stay true: each names a MUST case not already proven by a fault, and the
    // named test exists.
    let sources: String =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/integration"))
            .unwrap()
            .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default())
            .collect();
    for (id, test) in DEMONSTRATED_ELSEWHERE {
        assert!(
            must.contains(*id),
            "{id} in DEMONSTRATED_ELSEWHERE is not a MUST case"
        );
        assert!(
            sources.contains(&format!("fn {test}(")),
            "{id}: no test named {test} in tests/integration"
        );
    }
}

/// For each legal variant: the SHOULD cases it may warn (a SHOULD the RFCs let a server
/// decline, with reason), and the cases it skips beyond the default server's skips because it
/// takes their premise away (a binding declined leaves no binding to judge). Everything else
/// passes or skips as on the default server.
fn variant_expected(variant: Variant) -> (&'static [&'static str], &'static [&'static str]) {
    match variant {
        Variant::TokenTypeLowercase | Variant::CacheControlPrivate => (&[], &[]),
        // Introspection that names no scope (RFC 7662 §2.2: OPTIONAL) cannot show which
        // default scope a token got: SCOPE-004 has nothing to compare the response with.
        Variant::ScopeOmittedWhenRequested => (&[], &["SCOPE-004"]),
        // The resource server's client sees only `active`: no scope for SCOPE-004, and no
        // cnf.jkt or token_type for DPOP-002 to judge a binding by.
        // (Over HTTPS, the mutual-TLS cases that read cnf.x5t#S256 from introspection skip
        // alike.)
        Variant::IntrospectionMinimalForOtherClients => (
            &[],
            &[
                "DPOP-002",
                "MTLS-007",
                "MTLS-009",
                "MTLS-010",
                "MTLS-014",
                "SCOPE-004",
            ],
        ),
        // 403 for an invalid proof: only the case about the 400 (a SHOULD) warns.
        Variant::DpopRefusal403 => (&["DPOP-026"], &[]),
        // No certificate binding, and the metadata says so: the cases about it skip.
        Variant::MtlsBindingDeclined => (
            &[],
            &["MTLS-007", "MTLS-008", "MTLS-009", "MTLS-010", "MTLS-014"],
        ),
        // No binding: the cases about a binding skip, as for a server that never binds.
        Variant::DpopBindingDeclined => (
            &[],
            &[
                "DPOP-002", "DPOP-003", "DPOP-018", "DPOP-019", "DPOP-020", "DPOP-021", "DPOP-022",
                "DPOP-023", "DPOP-030", "DPOP-031", "RACE-003",
            ],
        ),
        // 400 or 401 is RFC 6749 §5.2's SHOULD-level answer: warned once per method.
        Variant::AssertionRefusal403 => (&["JWTAUTH-021", "JWTAUTH-109"], &[]),
        // The preflight finds the issuer works and the cases use it.
        Variant::AssertionAudienceIssuerOnly => (&[], &[]),
        // No claim of RFC 9068: the JWTAT cases record the typ JWT tokens (INFO).
        Variant::JwtTypJwt => (&[], &[]),
        // Every DPoP call to the resource goes through its nonce; DPOP-034/035 now run.
        Variant::ResourceDpopNonce => (&[], &[]),
        // Only in FAPI 2.0 mode (tests/integration/fapi2.rs); the plain server is unchanged.
        Variant::Fapi2NoDpopNonce => (&[], &[]),
    }
}

/// The variants only an HTTPS server can show, or that bend what mutual TLS shows (so the
/// mTLS cases must run against them).
fn variant_needs_tls(variant: Variant) -> bool {
    matches!(
        variant,
        Variant::MtlsBindingDeclined | Variant::IntrospectionMinimalForOtherClients
    )
}

/// The fault matrix's mirror: a server that bends only where the RFCs allow gets no failure,
/// no blocked case, no error and no skip the default server does not have, with opaque and
/// with JWT access tokens.
#[tokio::test]
async fn each_legal_variant_passes_the_whole_run_opaque_and_jwt() {
    let mut problems = Vec::new();
    for format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let config = |variant: Option<Variant>, tls: bool| {
            let mut config = ServerConfig {
                token_format: format,
                ..ServerConfig::default()
            };
            if let Some(v) = variant {
                config = config.with_variant(v);
            }
            if tls {
                config = with_tls(config);
            }
            config
        };
        // Each variant is compared with the default server over the same transport.
        let plain_skips = ids(
            &conform(config(None, false), "rfc6749", &cases(true)).await,
            Outcome::Skip,
        );
        let tls_skips = ids(
            &conform(config(None, true), "rfc6749", &cases(true)).await,
            Outcome::Skip,
        );
        let runs = Variant::ALL.iter().map(|&variant| {
            let config = config(Some(variant), variant_needs_tls(variant));
            async move { (variant, conform(config, "rfc6749", &cases(true)).await) }
        });
        for (variant, results) in futures_util::future::join_all(runs).await {
            let label = format!("{} ({format:?})", variant.name());
            for outcome in [Outcome::Fail, Outcome::Blocked, Outcome::Error] {
                let got = ids(&results, outcome);
                if !got.is_empty() {
                    let why: Vec<String> = results
                        .iter()
                        .filter(|r| r.outcome == outcome)
                        .map(|r| format!("{}: {}", r.id, r.detail))
                        .collect();
                    problems.push(format!("{label}: {outcome:?} {why:#?}"));
                }
            }
            let (warn, premise) = variant_expected(variant);
            let warned = ids(&results, Outcome::Warn);
            if warned != set(warn) {
                problems.push(format!("{label}: warned {warned:?}, expected {warn:?}"));
            }
            let baseline_skips = if variant_needs_tls(variant) {
                &tls_skips
            } else {
                &plain_skips
            };
            let allowed: BTreeSet<String> = baseline_skips.union(&set(premise)).cloned().collect();
            let skipped = ids(&results, Outcome::Skip);
            if !skipped.is_subset(&allowed) {
                problems.push(format!(
                    "{label}: skipped {:?} that the default server does not",
                    skipped.difference(&allowed).collect::<Vec<_>>()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// RFC 9449 §9: DPOP-034 and DPOP-035 skip a resource that gives no nonce, pass one that
/// does, and each fails (or warns) the fault that bends its rule.
#[tokio::test]
async fn resource_nonces_are_judged_where_the_resource_gives_them() {
    let only: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.id == "DPOP-034" || c.id == "DPOP-035")
        .collect();
    let outcomes = |results: Vec<CaseResult>| {
        results
            .iter()
            .map(|r| (r.id.clone(), r.outcome))
            .collect::<Vec<_>>()
    };
    let pair = |a, b| vec![("DPOP-034".to_owned(), a), ("DPOP-035".to_owned(), b)];
    let runs = [
        (ServerConfig::default(), pair(Outcome::Skip, Outcome::Skip)),
        (
            ServerConfig::default().with_variant(Variant::ResourceDpopNonce),
            pair(Outcome::Pass, Outcome::Pass),
        ),
        (
            ServerConfig::default().with_fault(Fault::ResourceDpopNonce400),
            pair(Outcome::Warn, Outcome::Pass),
        ),
        (
            ServerConfig::default().with_fault(Fault::ResourceDpopNonceAny),
            pair(Outcome::Pass, Outcome::Fail),
        ),
    ];
    for (config, expected) in runs {
        let label = format!("{:?} {:?}", config.faults, config.variants);
        assert_eq!(
            outcomes(conform(config, "rfc6749", &only).await),
            expected,
            "{label}"
        );
    }
}

#[tokio::test]
async fn pragma_is_required_by_rfc6749_and_only_recorded_under_oauth21() {
    let only: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.id == "RESP-009")
        .collect();
    let config = || ServerConfig::default().with_fault(Fault::OmitPragma);
    assert_eq!(
        conform(config(), "rfc6749", &only).await[0].outcome,
        Outcome::Fail
    );
    assert_eq!(
        conform(config(), "strict", &only).await[0].outcome,
        Outcome::Fail
    );
    let oauth21 = &conform(config(), "oauth21", &only).await[0];
    assert_eq!(oauth21.outcome, Outcome::Pass);
    assert!(
        oauth21.detail.starts_with("observed:"),
        "{}",
        oauth21.detail
    );
    assert_eq!(
        conform(ServerConfig::default(), "oauth21", &only).await[0].outcome,
        Outcome::Pass
    );
}

/// A server that wants a scope on every token request (legal: RFC 6749 §3.3) passes every
/// case: the preflight finds the scope, and the cases that omit it on purpose accept
/// `invalid_scope`.
#[tokio::test]
async fn a_server_that_requires_a_scope_passes_every_case() {
    let config = ServerConfig {
        require_scope: true,
        ..ServerConfig::default()
    };
    let results = conform(config, "rfc6749", &cases(false)).await;
    let not_passed: Vec<String> = results
        .iter()
        .filter(|r| {
            let legal_skip = r.outcome == Outcome::Skip
                && (r.area == "jwt"
                    || r.area == "cluster"
                    || r.detail.starts_with("opt-in: ")
                    || r.tags
                        .iter()
                        .any(|t| t == "tls" || t == "mtls" || t == "jwt" || t == "resource_nonce"));
            r.outcome != Outcome::Pass && !legal_skip
        })
        .map(|r| format!("{} {:?}: {}", r.id, r.outcome, r.detail))
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
}

/// The main job must never be red by chance: the embedded run, 50 times over plain HTTP
/// and 50 over HTTPS (ten at a time), ends every time with no error, block or failure.
/// (It used to error about once in ten runs: a 413 sent while the client was still
/// writing the body, then a reset that destroyed the answer.) A race whose copies the busy
/// machine spread wider than --race-spread three times over is blocked as not conclusive,
/// and says so: ten whole runs at once on two threads is load no race is conclusive under
/// by design, so those are not counted here; `races.rs` runs the races 100 times in a row,
/// alone, without one not conclusive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_run_has_no_error_fifty_times_over_plain_and_tls() {
    let all = cases(true);
    let mut problems = Vec::new();
    for tls in [false, true] {
        for _ in 0..5 {
            let runs = (0..10).map(|_| {
                let config = if tls {
                    with_tls(ServerConfig::default())
                } else {
                    ServerConfig::default()
                };
                conform(config, "rfc6749", &all)
            });
            for results in futures_util::future::join_all(runs).await {
                problems.extend(
                    results
                        .iter()
                        .filter(|r| {
                            matches!(r.outcome, Outcome::Error | Outcome::Blocked | Outcome::Fail)
                                && !r.detail.starts_with("race not conclusive: ")
                        })
                        .map(|r| format!("tls={tls} {} {:?}: {}", r.id, r.outcome, r.detail)),
                );
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// A target without JWT clients (no `--client-auth`) skips the client_auth_jwt cases with
/// the flag to give, and the other cases are unaffected; with only a private_key_jwt client,
/// only the client_secret_jwt cases skip.
#[tokio::test]
async fn jwt_cases_skip_without_a_jwt_client_and_say_which_flag_gives_one() {
    let server = server::start(ServerConfig::default()).await;
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &TlsTrust::default()).unwrap();
    let jwt_cases: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.area == "client_auth_jwt")
        .collect();
    assert_eq!(jwt_cases.len(), 33);
    let mut target = grantcheck::target::embedded(&server, &http).await;
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let secret_jwt = target.clients.remove(&grantcheck::case::Role::SecretJwt);
    let only_key = runner::run_cases(&target, &jwt_cases, &settings, &http, |_| {}).await;
    for r in &only_key {
        if r.id.starts_with("JWTAUTH-1") {
            assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
            assert!(
                r.detail.contains("--client-auth client_secret_jwt"),
                "{}",
                r.detail
            );
        } else {
            assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
        }
    }
    assert!(secret_jwt.is_some());
    target.clients.remove(&grantcheck::case::Role::KeyJwt);
    let none = runner::run_cases(&target, &jwt_cases, &settings, &http, |_| {}).await;
    for r in &none {
        assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
        assert!(r.detail.contains("--client-auth"), "{}", r.detail);
    }
}

/// A JWT client whose key the server does not know is found out by the preflight: its cases
/// skip with what to check, instead of blocking (or passing refusals for the wrong reason).
#[tokio::test]
async fn a_jwt_client_with_a_key_the_server_does_not_know_is_unusable() {
    use grantcheck::case::Role;
    use grantcheck::jose::{Alg, SigningKey};
    use grantcheck::preflight::Status;
    use grantcheck::target::ClientCredentials;
    let server = server::start(ServerConfig::default()).await;
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &TlsTrust::default()).unwrap();
    let mut target = grantcheck::target::embedded(&server, &http).await;
    let stranger = SigningKey::generate(Alg::Es256).unwrap();
    target.clients.insert(
        Role::KeyJwt,
        ClientCredentials::with_key("jwtClient", stranger),
    );
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let finding = |method: &str| {
        preflight
            .findings
            .iter()
            .find(|f| f.message.contains(method))
            .unwrap_or_else(|| panic!("no finding for {method}: {preflight:#?}"))
    };
    let key = finding("private_key_jwt");
    assert_eq!(key.status, Status::Unusable);
    // A refused default audience is a configuration to try, not a verdict (RFC 7523 §3
    // item 3: the audience strings are "configured out of band"): the issuer was tried too.
    assert!(
        key.message.contains("401")
            && key.message.contains("--client-key")
            && key.message.contains("then the issuer: both were refused"),
        "{}",
        key.message
    );
    assert_eq!(finding("client_secret_jwt").status, Status::Ok);
    let jwt_cases: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.area == "client_auth_jwt")
        .collect();
    for r in runner::run_cases(&target, &jwt_cases, &settings, &http, |_| {}).await {
        if r.id.starts_with("JWTAUTH-1") {
            assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
        } else {
            assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
            assert!(r.detail.contains("--client-key"), "{}", r.detail);
        }
    }
}

/// Mutual TLS with JWT access tokens (the other runs above issue opaque ones over HTTPS): every
/// MTLS case passes, MTLS-008 included, and `mtls-omit-cnf` warns both binding cases.
#[tokio::test]
async fn mtls_cases_pass_with_jwt_access_tokens_and_omit_cnf_warns_both() {
    let mtls: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.area == "mtls")
        .collect();
    assert_eq!(mtls.len(), 14);
    let jwt = || {
        with_tls(ServerConfig {
            token_format: TokenFormat::Jwt,
            ..ServerConfig::default()
        })
    };
    let results = conform(jwt(), "rfc6749", &mtls).await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Pass, "{}: {}", r.id, r.detail);
    }
    let results = conform(jwt().with_fault(Fault::MtlsOmitCnf), "rfc6749", &mtls).await;
    assert_eq!(ids(&results, Outcome::Warn), set(&["MTLS-007", "MTLS-008"]));
    assert!(ids(&results, Outcome::Fail).is_empty());
}

/// A server that takes only its issuer as an assertion's audience (legal: RFC 7523 §3 item 3)
/// is found out by the preflight, which tells the user and makes the cases use the issuer;
/// an audience the user chose is kept, and the client is then unusable with what to check.
#[tokio::test]
async fn the_preflight_tries_the_issuer_as_audience_unless_one_was_chosen() {
    use grantcheck::case::Role;
    use grantcheck::preflight::Status;
    use grantcheck::target::AssertionAudience;
    let config = || ServerConfig::default().with_variant(Variant::AssertionAudienceIssuerOnly);
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &TlsTrust::default()).unwrap();
    let server = server::start(config()).await;
    let mut target = grantcheck::target::embedded(&server, &http).await;
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    let key = preflight
        .findings
        .iter()
        .find(|f| f.subject.contains("jwtClient"))
        .unwrap();
    assert_eq!(key.status, Status::Adjusted, "{}", key.message);
    assert!(key.message.contains("the issuer"), "{}", key.message);
    assert_eq!(target.assertion_audience, AssertionAudience::Issuer);
    assert!(!target
        .baseline
        .unusable_clients
        .contains_key(&Role::SecretJwt));

    let mut chosen = grantcheck::target::embedded(&server, &http).await;
    chosen.assertion_audience_given = true;
    grantcheck::preflight::run(&mut chosen, &settings, &http).await;
    assert_eq!(chosen.assertion_audience, AssertionAudience::TokenEndpoint);
    let why = &chosen.baseline.unusable_clients[&Role::KeyJwt];
    assert!(why.contains("--client-assertion-aud issuer"), "{why}");
}

/// RFC 9068 is judged only when claimed: the same JWT typed `JWT` fails JWTAT-001 on a target
/// that says it implements RFC 9068, and is recorded (a pass with what was seen) otherwise.
#[tokio::test]
async fn rfc9068_cases_are_judged_only_when_the_target_claims_it() {
    let jwtat: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.id == "JWTAT-001")
        .collect();
    let config = ServerConfig {
        token_format: TokenFormat::Jwt,
        ..ServerConfig::default().with_fault(Fault::AccessTokenTypJwt)
    };
    let server = server::start(config).await;
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &TlsTrust::default()).unwrap();
    let mut target = grantcheck::target::embedded(&server, &http).await;
    assert!(target.rfc9068, "the embedded JWT server claims RFC 9068");
    grantcheck::preflight::run(&mut target, &settings, &http).await;
    let claimed = &runner::run_cases(&target, &jwtat, &settings, &http, |_| {}).await[0];
    assert_eq!(claimed.outcome, Outcome::Fail, "{}", claimed.detail);
    target.rfc9068 = false;
    let unclaimed = &runner::run_cases(&target, &jwtat, &settings, &http, |_| {}).await[0];
    assert_eq!(unclaimed.outcome, Outcome::Pass);
    assert!(
        unclaimed.detail.starts_with("observed:") && unclaimed.detail.contains("typ"),
        "{}",
        unclaimed.detail
    );
}

/// MTLS-001 and MTLS-005 (the mutual-TLS clients get a token) are the premise of the other
/// mutual-TLS cases, whose setup steps send the same request, and of the preflight, which
/// takes a client-authentication refusal for a certificate or client id the server does not
/// know (the client is unusable, its cases skip). So no fault mode fails them alone. They
/// fail when the server authenticates the clients but issues them no token (here: registered
/// without the client credentials grant), and the cases built on them block.
#[tokio::test]
async fn mtls_token_cases_fail_when_the_server_issues_no_token_to_a_mutual_tls_client() {
    let mut clients = include_str!("../../fixtures/clients.toml").to_owned();
    for id in ["mtlsClient", "selfSignedMtlsClient"] {
        let line = format!("id = \"{id}\"\n");
        assert!(clients.contains(&line), "{id} is not in the fixtures");
        clients = clients.replace(
            &line,
            &format!("{line}grant_types = [\"authorization_code\"]\n"),
        );
    }
    let config = with_tls(ServerConfig {
        clients: reference_server::ClientRegistry::from_toml(&clients, "test").unwrap(),
        ..ServerConfig::default()
    });
    let mtls: Vec<Case> = cases(true)
        .into_iter()
        .filter(|c| c.area == "mtls")
        .collect();
    let results = conform(config, "rfc6749", &mtls).await;
    assert_eq!(ids(&results, Outcome::Fail), set(&["MTLS-001", "MTLS-005"]));
    assert!(ids(&results, Outcome::Warn).is_empty());
    assert!(ids(&results, Outcome::Error).is_empty());
    let blocked = ids(&results, Outcome::Blocked);
    assert_eq!(
        blocked,
        set(&[
            "MTLS-002", "MTLS-003", "MTLS-004", "MTLS-006", "MTLS-007", "MTLS-008", "MTLS-009",
            "MTLS-010", "MTLS-013", "MTLS-014"
        ]),
        "{results:#?}"
    );
}
