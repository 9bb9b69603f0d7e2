//! The FAPI 2.0 profile (`--profile fapi2`, scenarios/fapi2): the reference server in FAPI
//! mode passes every case (embedded, and `serve`d with a secretless main client); the plain
//! reference server fails exactly the FAPI rules it does not keep; and each FAPI-only fault
//! fails its case alone.

use std::collections::BTreeMap;
use std::path::Path;

use reference_server::{Fault, ServerConfig, Variant, ROOT_REALM};

use crate::common::cli::{run, run_async, temp_dir};
use crate::common::server;

fn key() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys/client-es256.jwk.json")
        .display()
        .to_string()
}

/// Each case's outcome in a run's `results.json`.
fn outcomes(reports: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(reports.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The FAPI cases of `--profile fapi2` against the reference server started with `config`,
/// as an external target, with `client` flags for the main client.
async fn fapi_run(config: ServerConfig, client: &[&str]) -> BTreeMap<String, String> {
    let server = server::start(config).await;
    let reports = temp_dir("fapi2");
    let mut args: Vec<String> = [
        "conform",
        "--target",
        &server.issuer(ROOT_REALM),
        "--profile",
        "fapi2",
        "--only",
        "fapi2",
        "--dpop",
        "ES256",
        "--snapshots",
        "off",
        "--report-dir",
        reports.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(client.iter().map(|s| (*s).to_owned()));
    let output = run_async(args).await;
    assert!(
        matches!(output.status.code(), Some(0 | 4)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    outcomes(&reports)
}

/// Every FAPI case but those named passes (`skip` for FAPI-001 without a secret).
fn expect(got: &BTreeMap<String, String>, others: &[(&str, &str)]) {
    for (id, outcome) in got {
        let wanted = others
            .iter()
            .find(|(i, _)| i == id)
            .map_or("pass", |(_, o)| *o);
        assert_eq!(outcome, wanted, "{id}: {got:?}");
    }
    assert_eq!(got.len(), 8, "{got:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fapi_server_passes_and_the_plain_one_fails_exactly_the_fapi_rules_it_breaks() {
    let key = key();
    let secretless = [
        "--client-id",
        "jwtClient",
        "--client-auth",
        "private_key_jwt",
        "--client-key",
        &key,
    ];
    let fapi = || ServerConfig {
        fapi2: true,
        ..ServerConfig::default()
    };
    // FAPI-001 has no secret to try.
    let got = fapi_run(fapi(), &secretless).await;
    expect(&got, &[("FAPI-001", "skip")]);
    // The profile lets the server do without DPoP nonces (§5.3.2.1 item 10: "may").
    let got = fapi_run(fapi().with_variant(Variant::Fapi2NoDpopNonce), &secretless).await;
    expect(&got, &[("FAPI-001", "skip")]);

    // The plain server: the main client's secret works, the JWT client is another client.
    let plain = [
        "--client-id",
        "myClient",
        "--client-secret",
        "forgerock",
        "--jwt-client-id",
        "jwtClient",
        "--client-auth",
        "private_key_jwt",
        "--client-key",
        &key,
    ];
    let got = fapi_run(ServerConfig::default(), &plain).await;
    expect(
        &got,
        &[
            ("FAPI-001", "fail"),
            ("FAPI-002", "warn"),
            ("FAPI-003", "fail"),
            ("FAPI-004", "fail"),
            ("FAPI-005", "fail"),
            ("FAPI-006", "fail"),
        ],
    );

    // A FAPI server that takes secrets anyway fails FAPI-001 alone: the main client's secret
    // works there (with the proof its binding needs), the JWT client is another client.
    let got = fapi_run(fapi().with_fault(Fault::Fapi2AcceptSecrets), &plain).await;
    expect(&got, &[("FAPI-001", "fail")]);

    // Each other FAPI-mode fault fails its case alone.
    for (fault, case) in [
        (Fault::Fapi2TokenEndpointAud, "FAPI-004"),
        (Fault::Fapi2AudArray, "FAPI-005"),
        (Fault::AssertionNoClockSkew, "FAPI-007"),
        (Fault::AssertionClockSkew120, "FAPI-008"),
    ] {
        let got = fapi_run(fapi().with_fault(fault), &secretless).await;
        expect(&got, &[("FAPI-001", "skip"), (case, "fail")]);
    }
}

/// `conform --profile fapi2` against the embedded server runs it as a FAPI 2.0 server with
/// its secretless clients: no failure in the whole run.
#[test]
fn the_embedded_fapi_run_has_no_failure() {
    let reports = temp_dir("fapi2-embedded");
    let output = run(&[
        "conform",
        "--profile",
        "fapi2",
        "--snapshots",
        "off",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let got = outcomes(&reports);
    let bad: Vec<_> = got
        .iter()
        .filter(|(_, o)| !matches!(o.as_str(), "pass" | "skip"))
        .collect();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(
        got.keys().filter(|id| id.starts_with("FAPI-")).count(),
        8,
        "the profile's own cases run"
    );
    assert!(stderr.contains("it is DPoP-bound"), "{stderr}");
}
