//! The reference server under abuse (issue 14 items 5–10), in-process on loopback: brute
//! force that must not become a denial of service, a throttle table that junk cannot switch
//! off, a bounded token store, a bounded number of connections, and the security log.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::StatusCode;
use reference_server::{BruteForce, ReferenceServer, ServerConfig, TokenFormat};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::server::*;

const CC: &str = "grant_type=client_credentials";

fn guarded(max_failures: u32) -> ServerConfig {
    ServerConfig {
        brute_force: Some(BruteForce {
            max_failures,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(30),
        }),
        ..ServerConfig::default()
    }
}

fn http() -> reqwest::Client {
    grantcheck::http::client_builder(Duration::from_secs(10), &Default::default())
        .build()
        .unwrap()
}

/// A token request with Basic credentials: the status and `Retry-After`.
async fn ask(http: &reqwest::Client, url: &str, id: &str, secret: &str) -> (u16, Option<u64>) {
    let reply = http
        .post(url)
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let retry_after = reply
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (reply.status().as_u16(), retry_after)
}

/// Item 5: 50 bad secrets for `rs-client` used to make `/api/resource` answer 503 for 30 s.
/// Here strangers at the very address the resource server introspects from (loopback) flood
/// introspection with bad `rs-client` secrets; they wait, the resource keeps serving.
#[tokio::test]
async fn a_flood_of_bad_rs_client_secrets_does_not_take_the_resource_down() {
    let server = start(guarded(5)).await;
    let token = issue(&server, "myClient", "forgerock", Some("write")).await;
    let http = http();
    let url = server.introspection_url("root");
    let mut refused = 0;
    for _ in 0..100 {
        let reply = http
            .post(&url)
            .basic_auth("rs-client", Some("a-guess"))
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        refused += usize::from(reply.status() == StatusCode::TOO_MANY_REQUESTS);
    }
    assert!(
        refused >= 90,
        "the stranger waits: {refused} of 100 got 429"
    );
    let outsider = ask(&http, &url, "rs-client", "rs-secret").await;
    assert_eq!(outsider.0, 429, "even with the right secret, from outside");
    for _ in 0..5 {
        let reply = call_resource(&server, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    }
    let events = server.security_events();
    assert_eq!(events.len(), 1, "one line for the flood: {events:?}");
    assert!(
        events[0].contains("client 'rs-client' from 127.0.0.1"),
        "{events:?}"
    );
    assert!(!events[0].contains("a-guess") && !events[0].contains(&token));
}

/// Item 5: delays grow instead of a hard lockout, and a client that waits its delay out
/// gets its token with the right secret.
#[tokio::test]
async fn failures_past_the_limit_make_the_client_wait_longer_each_time_not_lock_out() {
    let server = start(guarded(3)).await;
    let (http, url) = (http(), server.token_url("root"));
    for _ in 0..3 {
        assert_eq!(ask(&http, &url, "myClient", "wrong").await.0, 401);
    }
    assert_eq!(
        ask(&http, &url, "myClient", "forgerock").await,
        (429, Some(1))
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(ask(&http, &url, "myClient", "wrong").await.0, 401);
    assert_eq!(
        ask(&http, &url, "myClient", "forgerock").await,
        (429, Some(2))
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(ask(&http, &url, "myClient", "forgerock").await.0, 200);
    // The success cleared the count: the free failures are back.
    for _ in 0..3 {
        assert_eq!(ask(&http, &url, "myClient", "wrong").await.0, 401);
    }
}

/// Item 6: 10,000 junk client ids, then guesses for `myClient`, used to get no 429 at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_client_ids_cannot_switch_the_protection_off() {
    let server = Arc::new(start(guarded(50)).await);
    let url = server.token_url("root");
    let started = Instant::now();
    let mut senders = Vec::new();
    for worker in 0..8 {
        let url = url.clone();
        senders.push(tokio::spawn(async move {
            let http = http();
            for i in 0..1250 {
                let id = format!("junk-{worker}-{i}");
                assert_eq!(ask(&http, &url, &id, "x").await.0, 401);
            }
        }));
    }
    for sender in senders {
        sender.await.unwrap();
    }
    println!("10,000 junk ids in {:?}", started.elapsed());
    let http = http();
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(ask(&http, &url, "myClient", "guess").await.0);
    }
    assert!(statuses[..50].iter().all(|s| *s == 401), "{statuses:?}");
    assert!(statuses[50..].iter().all(|s| *s == 429), "{statuses:?}");
}

/// Item 7: the store holds at most `max_live_tokens`; past it the token endpoint answers 503
/// with `Retry-After` (when the first token expires) instead of growing, and recovers as
/// tokens expire or are revoked. JWT mode is bounded the same way.
#[tokio::test]
async fn a_full_token_store_answers_503_and_recovers_as_tokens_expire() {
    for format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let server = start(ServerConfig {
            max_live_tokens: Some(20),
            token_ttl: Duration::from_secs(2),
            token_format: format,
            purge_interval: Duration::from_millis(100),
            ..ServerConfig::default()
        })
        .await;
        let url = server.token_url("root");
        let mut tokens = Vec::new();
        for _ in 0..20 {
            tokens.push(issue(&server, "myClient", "forgerock", None).await);
        }
        let full = post_basic(&url, "myClient", "forgerock", CC).await;
        assert_eq!(full.status, StatusCode::SERVICE_UNAVAILABLE, "{format:?}");
        assert_eq!(full.error(), "temporarily_unavailable");
        let retry: u64 = full.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        assert_eq!(full.header("cache-control"), Some("no-store"));
        assert_eq!(server.stored_tokens(), 20);
        // Held tokens still work while the store is full.
        assert_eq!(introspect(&server, &tokens[0]).await["active"], true);
        // A revocation frees a place at once.
        let revoked = post_basic(
            &server.revocation_url("root"),
            "myClient",
            "forgerock",
            &format!("token={}", tokens[0]),
        )
        .await;
        assert_eq!(revoked.status, StatusCode::OK);
        issue(&server, "myClient", "forgerock", None).await;
        assert_eq!(
            post_basic(&url, "myClient", "forgerock", CC).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        // Expiry frees the rest.
        tokio::time::sleep(Duration::from_millis(3200)).await;
        for _ in 0..20 {
            issue(&server, "myClient", "forgerock", None).await;
        }
        let events = server.security_events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            events[0].contains("token store full (20 tokens held)"),
            "{events:?}"
        );
    }
}

