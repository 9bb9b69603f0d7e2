//! The suite's verdicts against the reference server: every case passes it as it is, and
//! each fault mode makes exactly the cases fail (or warn) that check the broken rule. This
//! file holds the run helpers, `expected()` (per fault mode, the cases it fails and warns), and
//! `mtls_token_cases_fail_when_the_server_issues_no_token_to_a_mutual_tls_client`, which
//! `DEMONSTRATED_ELSEWHERE` names (that check reads the files directly under
//! `tests/integration/`). The tests by subject:
//!
//! - `fault_matrix`: every fault mode, opaque and JWT, against `expected()`; every MUST case
//!   shown failing.
//! - `passing_runs`: the faultless server (both token formats, over HTTPS, fifty times over),
//!   each legal variant, a server that requires a scope, mutual TLS with JWT access tokens.
//! - `conditional_cases`: cases judged only where their premise holds: a resource's DPoP
//!   nonces, `Pragma` by profile, RFC 9068 when claimed.
//! - `jwt_clients`: the JWT client cases without a JWT client, with a key the server does not
//!   know, and the assertion audience the preflight finds.

mod conditional_cases;
mod fault_matrix;
mod jwt_clients;
mod passing_runs;

use std::collections::BTreeSet;

use grantcheck::case::Case;
use grantcheck::http::TlsTrust;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use reference_server::{Fault, ServerConfig, TlsIdentity};

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
