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
    assert!(
        stderr.contains("POST wrong secret: a wrong secret got a token"),
        "{stderr}"
    );
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

/// A token endpoint that answers its first request (the preflight's) well, then misbehaves
/// as `kind` says under load.
async fn misbehaving(kind: Socket) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let first = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let first = first.clone();
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while read_request(&mut stream, &mut pending).await {
                    if first.swap(false, std::sync::atomic::Ordering::Relaxed) {
                        let body = r#"{"access_token":"preflight","token_type":"Bearer"}"#;
                        let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                        continue;
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
    let closed_loop = ["-u", "2", "-r", "2", "-t", run_time];
    rate_run(token_url, &[&closed_loop[..], extra].concat())
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
        stderr.contains("the response body (--max-body) exceeds the"),
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
        stderr.contains("the response body (--max-body) exceeds the"),
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

/// Reads one whole HTTP/1.1 request (head, then a Content-Length body) from `stream`;
/// false when the connection ends. A read may hold part of a request or more than one.
async fn read_request(stream: &mut tokio::net::TcpStream, pending: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if pending.len() >= end + 4 + length {
                pending.drain(..end + 4 + length);
                return true;
            }
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => pending.extend_from_slice(&buf[..n]),
        }
    }
}

/// A token endpoint with one global stall: `stall_after` requests in, every answer waits
/// until one second after that request arrived (a GC pause, a failover). Otherwise each
/// answer takes `service` (served one at a time when `serial`, so the capacity is known).
async fn stalling(stall_after: Option<u64>, service: std::time::Duration, serial: bool) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicU64::new(0));
    let stall_until = Arc::new(std::sync::Mutex::new(None::<tokio::time::Instant>));
    let one_at_a_time = Arc::new(tokio::sync::Semaphore::new(1));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (seen, stall_until, one_at_a_time) =
                (seen.clone(), stall_until.clone(), one_at_a_time.clone());
            tokio::spawn(async move {
                let mut pending = Vec::new();
                while read_request(&mut stream, &mut pending).await {
                    let k = seen.fetch_add(1, Ordering::Relaxed);
                    if Some(k) == stall_after {
                        *stall_until.lock().unwrap() =
                            Some(tokio::time::Instant::now() + std::time::Duration::from_secs(1));
                    }
                    let until = *stall_until.lock().unwrap();
                    if let Some(until) = until {
                        tokio::time::sleep_until(until).await;
                    }
                    let _turn = if serial {
                        Some(one_at_a_time.acquire().await.unwrap())
                    } else {
                        None
                    };
                    if !service.is_zero() {
                        tokio::time::sleep(service).await;
                    }
                    let body = format!(
                        "{{\"access_token\":\"t{k}\",\"token_type\":\"Bearer\",\"expires_in\":60}}"
                    );
                    let answer = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: no-store\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                    if stream.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn rate_run(token_url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--profile",
        "issuance",
        "--token-url",
        token_url,
        "--client-id",
        "myClient",
        "--client-secret",
        "forgerock",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn report_json(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("load-issuance.json")).unwrap()).unwrap()
}

/// The value `q` of a `[[value, count], ...]` histogram's samples are at or below.
fn percentile(histogram: &serde_json::Value, q: f64) -> u64 {
    let h: Vec<(u64, u64)> = serde_json::from_value(histogram.clone()).unwrap();
    let total: u64 = h.iter().map(|(_, c)| c).sum();
    let rank = ((total as f64 * q).ceil() as u64).max(1);
    let mut seen = 0;
    for (v, c) in &h {
        seen += c;
        if seen >= rank {
            return *v;
        }
    }
    0
}

#[tokio::test(flavor = "multi_thread")]
async fn an_arrival_rate_keeps_its_timetable() {
    let url = stalling(None, std::time::Duration::ZERO, false).await;
    let dir = temp_dir("load-rate");
    let output = load(rate_run(
        &url,
        &[
            "--rate",
            "200/s",
            "-t",
            "5s",
            "--report-dir",
            dir.to_str().unwrap(),
        ],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let json = report_json(&dir);
    let arrival = &json["arrival"];
    assert_eq!(arrival["planned"], 1000, "{arrival}");
    assert_eq!(arrival["started"], 1000, "{arrival}");
    // Late: no free user on time. With 100 users at 200/s there always is one, unless the
    // harness itself is starved of CPU (a busy CI machine): allow 10%.
    assert!(arrival["late"].as_u64().unwrap() <= 100, "{arrival}");
    // The whole seconds of the plan (the first and last slots are partial: the plan starts
    // when every user is ready) hold the rate: their median within 2.5%, each within 25%.
    let slots = json["timeline"]["slots"].as_array().unwrap();
    let busy: Vec<u64> = slots
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .filter(|n| *n > 0)
        .collect();
    let mut whole = busy[1..busy.len() - 1].to_vec();
    whole.sort_unstable();
    let median = whole[whole.len() / 2];
    assert!(
        (195..=205).contains(&median),
        "requests per second: {busy:?}"
    );
    assert!(
        whole.iter().all(|n| (150..=250).contains(n)),
        "requests per second: {busy:?}"
    );
    assert!(
        stderr.contains("arrival rate 200/s:5s: 1000 of 1000 iterations started"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_from_the_intended_start_shows_a_stall_that_service_time_hides() {
    // 2000 iterations at 200/s, at most 10 in flight; one 1 s stall after 600 requests. Only
    // the ~10 requests in flight see it in their service time (0.5% of them: under p99),
    // but ~200 iterations fall due during it and start late.
    let url = stalling(Some(600), std::time::Duration::ZERO, false).await;
    let dir = temp_dir("load-stall");
    let output = load(rate_run(
        &url,
        &[
            "--rate",
            "200/s",
            "-t",
            "10s",
            "--max-in-flight",
            "10",
            "--threshold",
            "p99<200ms",
            "--threshold",
            "p99<200ms for POST issue (client_secret_basic)",
            "--report-dir",
            dir.to_str().unwrap(),
        ],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The same rule fails on latency from the intended start and passes on service time.
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("threshold p99<200ms: FAILED (observed ")
            && stderr.contains("from the intended start"),
        "{stderr}"
    );
    assert!(
        stderr.contains("threshold p99<200ms for POST issue (client_secret_basic): pass"),
        "{stderr}"
    );
    let json = report_json(&dir);
    let arrival = &json["arrival"];
    let corrected_p99 = percentile(&arrival["latency_us"], 0.99);
    let service: Vec<(u64, u64)> = serde_json::from_value(
        json["requests"]["POST issue (client_secret_basic)"]["histogram"].clone(),
    )
    .unwrap();
    let service_json = serde_json::to_value(&service).unwrap();
    let service_p99 = percentile(&service_json, 0.99);
    assert!(
        corrected_p99 >= 500_000,
        "corrected p99 {corrected_p99} µs: {arrival}"
    );
    assert!(service_p99 < 200_000, "service p99 {service_p99} µs");
    let late = arrival["late"].as_u64().unwrap();
    assert!(late >= 100, "late {late}: {arrival}");
    assert!(stderr.contains("late (no free user"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn compare_exits_five_on_a_regression_and_refuses_unfair_comparisons() {
    // The same arrival rate against a fast server and one that takes 4 ms more per answer.
    let fast = stalling(None, std::time::Duration::ZERO, false).await;
    let slow = stalling(None, std::time::Duration::from_millis(4), false).await;
    let dir = temp_dir("load-compare");
    let mut reports = Vec::new();
    for (name, url) in [("base", &fast), ("new", &slow)] {
        let out = dir.join(name);
        let output = load(rate_run(
            url,
            &[
                "--rate",
                "100/s",
                "-t",
                "2s",
                "--report-dir",
                out.to_str().unwrap(),
            ],
        ))
        .await;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        reports.push(out.join("load-issuance.json").display().to_string());
    }
    let compare = |base: &str, new: &str, extra: &[&str]| {
        let mut args = vec!["compare".to_owned(), base.to_owned(), new.to_owned()];
        args.extend(extra.iter().map(|s| s.to_string()));
        load(args)
    };
    let output = compare(&reports[0], &reports[0], &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no regression"), "{stderr}");

    let output = compare(&reports[0], &reports[1], &["--max-regression", "p50:10%"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("p50:10%: REGRESSION"), "{stderr}");
    // The other way round it got faster: no regression.
    let output = compare(&reports[1], &reports[0], &["--max-regression", "p50:10%"]).await;
    assert_eq!(output.status.code(), Some(0));

    // Another profile is refused (exit 2), as is a rule that does not parse.
    let mut other: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reports[1]).unwrap()).unwrap();
    other["profile"] = "flow".into();
    let other_path = dir.join("other.json");
    std::fs::write(&other_path, other.to_string()).unwrap();
    let output = compare(&reports[0], other_path.to_str().unwrap(), &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("different profiles"), "{stderr}");
    let output = compare(&reports[0], &reports[1], &["--max-regression", "p99"]).await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn capacity_search_finds_a_known_limit() {
    // One answer at a time, 20 ms each (a little more with timer rounding): at most ~48/s.
    let url = stalling(None, std::time::Duration::from_millis(20), true).await;
    let dir = temp_dir("load-capacity");
    let started = std::time::Instant::now();
    let mut args = vec!["capacity".to_owned()];
    args.extend(rate_run(
        &url,
        &[
            "--slo",
            "p99<250ms",
            "--start-rate",
            "10/s",
            "--max-in-flight",
            "20",
            "--step",
            "2s",
            "--max-time",
            "60s",
            "--precision",
            "10",
            "--max-late",
            "10",
            "--report-dir",
            dir.to_str().unwrap(),
        ],
    ));
    let output = load(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(started.elapsed().as_secs() < 90, "{:?}", started.elapsed());
    let outcome: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("capacity.json")).unwrap()).unwrap();
    let capacity = outcome["capacity"].as_f64().unwrap();
    let miss = outcome["first_miss"].as_f64().unwrap();
    assert!(
        (10.0..=60.0).contains(&capacity),
        "capacity {capacity}: {stderr}"
    );
    assert!(
        miss > capacity && miss <= 120.0,
        "first miss {miss}: {stderr}"
    );
    assert!(
        stderr.contains(&format!("capacity: {capacity:.0}/s meets every SLO")),
        "{stderr}"
    );
    let html = std::fs::read_to_string(dir.join("capacity.html")).unwrap();
    assert!(html.contains("<polyline") && !html.contains("<script"));

    // An SLO that does not parse is refused before any load.
    let output = load(vec![
        "capacity".into(),
        "--slo".into(),
        "p99<<5".into(),
        "--token-url".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(output.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_jwt_signs_a_fresh_assertion_per_request() {
    // The embedded server registers jwtClient (private_key_jwt) with the fixture key and
    // spends every jti once: a reused assertion would be refused and counted as an error.
    let dir = temp_dir("load-jwt");
    let output = load(
        [
            "--profile",
            "issuance-jwt",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2s",
            "--report-dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("POST issue (private_key_jwt)"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    let json = std::fs::read_to_string(dir.join("load-issuance-jwt.json")).unwrap();
    assert!(!json.contains("eyJ"), "a JWS in the report");

    // A target without a private_key_jwt client is told what to pass.
    let server = start(None).await;
    let output = load(against(&server, "issuance-jwt", &[])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--client-auth private_key_jwt"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_dpop_binds_every_token_and_uses_it_at_the_resource() {
    let server = start(None).await;
    let output = load(against(
        &server,
        "issuance-dpop",
        &["--dpop", "ES256", "--report-dir", "reports-dpop"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("POST issue (DPoP)") && stderr.contains("GET call the resource (DPoP)"),
        "{stderr}"
    );
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    server.shutdown().await;

    // A server that says Bearer for a DPoP-bound token is caught on every request.
    let server = start(Some(Fault::DpopTokenTypeBearer)).await;
    let output = load(against(
        &server,
        "issuance-dpop",
        &["--dpop", "ES256", "--report-dir", "reports-dpop"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("token_type is not DPoP"), "{stderr}");
    server.shutdown().await;

    // Without a DPoP key for a target, the profile says what to pass.
    let server = start(None).await;
    let output = load(against(&server, "issuance-dpop", &[])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dpop ES256"));
    server.shutdown().await;
}

/// `-H/--host` does what Goose users expect: the run's requests go to that origin, the paths
/// staying the target's. Here the target's URLs name a closed port; -H names the server.
/// Without a target, or with more than an origin, it is a usage error.
#[tokio::test(flavor = "multi_thread")]
async fn host_sends_the_runs_requests_to_that_origin() {
    let server = start(None).await;
    let closed = "http://127.0.0.1:9";
    let mut args: Vec<String> = against(&server, "flow", &[])
        .into_iter()
        .map(|a| a.replace(server.base_url(), closed))
        .collect();
    args.extend(["-H".to_owned(), server.base_url().to_owned()]);
    let output = load(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "against {}/oauth2/access_token",
            server.base_url()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("all requests"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    for wrong in [
        vec!["-H".to_owned(), server.base_url().to_owned()],
        against(
            &server,
            "issuance",
            &["-H", &format!("{}/oauth2", server.base_url())],
        ),
        against(&server, "issuance", &["--host", "ftp://127.0.0.1"]),
    ] {
        let output = load(wrong.clone()).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{wrong:?}: {stderr}");
        assert!(stderr.contains("-H/--host"), "{stderr}");
    }
    server.shutdown().await;
}

/// `--no-print-metrics` leaves the end-of-run summary off the terminal; the reports are
/// written all the same.
#[tokio::test(flavor = "multi_thread")]
async fn no_print_metrics_leaves_the_summary_out_and_writes_the_reports() {
    let server = start(None).await;
    let dir = temp_dir("load-quiet");
    let report_dir = dir.to_str().unwrap();
    let output = load(against(
        &server,
        "issuance",
        &["--no-print-metrics", "--report-dir", report_dir],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(" s measured"), "{stderr}");
    assert!(stderr.contains("reports: "), "{stderr}");
    for ext in ["html", "json", "md"] {
        assert!(dir.join(format!("load-issuance.{ext}")).exists(), "{ext}");
    }
    server.shutdown().await;
}

/// The Goose logs grantcheck refuses (they would hold credentials and tokens) are not offered
/// in `load --help` or `load capacity --help`, nor mentioned by other options' help.
#[test]
fn load_help_offers_no_option_grantcheck_refuses() {
    for command in [vec!["load", "--help"], vec!["load", "capacity", "--help"]] {
        let output = crate::common::cli::run(&command);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("--no-print-metrics"), "{command:?}: {help}");
        for refused in [
            "--request-log",
            "--request-body",
            "--request-format",
            "--error-log",
            "--error-format",
            "--debug-log",
            "--debug-format",
            "--no-debug-body",
        ] {
            assert!(!help.contains(refused), "{command:?} offers {refused}");
        }
    }
}
