//! Hanging targets against the per-request timeout and the run deadline: the run ends about
//! when its deadline says (discovery and the preflight included), and says what stopped it.

use std::time::{Duration, Instant};

use grantcheck::runner::{self, Outcome, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::cli::grantcheck;

use super::{serve, target, Behaviour};

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
