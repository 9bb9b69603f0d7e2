//! HTTPS end to end on loopback: `serve --tls` and its fingerprint, the runner's trust
//! (`--ca-cert`, `--insecure`), TLS failures as runtime errors with advice, the plain-HTTP
//! cases against legal and illegal ways of answering cleartext, and load over HTTPS.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Output, Stdio};

use reference_server::{ReferenceServer, ServerConfig, TlsIdentity};

use crate::common::cli::{grantcheck, run_async, temp_dir};
use crate::common::server;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn start_tls(identity: TlsIdentity) -> ReferenceServer {
    let config = ServerConfig {
        tls: Some(identity),
        ..ServerConfig::default()
    };
    server::start(config).await
}

/// Writes the certificate a client should trust; returns its path.
fn write_cert(identity: &TlsIdentity, name: &str) -> String {
    let path = temp_dir(name).join("cert.pem");
    std::fs::write(&path, identity.certificate_pem()).unwrap();
    path.display().to_string()
}

/// The resource server's fixture client, as the caller of introspection.
const INTROSPECTOR: &[&str] = &[
    "--introspect-client-id",
    "rs-client",
    "--introspect-client-secret",
    "rs-secret",
];

/// A command line: `fixed`, then `extra`.
fn command_line(fixed: &[&str], extra: &[&str]) -> Vec<String> {
    fixed.iter().chain(extra).map(|s| s.to_string()).collect()
}

/// `conform` against `token_url` as the main fixture client, with `extra` flags.
fn conform_args(token_url: &str, extra: &[&str]) -> Vec<String> {
    command_line(
        &[
            "conform",
            "--token-url",
            token_url,
            "--client-id",
            "myClient",
            "--client-secret",
            "forgerock",
            "--snapshots",
            "off",
            "--format",
            "json",
            "--timeout",
            "5",
        ],
        extra,
    )
}

fn outcomes(output: &Output) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    doc["cases"]
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

fn outcome_of(output: &Output, id: &str) -> String {
    outcomes(output)
        .into_iter()
        .find(|(case, _)| case == id)
        .map(|(_, o)| o)
        .unwrap_or_else(|| panic!("{id} not in the report"))
}

