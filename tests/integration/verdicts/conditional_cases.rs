//! Cases judged only where their premise holds: DPOP-034/035 where the resource gives nonces,
//! `Pragma` required by rfc6749 and only recorded under oauth21, and RFC 9068 where the target
//! claims it.

use grantcheck::case::Case;
use grantcheck::http::TlsTrust;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use reference_server::{Fault, ServerConfig, TokenFormat, Variant};

use crate::common::server;

use super::{cases, conform};

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
