//! The runner against targets that misbehave at the HTTP level (raw TCP servers): each gives
//! a clear per-case error or verdict within the per-request timeout, the run goes on, and
//! the exit code tells a runtime error (3) from a conformance failure (4).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use grantcheck::case::Role;
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use grantcheck::target::{ClientCredentials, Target};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::cli::grantcheck;

#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Hang,
    Reset,
    Garbage,
    Html,
    HugeBody,
    /// A chunked body sent as fast as the client reads, forever.
    EndlessBody,
    /// `Content-Length: 5000000000`, then bytes as fast as the client reads, forever.
    HugeLength,
    EndlessChunks,
    SlowDrip,
}

/// Serves `behaviour` to every connection on an ephemeral loopback port.
async fn serve(behaviour: Behaviour) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(answer(stream, behaviour));
        }
    });
    format!("http://{addr}/token")
}

async fn answer(mut stream: TcpStream, behaviour: Behaviour) {
    let mut buf = vec![0; 8192];
    let _ = stream.read(&mut buf).await;
    let pause = || tokio::time::sleep(Duration::from_secs(30));
    match behaviour {
        Behaviour::Hang => pause().await,
        Behaviour::Reset => {
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Behaviour::Garbage => {
            let _ = stream.write_all(b"this is not HTTP at all\r\n\r\n").await;
        }
        Behaviour::Html => {
            let body = "<html><body>Login</body></html>";
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(format!("{head}{body}").as_bytes()).await;
        }
        Behaviour::HugeBody => {
            let size = 10 * 1024 * 1024;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n");
            let _ = stream.write_all(head.as_bytes()).await;
            let chunk = vec![b' '; 64 * 1024];
            for _ in 0..size / chunk.len() {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
        }
        Behaviour::EndlessBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend_from_slice(&[b' '; 64 * 1024]);
            chunk.extend_from_slice(b"\r\n");
            while stream.write_all(&chunk).await.is_ok() {}
        }
        Behaviour::HugeLength => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 5000000000\r\n\r\n";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            while stream.write_all(&chunk).await.is_ok() {}
        }
        Behaviour::EndlessChunks => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n1\r\n{\r\n").await;
            pause().await;
        }
        Behaviour::SlowDrip => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n").await;
            for _ in 0..100 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
            }
        }
    }
}

fn target(token_url: String) -> Target {
    let mut clients = BTreeMap::new();
    clients.insert(Role::Main, ClientCredentials::new("client-a", "secret-a"));
    Target::external("misbehaving", token_url, clients)
}

async fn run(url: String, ids: &[&str]) -> (Vec<CaseResult>, Duration) {
    let cases: Vec<_> = grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| ids.contains(&c.id.as_str()))
        .collect();
    let settings = Settings {
        request_timeout: Duration::from_secs(1),
        ..Settings::default()
    };
    let started = Instant::now();
    let results = runner::run_cases(
        &target(url),
        &cases,
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await;
    (results, started.elapsed())
}

