//! The FAPI 2.0 profile (`--profile fapi2`, scenarios/fapi2): the reference server in FAPI
//! mode passes every case (embedded, and `serve`d with a secretless main client); the plain
//! reference server fails exactly the FAPI rules it does not keep; and each FAPI-only fault
//! fails its case alone. Over plain HTTP the TLS cases (FAPI-009, FAPI-010) skip; over HTTPS
//! the reference server (rustls) refuses both probes, and a front that answers the probes'
//! ClientHellos with a ServerHello fails both.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;

use tokio::io::{copy_bidirectional, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use reference_server::{Fault, ServerConfig, TlsIdentity, Variant, ROOT_REALM};

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
    fapi_run_against(&server.issuer(ROOT_REALM), client).await
}

/// The FAPI cases of `--profile fapi2` against the issuer `target`, with `extra` flags.
async fn fapi_run_against(target: &str, extra: &[&str]) -> BTreeMap<String, String> {
    let reports = temp_dir("fapi2");
    let mut args: Vec<String> = [
        "conform",
        "--target",
        target,
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
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let output = run_async(args).await;
    assert!(
        // 3: a case blocked (NO VERDICT); each case's outcome is what the callers judge.
        matches!(output.status.code(), Some(0 | 3 | 4)),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    outcomes(&reports)
}

/// The TLS cases, which skip over plain HTTP ("plain HTTP: FAPI 2.0 §5.2.1 item 1 requires
/// TLS; the TLS probes need https").
const TLS_CASES: [&str; 2] = ["FAPI-009", "FAPI-010"];

/// Every FAPI case but those named passes over HTTPS; over plain HTTP the TLS cases skip
/// (`skip` for FAPI-001 without a secret).
fn expect(got: &BTreeMap<String, String>, others: &[(&str, &str)]) {
    expect_over(false, got, others);
}

fn expect_over(https: bool, got: &BTreeMap<String, String>, others: &[(&str, &str)]) {
    for (id, outcome) in got {
        let usual = if !https && TLS_CASES.contains(&id.as_str()) {
            "skip"
        } else {
            "pass"
        };
        let wanted = others
            .iter()
            .find(|(i, _)| i == id)
            .map_or(usual, |(_, o)| *o);
        assert_eq!(outcome, wanted, "{id}: {got:?}");
    }
    assert_eq!(got.len(), 10, "{got:?}");
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
        10,
        "the profile's own cases run"
    );
    assert!(stderr.contains("it is DPoP-bound"), "{stderr}");
    for id in TLS_CASES {
        assert_eq!(got[id], "skip", "plain HTTP: {got:?}");
    }

    // Over HTTPS (rustls): both TLS probes are refused, FAPI-009 and FAPI-010 pass.
    let reports = temp_dir("fapi2-embedded-tls");
    let output = run(&[
        "conform",
        "--embedded-tls",
        "--profile",
        "fapi2",
        "--only",
        "fapi2",
        "--snapshots",
        "off",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let got = outcomes(&reports);
    for id in TLS_CASES {
        assert_eq!(got[id], "pass", "{got:?}");
    }
}

/// The JWT client of the `--fapi2` server as the main client, trusting `cert`.
fn secretless_over_tls<'a>(key: &'a str, cert: &'a str) -> [&'a str; 8] {
    [
        "--client-id",
        "jwtClient",
        "--client-auth",
        "private_key_jwt",
        "--client-key",
        key,
        "--ca-cert",
        cert,
    ]
}

/// The `--fapi2` server over HTTPS with a generated certificate passes every FAPI case: its
/// TLS (rustls) answers the TLS 1.1 and 1.0 probes with protocol_version and the weak-suite
/// probe with handshake_failure. The same server behind a front that answers the probes'
/// ClientHellos itself (a ServerHello at the offered version, with the first offered suite)
/// fails FAPI-009 and FAPI-010, and nothing else. An origin that cannot be probed blocks them.
#[tokio::test(flavor = "multi_thread")]
async fn over_tls_the_fapi_server_passes_the_tls_cases_and_a_server_taking_old_tls_fails_them() {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = temp_dir("fapi2-tls").join("cert.pem");
    std::fs::write(&cert, identity.certificate_pem()).unwrap();
    let cert = cert.display().to_string();
    let server = server::start(ServerConfig {
        fapi2: true,
        tls: Some(identity),
        ..ServerConfig::default()
    })
    .await;
    let key = key();
    let flags = secretless_over_tls(&key, &cert);
    let issuer = server.issuer(ROOT_REALM);
    assert!(issuer.starts_with("https://"), "{issuer}");
    let got = fapi_run_against(&issuer, &flags).await;
    expect_over(true, &got, &[("FAPI-001", "skip")]);

    // A resource on an https origin nothing listens on: its probes cannot connect, so the
    // TLS cases block (with the reason) and the run goes on.
    let freed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead = freed.local_addr().unwrap();
    drop(freed);
    let resource = format!("https://{dead}/api/resource");
    let with_dead_resource = [&flags[..], &["--resource-url", &resource]].concat();
    let got = fapi_run_against(&issuer, &with_dead_resource).await;
    expect_over(
        true,
        &got,
        &[
            ("FAPI-001", "skip"),
            ("FAPI-009", "blocked"),
            ("FAPI-010", "blocked"),
        ],
    );

    // The same server behind the front, which it names as its public URL.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let front = listener.local_addr().unwrap();
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = temp_dir("fapi2-tls-front").join("cert.pem");
    std::fs::write(&cert, identity.certificate_pem()).unwrap();
    let cert = cert.display().to_string();
    let behind = server::start(ServerConfig {
        fapi2: true,
        tls: Some(identity),
        public_url: Some(format!("https://{front}")),
        ..ServerConfig::default()
    })
    .await;
    weak_tls_front(listener, behind.addr());
    let flags = secretless_over_tls(&key, &cert);
    let got = fapi_run_against(&behind.issuer(ROOT_REALM), &flags).await;
    expect_over(
        true,
        &got,
        &[
            ("FAPI-001", "skip"),
            ("FAPI-009", "fail"),
            ("FAPI-010", "fail"),
        ],
    );
}

/// A front for the TLS server at `backend`: a ClientHello without supported_versions (the
/// probes') gets a ServerHello at its client_version choosing its first suite, as a server
/// that still takes TLS 1.0 and CBC would answer; any other connection (grantcheck's own
/// HTTPS client offers TLS 1.3) is passed through to the server.
fn weak_tls_front(listener: TcpListener, backend: SocketAddr) {
    use grantcheck::tls_probe::{parse_client_hello, server_hello};
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut header = [0u8; 5];
                if client.read_exact(&mut header).await.is_err() {
                    return;
                }
                let mut record = header.to_vec();
                record.resize(
                    5 + usize::from(u16::from_be_bytes([header[3], header[4]])),
                    0,
                );
                if client.read_exact(&mut record[5..]).await.is_err() {
                    return;
                }
                match parse_client_hello(&record) {
                    Some(hello) if !hello.extensions.contains(&43) => {
                        let answer = server_hello(hello.client_version, hello.suites[0]);
                        let _ = client.write_all(&answer).await;
                    }
                    _ => {
                        if let Ok(mut server) = TcpStream::connect(backend).await {
                            if server.write_all(&record).await.is_ok() {
                                let _ = copy_bidirectional(&mut client, &mut server).await;
                            }
                        }
                    }
                }
            });
        }
    });
}
