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
pub(crate) fn peer_dir() -> std::path::PathBuf {
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
    let mut command = grantcheck_in(root);
    command.arg("conform").args(args);
    verdict_rows(label, command, &reports)
}

/// The verdicts of one `conform` run as table rows; only a verdict (exit 0 or 4) without an
/// errored or blocked case is accepted.
pub(crate) fn verdict_rows(
    label: &str,
    mut command: std::process::Command,
    reports: &Path,
) -> String {
    let output = command
        .args(["--snapshots", "off", "--color", "never", "--report-dir"])
        .arg(reports)
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
        "{label}: exit {:?}; start the peer (EXTRA=1 PORT=18085, or FAPI=1: ../shared/peers/oidc-provider/start.sh)\n{stderr}",
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

/// A `grantcheck.toml` naming the peer's EXTRA=1 instance with its two JWT clients side by
/// side (`[[targets.X.clients]]`), the key path made absolute for a clone anywhere.
fn jwt_config() -> std::path::PathBuf {
    let dir = temp_dir("interop-extra-config");
    let key = peer_dir().join("keys/jwtClient.private.jwk.json");
    let text = format!(
        r#"
[targets.peer]
issuer = "http://127.0.0.1:18085"
client_id = "myClient"
client_secret_env = "OIDC_PROVIDER_CLIENT_SECRET"
introspect_client_id = "rs-client"
introspect_client_secret_env = "OIDC_PROVIDER_RS_SECRET"
scope = "write read"

[[targets.peer.clients]]
role = "key_jwt"
id = "jwtClient"
auth = "private_key_jwt"
key = "{}"

[[targets.peer.clients]]
role = "secret_jwt"
id = "hmacClient"
auth = "client_secret_jwt"
secret_env = "OIDC_PROVIDER_HMAC_SECRET"
"#,
        key.display()
    );
    let path = dir.join("grantcheck.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
#[ignore = "needs node-oidc-provider with EXTRA=1 on 127.0.0.1:18085 (.ci/run starts it)"]
fn jwt_client_auth_and_dpop_against_node_oidc_provider() {
    let config = jwt_config();
    let config = config.to_str().unwrap();
    let mut table = String::new();
    // One run, both JWT clients (issue 23): private_key_jwt and client_secret_jwt.
    table += &run(
        "jwt",
        &[
            "--config",
            config,
            "--target",
            "peer",
            "--only",
            "client_auth_jwt,META-011",
        ],
    );
    table += &run(
        "dpop",
        &[
            "--config",
            config,
            "--target",
            "peer",
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