#[tokio::test]
async fn each_misbehaviour_gets_a_clear_bounded_answer() {
    let expectations: &[(Behaviour, Outcome, &str)] = &[
        (Behaviour::Hang, Outcome::Error, "timed out"),
        (Behaviour::Reset, Outcome::Error, "request failed"),
        (Behaviour::Garbage, Outcome::Error, "request failed"),
        (
            Behaviour::Html,
            Outcome::Fail,
            "expected a JSON object body",
        ),
        (
            Behaviour::HugeBody,
            Outcome::Error,
            "exceeds the 1 MiB limit (1048576 bytes): its Content-Length is 10485760, not read",
        ),
        (
            Behaviour::EndlessBody,
            Outcome::Error,
            "exceeds the 1 MiB limit (1048576 bytes): more came",
        ),
        (
            Behaviour::EndlessChunks,
            Outcome::Error,
            "timed out|did not arrive within 1 s",
        ),
        (
            Behaviour::SlowDrip,
            Outcome::Error,
            "timed out|did not arrive within 1 s",
        ),
    ];
    for (behaviour, outcome, needle) in expectations {
        let url = serve(*behaviour).await;
        let (results, elapsed) = run(url, &["AUTH-001", "RESP-001"]).await;
        assert_eq!(
            results.len(),
            2,
            "{behaviour:?}: the run goes on after a broken case"
        );
        for r in &results {
            assert_eq!(r.outcome, *outcome, "{behaviour:?} {}: {}", r.id, r.detail);
            assert!(
                needle.split('|').any(|n| r.detail.contains(n)),
                "{behaviour:?} {}: {}",
                r.id,
                r.detail
            );
            assert!(
                !r.detail.contains("secret-a"),
                "{behaviour:?}: a secret in {}",
                r.detail
            );
        }
        assert!(
            elapsed < Duration::from_secs(6),
            "{behaviour:?} took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn a_run_deadline_bounds_a_hanging_target() {
    let url = serve(Behaviour::Hang).await;
    let cases: Vec<_> = grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| c.area == "auth")
        .collect();
    let settings = Settings {
        request_timeout: Duration::from_secs(1),
        deadline: Some(Instant::now() + Duration::from_millis(2500)),
        ..Settings::default()
    };
    let started = Instant::now();
    let results = runner::run_cases(
        &target(url),
        &cases,
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(results.len() > 10);
    let timed_out = results
        .iter()
        .filter(|r| r.detail.contains("timed out"))
        .count();
    let late = results
        .iter()
        .filter(|r| r.detail.contains("run deadline reached"))
        .count();
    let skipped = results
        .iter()
        .filter(|r| r.outcome == Outcome::Skip)
        .count();
    assert!(
        timed_out <= 3,
        "{timed_out} cases waited out a timeout before the 2.5 s deadline"
    );
    assert_eq!(
        timed_out + late + skipped,
        results.len(),
        "every case is timed out, late or skipped"
    );
    assert!(late > 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn hung_targets_and_html_token_urls_end_before_any_verdict() {
    // A hang is a runtime error; a token URL that answers an HTML page is a configuration
    // error the preflight names (no case is failed for it). Exit 4 needs a broken rule:
    // tests/integration/cli_conform.rs shows it with a fault mode.
    for (behaviour, code) in [(Behaviour::Hang, 3), (Behaviour::Html, 3)] {
        let url = serve(behaviour).await;
        let output = tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let output = grantcheck()
                .args([
                    "conform",
                    "--token-url",
                    &url,
                    "--client-id",
                    "client-a",
                    "--client-secret",
                    "secret-a",
                ])
                .args([
                    "--timeout",
                    "1",
                    "--only",
                    "AUTH-001,RESP-001",
                    "--color",
                    "never",
                ])
                .output()
                .unwrap();
            (output, started.elapsed())
        })
        .await
        .unwrap();
        let (output, elapsed) = output;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{behaviour:?}: {stderr}");
        if matches!(behaviour, Behaviour::Html) {
            assert!(
                stderr.contains("is it a token endpoint? check --token-url"),
                "{stderr}"
            );
        }
        assert!(
            elapsed < Duration::from_secs(8),
            "{behaviour:?} took {elapsed:?}"
        );
        assert!(!stderr.contains("secret-a"));
    }
}

/// `--timeout` bounds each discovery and preflight request, and `--deadline` all of them:
/// against a server that accepts and never answers, the run ends about when the deadline
/// says, with exit 3 and what stopped it (discovery had its own 10 s per URL: 20–30 s).
#[tokio::test(flavor = "multi_thread")]
async fn timeout_and_deadline_bound_discovery_and_the_preflight() {
    let token_url = serve(Behaviour::Hang).await;
    let base = token_url.trim_end_matches("/token").to_owned();
    let runs = [
        // Three metadata locations of 2 s each: the 3 s deadline cuts the second.
        (
            vec!["--target".to_owned(), format!("{base}/tenant")],
            "2",
            3,
            "discovery did not finish before the run deadline (--deadline)",
        ),
        // Two locations of 1 s each (the third is the first again): failed discovery at 2 s.
        (
            vec!["--target".to_owned(), base.clone()],
            "1",
            3,
            "discovery failed and no --token-url was given",
        ),
        // No discovery; the preflight's token request is cut by the deadline, not --timeout.
        (
            vec!["--token-url".to_owned(), token_url.clone()],
            "10",
            2,
            "did not answer: run deadline reached before the answer came (--deadline)",
        ),
    ];
    let mut waits = Vec::new();
    for (target, timeout, deadline, said) in runs {
        waits.push(tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let output = grantcheck()
                .args(["conform"])
                .args(&target)
                .args(["--client-id", "client-a", "--client-secret", "secret-a"])
                .args(["--timeout", timeout, "--deadline", &deadline.to_string()])
                .args(["--color", "never"])
                .output()
                .unwrap();
            (target, deadline, said, output, started.elapsed())
        }));
    }
    for wait in waits {
        let (target, deadline, said, output, elapsed) = wait.await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{target:?}: {stderr}");
        assert!(stderr.contains(said), "{target:?}: {stderr}");
        // About 0.4 s past the deadline here; the margin allows for starting the binary on a
        // loaded machine (without the bounds these took 10 to 30 s).
        assert!(
            elapsed < Duration::from_secs(deadline) + Duration::from_secs(2),
            "{target:?} took {elapsed:?} with --deadline {deadline}"
        );
    }
}

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

