//! The release spread grantcheck's races achieve (README "Races and clusters"): the time
//! from the first copy's last byte written to the last copy's, over many races of a token
//! request against the embedded reference server on loopback, as `conform` runs them.
//!
//! `cargo run --example race_spread -- [RACES] [--tls]` (default 200 races of 20 and of 100
//! copies each); prints p50, p99 and max per width, and how many races were over 1 ms.

use std::time::Duration;

use grantcheck::http::{race, BuiltRequest, TlsTrust};
use reference_server::{ReferenceServer, ServerConfig, TlsIdentity, ROOT_REALM};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let races: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200);
    let tls = args.iter().any(|a| a == "--tls");
    let identity = tls.then(|| TlsIdentity::generate(&[]).unwrap());
    let mut trust = TlsTrust::default();
    if let Some(identity) = &identity {
        trust
            .add_pem(identity.certificate_pem().as_bytes())
            .unwrap();
    }
    let config = ServerConfig {
        tls: identity,
        ..ServerConfig::default()
    };
    let server = ReferenceServer::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let request = BuiltRequest {
        method: reqwest::Method::POST,
        url: server.token_url(ROOT_REALM),
        headers: vec![
            (
                "authorization".into(),
                "Basic bXlDbGllbnQ6Zm9yZ2Vyb2Nr".into(),
            ),
            (
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: "grant_type=client_credentials".into(),
        scope: None,
    };
    let config = tls.then(|| trust.rustls_config(None).unwrap());
    println!(
        "{races} races per width against the embedded server ({}), loopback",
        if tls { "HTTPS" } else { "plain HTTP" }
    );
    for copies in [20, 100] {
        let mut spreads = Vec::with_capacity(races);
        for _ in 0..races {
            let armed = race::arm(
                std::slice::from_ref(&request),
                copies,
                config.clone(),
                Duration::from_secs(10),
                1 << 20,
            )
            .await
            .unwrap();
            let released = armed.run().await.unwrap();
            assert!(released.answers.iter().all(|a| a.is_ok()));
            spreads.push(released.spread.as_secs_f64() * 1000.0);
        }
        spreads.sort_by(f64::total_cmp);
        let at = |q: f64| spreads[((spreads.len() as f64 - 1.0) * q).round() as usize];
        let over = spreads.iter().filter(|s| **s > 1.0).count();
        println!(
            "N={copies:>3}: spread p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {over} of {races} over 1 ms",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}
