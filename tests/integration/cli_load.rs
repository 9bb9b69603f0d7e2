//! `grantcheck load`: short, bounded runs on loopback. Wrong answers under load count as
//! errors with their reason, thresholds decide exit 5, and secrets stay out of the output.
//! This file holds the helpers (the `load` command, its arguments against a reference server
//! or a token URL, a reader of raw HTTP/1.1 requests); the tests by subject:
//!
//! - `profiles`: each profile against a correct and a faulty reference server, the embedded
//!   server, JWT and DPoP issuance, `-H/--host`.
//! - `thresholds_and_reports`: exit 5 on a threshold, the reports written and the logs
//!   refused, `--no-print-metrics`, `load --help`.
//! - `misbehaving_sockets`: token endpoints whose bodies never end, are too big, or never
//!   come: the 1 MiB limit and `--run-time` bound the run.
//! - `arrival_rate`: `--rate` against servers whose stalls and service times are known: the
//!   timetable, latency from the intended start, `load compare` and `load capacity`.

mod arrival_rate;
mod misbehaving_sockets;
mod profiles;
mod thresholds_and_reports;

use std::process::Output;

use reference_server::{Fault, ReferenceServer};

use crate::common::cli::run_async;
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
