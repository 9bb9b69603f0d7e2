//! The race cases (scenarios/race): they pass the reference server run after run, plain and
//! over HTTPS (with a client certificate where the client is mutual-TLS), and fail a server
//! whose checks race: a small hand-written one here, whose check-then-insert steps sleep
//! between the check and the insert, as a slow store would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use grantcheck::case::{Case, Role};
use grantcheck::http::TlsTrust;
use grantcheck::jose::{Alg, SigningKey};
use grantcheck::runner::{self, CaseResult, Outcome, Settings};
use grantcheck::target::{AuthMethod, ClientCredentials, Target};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use reference_server::{ServerConfig, TlsIdentity};
use serde_json::{json, Value};

use crate::common::server;

fn race_cases() -> Vec<Case> {
    grantcheck::case::builtin()
        .unwrap()
        .into_iter()
        .filter(|c| c.area == "race")
        .collect()
}

/// The reference server (over HTTPS with `tls`), its target after the preflight, and the
/// run's HTTP client, as `conform` (with `--embedded-tls`) makes them.
async fn reference(tls: bool) -> (reference_server::ReferenceServer, Target, reqwest::Client) {
    let identity = tls.then(|| TlsIdentity::generate(&[]).unwrap());
    let mut trust = TlsTrust::default();
    if let Some(identity) = &identity {
        trust
            .add_pem(identity.certificate_pem().as_bytes())
            .unwrap();
    }
    let server = server::start(ServerConfig {
        tls: identity,
        ..ServerConfig::default()
    })
    .await;
    let settings = Settings::default();
    let http = grantcheck::http::client(settings.request_timeout, &trust).unwrap();
    let mut target = grantcheck::target::embedded(&server, &http).await;
    if tls {
        let clients = grantcheck::mtls::MtlsClients::embedded(settings.request_timeout, &trust);
        target.mtls = Some(Arc::new(clients.unwrap()));
        target.race_tls = Some(trust.rustls_config(None).unwrap());
    }
    let preflight = grantcheck::preflight::run(&mut target, &settings, &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    (server, target, http)
}

async fn run(target: &Target, http: &reqwest::Client, settings: &Settings) -> Vec<CaseResult> {
    runner::run_cases(target, &race_cases(), settings, http, |_| {}).await
}

fn find<'a>(results: &'a [CaseResult], id: &str) -> &'a CaseResult {
    results.iter().find(|r| r.id == id).unwrap()
}

/// 100 runs in a row, plain and over HTTPS: every race case passes each time (none blocked
/// as not conclusive); the brute-force race is opt-in and skips.
#[tokio::test]
async fn the_race_cases_pass_the_reference_server_a_hundred_times_plain_and_over_https() {
    for tls in [false, true] {
        let (_server, target, http) = reference(tls).await;
        let settings = Settings::default();
        let mut retried = 0;
        for round in 0..100 {
            let results = run(&target, &http, &settings).await;
            for r in &results {
                let fine = match r.id.as_str() {
                    "RACE-006" => r.outcome == Outcome::Skip,
                    _ => r.outcome == Outcome::Pass,
                };
                assert!(
                    fine,
                    "tls={tls} round {round}: {} {:?}: {}",
                    r.id, r.outcome, r.detail
                );
                retried += r.race.as_ref().map_or(0, |s| s.tries - 1);
            }
        }
        eprintln!("tls={tls}: 100 rounds, {retried} races tried again for their spread");
    }
}

/// Over HTTPS a mutual-TLS main client's races present its certificate: the server would
/// refuse every copy without it.
#[tokio::test]
async fn a_mutual_tls_clients_races_present_its_certificate() {
    let (_server, mut target, http) = reference(true).await;
    let mtls = ClientCredentials::with_method("mtlsClient", None, AuthMethod::TlsClientAuth);
    target.clients.insert(Role::Main, mtls);
    let settings = Settings::default();
    let cases: Vec<Case> = race_cases()
        .into_iter()
        .filter(|c| c.id == "RACE-005")
        .collect();
    let results = runner::run_cases(&target, &cases, &settings, &http, |_| {}).await;
    let r = &results[0];
    assert_eq!(r.outcome, Outcome::Pass, "{}", r.detail);
    let race = r.exchanges[0].race.as_ref().unwrap();
    assert_eq!(race.answers, "20 × 200");
    let shown = &r.exchanges[0].request.body;
    assert!(shown.contains("client_id=mtlsClient"), "{shown}");
}

