//! Issue 23: a main client without a secret (private_key_jwt, mutual TLS) or with tokens
//! bound to DPoP runs every case that applies against the reference server, with no
//! failure; the cases about secrets skip saying why; and a DPoP-bound client tested without
//! a DPoP key is told what to pass.

use std::path::Path;

use reference_server::ServerConfig;

use crate::common::cli::{run, run_async, temp_dir};
use crate::common::server;

/// `conform` against the embedded server with `args`; the exit code and `results.json`.
fn embedded(args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let reports = temp_dir("secretless");
    let reports_arg = reports.to_str().unwrap();
    let mut all = vec!["conform", "--snapshots", "off", "--report-dir", reports_arg];
    all.extend_from_slice(args);
    let output = run(&all);
    let text = std::fs::read_to_string(reports.join("results.json")).unwrap_or_else(|e| {
        panic!(
            "{args:?}: no results.json ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), serde_json::from_str(&text).unwrap())
}

fn outcomes(results: &serde_json::Value, outcome: &str) -> Vec<String> {
    results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == outcome)
        .map(|c| format!("{}: {}", c["id"], c["detail"]))
        .collect()
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn secretless_and_dpop_bound_main_clients_pass_the_reference_server() {
    let key = fixture("client-es256.jwk.json");
    let runs: [(&str, Vec<&str>); 3] = [
        (
            "private_key_jwt",
            vec![
                "--client-id",
                "jwtClient",
                "--client-auth",
                "private_key_jwt",
                "--client-key",
                &key,
            ],
        ),
        (
            "DPoP-bound",
            vec![
                "--client-id",
                "dpopClient",
                "--client-secret",
                "dpop-secret",
            ],
        ),
        (
            "tls_client_auth",
            vec![
                "--embedded-tls",
                "--client-id",
                "mtlsClient",
                "--client-auth",
                "tls_client_auth",
            ],
        ),
    ];
    for (label, args) in runs {
        let (code, results) = embedded(&args);
        let bad: Vec<String> = ["fail", "warn", "error", "blocked"]
            .iter()
            .flat_map(|o| outcomes(&results, o))
            .collect();
        assert!(bad.is_empty(), "{label}: {bad:#?}");
        assert_eq!(code, Some(0), "{label}");
        let skipped = outcomes(&results, "skip");
        // The secret cases skip for want of a secret, not for anything else.
        let auth_010 = skipped.iter().find(|s| s.starts_with("\"AUTH-010\""));
        match label {
            "DPoP-bound" => {
                assert!(auth_010.is_none(), "{label}: {skipped:#?}");
                let preflight = results["preflight"]["findings"].to_string();
                assert!(preflight.contains("it is DPoP-bound"), "{preflight}");
                // RFC 6750 cases skip for its bound tokens; they do not fail.
                assert!(
                    skipped
                        .iter()
                        .any(|s| s.starts_with("\"RS-001\"") && s.contains("DPoP-bound")),
                    "{skipped:#?}"
                );
            }
            _ => assert!(
                auth_010.is_some_and(|s| s.contains("has no secret")),
                "{label}: {skipped:#?}"
            ),
        }
    }
}

/// The preflight's diagnosis: a client registered with dpop_bound_access_tokens, tested with
/// no DPoP key, ends in the preflight with the server's words and the flag to pass.
#[tokio::test(flavor = "multi_thread")]
async fn a_dpop_bound_client_without_a_dpop_key_is_told_to_pass_dpop() {
    let server = server::start(ServerConfig::default()).await;
    let issuer = server.issuer(reference_server::ROOT_REALM);
    let reports = temp_dir("secretless-no-dpop");
    let args: Vec<String> = [
        "conform",
        "--target",
        &issuer,
        "--client-id",
        "dpopClient",
        "--client-secret",
        "dpop-secret",
        "--snapshots",
        "off",
        "--report-dir",
        reports.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    let output = run_async(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("may need DPoP proofs"), "{stderr}");
    assert!(stderr.contains("pass --dpop ES256"), "{stderr}");
    assert!(
        stderr.contains("this client must send a DPoP proof"),
        "the server's error_description is quoted: {stderr}"
    );
}
