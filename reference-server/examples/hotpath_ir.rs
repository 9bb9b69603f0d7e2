//! A deterministic driver for instruction counts (the machine's wall clock is shared, and
//! perf counters are unavailable): one current-thread runtime serves the reference server (or
//! a fixed-body hyper server) and sends it `N` keep-alive requests over one loopback
//! connection with a raw, nearly free client. Run it under callgrind with `N` and `10×N`;
//! the difference over `9×N` is the cost of one request.
//!
//! ```text
//! cargo build --release -p reference-server --example hotpath_ir
//! for n in 2000 20000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/ir.basic.$n \
//!     target/release/examples/hotpath_ir basic $n
//! done   # then: callgrind_annotate /tmp/ir.basic.$n | head (Ir totals)
//! ```
//!
//! Modes: `basic` (client_secret_basic issuance), `post` (client_secret_post issuance),
//! `introspect` (a live token, as the resource server's client), `fixed` (the fixed-body
//! hyper server of `examples/fixed_token_server.rs`).
//!
//! The client's own share (about 7,200-7,500 Ir a request, mostly clearing its read buffer)
//! is the inclusive cost of `hotpath_ir::exchange::{{closure}}` in `callgrind_annotate
//! --inclusive=yes`; subtract it (at both N) to get the server's cost alone. Issue 20, before
//! → after, server Ir per request: Basic issuance 36,645 → 31,254, client_secret_post
//! 36,898 → 31,396, introspection of a live token 35,711 → 30,733; the fixed-body server
//! 15,580.

use std::convert::Infallible;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use reference_server::{BruteForce, ReferenceServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const BODY: &str = r#"{"access_token":"QV3tN2wzw5h26TU4y85ByXwunE3RJ_AtpppP9OeeNuE","token_type":"Bearer","expires_in":3600,"scope":"write"}"#;

fn basic(id: &str, secret: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {encoded}")
}

fn request(path: &str, authorization: Option<&str>, body: &str) -> Vec<u8> {
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request` and reads one response (`Content-Length` bodies only); returns the body.
async fn exchange(stream: &mut TcpStream, request: &[u8], buf: &mut Vec<u8>) -> Vec<u8> {
    stream.write_all(request).await.unwrap();
    buf.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])
                .unwrap()
                .to_ascii_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            if buf.len() >= end + 4 + length {
                return buf[end + 4..end + 4 + length].to_vec();
            }
        }
    }
}

async fn fixed_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
                    let _ = req.into_body().collect().await;
                    let mut response =
                        hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                    response
                        .headers_mut()
                        .insert("content-type", "application/json".parse().unwrap());
                    response
                        .headers_mut()
                        .insert("cache-control", "no-store".parse().unwrap());
                    Ok::<_, Infallible>(response)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "basic".into());
    let n: usize = args.next().map_or(1000, |n| n.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        // As `grantcheck serve` runs by default: brute-force protection on, no stderr lines.
        let config = ServerConfig {
            brute_force: Some(BruteForce {
                max_failures: 50,
                window: Duration::from_secs(60),
                max_delay: Duration::from_secs(30),
            }),
            log_security_events: false,
            ..ServerConfig::default()
        };
        let mut _server = None;
        let addr = if mode == "fixed" {
            fixed_server().await
        } else {
            let server = ReferenceServer::start(config, "127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            let addr = server.addr();
            _server = Some(server);
            addr
        };
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        let mut buf = Vec::with_capacity(8192);
        let my = basic("myClient", "forgerock");
        let issue = request(
            "/oauth2/access_token",
            Some(&my),
            "grant_type=client_credentials",
        );
        let the_request = match mode.as_str() {
            "basic" | "fixed" => issue,
            "post" => request(
                "/oauth2/access_token",
                None,
                "grant_type=client_credentials&client_id=myClient&client_secret=forgerock",
            ),
            "introspect" => {
                let body = exchange(&mut stream, &issue, &mut buf).await;
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let token = json["access_token"].as_str().unwrap().to_owned();
                request(
                    "/oauth2/introspect",
                    Some(&basic("rs-client", "rs-secret")),
                    &format!("token={token}"),
                )
            }
            other => panic!("unknown mode {other}"),
        };
        let mut last = Vec::new();
        for _ in 0..n {
            last = exchange(&mut stream, &the_request, &mut buf).await;
        }
        if mode == "introspect" {
            assert!(last.starts_with(b"{\"active\":true"), "{last:?}");
        }
        println!("{mode}: {n} requests, last body {} bytes", last.len());
    });
}
