//! The per-request work of the reference server (and of the load generator's response
//! handling), for `bench/guard.sh` to count in instructions under callgrind.
//!
//! Wall-clock figures on a shared 2-core machine move by ±15%; instruction counts of the same
//! binary and inputs do not, so a 10% growth in one of these figures is a real cost that a
//! change has to justify. Each scenario starts the reference server in-process on a
//! current-thread runtime, prepares every request it will send (client assertions and DPoP
//! proofs are signed beforehand, so the client's signing is not counted), warms up, and then
//! sends the requests one after another on one keep-alive connection inside [`measured`],
//! the only function callgrind collects in (`--toggle-collect`). What is counted is
//! everything the process does per request: hyper's parsing, admission, routing, the
//! endpoint's decision, the token store, the reply, and the bench's own minimal client
//! (a write and a read of bytes, no parsing beyond the status line and Content-Length).
//! `generator-response` counts the load generator's side instead: the checks and recording
//! `grantcheck load` does for every response, on a canned one.
//!
//!   per_request SCENARIO [N]      run one scenario (N requests, default 1000)
//!   per_request --list            the scenarios, one per line

use std::sync::Arc;

#[path = "support/fixed_body.rs"]
mod fixed_body;

use base64::Engine;
use grantcheck::jose::dpop::ProofTarget;
use grantcheck::jose::{AssertionBuilder, AssertionFlaw, DpopFlaw, DpopProofBuilder, SigningKey};
use grantcheck::load::check::{process_issuance_response, ResponseView};
use grantcheck::load::recorder::{Recorder, Request};
use reference_server::{ReferenceServer, ServerConfig, ROOT_REALM};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

/// Requests sent before counting starts: first-use allocations and lazy initialisation are
/// not per-request work.
const WARM_UP: usize = 100;

const SCENARIOS: &[(&str, &str)] = &[
    ("issuance-basic", "token request, client_secret_basic"),
    ("issuance-post", "token request, client_secret_post"),
    (
        "issuance-jwt",
        "token request, private_key_jwt (ES256 assertion)",
    ),
    ("issuance-dpop", "token request with a DPoP proof (ES256)"),
    ("introspection", "introspection of a live token"),
    (
        "resource",
        "resource call with a Bearer token (introspected)",
    ),
    (
        "generator-response",
        "the load generator's handling of one issuance response: checks and recording",
    ),
    (
        "fixed-body",
        "Basic token request to a bare hyper server with a fixed answer (the ceiling)",
    ),
];

const CLIENT_KEY: &str = include_str!("../fixtures/keys/client-es256.jwk.json");

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first() else {
        eprintln!("usage: per_request SCENARIO [N] | --list");
        std::process::exit(2);
    };
    if scenario == "--list" {
        for (name, what) in SCENARIOS {
            println!("{name}\t{what}");
        }
        return;
    }
    if !SCENARIOS.iter().any(|(name, _)| name == scenario) {
        eprintln!("unknown scenario '{scenario}' (per_request --list)");
        std::process::exit(2);
    }
    let n: usize = match args.get(1).map(|s| s.parse()) {
        None => 1000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("N must be a positive number of requests");
            std::process::exit(2);
        }
    };

    if scenario == "generator-response" {
        generator_response(n);
        println!("{scenario}: {n} responses checked and recorded");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let server = runtime
        .block_on(ReferenceServer::start(
            ServerConfig::default(),
            "127.0.0.1:0".parse().expect("an address"),
        ))
        .expect("the reference server starts");
    let requests = prepare(&runtime, &server, scenario, WARM_UP + n);
    let address = if scenario == "fixed-body" {
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind the fixed-body server");
            let address = listener.local_addr().expect("its address");
            tokio::spawn(fixed_body::serve(listener));
            address
        })
    } else {
        server.addr()
    };
    let mut connection = runtime
        .block_on(TcpStream::connect(address))
        .expect("connect to the reference server");
    connection.set_nodelay(true).expect("TCP_NODELAY");
    let mut buffer = Vec::with_capacity(16 * 1024);
    exchange_all(&runtime, &mut connection, &requests[..WARM_UP], &mut buffer);
    measured(&runtime, &mut connection, &requests[WARM_UP..], &mut buffer);
    println!("{scenario}: {n} requests answered 200");
}

/// The counted loop: callgrind collects only inside this function (and what it calls). The
/// warm-up calls `exchange_all` directly: two functions with the same body could be folded
/// into one symbol, and the warm-up would be counted too.
#[inline(never)]
fn measured(runtime: &Runtime, stream: &mut TcpStream, requests: &[Vec<u8>], buffer: &mut Vec<u8>) {
    exchange_all(runtime, stream, requests, buffer);
    std::hint::black_box(requests.len());
}

#[inline(always)]
fn exchange_all(
    runtime: &Runtime,
    stream: &mut TcpStream,
    requests: &[Vec<u8>],
    buffer: &mut Vec<u8>,
) {
    runtime.block_on(async {
        for request in requests {
            stream.write_all(request).await.expect("send a request");
            let status = read_response(stream, buffer).await;
            if status != 200 {
                panic!(
                    "the server answered {status}: {}",
                    String::from_utf8_lossy(buffer)
                );
            }
        }
    });
}

/// Reads one response (head and a Content-Length body) into `buffer`; returns its status.
/// Kept cheap (no zeroed read buffer, one pass over the head's lines) because its
/// instructions are counted with the server's.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> u16 {
    buffer.clear();
    loop {
        if let Some((status, head_end, length)) = parse_head(buffer) {
            if buffer.len() >= head_end + length {
                return status;
            }
        }
        buffer.reserve(4096);
        let read = stream.read_buf(buffer).await.expect("read a response");
        assert!(read > 0, "the server closed the connection");
    }
}