/// `--race-width` and `--race-spread`: the copies sent, and a bound no race can meet makes
/// the case not conclusive (blocked, never passed) after three tries.
#[tokio::test]
async fn the_width_is_the_runs_and_a_spread_over_the_bound_is_not_conclusive() {
    let (_server, target, http) = reference(false).await;
    let settings = Settings {
        race_width: 7,
        ..Settings::default()
    };
    let results = run(&target, &http, &settings).await;
    let r = find(&results, "RACE-005");
    assert_eq!(r.exchanges[0].race.as_ref().unwrap().answers, "7 × 200");
    assert_eq!(r.race.as_ref().unwrap().copies, 7);
    let settings = Settings {
        race_spread: Duration::from_nanos(1),
        ..Settings::default()
    };
    let results = run(&target, &http, &settings).await;
    for id in ["RACE-001", "RACE-002", "RACE-005"] {
        let r = find(&results, id);
        assert_eq!(r.outcome, Outcome::Blocked, "{id}: {}", r.detail);
        assert!(
            r.detail.starts_with("race not conclusive: release spread "),
            "{id}: {}",
            r.detail
        );
        assert_eq!(r.race.as_ref().unwrap().tries, 3, "{id}");
    }
}

/// A server whose single-use and store checks race fails the race cases, while it keeps
/// every rule one request at a time (each case's premise holds).
#[tokio::test]
async fn a_server_whose_checks_race_fails_the_race_cases() {
    let racy = Racy::start().await;
    let results = run(
        &racy.target(),
        &reqwest::Client::new(),
        &Settings::default(),
    )
    .await;
    // The assertion's single use (SHOULD): every copy got a token.
    let r = find(&results, "RACE-001");
    assert_eq!(r.outcome, Outcome::Warn, "{}", r.detail);
    assert!(r.detail.contains("20 of 20 copies"), "{}", r.detail);
    // The proof's single use, at the token endpoint and the resource, is recorded (INFO):
    // what the server did is said.
    for id in ["RACE-002", "RACE-003"] {
        let r = find(&results, id);
        assert_eq!(r.outcome, Outcome::Pass, "{id}: {}", r.detail);
        assert!(r.detail.contains("answered 20 × 200"), "{id}: {}", r.detail);
    }
    // A stale entry written back by an introspection in flight across the revocation.
    let r = find(&results, "RACE-004");
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.detail);
    assert!(r.detail.contains("20 of 20 introspections"), "{}", r.detail);
    // Records written back whole: the last writer's token is the only one left.
    let r = find(&results, "RACE-005");
    assert_eq!(r.outcome, Outcome::Fail, "{}", r.detail);
    assert!(r.detail.contains("19 of 20 tokens"), "{}", r.detail);
}