/// A token endpoint that answers its first request with a token (the preflight's) and then
/// never answers again: every later request hangs.
async fn serve_one_token_then_hang() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let answered = answered.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 8192];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if answered.swap(true, std::sync::atomic::Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return;
                    }
                    let body = r#"{"access_token":"tok-preflight-only","token_type":"Bearer","expires_in":3600}"#;
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if stream.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}/token")
}

/// A target that answers the preflight and then hangs: without `--deadline` the run ends by
/// its default deadline (printed in the header), not after a timeout per request; the cases
/// it cut end as errors saying "run deadline reached" (exit 3).
#[tokio::test(flavor = "multi_thread")]
async fn a_target_that_hangs_after_the_preflight_ends_by_the_default_deadline() {
    let url = serve_one_token_then_hang().await;
    let (output, elapsed) = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let output = grantcheck()
            .args(["conform", "--token-url", &url])
            .args(["--client-id", "client-a", "--client-secret", "secret-a"])
            .args(["--only", "auth,params", "--timeout", "1", "--max-wait", "1"])
            .args(["--color", "never", "--format", "json"])
            .output()
            .unwrap();
        (output, started.elapsed())
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let deadline: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("deadline: "))
        .and_then(|l| l.strip_suffix(" s (the default for these cases and --timeout; --deadline SECS to change, 0 for none)"))
        .unwrap_or_else(|| panic!("no default deadline in the header: {stderr}"))
        .parse()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let cases = report["cases"].as_array().unwrap();
    let cut = cases
        .iter()
        .filter(|c| {
            c["outcome"] == "error"
                && c["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("run deadline reached"))
        })
        .count();
    // Every request waits out the 1 s timeout until the deadline: without it, the run would
    // take a second per case.
    assert!(
        cases.len() as u64 > 2 * deadline,
        "{} cases, deadline {deadline} s: the test proves nothing",
        cases.len()
    );
    assert!(cut > cases.len() / 2, "{cut} of {} cases cut", cases.len());
    assert!(
        elapsed < Duration::from_secs(deadline + 2),
        "took {elapsed:?}, deadline {deadline} s"
    );
    assert!(!stderr.contains("secret-a"));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("secret-a"));
    eprintln!(
        "hung after the preflight: {} cases ended in {elapsed:?} (default deadline {deadline} s)",
        cases.len()
    );
}

/// The deadline cuts a request that is still waiting: a case that started before it ends at
/// it, not a whole `--timeout` later, and says why.
#[tokio::test]
async fn the_deadline_cuts_a_waiting_request_short() {
    let url = serve(Behaviour::Hang).await;
    let cases: Vec<_> = grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| c.id == "AUTH-001")
        .collect();
    let settings = Settings {
        request_timeout: Duration::from_secs(20),
        deadline: Some(Instant::now() + Duration::from_millis(500)),
        ..Settings::default()
    };
    let started = Instant::now();
    let results = runner::run_cases(
        &target(url),
        &cases,
        &settings,
        &runner::http_client(settings.request_timeout),
        |_| {},
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Error, "{}", r.detail);
    assert!(
        r.detail
            .contains("run deadline reached before the answer came (--deadline)"),
        "{}",
        r.detail
    );
    assert_eq!(
        r.exchanges[0].error.as_deref(),
        Some("run deadline reached before the answer came")
    );
}
