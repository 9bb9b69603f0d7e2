//! Interop: the whole suite against a real third-party server, node-oidc-provider
//! (../shared/peers/oidc-provider, started by .ci/run). Its verdict table is kept as an insta
//! snapshot, and every case's exchanges are checked against `snapshots/oidc-provider/`
//! (refresh them with `grantcheck conform --target oidc-provider --snapshots update`), so any
//! change in the suite's verdicts or in the server's behaviour shows up in review.
//!
//! Run: `../shared/peers/oidc-provider/start.sh && cargo test --test integration interop -- --ignored`

use std::collections::BTreeMap;
use std::path::Path;

use grantcheck::case::Role;
use grantcheck::runner::{self, Outcome, Settings};
use grantcheck::snapshot;
use grantcheck::target::{self, ClientCredentials, EndpointOverrides};

use crate::common::cli::{grantcheck, temp_dir};

#[tokio::test]
#[ignore = "needs node-oidc-provider on 127.0.0.1:18081 (.ci/run starts it)"]
async fn verdicts_against_node_oidc_provider() {
    let issuer = std::env::var("GRANTCHECK_OIDC_PROVIDER_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:18081".into());
    let settings = Settings::default();
    let http = runner::http_client(settings.request_timeout);
    let mut clients = BTreeMap::new();
    clients.insert(Role::Main, ClientCredentials::new("myClient", "forgerock"));
    clients.insert(
        Role::Introspector,
        ClientCredentials::new("rs-client", "rs-secret"),
    );
    clients.insert(
        Role::Second,
        ClientCredentials::new("rs-client", "rs-secret"),
    );
    let scopes = vec!["write".to_owned(), "read".to_owned()];
    let mut target = target::discover(&http, &grantcheck::settings::Settings::default(), Some(&issuer), EndpointOverrides::default(), clients, scopes, None)
        .await
        .expect("node-oidc-provider answers discovery; start it with ../shared/peers/oidc-provider/start.sh");
    target.label = "oidc-provider".into();
    // DPoP is on in node-oidc-provider 9.x (grantcheck.toml's target says dpop = "ES256").
    target.dpop = Some(target::DpopKey::generate(grantcheck::jose::Alg::Es256).unwrap());
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let cases = grantcheck::case::builtin().unwrap();
    let results = runner::run_cases(&target, &cases, &settings, &http, |_| {}).await;
    let errors: Vec<String> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Error | Outcome::Blocked))
        .map(|r| format!("{}: {}", r.id, r.detail))
        .collect();
    assert!(
        errors.is_empty(),
        "transport errors against the peer: {errors:#?}"
    );
    let mut table = String::new();
    let mut sorted: Vec<_> = results.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    for r in sorted {
        table.push_str(&format!(
            "{:<12} {:<6} {}\n",
            r.id,
            r.level.as_str(),
            r.outcome.as_str()
        ));
    }
    insta::assert_snapshot!("oidc_provider_verdicts", table);

    let dir = snapshot::target_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"),
        &target,
    );
    let outcome = snapshot::apply(snapshot::Mode::Check, &dir, &target, &results, true).unwrap();
    let diffs: Vec<String> = outcome
        .new
        .iter()
        .map(|id| format!("{id}: new"))
        .chain(
            outcome
                .diffs
                .iter()
                .map(|(id, diff)| format!("{id}: {diff}")),
        )
        .collect();
    assert!(
        outcome.drifted.is_empty() && outcome.new.is_empty(),
        "snapshot drift against node-oidc-provider:\n{}",
        diffs.join("\n")
    );
    assert_eq!(outcome.matched, results.len());
}

/// A mistyped secret against a real server ends in the preflight: exit 3, what came back,
/// what to check, in under a second, and no case judged.
#[test]
#[ignore = "needs node-oidc-provider on 127.0.0.1:18081 (.ci/run starts it)"]
fn a_wrong_client_secret_ends_in_the_preflight() {
    let issuer = std::env::var("GRANTCHECK_OIDC_PROVIDER_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:18081".into());
    let started = std::time::Instant::now();
    let output = grantcheck()
        .args(["conform", "--target", &issuer, "--client-id", "myClient"])
        .args(["--color", "never", "--snapshots", "off", "--report-dir"])
        .arg(temp_dir("interop"))
        .env("GRANTCHECK_CLIENT_SECRET", "forgerocks")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        // Followed by the server's error_description, when it gives one.
        stderr.contains("myClient got 401 invalid_client ")
            && stderr.contains("check --client-id/--client-secret (or GRANTCHECK_CLIENT_SECRET)"),
        "{stderr}"
    );
    assert!(!stderr.contains("forgerocks"), "{stderr}");
    assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
}