/// RACE-006 (opt-in): the reference server's throttle counts atomically, so of the wrong
/// secrets sent at once as its wait lifts, one is evaluated; a throttle that checks, then
/// counts, evaluates them all, which `--max-parallel-guesses` fails.
#[tokio::test]
async fn the_brute_force_race_counts_the_guesses_a_throttle_let_through() {
    let mut cases: Vec<Case> = race_cases()
        .into_iter()
        .filter(|c| c.id == "RACE-006")
        .collect();
    let (_server, target, http) = reference(false).await;
    // Opt-in: without --only naming it, it skips and says how to run it.
    let results = runner::run_cases(&target, &cases, &Settings::default(), &http, |_| {}).await;
    assert_eq!(results[0].outcome, Outcome::Skip);
    assert!(results[0]
        .detail
        .starts_with("opt-in: run it with --only RACE-006 ("));
    cases[0].opted_in = true;
    // The embedded server of `conform` does not throttle: the premise does not hold.
    let results = runner::run_cases(&target, &cases, &Settings::default(), &http, |_| {}).await;
    assert_eq!(results[0].outcome, Outcome::Skip, "{}", results[0].detail);
    assert!(results[0].detail.contains("did not throttle"));
    let throttling = ServerConfig {
        brute_force: Some(reference_server::BruteForce {
            max_failures: 5,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(30),
        }),
        ..ServerConfig::default()
    };
    let server = server::start(throttling.clone()).await;
    let mut target = grantcheck::target::embedded(&server, &http).await;
    let preflight = grantcheck::preflight::run(&mut target, &Settings::default(), &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let strict = Settings {
        max_parallel_guesses: Some(1),
        ..Settings::default()
    };
    let results = runner::run_cases(&target, &cases, &strict, &http, |_| {}).await;
    let r = &results[0];
    assert_eq!(
        (r.outcome, r.level.as_str()),
        (Outcome::Pass, "MUST"),
        "{}",
        r.detail
    );
    assert_eq!(
        r.exchanges[1].race.as_ref().unwrap().answers,
        "1 × 401 invalid_client, 19 × 429 invalid_client"
    );
    // The reference server's `throttle-race` fault (its counter read, then written after
    // a window) lets the parallel guesses through: failed above the limit.
    let mut racy_throttle = throttling.clone();
    racy_throttle
        .faults
        .insert(reference_server::Fault::ThrottleRace);
    let server = server::start(racy_throttle).await;
    let mut target = grantcheck::target::embedded(&server, &http).await;
    let preflight = grantcheck::preflight::run(&mut target, &Settings::default(), &http).await;
    assert!(preflight.fatal().is_none(), "{preflight:#?}");
    let results = runner::run_cases(&target, &cases, &strict, &http, |_| {}).await;
    assert_eq!(results[0].outcome, Outcome::Fail, "{}", results[0].detail);
    // The racy throttle: recorded without a limit, failed above it.
    let racy = Racy::start().await;
    let client = reqwest::Client::new();
    let results = runner::run_cases(
        &racy.target(),
        &cases,
        &Settings::default(),
        &client,
        |_| {},
    )
    .await;
    let r = &results[0];
    assert_eq!(
        (r.outcome, r.level.as_str()),
        (Outcome::Pass, "INFO"),
        "{}",
        r.detail
    );
    assert!(
        r.detail
            .contains("20 of 20 parallel wrong secrets were evaluated")
            && r.detail.contains("one after the other, 4 were refused"),
        "{}",
        r.detail
    );
    let results = runner::run_cases(
        &Racy::start().await.target(),
        &cases,
        &strict,
        &client,
        |_| {},
    )
    .await;
    assert_eq!(results[0].outcome, Outcome::Fail, "{}", results[0].detail);
}

/// A token endpoint, introspection and revocation whose checks race: each reads, waits
/// (a slow store), then writes.
struct Racy {
    url: String,
}

#[derive(Default)]
struct RacyState {
    /// Used assertion and proof `jti`s.
    used: HashSet<String>,
    /// Token → revoked; replaced whole on every issuance (read, wait, write back).
    tokens: HashMap<String, bool>,
    /// Introspection's read-through cache.
    cache: HashMap<String, bool>,
    /// Wrong secrets counted, and the throttle's end once over `FREE_FAILURES`.
    failures: u32,
    wait_until: Option<std::time::Instant>,
}

const FREE_FAILURES: u32 = 3;

const WAIT: Duration = Duration::from_millis(30);

impl Racy {
    async fn start() -> Racy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(RacyState::default()));
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r| answer(r, state.clone()));
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Racy { url }
    }

    fn target(&self) -> Target {
        let mut clients = BTreeMap::new();
        clients.insert(Role::Main, ClientCredentials::new("me", "me-pw-0f3a"));
        clients.insert(
            Role::Introspector,
            ClientCredentials::new("rs", "rs-pw-0f3c"),
        );
        let second = ClientCredentials::new("other", "other-pw-0f3b");
        clients.insert(Role::Second, second);
        clients.insert(
            Role::KeyJwt,
            ClientCredentials::with_key("jwt", SigningKey::generate(Alg::Es256).unwrap()),
        );
        Target {
            introspection_url: Some(format!("{}/introspect", self.url)),
            revocation_url: Some(format!("{}/revoke", self.url)),
            resource_url: Some(format!("{}/resource", self.url)),
            dpop: grantcheck::target::DpopKey::generate(Alg::Es256).ok(),
            ..Target::external("racy", format!("{}/token", self.url), clients)
        }
    }
}

