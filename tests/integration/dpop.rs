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

/// The DPoP cases but those about a resource's own nonce (RFC 9449 §9), which skip on a
/// resource without one and are judged in `verdicts::resource_nonces_are_judged_where_the_resource_gives_them`.
fn dpop_cases() -> Vec<Case> {
    grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| c.area == "dpop" && !c.tags.iter().any(|t| t == "resource_nonce"))
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
    assert_eq!(cases.len(), 33, "the DPoP cases compiled in");
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

/// A wrong `cnf.jkt` fails the JWT case too in a JWT run; a missing one fails nothing
/// (RFC 9449 §6 allows other ways to convey the binding) and is recorded by the INFO cases.
#[tokio::test]
async fn a_wrong_cnf_fails_in_jwts_too_and_a_missing_one_is_recorded() {
    let jwt = || ServerConfig {
        token_format: TokenFormat::Jwt,
        ..ServerConfig::default()
    };
    let results = outcomes(&run(jwt().with_fault(Fault::DpopJktHex), |_| {}).await);
    let failed: Vec<&String> = results
        .iter()
        .filter(|(_, (o, _))| *o != Outcome::Pass)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed, ["DPOP-002", "DPOP-003"], "{results:#?}");
    let results = outcomes(&run(jwt().with_fault(Fault::DpopOmitCnf), |_| {}).await);
    for (id, (outcome, detail)) in &results {
        // No cnf.jkt in the JWT: no thumbprint for DPOP-003 to judge.
        let expected = if id == "DPOP-003" {
            Outcome::Skip
        } else {
            Outcome::Pass
        };
        assert_eq!(*outcome, expected, "{id}: {detail}");
        if matches!(id.as_str(), "DPOP-028" | "DPOP-029") {
            assert!(
                detail.contains("observed: ") && detail.contains("no cnf.jkt"),
                "{id}: {detail}"
            );
        }
    }
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
            let opaque_only = matches!(r.id.as_str(), "DPOP-003" | "DPOP-029");
            let expected = if opaque_only || rsa_private {
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
        assert!(
            r.detail.contains("advertises DPoP") && r.detail.contains("pass --dpop ALG"),
            "{}: {}",
            r.id,
            r.detail
        );
        assert!(r.exchanges.is_empty(), "{}", r.id);
    }
}

/// With a key, the cases still skip on a target whose metadata does not advertise DPoP, or
/// does not list the key's algorithm; a target without metadata is taken at its word.
#[tokio::test]
async fn with_a_key_the_metadata_decides_whether_the_target_takes_dpop() {
    /// A change to the target, and the reason the cases then skip (`None`: they run).
    type Variant = (fn(&mut Target), Option<&'static str>);
    let cases: [Variant; 3] = [
        (|t| t.dpop_algs = None, Some("does not advertise DPoP")),
        (
            |t| {
                t.dpop = Some(DpopKey::generate(Alg::EdDsa).unwrap());
                t.dpop_algs = Some(vec!["ES256".into(), "PS256".into()]);
            },
            Some("(ES256, PS256) does not list EdDSA"),
        ),
        (
            |t| {
                t.dpop_algs = None;
                t.metadata_url = None;
            },
            None,
        ),
    ];
    for (adjust, skip) in cases {
        let results = run(ServerConfig::default(), adjust).await;
        for r in &results {
            match skip {
                Some(why) => {
                    assert_eq!(r.outcome, Outcome::Skip, "{}", r.id);
                    assert!(r.detail.contains(why), "{}: {}", r.id, r.detail);
                }
                // Without metadata the metadata cases skip; the others run and pass.
                None => {
                    let skips = ["DPOP-003", "DPOP-024", "DPOP-025", "DPOP-029"];
                    let expected = if skips.contains(&r.id.as_str()) {
                        Outcome::Skip
                    } else {
                        Outcome::Pass
                    };
                    assert_eq!(r.outcome, expected, "{}: {}", r.id, r.detail);
                }
            }
        }
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
            "DPOP-016" | "DPOP-017" | "DPOP-027" | "DPOP-003" | "DPOP-029" => Outcome::Skip,
            _ => Outcome::Pass,
        };
        assert_eq!(*outcome, expected, "{id}: {detail}");
        if matches!(id.as_str(), "DPOP-016" | "DPOP-017" | "DPOP-027") {
            assert!(detail.contains("dpop_bound"), "{id}: {detail}");
        }
    }
}

/// Proofs and bound tokens never reach a report or a snapshot: the DPoP cases' results and
/// snapshots (both token formats) hold no compact JWS (`eyJ…`), no token, no secret.
#[tokio::test]
async fn reports_and_snapshots_hold_no_proof_token_or_secret() {
    for format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let config = ServerConfig {
            token_format: format,
            ..ServerConfig::default()
        };
        let server = server::start(config).await;
        let target = Target::reference(&server);
        let settings = Settings::default();
        let http = runner::http_client(settings.request_timeout);
        let results = runner::run_cases(&target, &dpop_cases(), &settings, &http, |_| {}).await;
        assert_eq!(results.len(), 33);
        let dir = crate::common::cli::temp_dir(&format!("dpop-leaks-{format:?}"));
        grantcheck::snapshot::apply(
            grantcheck::snapshot::Mode::Update,
            &dir,
            &target,
            &results,
            true,
        )
        .unwrap();
        let mut all = serde_json::to_string(&results).unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            all.push_str(&std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
        assert!(all.contains("\"dpop\"") && all.contains("dpop: <redacted>"));
        assert!(
            !all.contains("eyJ"),
            "{format:?}: a JWS is in a report or snapshot"
        );
        for token in server.issued_tokens() {
            assert!(!all.contains(token.as_str()), "{format:?}: a token leaked");
        }
        for secret in ["forgerock", "dpop-secret", "rs-secret"] {
            assert!(!all.contains(secret), "{format:?}: {secret} leaked");
        }
        server.shutdown().await;
    }
}

/// A server that echoes the proof in its error answer: the report shows `<redacted>` there
/// too (the runner treats each proof it sends as a secret).
#[tokio::test]
async fn a_proof_echoed_by_the_server_is_redacted() {
    use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

    struct Echo;
    impl Respond for Echo {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let proof = request
                .headers
                .get("dpop")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("none");
            ResponseTemplate::new(400).set_body_json(serde_json::json!({
                "error": "invalid_dpop_proof",
                "error_description": format!("bad proof {proof}"),
            }))
        }
    }
    let mock = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST"))
        .respond_with(Echo)
        .mount(&mock)
        .await;
    let mut clients = BTreeMap::new();
    clients.insert(
        Role::Main,
        grantcheck::target::ClientCredentials::new("client-a", "secret-a"),
    );
    let mut target = Target::external("mock", format!("{}/token", mock.uri()), clients);
    target.dpop = Some(DpopKey::generate(Alg::Es256).unwrap());
    let cases: Vec<Case> = dpop_cases()
        .into_iter()
        .filter(|c| c.id == "DPOP-004" || c.id == "DPOP-015")
        .collect();
    let settings = Settings::default();
    let http = runner::http_client(settings.request_timeout);
    let results = runner::run_cases(&target, &cases, &settings, &http, |_| {}).await;
    let json = serde_json::to_string(&results).unwrap();
    assert!(json.contains("bad proof <redacted>"), "{json}");
    assert!(!json.contains("eyJ"), "{json}");
    // The mock refuses every proof, so both cases pass: a refusal is what they want.
    assert!(results.iter().all(|r| r.outcome == Outcome::Pass), "{json}");
}
