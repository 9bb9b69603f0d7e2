//! Soak: sustained issuance with 2-second tokens for a bounded time on loopback. The token
//! store and the process's memory must level off, and every token must introspect active
//! until it expires and inactive after. Ignored by default; `.ci/run` runs it for 30 s:
//!
//!     GRANTCHECK_SOAK_SECS=60 cargo test --release --test integration soak -- --ignored --nocapture

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::server::*;
use reference_server::ServerConfig;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a soak test: run with --ignored (bounded by GRANTCHECK_SOAK_SECS, default 60)"]
async fn sustained_issuance_keeps_memory_bounded_and_tokens_correct() {
    let secs: u64 = std::env::var("GRANTCHECK_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
        .clamp(5, 600);
    let ttl = Duration::from_secs(2);
    let config = ServerConfig {
        token_ttl: ttl,
        purge_interval: Duration::from_millis(250),
        ..ServerConfig::default()
    };
    let server = Arc::new(start(config).await);
    let stop = Arc::new(AtomicBool::new(false));
    let issued = Arc::new(AtomicU64::new(0));
    let checked = Arc::new(AtomicU64::new(0));

    // Issuers: 8 loops issuing as fast as the server answers.
    let mut issuers = Vec::new();
    for _ in 0..8 {
        let (server, stop, issued) = (server.clone(), stop.clone(), issued.clone());
        issuers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                issue(&server, "myClient", "forgerock", None).await;
                issued.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // A checker: a fresh token is active now and inactive once expired.
    let checker = {
        let (server, stop, checked) = (server.clone(), stop.clone(), checked.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let token = issue(&server, "myClient", "forgerock", None).await;
                assert_eq!(
                    introspect(&server, &token).await["active"],
                    true,
                    "a fresh token must be active"
                );
                tokio::time::sleep(ttl + Duration::from_millis(1100)).await;
                assert_eq!(
                    introspect(&server, &token).await["active"],
                    false,
                    "an expired token must be inactive"
                );
                checked.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let started = Instant::now();
    let rss_start = rss_kib();
    let (mut max_tokens, mut samples) = (0usize, Vec::new());
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let held = server.stored_tokens();
        max_tokens = max_tokens.max(held);
        samples.push((started.elapsed().as_secs(), held, rss_kib()));
    }
    stop.store(true, Ordering::Relaxed);
    for issuer in issuers {
        issuer.await.unwrap();
    }
    checker.await.expect("the checker's assertions held");

    let total = issued.load(Ordering::Relaxed);
    let rate = total as f64 / secs as f64;
    let half = samples.len() / 2;
    let rss_mid = samples[half].2;
    let rss_end = samples.last().unwrap().2;
    println!("soak: {secs} s, {total} tokens issued ({rate:.0}/s), at most {max_tokens} held, {} expiry checks", checked.load(Ordering::Relaxed));
    println!(
        "soak: RSS {rss_start} KiB at start, {rss_mid} KiB at half time, {rss_end} KiB at the end"
    );
    // The store holds about ttl + purge delay worth of tokens, never the whole run.
    let bound = (rate * 5.0) as usize + 1000;
    assert!(
        max_tokens <= bound,
        "{max_tokens} tokens held, more than ~5 s of issuance ({bound})"
    );
    assert!(
        total as usize > max_tokens * 2 || secs < 10,
        "the run issued far more than it holds"
    );
    // Memory levels off: the second half grows by less than a tenth.
    assert!(
        rss_end <= rss_mid + rss_mid / 10 + 4096,
        "RSS grew from {rss_mid} to {rss_end} KiB in the second half"
    );
    assert!(checked.load(Ordering::Relaxed) > 0);
    tokio::time::sleep(ttl + Duration::from_millis(1500)).await;
    assert_eq!(
        server.stored_tokens(),
        0,
        "every token expired and was purged"
    );
}
