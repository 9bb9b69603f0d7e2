//! The runner against targets that misbehave at the HTTP level (raw TCP servers): each gives
//! a clear per-case error or verdict within the per-request timeout, the run goes on, and
//! the exit code tells a runtime error (3) from a conformance failure (4). This file holds the
//! misbehaving server (`Behaviour`, `serve`, `answer`) and the tests of those three promises;
//! the others by subject:
//!
//! - `deadlines`: `--timeout` and `--deadline` bound a hanging target, discovery and the
//!   preflight, and cut a waiting request short.
//! - `body_limits`: metadata, JWKS and resource bodies stop at 1 MiB, and the process stays
//!   small.

mod body_limits;
mod deadlines;

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
