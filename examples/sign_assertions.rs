//! The load generator's own cost of signing (bench/jwt.sh): how many client assertions
//! (RFC 7523) and DPoP proofs (RFC 9449) one core signs per second, per algorithm, with the
//! same code `grantcheck load` uses. With `--print N`, prints N ES256 assertions for the
//! embedded server's jwtClient (test key) instead, for wrk to replay.
//!
//! `cargo run --release --example sign_assertions [-- --print N AUDIENCE]`

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use grantcheck::jose::dpop::ProofTarget;
use grantcheck::jose::{
    Alg, AssertionBuilder, AssertionFlaw, DpopFlaw, DpopProofBuilder, SigningKey,
};

const CLIENT_KEY: &str = include_str!("../fixtures/keys/client-es256.jwk.json");

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--print") {
        let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(1000);
        let aud = args
            .get(3)
            .cloned()
            .unwrap_or_else(|| "http://127.0.0.1:8080/oauth2/access_token".into());
        let key = Arc::new(SigningKey::from_jwk(CLIENT_KEY, None).expect("the fixture key"));
        let mut builder = AssertionBuilder::new(key, "jwtClient", &aud);
        for _ in 0..n {
            let jwt = builder.build(&AssertionFlaw::None, now()).expect("signs");
            println!("{}", jwt.expose());
        }
        return;
    }
    let rounds = 3000;
    for alg in [Alg::Es256, Alg::Rs256, Alg::Ps256, Alg::EdDsa] {
        let key = Arc::new(SigningKey::generate(alg).expect("a key"));
        let started = Instant::now();
        for _ in 0..rounds {
            let mut builder = AssertionBuilder::new(key.clone(), "client", "http://as/token");
            builder.build(&AssertionFlaw::None, now()).expect("signs");
        }
        let assertions = rounds as f64 / started.elapsed().as_secs_f64();
        let started = Instant::now();
        for _ in 0..rounds {
            let target = ProofTarget {
                method: "POST",
                url: "http://as/token",
                access_token: None,
            };
            DpopProofBuilder::new(key.clone())
                .and_then(|mut b| b.build(DpopFlaw::None, target, now()))
                .expect("signs");
        }
        let proofs = rounds as f64 / started.elapsed().as_secs_f64();
        println!(
            "{alg}: {assertions:.0} client assertions/s, {proofs:.0} DPoP proofs/s on one core"
        );
    }
}
