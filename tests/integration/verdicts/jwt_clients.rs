//! JWT client authentication's cases and the preflight: without a JWT client they skip with
//! the flag to give, with a key the server does not know the client is unusable, and the
//! issuer is tried as the assertion's audience unless one was chosen.

use grantcheck::case::Case;
use grantcheck::http::TlsTrust;
use grantcheck::runner::{self, Outcome, Settings};
use reference_server::{ServerConfig, Variant};

use crate::common::server;

use super::cases;

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
