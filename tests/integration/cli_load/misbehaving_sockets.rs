//! `load` against token endpoints that misbehave at the socket: response bodies are read up to
//! 1 MiB and no further, and `--run-time` bounds a run against a target that never answers.

use crate::common::cli::temp_dir;

use super::{load, rate_run, read_request};

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
