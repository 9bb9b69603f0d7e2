//! The fault matrix: each fault mode, with opaque and with JWT access tokens, fails exactly the
//! cases `expected()` names, blocks and skips none beyond its premise; and every MUST case is
//! shown failing by a fault mode or a named test.

use std::collections::BTreeSet;

use grantcheck::runner::{CaseResult, Outcome};
use reference_server::{Fault, ServerConfig, TokenFormat};

use super::{cases, conform, expected, ids, set, with_tls};

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
