//! `grantcheck load` with clients that have no secret and with sender-constrained tokens:
//! `issuance-mtls` (a certificate-bound token over mutual TLS, then the resource over the
//! same certificate), and `issuance-jwt` / `issuance-dpop` as a secretless private_key_jwt
//! main client against a FAPI 2.0 server, which demands DPoP nonces at its token endpoint.
//! Every response is checked: a server that breaks what a profile checks fails its run.

use std::path::Path;
use std::process::Output;

use reference_server::{Fault, ReferenceServer, ServerConfig, TlsIdentity, ROOT_REALM};

use crate::common::cli::{run_async, temp_dir};
use crate::common::server;

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
        .display()
        .to_string()
}

/// A short load run of `profile` with `extra` flags; its stderr.
async fn load(profile: &str, extra: &[&str]) -> (Output, String) {
    let reports = temp_dir("load-bound");
    let mut args: Vec<String> = [
        "load",
        "--profile",
        profile,
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        "2s",
        // The first iterations are where a nonce is asked for: keep them in the figures.
        "--no-reset-metrics",
        "--report-dir",
        reports.to_str().unwrap(),
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let output = run_async(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json =
        std::fs::read_to_string(reports.join(format!("load-{profile}.json"))).unwrap_or_default();
    assert!(!json.contains("eyJ"), "a JWS in the report: {json}");
    (output, stderr)
}

/// The reference server over HTTPS (asking for client certificates), and the file with
/// the certificate a client must trust.
async fn start_tls(faults: &[Fault]) -> (ReferenceServer, String) {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = temp_dir("load-bound-ca").join("cert.pem");
    std::fs::write(&cert, identity.certificate_pem()).unwrap();
    let mut config = ServerConfig {
        tls: Some(identity),
        ..ServerConfig::default()
    };
    config.faults.extend(faults.iter().copied());
    (server::start(config).await, cert.display().to_string())
}

/// The mTLS fixture client as the main client of a run against `server`.
fn mtls_client(server: &ReferenceServer, ca: &str) -> Vec<String> {
    let (cert, key) = (fixture("mtls-client.pem"), fixture("mtls-client.key.pem"));
    [
        "--target",
        &server.issuer(ROOT_REALM),
        "--resource-url",
        &server.resource_url(),
        "--ca-cert",
        ca,
        "--client-id",
        "mtlsClient",
        "--client-auth",
        "tls_client_auth",
        "--client-cert",
        &cert,
        "--client-cert-key",
        &key,
    ]
    .map(str::to_owned)
    .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_mtls_runs_embedded_over_https_with_the_fixture_certificate() {
    let (output, stderr) = load("issuance-mtls", &[]).await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("against https://"), "{stderr}");
    assert!(
        stderr.contains("POST issue (mutual TLS)")
            && stderr.contains("GET call the resource (mutual TLS)"),
        "{stderr}"
    );
    assert!(!stderr.contains("errors by kind"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_mtls_against_a_target_checks_every_response() {
    let (server, ca) = start_tls(&[]).await;
    let args = mtls_client(&server, &ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (output, stderr) = load("issuance-mtls", &args).await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    server.shutdown().await;

    // A wrong token response over mutual TLS is an error of every request.
    let (server, ca) = start_tls(&[Fault::ExpiresInAsString]).await;
    let args = mtls_client(&server, &ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (output, stderr) = load("issuance-mtls", &args).await;
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("expires_in is not a positive"), "{stderr}");
    server.shutdown().await;

    // Without its certificate the mTLS client is refused before any load, saying what to
    // pass.
    let (server, ca) = start_tls(&[]).await;
    let (output, stderr) = load(
        "issuance-mtls",
        &[
            "--target",
            &server.issuer(ROOT_REALM),
            "--ca-cert",
            &ca,
            "--client-id",
            "mtlsClient",
            "--client-auth",
            "tls_client_auth",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--client-cert"), "{stderr}");
    server.shutdown().await;
}

/// A FAPI 2.0 reference server (no secret clients, DPoP nonces, the issuer as `aud`) with
/// `faults`, and the flags of its secretless private_key_jwt main client.
async fn fapi2(faults: &[Fault]) -> (ReferenceServer, Vec<String>) {
    let mut config = ServerConfig {
        fapi2: true,
        ..ServerConfig::default()
    };
    config.faults.extend(faults.iter().copied());
    let server = server::start(config).await;
    let flags = [
        "--target",
        &server.issuer(ROOT_REALM),
        "--resource-url",
        &server.resource_url(),
        "--client-id",
        "jwtClient",
        "--client-auth",
        "private_key_jwt",
        "--client-key",
        &fixture("client-es256.jwk.json"),
        "--dpop",
        "ES256",
    ]
    .map(str::to_owned)
    .to_vec();
    (server, flags)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secretless_client_loads_a_fapi2_server_that_demands_dpop_nonces() {
    let (server, flags) = fapi2(&[]).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    for (profile, labels) in [
        ("issuance-jwt", &["POST issue (private_key_jwt)"][..]),
        (
            "issuance-dpop",
            &["POST issue (DPoP)", "GET call the resource (DPoP)"][..],
        ),
    ] {
        let (output, stderr) = load(profile, &flags).await;
        assert_eq!(output.status.code(), Some(0), "{profile}: {stderr}");
        for label in labels {
            assert!(stderr.contains(label), "{profile}: {stderr}");
        }
        assert!(!stderr.contains("errors by kind"), "{profile}: {stderr}");
    }
    server.shutdown().await;

    // A server that asks for its nonce with the wrong error (invalid_dpop_proof, not
    // use_dpop_nonce: RFC 9449 §8) is not followed: the first request of each user, which
    // had no nonce yet, fails its check (later ones carry the nonce that answer gave). So
    // the clean runs above did follow use_dpop_nonce.
    let (server, flags) = fapi2(&[Fault::DpopNonceWrongError]).await;
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let (_, stderr) = load("issuance-dpop", &flags).await;
    assert!(stderr.contains("errors by kind"), "{stderr}");
    assert!(stderr.contains("token request: status 400"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_dpop_follows_a_resource_that_asks_for_its_own_nonce() {
    // RFC 9449 §9: the resource answers 401 with a `DPoP` challenge naming use_dpop_nonce
    // and a DPoP-Nonce; the proof that follows carries it.
    let config = ServerConfig::default().with_variant(reference_server::Variant::ResourceDpopNonce);
    let server = server::start(config).await;
    let (output, stderr) = load(
        "issuance-dpop",
        &[
            "--target",
            &server.issuer(ROOT_REALM),
            "--resource-url",
            &server.resource_url(),
            "--client-id",
            "myClient",
            "--client-secret",
            "forgerock",
            "--dpop",
            "ES256",
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("GET call the resource (DPoP)"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    assert!(!stderr.contains("forgerock"), "a secret in the output");
    server.shutdown().await;
}
