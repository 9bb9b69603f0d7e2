//! Bodies over 1 MiB, announced or endless, from discovery's metadata, the JWKS and the
//! resource: refused with the limit named, in milliseconds, without the process growing.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use grantcheck::case::Role;
use grantcheck::runner::{self, Outcome, Settings};
use grantcheck::target::{ClientCredentials, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::cli::grantcheck;

use super::{answer, serve, Behaviour};

/// Discovery reads at most 1 MiB of metadata: a server that sends 10 MB is refused, with the
/// reason, instead of filling memory.
#[tokio::test(flavor = "multi_thread")]
async fn discovery_refuses_an_oversized_metadata_body() {
    let url = serve(Behaviour::HugeBody).await;
    let issuer = url.trim_end_matches("/token").to_owned();
    let http = runner::http_client(Duration::from_secs(5));
    let started = Instant::now();
    let failure = grantcheck::target::discover(
        &http,
        &grantcheck::settings::Settings::default(),
        Some(&issuer),
        Default::default(),
        BTreeMap::new(),
        Vec::new(),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        failure
            .message
            .contains("the metadata exceeds the 1 MiB limit (1048576 bytes)"),
        "{}",
        failure.message
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Serves `routes` (path prefix, behaviour) on an ephemeral loopback port, and `metadata`
/// (given the server's base URL) as JSON at `/.well-known/oauth-authorization-server`.
/// Returns the base URL.
async fn serve_routes(
    routes: Vec<(&'static str, Behaviour)>,
    metadata: Option<fn(&str) -> String>,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let metadata = metadata.map(|m| m(&base));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = vec![0; 8192];
            let Ok(n) = stream.peek(&mut head).await else {
                continue;
            };
            let line = String::from_utf8_lossy(&head[..n]).into_owned();
            let path = line.split(' ').nth(1).unwrap_or("").to_owned();
            if let (true, Some(doc)) = (
                path.starts_with("/.well-known/oauth-authorization-server"),
                &metadata,
            ) {
                let _ = stream.read(&mut head).await;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{doc}",
                    doc.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                continue;
            }
            let behaviour = routes
                .iter()
                .find(|(prefix, _)| path.starts_with(prefix))
                .map_or(Behaviour::Reset, |(_, b)| *b);
            tokio::spawn(answer(stream, behaviour));
        }
    });
    base
}

/// The reference server's main fixture client as the only client, at its token endpoint.
fn reference_target(reference: &reference_server::ReferenceServer) -> Target {
    let mut clients = BTreeMap::new();
    clients.insert(Role::Main, ClientCredentials::new("myClient", "forgerock"));
    Target::external(
        "misbehaving",
        reference.token_url(reference_server::ROOT_REALM),
        clients,
    )
}

/// The JWKS and the resource are read like every answer: at most 1 MiB, whether the body is
/// endless or announces 5 GB. Each case that reached them is an error naming the limit,
/// in milliseconds, not after a timeout.
#[tokio::test(flavor = "multi_thread")]
async fn jwks_and_resource_bodies_stop_at_1_mib() {
    let reference = crate::common::server::start(Default::default()).await;
    let ids = ["META-009", "RS-001", "RS-002", "RS-003", "RS-004"];
    let cases: Vec<_> = grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .collect();
    assert_eq!(cases.len(), ids.len());
    for (jwks, resource) in [
        (Behaviour::EndlessBody, Behaviour::HugeLength),
        (Behaviour::HugeLength, Behaviour::EndlessBody),
    ] {
        let base = serve_routes(vec![("/jwks", jwks), ("/resource", resource)], None).await;
        let mut target = reference_target(&reference);
        target.jwks_url = Some(format!("{base}/jwks"));
        target.resource_url = Some(format!("{base}/resource"));
        let settings = Settings {
            request_timeout: Duration::from_secs(2),
            ..Settings::default()
        };
        let started = Instant::now();
        let results = runner::run_cases(
            &target,
            &cases,
            &settings,
            &runner::http_client(settings.request_timeout),
            |_| {},
        )
        .await;
        let elapsed = started.elapsed();
        for r in &results {
            let reached = if r.id == "META-009" { jwks } else { resource };
            let needle = match reached {
                Behaviour::EndlessBody => {
                    "exceeds the 1 MiB limit (1048576 bytes): more came, the rest was not read"
                }
                _ => "exceeds the 1 MiB limit (1048576 bytes): its Content-Length is 5000000000, not read",
            };
            assert_eq!(
                r.outcome,
                Outcome::Error,
                "jwks {jwks:?}, resource {resource:?}, {}: {}",
                r.id,
                r.detail
            );
            assert!(
                r.detail.contains(needle),
                "jwks {jwks:?}, resource {resource:?}, {}: {}",
                r.id,
                r.detail
            );
            assert!(!r.detail.contains("forgerock"), "{}", r.detail);
        }
        assert!(
            elapsed < Duration::from_millis(1500),
            "jwks {jwks:?}, resource {resource:?}: took {elapsed:?}, the 2 s timeout decided"
        );
    }
}

/// Peak resident memory of a running process (Linux), polled until it exits.
#[cfg(target_os = "linux")]
fn peak_rss_kib(child: &mut std::process::Child) -> u64 {
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status) {
            let hwm = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
            peak = peak.max(hwm.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    peak
}

/// `conform --target` at a server whose metadata is fine but whose JWKS never ends and whose
/// resource announces 5 GB: the run ends at once with errors naming the 1 MiB limit (exit 3),
/// and the process stays small.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread")]
async fn conform_reads_at_most_1_mib_from_jwks_and_resource() {
    let reference = crate::common::server::start(Default::default()).await;
    let token_url = reference.token_url(reference_server::ROOT_REALM);
    // The metadata names the reference server's token endpoint; fn pointers carry no state,
    // so the URL travels in an environment-free static.
    static TOKEN_URL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOKEN_URL.set(token_url).unwrap();
    let base = serve_routes(
        vec![
            ("/jwks", Behaviour::EndlessBody),
            ("/resource", Behaviour::HugeLength),
        ],
        Some(|base| {
            serde_json::json!({
                "issuer": base,
                "token_endpoint": TOKEN_URL.get().unwrap(),
                "jwks_uri": format!("{base}/jwks"),
                "grant_types_supported": ["client_credentials"],
            })
            .to_string()
        }),
    )
    .await;
    let (output, elapsed, peak_kib) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let mut child = grantcheck()
            .args(["conform", "--target", &base])
            .args(["--client-id", "myClient", "--client-secret", "forgerock"])
            .args(["--resource-url", &format!("{base}/resource")])
            .args(["--only", "META-009,RS-001", "--timeout", "2"])
            .args(["--color", "never", "--snapshots", "off"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let peak = peak_rss_kib(&mut child);
        let output = child.wait_with_output().unwrap();
        (output, started.elapsed(), peak)
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    // The JWKS case errs; the preflight finds the resource unusable and says why.
    assert!(
        stderr.contains(
            "the response body exceeds the 1 MiB limit (1048576 bytes): more came, the rest was not read"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "the response body exceeds the 1 MiB limit (1048576 bytes): its Content-Length is 5000000000, not read"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("forgerock"), "{stderr}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(
        peak_kib < 200 * 1024,
        "peak RSS {} MiB reading two endless bodies",
        peak_kib / 1024
    );
    eprintln!(
        "conform against an endless JWKS and a 5 GB resource: {elapsed:?}, peak RSS {} MiB",
        peak_kib / 1024
    );
}
