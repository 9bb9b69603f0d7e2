//! `grantcheck load`: short, bounded runs on loopback. Wrong answers under load count as
//! errors with their reason, thresholds decide exit 5, and secrets stay out of the output.

use std::process::Output;

use reference_server::{Fault, ReferenceServer};

use crate::common::cli::{run_async, temp_dir};
use crate::common::server;

async fn load(args: Vec<String>) -> Output {
    run_async([vec!["load".to_owned()], args].concat()).await
}

fn against(server: &ReferenceServer, profile: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--profile".into(),
        profile.into(),
        "--token-url".into(),
        server.token_url("root"),
        "--introspection-url".into(),
        server.introspection_url("root"),
        "--revocation-url".into(),
        server.revocation_url("root"),
        "--resource-url".into(),
        server.resource_url(),
        "--client-id".into(),
        "myClient".into(),
        "--client-secret".into(),
        "forgerock".into(),
        "--introspect-client-id".into(),
        "rs-client".into(),
        "--introspect-client-secret".into(),
        "rs-secret".into(),
        "-u".into(),
        "2".into(),
        "-r".into(),
        "2".into(),
        "-t".into(),
        "2s".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

async fn start(fault: Option<Fault>) -> ReferenceServer {
    server::start_with(fault.as_slice()).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_profile_runs_clean_against_a_correct_server() {
    let server = start(None).await;
    for profile in ["issuance", "introspection", "flow", "bad-secret", "mixed"] {
        let output = load(against(&server, profile, &["--report-dir", "reports-ok"])).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{profile}: {stderr}");
        assert!(stderr.contains("all requests"), "{profile}: {stderr}");
        assert!(!stderr.contains("errors by kind"), "{profile}: {stderr}");
        assert!(
            !stderr.contains("forgerock") && !stderr.contains("rs-secret"),
            "{profile}: a secret in the output"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_answers_under_load_are_errors_with_their_reason_and_fail_the_threshold() {
    let server = start(Some(Fault::ExpiresInAsString)).await;
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", "reports-fault"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("errors by kind"), "{stderr}");
    assert!(
        stderr.contains("expires_in is not a positive JSON integer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("THRESHOLD FAILED: error-rate<1%"),
        "{stderr}"
    );
    server.shutdown().await;

    let server = start(Some(Fault::IgnoreRevocation)).await;
    let output = load(against(&server, "flow", &["--report-dir", "reports-fault"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("introspection: a revoked token is still active"),
        "{stderr}"
    );
    server.shutdown().await;

    let server = start(Some(Fault::AcceptWrongSecret)).await;
    let output = load(against(
        &server,
        "bad-secret",
        &["--report-dir", "reports-fault"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    // Goose marks the unexpected status itself: "wrong secret: 200 OK".
    assert!(stderr.contains("wrong secret: 200 OK"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thresholds_decide_exit_five() {
    let server = start(None).await;
    let output = load(against(
        &server,
        "issuance",
        &["--threshold", "rps>=100000000", "--report-dir", "reports-t"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("THRESHOLD FAILED: rps>=100000000"),
        "{stderr}"
    );
    // Every rule is in the summary, passed or failed, and an early stop says so.
    assert!(
        stderr.contains("threshold rps>=100000000: FAILED (observed "),
        "{stderr}"
    );
    assert!(
        stderr.contains("threshold error-rate<1%: pass (observed "),
        "{stderr}"
    );
    assert!(stderr.contains("the run stopped early"), "{stderr}");
    // Goose's INFO lines wait for -v.
    assert!(!stderr.contains("[INFO]"), "{stderr}");
    let output = load(against(
        &server,
        "issuance",
        &["--threshold", "p99<10s", "--report-dir", "reports-t"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("threshold p99<10s: pass (observed "),
        "{stderr}"
    );
    // A typo in a profile file's threshold names the file, the line and the value.
    let dir = temp_dir("profile");
    let profile = dir.join("mine.toml");
    std::fs::write(
        &profile,
        "description = \"x\"\nthresholds = [\"error-rat<1%\"]\n[[scenario]]\nname = \"a\"\ntransactions = [\"issue_basic\"]\n",
    )
    .unwrap();
    let output = load(against(&server, profile.to_str().unwrap(), &[])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mine.toml:2: threshold 'error-rat<1%': unknown metric 'error-rat'"),
        "{stderr}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn goose_reports_are_written_and_secret_leaking_logs_are_refused() {
    let server = start(None).await;
    let dir = temp_dir("load-reports");
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", dir.to_str().unwrap()],
    ))
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for ext in ["html", "json", "md", "goose.json"] {
        let text = std::fs::read_to_string(dir.join(format!("load-issuance.{ext}"))).unwrap();
        assert!(
            !text.contains("forgerock") && !text.contains("Basic "),
            "{ext} report leaks credentials"
        );
    }
    for flag in [
        vec!["--request-log", "r.log"],
        vec!["--error-log", "e.log"],
        vec!["--request-body"],
    ] {
        let output = load(against(&server, "issuance", &flag)).await;
        assert_eq!(output.status.code(), Some(2), "{flag:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("refuses"));
    }
    let output = load(vec!["--profile".into(), "nope".into()]).await;
    assert_eq!(output.status.code(), Some(2));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_server_runs_on_its_own_runtime() {
    let output = load(vec![
        "--profile".into(),
        "flow".into(),
        "-u".into(),
        "2".into(),
        "-r".into(),
        "2".into(),
        "-t".into(),
        "2s".into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("call the resource") && stderr.contains("introspect (after revocation)"),
        "{stderr}"
    );
}

/// A token endpoint that misbehaves at the socket: `Endless` answers 200 with a body that
/// never ends, `Big(n)` with an n-byte JSON body, `Hang` reads the request and never answers.
#[derive(Clone, Copy)]
enum Socket {
    Endless,
    Big(usize),
    Hang,
}

async fn misbehaving(kind: Socket) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                loop {
                    // One request per read is enough for these tests (small bodies).
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    match kind {
                        Socket::Hang => {
                            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
                            return;
                        }
                        Socket::Big(n) => {
                            static ISSUED: std::sync::atomic::AtomicU64 =
                                std::sync::atomic::AtomicU64::new(0);
                            let token = ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let body = format!(
                                "{{\"access_token\":\"t{token}\",\"token_type\":\"Bearer\",\"pad\":\"{}\"}}",
                                "x".repeat(n)
                            );
                            let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
                            if stream.write_all(head.as_bytes()).await.is_err()
                                || stream.write_all(body.as_bytes()).await.is_err()
                            {
                                return;
                            }
                        }
                        Socket::Endless => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                            if stream.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
                            while stream.write_all(chunk.as_bytes()).await.is_ok() {}
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

fn issuance_at(token_url: &str, run_time: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--profile",
        "issuance",
        "--token-url",
        token_url,
        "--client-id",
        "myClient",
        "--client-secret",
        "forgerock",
        "-u",
        "2",
        "-r",
        "2",
        "-t",
        run_time,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn response_bodies_are_read_up_to_the_limit_and_no_further() {
    let dir = temp_dir("load-body");
    let report_dir = dir.to_str().unwrap();
    // A body that never ends: each request fails at 1 MiB, and the run ends on time.
    let url = misbehaving(Socket::Endless).await;
    let started = std::time::Instant::now();
    let output = load(issuance_at(&url, "2s", &["--report-dir", report_dir])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("response body over the --max-body limit"),
        "{stderr}"
    );
    assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());

    // The limit is the user's: a 2 KB answer passes by default and fails under --max-body 1000.
    let url = misbehaving(Socket::Big(2000)).await;
    let output = load(issuance_at(&url, "1s", &["--report-dir", report_dir])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let output = load(issuance_at(
        &url,
        "1s",
        &["--report-dir", report_dir, "--max-body", "1000"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("response body over the --max-body limit"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_time_bounds_the_run_against_a_target_that_never_answers() {
    let url = misbehaving(Socket::Hang).await;
    let dir = temp_dir("load-hang");
    let started = std::time::Instant::now();
    // Goose's request timeout is 60 s; the run must still end about when its plan does
    // (1 s ramp-up for 2 users at 2/s, 2 s run time, 2 s grace).
    let output = load(issuance_at(
        &url,
        "2s",
        &["--report-dir", dir.to_str().unwrap()],
    ))
    .await;
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(elapsed.as_secs() < 12, "took {elapsed:?}: {stderr}");
    assert_eq!(output.status.code(), Some(5), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_html_load_report_is_self_contained_with_charts_over_time() {
    let server = start(None).await;
    let dir = temp_dir("load-html");
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", dir.to_str().unwrap()],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0));
    let html = std::fs::read_to_string(dir.join("load-issuance.html")).unwrap();
    // Nothing to fetch: no script, no stylesheet or image from elsewhere.
    for remote in ["<script", "src=", "href=", "@import", "cdn"] {
        assert!(!html.contains(remote), "the report refers to {remote}");
    }
    assert!(html.contains("all ") && html.contains("responses passed their checks"));
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "throughput and latency charts"
    );
    assert!(html.contains("<polyline"), "a line drawn from the data");
    // The JSON carries the same data over time, for merges and comparisons.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("load-issuance.json")).unwrap())
            .unwrap();
    let slots = json["timeline"]["slots"].as_array().unwrap();
    assert!(slots.len() >= 2, "{slots:?}");
    let requests: u64 = slots.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert!(requests > 0);
    server.shutdown().await;
}