#[tokio::test]
async fn an_https_server_serves_tls_and_drops_plain_http() {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let ca = reqwest::Certificate::from_pem(identity.certificate_pem().as_bytes()).unwrap();
    let server = start_tls(identity).await;
    assert!(server.base_url().starts_with("https://127.0.0.1:"));
    let http = reqwest::Client::builder()
        .tls_certs_merge([ca])
        .build()
        .unwrap();
    let token: Value = http
        .post(server.token_url("root"))
        .basic_auth("myClient", Some("forgerock"))
        .form(&[("grant_type", "client_credentials"), ("scope", "write")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().unwrap();
    // The resource server introspects over HTTPS too (it trusts its own certificate).
    let resource = http
        .get(server.resource_url())
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resource.status(), 200);

    let cleartext = server.token_url("root").replacen("https://", "http://", 1);
    let plain = reqwest::Client::new()
        .post(&cleartext)
        .basic_auth("myClient", Some("forgerock"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    server.shutdown().await;
}

#[test]
fn serve_tls_prints_the_fingerprint_of_the_certificate_it_wrote() {
    let cert = temp_dir("serve").join("cert.pem");
    let mut child = grantcheck()
        .args(["serve", "--tls", "--addr", "127.0.0.1:0", "--tls-cert-out"])
        .arg(&cert)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("Ctrl-C");
        printed.push(line);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let printed = printed.join("\n");
    assert!(
        printed.contains("listening on https://127.0.0.1:"),
        "{printed}"
    );
    let fingerprint = printed
        .split("SHA-256 ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no fingerprint in {printed}"));
    assert_eq!(fingerprint, sha256_of_pem_certificate(&cert));
    assert!(printed.contains(&cert.display().to_string()), "{printed}");
}

fn sha256_of_pem_certificate(path: &Path) -> String {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_file(path).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

#[test]
fn tls_fault_modes_need_tls() {
    let output = grantcheck()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--fault",
            "accept-plain-http",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--tls"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tls_cases_pass_a_trusted_https_server() {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = write_cert(&identity, "trusted");
    let server = start_tls(identity).await;
    let introspection_url = server.introspection_url("root");
    let mut extra = vec!["--introspection-url", introspection_url.as_str()];
    extra.extend(INTROSPECTOR);
    extra.extend(["--ca-cert", &cert, "--only", "tls,TOKEN-002"]);
    let output = run_async(conform_args(&server.token_url("root"), &extra)).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let got = outcomes(&output);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.iter().all(|(_, o)| o == "pass"), "{got:?}");
    assert!(!stderr.contains("forgerock") && !stderr.contains("rs-secret"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_failures_are_runtime_errors_that_say_what_to_do() {
    // A certificate for another name only, from a CA the client is told to trust.
    let generated =
        rcgen::generate_simple_self_signed(vec!["as.other.example".to_owned()]).unwrap();
    let dir = temp_dir("other-name");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let other_name = start_tls(TlsIdentity::from_pem_files(&cert, &key).unwrap()).await;
    let cert = cert.display().to_string();
    let token_url = other_name.token_url("root");
    let only = ["--only", "TOKEN-002"];

    let unknown_ca = run_async(conform_args(&token_url, &only)).await;
    let stderr = String::from_utf8_lossy(&unknown_ca.stderr);
    assert_eq!(unknown_ca.status.code(), Some(3), "{stderr}");
    // The preflight meets the TLS failure first: no case is judged, and both the terminal
    // and the JSON report say what to do.
    assert!(outcomes(&unknown_ca).is_empty());
    assert!(stderr.contains("pass --ca-cert FILE"), "{stderr}");
    assert!(
        String::from_utf8_lossy(&unknown_ca.stdout).contains("pass --ca-cert FILE"),
        "{stderr}"
    );

    let mismatch = run_async(conform_args(
        &token_url,
        &[only[0], only[1], "--ca-cert", &cert],
    ))
    .await;
    assert_eq!(mismatch.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&mismatch.stdout).contains("another host name"));

    // Discovery fails the same way, before any case runs.
    let issuer = other_name.issuer("root");
    let discovery = run_async(vec![
        "conform".into(),
        "--target".into(),
        issuer,
        "--client-id".into(),
        "myClient".into(),
        "--client-secret".into(),
        "forgerock".into(),
    ])
    .await;
    assert_eq!(discovery.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&discovery.stderr).contains("TLS error"));

    let insecure = run_async(conform_args(&token_url, &[only[0], only[1], "--insecure"])).await;
    let stderr = String::from_utf8_lossy(&insecure.stderr);
    assert_eq!(insecure.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("WARNING: --insecure"), "{stderr}");
    let report: Value = serde_json::from_slice(&insecure.stdout).unwrap();
    assert_eq!(report["tls"]["certificates_verified"], false);
    assert!(
        stderr.contains("TLS certificates were NOT verified"),
        "{stderr}"
    );
    let verified: Value = serde_json::from_slice(&mismatch.stdout).unwrap();
    assert_eq!(verified["tls"]["certificates_verified"], true);

    // https:// to a server that speaks plain HTTP.
    let plain = server::start(ServerConfig::default()).await;
    let https_to_plain = plain.token_url("root").replacen("http://", "https://", 1);
    let no_tls = run_async(conform_args(&https_to_plain, &only)).await;
    assert_eq!(no_tls.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&no_tls.stdout).contains("did not answer in TLS"));
    plain.shutdown().await;

    let not_pem = dir.join("key.pem").display().to_string();
    let bad_file = run_async(conform_args(&token_url, &["--ca-cert", &not_pem])).await;
    assert_eq!(bad_file.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_file.stderr).contains("--ca-cert"));
    other_name.shutdown().await;
}

/// One port, two answers: TLS goes to the reference server, plain HTTP to `plain` — the way
/// a real server or proxy answers `http://` on its HTTPS port, or not.
async fn tls_or_plain(tls: SocketAddr, plain: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                if client.peek(&mut first).await.unwrap_or(0) == 0 {
                    return;
                }
                let backend = if first[0] == 0x16 { tls } else { plain };
                if let Ok(mut server) = TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_cases_accept_legal_refusals_and_fail_servers_that_serve_cleartext() {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = write_cert(&identity, "variations");
    let server = start_tls(identity).await;
    let plain = MockServer::start().await;
    let front = tls_or_plain(server.addr(), *plain.address()).await;
    let token_url = format!("https://{front}/oauth2/access_token");
    let json = |status: u16, body: &str| {
        ResponseTemplate::new(status)
            .insert_header("content-type", "application/json")
            .set_body_string(body)
    };
    let redirect = |status: u16| {
        ResponseTemplate::new(status)
            .insert_header("location", format!("https://{front}/oauth2/access_token"))
    };
    // (what plain HTTP gets, TOKEN-001, TOKEN-011)
    let variations = [
        (redirect(301), "pass", "pass"),
        (redirect(302), "pass", "pass"),
        (redirect(308), "pass", "warn"),
        (
            ResponseTemplate::new(400)
                .insert_header("content-type", "text/html")
                .set_body_string("<h1>The plain HTTP request was sent to HTTPS port</h1>"),
            "pass",
            "pass",
        ),
        (
            json(
                400,
                r#"{"error":"invalid_request","error_description":"TLS required"}"#,
            ),
            "pass",
            "pass",
        ),
        (
            ResponseTemplate::new(426).insert_header("upgrade", "TLS/1.2"),
            "pass",
            "pass",
        ),
        (json(401, r#"{"error":"invalid_client"}"#), "fail", "pass"),
        (
            json(
                200,
                r#"{"access_token":"cleartext-token","token_type":"Bearer"}"#,
            ),
            "fail",
            "pass",
        ),
    ];
    for (answer, token_001, token_011) in variations {
        plain.reset().await;
        let status = answer.clone();
        Mock::given(any()).respond_with(answer).mount(&plain).await;
        let output = run_async(conform_args(
            &token_url,
            &["--ca-cert", &cert, "--only", "TOKEN-001,TOKEN-011"],
        ))
        .await;
        let label = format!("{:?}", status);
        let label = &label[..label.len().min(120)];
        assert_eq!(outcome_of(&output, "TOKEN-001"), token_001, "{label}");
        assert_eq!(outcome_of(&output, "TOKEN-011"), token_011, "{label}");
        let expected_exit = if token_001 == "fail" { 4 } else { 0 };
        assert_eq!(output.status.code(), Some(expected_exit), "{label}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn load_runs_over_https_with_the_run_s_trust() {
    let identity = TlsIdentity::generate(&[]).unwrap();
    let cert = write_cert(&identity, "load");
    let server = start_tls(identity).await;
    let args = |extra: &[&str]| {
        command_line(
            &[
                "load",
                "--profile",
                "introspection",
                "--token-url",
                &server.token_url("root"),
                "--introspection-url",
                &server.introspection_url("root"),
                "--client-id",
                "myClient",
                "--client-secret",
                "forgerock",
                "-u",
                "2",
                "-r",
                "2",
                "-t",
                "2s",
                "--report-dir",
                "reports-tls",
            ],
            &[INTROSPECTOR, extra].concat(),
        )
    };
    let trusted = run_async(args(&["--ca-cert", &cert])).await;
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    assert_eq!(trusted.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("all requests"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");

    let untrusted = run_async(args(&[])).await;
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("--ca-cert"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_stalled_tls_handshake_is_dropped_after_the_header_timeout() {
    use tokio::io::AsyncReadExt;
    let config = ServerConfig {
        tls: Some(TlsIdentity::generate(&[]).unwrap()),
        header_timeout: std::time::Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let server = server::start(config).await;
    // Connects and never says hello: the server must not hold the connection forever.
    let mut stalled = TcpStream::connect(server.addr()).await.unwrap();
    let started = std::time::Instant::now();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stalled.read(&mut buf))
        .await
        .expect("the server closed the stalled connection");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250)
            && waited < std::time::Duration::from_secs(2),
        "{waited:?}"
    );
    server.shutdown().await;
}
