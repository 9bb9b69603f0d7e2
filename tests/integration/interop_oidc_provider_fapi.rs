//! Interop with a server that has no client secrets at all (issue 23): node-oidc-provider
//! started with FAPI=1 (HTTPS on 127.0.0.1:18088; ../shared/peers/oidc-provider, NOTES.md),
//! tested once with a `private_key_jwt` main client whose tokens are DPoP-bound
//! (`fapiJwtClient`) and once with a `tls_client_auth` main client (`fapiMtlsClient`); the
//! introspection caller authenticates with `private_key_jwt` (`fapiRsClient`). The verdict
//! table of both runs is kept as an insta snapshot; README's "Testing a FAPI 2.0 server"
//! explains every failure and skip.
//!
//! Run: `FAPI=1 ../shared/peers/oidc-provider/start.sh &&
//!       cargo test --test integration interop_oidc_provider_fapi -- --ignored`

use std::path::Path;

use crate::common::cli::{grantcheck_in, temp_dir};
use crate::interop_oidc_provider_extra::{peer_dir, verdict_rows};

/// The flags both runs share: the peer's test-only server certificate to trust, the
/// introspection caller, the scopes, a DPoP key and the mutual-TLS certificate.
fn common_flags(keys: &Path) -> Vec<String> {
    let key = |name: &str| keys.join(name).display().to_string();
    [
        "--target",
        "https://127.0.0.1:18088",
        "--ca-cert",
        &key("fapi-server.pem"),
        "--introspect-client-id",
        "fapiRsClient",
        "--introspect-client-auth",
        "private_key_jwt",
        "--introspect-client-key",
        &key("fapiRsClient.private.jwk.json"),
        "--scope",
        "write read",
        "--dpop",
        "ES256",
        "--client-cert",
        &key("fapiMtlsClient.pem"),
        "--client-cert-key",
        &key("fapiMtlsClient.key"),
    ]
    .map(str::to_owned)
    .to_vec()
}

fn run(label: &str, main: &[String]) -> String {
    let keys = peer_dir().join("keys");
    let mut command = grantcheck_in(Path::new(env!("CARGO_MANIFEST_DIR")));
    command
        .arg("conform")
        .args(common_flags(&keys))
        .args(main)
        // No secret anywhere: not even one in the environment.
        .env_remove("GRANTCHECK_CLIENT_SECRET");
    verdict_rows(label, command, &temp_dir(&format!("interop-fapi-{label}")))
}

#[test]
#[ignore = "needs node-oidc-provider with FAPI=1 on 127.0.0.1:18088 (.ci/run starts it)"]
fn secretless_clients_against_node_oidc_provider_in_fapi_mode() {
    let keys = peer_dir().join("keys");
    let jwt_key = keys.join("fapiJwtClient.private.jwk.json");
    // The private_key_jwt main client (DPoP-bound there), the mTLS client beside it.
    let jwt_main: Vec<String> = vec![
        "--client-id".into(),
        "fapiJwtClient".into(),
        "--client-auth".into(),
        "private_key_jwt".into(),
        "--client-key".into(),
        jwt_key.display().to_string(),
        "--mtls-client-id".into(),
        "fapiMtlsClient".into(),
    ];
    let mut table = run("jwt", &jwt_main);
    table += &run(
        "mtls",
        &[
            "--client-id".into(),
            "fapiMtlsClient".into(),
            "--client-auth".into(),
            "tls_client_auth".into(),
            // The introspection caller's assertions: the issuer is this server's only aud.
            "--client-assertion-aud".into(),
            "issuer".into(),
        ],
    );
    // The FAPI 2.0 profile's own cases (`--profile fapi2`), with the JWT main client.
    let profile = ["--profile", "fapi2", "--only", "fapi2"].map(str::to_owned);
    table += &run("fapi2", &[jwt_main, profile.to_vec()].concat());
    insta::assert_snapshot!("oidc_provider_fapi_verdicts", table);
}

/// `load` against the FAPI peer with its secretless clients (issue 23): `issuance-jwt` and
/// `issuance-dpop` as `fapiJwtClient` (private_key_jwt, DPoP-bound, nonces required: each
/// request a fresh assertion and proof, the nonce followed), `issuance-mtls` as
/// `fapiMtlsClient` (tls_client_auth, certificate-bound tokens). Every response is checked;
/// none may fail. The peer's targets are grantcheck.toml's `oidc-provider-fapi` and
/// `oidc-provider-fapi-mtls`.
#[test]
#[ignore = "needs node-oidc-provider with FAPI=1 on 127.0.0.1:18088 (.ci/run starts it)"]
fn secretless_load_against_node_oidc_provider_in_fapi_mode() {
    for (target, profile, label) in [
        (
            "oidc-provider-fapi",
            "issuance-jwt",
            "POST issue (private_key_jwt)",
        ),
        ("oidc-provider-fapi", "issuance-dpop", "POST issue (DPoP)"),
        (
            "oidc-provider-fapi-mtls",
            "issuance-mtls",
            "POST issue (mutual TLS)",
        ),
    ] {
        let reports = temp_dir(&format!("interop-fapi-load-{profile}"));
        let output = grantcheck_in(Path::new(env!("CARGO_MANIFEST_DIR")))
            .args(["load", "--target", target, "--profile", profile])
            .args(["-u", "2", "-r", "2", "-t", "2s", "--no-reset-metrics"])
            .arg("--report-dir")
            .arg(&reports)
            .env_remove("GRANTCHECK_CLIENT_SECRET")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{profile}: {stderr}");
        assert!(stderr.contains(label), "{profile}: {stderr}");
        assert!(!stderr.contains("errors by kind"), "{profile}: {stderr}");
    }
}