/// A raw connection that sends `head` (which never ends) and keeps the socket open.
async fn stalled(server: &ReferenceServer, head: &[u8]) -> TcpStream {
    let mut socket = TcpStream::connect(server.addr()).await.unwrap();
    let _ = socket.write_all(head).await;
    socket
}

/// Item 8: 5,000 sockets each holding an incomplete head used to hold 548 MB and, at the fd
/// limit, make a normal client wait 20 s. At `max_connections` the longest-idle connection
/// (these stalled ones) is closed for each new one, so a normal client is served at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_limit_stalled_connections_make_room_for_real_clients() {
    let server = start(ServerConfig {
        max_connections: 40,
        ..ServerConfig::default()
    })
    .await;
    let head = format!(
        "POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\nx-pad: {}",
        "p".repeat(12 * 1024)
    );
    let mut held = Vec::new();
    for _ in 0..200 {
        held.push(stalled(&server, head.as_bytes()).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        server.open_connections() <= 40,
        "{}",
        server.open_connections()
    );
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        post_basic(&server.token_url("root"), "myClient", "forgerock", CC),
    )
    .await
    .expect("a normal client is answered at the limit");
    let waited = started.elapsed();
    println!("at the connection limit a normal client waited {waited:?}");
    assert_eq!(reply.status, StatusCode::OK);
    assert!(waited < Duration::from_secs(1), "{waited:?}");
    // The oldest stalled sockets were closed by the server.
    let mut first = held.remove(0);
    let mut buf = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(2), first.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
    let events = server.security_events();
    let shed: Vec<_> = events
        .iter()
        .filter(|l| l.contains("longest idle"))
        .collect();
    assert_eq!(shed.len(), 1, "logged once: {events:?}");
}

/// Item 8: a request head over 16 KiB is refused (431) rather than buffered, so stalled
/// connections cannot each hold a large buffer.
#[tokio::test]
async fn a_60_kb_incomplete_head_is_refused_not_buffered() {
    let server = start(ServerConfig::default()).await;
    let head = format!(
        "POST /oauth2/access_token HTTP/1.1\r\nhost: x\r\nx-pad: {}",
        "p".repeat(60 * 1024)
    );
    let mut socket = stalled(&server, head.as_bytes()).await;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server closed the connection without waiting for the head"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    drop(socket);
    let started = Instant::now();
    while server.open_connections() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the connection is released"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