fn jti(jwt: &str) -> Option<String> {
    let claims = jwt.split('.').nth(1)?;
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    let claims: Value = serde_json::from_slice(&claims).ok()?;
    Some(claims.get("jti")?.as_str()?.to_owned())
}

fn reply(status: u16, body: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

async fn answer(
    request: Request<hyper::body::Incoming>,
    state: Arc<Mutex<RacyState>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let proof = request
        .headers()
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let basic = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let body = request.into_body().collect().await.unwrap().to_bytes();
    // A wrong secret: a throttle that checks, waits, then counts (no lock held between).
    if basic
        .as_deref()
        .is_some_and(|b| b.starts_with("other:") && b != "other:other-pw-0f3b")
    {
        let waiting = state.lock().unwrap().wait_until;
        if waiting.is_some_and(|until| std::time::Instant::now() < until) {
            let mut slow = reply(429, json!({"error": "slow_down"}));
            slow.headers_mut()
                .insert("retry-after", hyper::header::HeaderValue::from_static("1"));
            return Ok(slow);
        }
        tokio::time::sleep(WAIT).await;
        let mut state = state.lock().unwrap();
        state.failures += 1;
        if state.failures > FREE_FAILURES {
            state.wait_until = Some(std::time::Instant::now() + Duration::from_secs(1));
        }
        return Ok(reply(401, json!({"error": "invalid_client"})));
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let token = form.get("token").cloned().unwrap_or_default();
    Ok(match path.as_str() {
        "/token" => {
            // One use per assertion and per proof: checked, then (after a wait) recorded.
            let used = [form.get("client_assertion"), proof.as_ref()]
                .into_iter()
                .flatten()
                .filter_map(|jwt| jti(jwt))
                .collect::<Vec<_>>();
            if used.iter().any(|j| state.lock().unwrap().used.contains(j)) {
                let error = if proof.is_some() {
                    "invalid_dpop_proof"
                } else {
                    "invalid_client"
                };
                return Ok(reply(
                    if proof.is_some() { 400 } else { 401 },
                    json!({"error": error}),
                ));
            }
            let snapshot = state.lock().unwrap().tokens.clone();
            tokio::time::sleep(WAIT).await;
            let token = format!("tok-{}", rand_id());
            let mut tokens = snapshot;
            tokens.insert(token.clone(), false);
            let mut state = state.lock().unwrap();
            state.used.extend(used);
            state.tokens = tokens;
            let token_type = if proof.is_some() { "DPoP" } else { "Bearer" };
            reply(
                200,
                json!({"access_token": token, "token_type": token_type, "expires_in": 3600}),
            )
        }
        "/resource" => {
            // The proof's single use at the resource: checked, then (after a wait) recorded.
            let Some(jti) = proof.as_deref().and_then(jti) else {
                return Ok(reply(401, json!({"error": "invalid_token"})));
            };
            if state.lock().unwrap().used.contains(&jti) {
                return Ok(reply(401, json!({"error": "invalid_dpop_proof"})));
            }
            tokio::time::sleep(WAIT).await;
            state.lock().unwrap().used.insert(jti);
            reply(200, json!({"ok": true}))
        }
        "/introspect" => {
            let cached = state.lock().unwrap().cache.get(&token).copied();
            let active = match cached {
                Some(active) => active,
                None => {
                    let active = state.lock().unwrap().tokens.get(&token) == Some(&false);
                    tokio::time::sleep(WAIT).await;
                    state.lock().unwrap().cache.insert(token, active);
                    active
                }
            };
            match active {
                true => reply(200, json!({"active": true, "client_id": "me"})),
                false => reply(200, json!({"active": false})),
            }
        }
        "/revoke" => {
            let mut state = state.lock().unwrap();
            state.tokens.insert(token.clone(), true);
            state.cache.remove(&token);
            reply(200, json!({}))
        }
        _ => reply(404, json!({"error": "not_found"})),
    })
}

fn rand_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed).to_string()
}
