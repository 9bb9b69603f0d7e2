//! DPoP (RFC 9449) beyond the verdict table: the JWT binding fault in a JWT run, every key
//! algorithm `--dpop` takes, and targets without a DPoP key (every case skipped, with the
//! reason) or without a client registered with dpop_bound_access_tokens.

use std::collections::BTreeMap;

use grantcheck::case::{Case, Role};
use grantcheck::http::TlsTrust;
use grantcheck::jose::Alg;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use grantcheck::target::{DpopKey, Target};
use reference_server::{Fault, ServerConfig, TokenFormat};

use crate::common::server;

fn dpop_cases() -> Vec<Case> {
    grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| c.area == "dpop")
        .collect()
}

/// Runs the DPoP cases against the reference server with `config`, after `adjust` changes
/// the target (its key, its clients).
async fn run(config: ServerConfig, adjust: impl FnOnce(&mut Target)) -> Vec<CaseResult> {
    let server = server::start(config).await;
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &TlsTrust::default()).unwrap();
    let mut target = grantcheck::target::embedded(&server, &http).await;
    adjust(&mut target);
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let cases = dpop_cases();
    // A stale build could compile in an older scenarios/ folder (include_dir): say so.
    assert_eq!(cases.len(), 25, "the DPoP cases compiled in");
    let results = runner::run_cases(&target, &cases, &settings, &http, |_| {}).await;
    server.shutdown().await;
    results
}

fn outcomes(results: &[CaseResult]) -> BTreeMap<String, (Outcome, String)> {
    results
        .iter()
        .map(|r| (r.id.clone(), (r.outcome, r.detail.clone())))
        .collect()
}

#[tokio::test]
async fn omitting_cnf_fails_the_jwt_case_too_in_a_jwt_run() {
    let config = ServerConfig {
        token_format: TokenFormat::Jwt,
        ..ServerConfig::default()
    }
    .with_fault(Fault::DpopOmitCnf);
    let results = outcomes(&run(config, |_| {}).await);
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, (o, _))| *o != Outcome::Pass)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed, ["DPOP-002", "DPOP-003"], "{results:#?}");
}

/// RS256, PS256 and EdDSA keys pass like the default ES256 one; a generated RSA key's
/// private members are not kept, so the case about a private key in the proof skips.
#[tokio::test]
async fn every_key_algorithm_passes_the_reference_server() {
    for alg in [Alg::Rs256, Alg::Ps256, Alg::EdDsa] {
        let results = run(ServerConfig::default(), |t| {
            t.dpop = Some(DpopKey::generate(alg).unwrap());
        })
        .await;
        for r in &results {
            let rsa_private = r.id == "DPOP-007" && alg != Alg::EdDsa;
            let expected = if r.id == "DPOP-003" || rsa_private {
                Outcome::Skip
            } else {
                Outcome::Pass
            };
            assert_eq!(r.outcome, expected, "{alg} {}: {}", r.id, r.detail);
        }
    }
    assert!(DpopKey::generate(Alg::Hs256).is_err());
}

#[tokio::test]
async fn without_a_dpop_key_every_case_skips_and_says_how_to_test_it() {
    let results = run(ServerConfig::default(), |t| {
        t.dpop = None;
        t.clients.remove(&Role::DpopBound);
    })
    .await;
    for r in &results {
        assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
        assert!(r.detail.contains("--dpop ES256"), "{}: {}", r.id, r.detail);
        assert!(r.exchanges.is_empty(), "{}", r.id);
    }
}

#[tokio::test]
async fn without_a_bound_client_only_its_cases_skip() {
    let results = outcomes(
        &run(ServerConfig::default(), |t| {
            t.clients.remove(&Role::DpopBound);
        })
        .await,
    );
    for (id, (outcome, detail)) in &results {
        let expected = match id.as_str() {
            "DPOP-016" | "DPOP-017" | "DPOP-003" => Outcome::Skip,
            _ => Outcome::Pass,
        };
        assert_eq!(*outcome, expected, "{id}: {detail}");
        if matches!(id.as_str(), "DPOP-016" | "DPOP-017") {
            assert!(detail.contains("dpop_bound"), "{id}: {detail}");
        }
    }
}
