//! Interop beyond shared secrets: JWT client authentication (RFC 7523: private_key_jwt and
//! client_secret_jwt) and DPoP-bound clients (RFC 9449) against node-oidc-provider started
//! with EXTRA=1 on its own port (../shared/peers/oidc-provider; .ci/run starts it). The
//! verdict table of the three runs is kept as an insta snapshot.
//!
//! Run: `EXTRA=1 PORT=18085 ../shared/peers/oidc-provider/start.sh &&
//!       cargo test --test integration interop_oidc_provider_extra -- --ignored`

use std::path::Path;

use crate::common::cli::{grantcheck_in, temp_dir};

/// The peer's folder: `$GRANTCHECK_PEER_DIR` (.ci/run sets it), else `../shared/peers/...`
/// beside the repository, else `/work/shared/peers/...`.
fn peer_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("GRANTCHECK_PEER_DIR") {
        return dir.into();
    }
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/peers/oidc-provider");
    if beside.is_dir() {
        beside
    } else {
        "/work/shared/peers/oidc-provider".into()
    }
}

/// One `conform` run against the peer through `grantcheck.toml`; its verdicts as table rows.
fn run(label: &str, args: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reports = temp_dir(&format!("interop-extra-{label}"));
    // grantcheck.toml names the key beside the repository; a clone elsewhere (CI) passes it.
    let mut command = grantcheck_in(root);
    command.arg("conform").args(args);
    if args.contains(&"oidc-provider-jwt") {
        command
            .arg("--client-key")
            .arg(peer_dir().join("keys/jwtClient.private.jwk.json"));
    }
    let output = command
        .args(["--snapshots", "off", "--color", "never", "--report-dir"])
        .arg(&reports)
        .env("OIDC_PROVIDER_CLIENT_SECRET", "forgerock")
        .env("OIDC_PROVIDER_RS_SECRET", "rs-secret")
        .env(
            "OIDC_PROVIDER_HMAC_SECRET",
            "hmac-secret-0123456789abcdef0123456789abcdef",
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 0: every MUST met; 4: a MUST failed. Anything else is a setup problem, not a verdict.
    assert!(
        matches!(output.status.code(), Some(0 | 4)),
        "{label}: exit {:?}; start the peer with EXTRA=1 PORT=18085 ../shared/peers/oidc-provider/start.sh\n{stderr}",
        output.status.code()
    );
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(reports.join("results.json")).unwrap())
            .unwrap();
    let mut rows: Vec<String> = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let outcome = c["outcome"].as_str().unwrap_or_default();
            assert!(
                !matches!(outcome, "error" | "blocked"),
                "{label}: {} {outcome}: {}",
                c["id"],
                c["detail"]
            );
            format!(
                "{label:<5} {:<12} {:<6} {}",
                c["id"].as_str().unwrap_or_default(),
                c["level"].as_str().unwrap_or_default(),
                outcome
            )
        })
        .collect();
    rows.sort();
    assert!(!rows.is_empty(), "{label}: no case ran");
    rows.join("\n") + "\n"
}

#[test]
#[ignore = "needs node-oidc-provider with EXTRA=1 on 127.0.0.1:18085 (.ci/run starts it)"]
fn jwt_client_auth_and_dpop_against_node_oidc_provider() {
    let mut table = String::new();
    table += &run(
        "jwt",
        &[
            "--target",
            "oidc-provider-jwt",
            "--only",
            "JWTAUTH-0*,META-011",
        ],
    );
    table += &run(
        "hmac",
        &["--target", "oidc-provider-hmac", "--only", "JWTAUTH-1*"],
    );
    table += &run(
        "dpop",
        &[
            "--target",
            "oidc-provider-jwt",
            "--only",
            "dpop",
            "--dpop",
            "ES256",
            "--dpop-client-id",
            "dpopClient",
            "--dpop-client-secret",
            "dpop-secret",
        ],
    );
    insta::assert_snapshot!("oidc_provider_extra_verdicts", table);
}