/// The status, where the body starts and its Content-Length, once the head is complete.
fn parse_head(buffer: &[u8]) -> Option<(u16, usize, usize)> {
    let status = buffer.get(9..12)?;
    let status = status
        .iter()
        .fold(0u16, |n, &d| n * 10 + u16::from(d.wrapping_sub(b'0')));
    let mut length = None;
    let mut offset = 0;
    for line in buffer.split(|&b| b == b'\n') {
        offset += line.len() + 1;
        if line == b"\r" {
            return Some((status, offset, length.expect("a Content-Length header")));
        }
        if line.len() > 15 && line[..15].eq_ignore_ascii_case(b"content-length:") {
            let digits = line[15..].iter().filter(|b| b.is_ascii_digit());
            length = Some(digits.fold(0usize, |n, &d| n * 10 + usize::from(d - b'0')));
        }
    }
    None
}

/// `grantcheck load`'s per-response work (`load::check::process_issuance_response`) on one
/// canned token response, as the engine does it for every response: no network, no clock.
fn generator_response(n: usize) {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        reqwest::header::HeaderValue::from_static("application/json"),
    );
    headers.insert(
        reqwest::header::CACHE_CONTROL,
        reqwest::header::HeaderValue::from_static("no-store"),
    );
    let response = ResponseView {
        status: 200,
        headers: &headers,
        body: fixed_body::BODY.as_bytes(),
    };
    let mut recorder = Recorder::new();
    handle_responses(&mut recorder, &response, WARM_UP);
    measured_generator(&mut recorder, &response, n);
}

/// The counted loop of `generator-response` (the toggle's pattern is `measured*`).
#[inline(never)]
fn measured_generator(recorder: &mut Recorder, response: &ResponseView<'_>, n: usize) {
    handle_responses(recorder, response, n);
}

#[inline(always)]
fn handle_responses(recorder: &mut Recorder, response: &ResponseView<'_>, n: usize) {
    for i in 0..n {
        // Latencies spread over the histogram's buckets, as a real run's are.
        let latency_us = 100 + (i as u64 * 7919) % 20_000;
        let token =
            process_issuance_response(recorder, Request::IssueBasic, response, latency_us, 0, None);
        assert!(token.is_some(), "the canned response passes every check");
    }
}

/// Every request the scenario sends, as bytes, so the counted loop only writes them.
fn prepare(
    runtime: &Runtime,
    server: &ReferenceServer,
    scenario: &str,
    count: usize,
) -> Vec<Vec<u8>> {
    let host = server.addr().to_string();
    let token_url = server.token_url(ROOT_REALM);
    let token_path = path_of(&token_url);
    let basic = |id: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        )
    };
    let post = |path: &str, headers: &[(&str, &str)], body: &str| {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        request.into_bytes()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs();
    let key = || Arc::new(SigningKey::from_jwk(CLIENT_KEY, None).expect("the fixture key"));
    let main_basic = basic("myClient", "forgerock");
    match scenario {
        "issuance-basic" | "fixed-body" => {
            let request = post(
                &token_path,
                &[("Authorization", &main_basic)],
                "grant_type=client_credentials",
            );
            vec![request; count]
        }
        "issuance-post" => {
            let request = post(
                &token_path,
                &[],
                "grant_type=client_credentials&client_id=myClient&client_secret=forgerock",
            );
            vec![request; count]
        }
        "issuance-jwt" => {
            let key = key();
            (0..count)
                .map(|_| {
                    let assertion = AssertionBuilder::new(key.clone(), "jwtClient", &token_url)
                        .build(&AssertionFlaw::None, now)
                        .expect("an assertion");
                    let body = format!(
                        "grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                        assertion.expose()
                    );
                    post(&token_path, &[], &body)
                })
                .collect()
        }
        "issuance-dpop" => {
            let mut builder = DpopProofBuilder::new(key()).expect("a DPoP proof builder");
            (0..count)
                .map(|_| {
                    let target = ProofTarget {
                        method: "POST",
                        url: &token_url,
                        access_token: None,
                    };
                    let proof = builder
                        .build(DpopFlaw::None, target, now)
                        .expect("a DPoP proof");
                    post(
                        &token_path,
                        &[("Authorization", &main_basic), ("DPoP", proof.expose())],
                        "grant_type=client_credentials",
                    )
                })
                .collect()
        }
        "introspection" => {
            let token = issue(runtime, server, &host, &token_path, &main_basic);
            let request = post(
                &path_of(&server.introspection_url(ROOT_REALM)),
                &[("Authorization", &basic("rs-client", "rs-secret"))],
                &format!("token={token}"),
            );
            vec![request; count]
        }
        "resource" => {
            let token = issue(runtime, server, &host, &token_path, &main_basic);
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n",
                path_of(&server.resource_url())
            )
            .into_bytes();
            vec![request; count]
        }
        other => unreachable!("scenario '{other}' was checked against SCENARIOS"),
    }
}

/// One token for the introspection and resource scenarios (live for the whole run).
fn issue(
    runtime: &Runtime,
    server: &ReferenceServer,
    host: &str,
    path: &str,
    basic: &str,
) -> String {
    let body = "grant_type=client_credentials";
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {basic}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    runtime.block_on(async {
        let mut stream = TcpStream::connect(server.addr()).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut buffer = Vec::new();
        assert_eq!(
            read_response(&mut stream, &mut buffer).await,
            200,
            "issue a token"
        );
        let text = String::from_utf8_lossy(&buffer);
        let (_, rest) = text
            .split_once("\"access_token\":\"")
            .expect("an access_token");
        rest.split('"').next().expect("a closing quote").to_owned()
    })
}

fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or_else(|| "/".to_owned(), |i| after_scheme[i..].to_owned())
}
