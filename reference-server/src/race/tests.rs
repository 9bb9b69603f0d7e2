//! The race fault modes' windows, and the clean server's atomicity, at the decisions: each
//! request's deferred writes are made (`Deferred::run_now`) where the test says, so the
//! interleaving of requests sent together is exact, not left to timing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;
use crate::app::App;
use crate::config::{BruteForce, Fault, ServerConfig};
use crate::endpoints::{introspection, revocation, token};
use crate::jose::testing::{header, TestKey};
use crate::request::testing::{app, issued_token, TestRequest};
use crate::response::{Reply, Status};
use crate::router::Endpoint;
use crate::tokens::unix_now;

const GRANT: &str = "grant_type=client_credentials";
const JWT_BEARER: &str = crate::client_assertion::JWT_BEARER;

#[test]
fn deferred_writes_wait_until_run() {
    let deferred = Deferred::default();
    assert!(deferred.is_empty());
    let count = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let count = count.clone();
        deferred.push(move || {
            count.fetch_add(1, Ordering::SeqCst);
        });
    }
    assert_eq!(count.load(Ordering::SeqCst), 0);
    deferred.run_now();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(deferred.is_empty());
}

#[test]
fn the_cache_forgets_what_is_invalidated() {
    let cache = TokenStateCache::default();
    cache.put("t".into(), crate::tokens::tests::record("myClient", 100));
    assert!(cache.get("t").is_some());
    cache.invalidate("t");
    assert!(cache.get("t").is_none());
}

/// A token request by jwtClient with a private_key_jwt assertion whose jti is `jti`.
fn asserted(app: &App, jti: &str) -> TestRequest {
    let now = unix_now();
    let claims = json!({
        "iss": "jwtClient", "sub": "jwtClient",
        "aud": app.endpoint_url("root", Endpoint::Token),
        "iat": now, "exp": now + 60, "jti": jti,
    });
    let assertion =
        TestKey::fixture_es256().sign(header(json!({"kid": "grantcheck-es256"})), &claims);
    TestRequest::post(&format!(
        "{GRANT}&client_id=jwtClient&client_assertion_type={JWT_BEARER}&client_assertion={assertion}"
    ))
}

/// A DPoP token request by myClient with `proof`.
fn with_proof(proof: &str) -> TestRequest {
    TestRequest::post(GRANT)
        .basic("myClient", "forgerock")
        .dpop(proof)
}

fn dpop_proof(app: &App, key: &TestKey) -> String {
    let claims = json!({
        "jti": crate::tokens::random_token(12),
        "htm": "POST",
        "htu": app.endpoint_url("root", Endpoint::Token),
        "iat": unix_now(),
    });
    key.sign(
        header(json!({"typ": "dpop+jwt", "jwk": key.public_jwk()})),
        &claims,
    )
}

fn issue(app: &App, request: &TestRequest) -> Reply {
    token::issue(app, &request.at(app))
}

/// `race-replay`: two requests with the same assertion (or DPoP proof) both checked before
/// either records it are both accepted; once recorded it is refused, so one request at a
/// time sees the clean server. The clean server defers nothing and refuses the second.
#[test]
fn race_replay_accepts_identical_requests_inside_the_window_only() {
    let key = TestKey::ec();
    for fault in [false, true] {
        let mut config = ServerConfig::default();
        if fault {
            config = config.with_fault(Fault::RaceReplay);
        }
        let app = app(config);
        let proof = dpop_proof(&app, &key);
        let requests: [Box<dyn Fn() -> TestRequest>; 2] = [
            Box::new(|| asserted(&app, "together")),
            Box::new(|| with_proof(&proof)),
        ];
        for (what, make) in ["assertion", "dpop"].iter().zip(&requests) {
            let (first, second) = (make(), make());
            assert_eq!(issue(&app, &first).status, Status::OK, "{what}");
            let together = issue(&app, &second).status;
            assert_eq!(together == Status::OK, fault, "{what} fault={fault}");
            first.deferred.run_now();
            second.deferred.run_now();
            let after = make();
            assert_ne!(issue(&app, &after).status, Status::OK, "{what}: recorded");
        }
    }
}

/// The clean caches are atomic: 16 threads sending one assertion (and one DPoP proof)
/// together get exactly one token.
#[test]
fn the_clean_replay_checks_are_atomic_under_threads() {
    let app = app(ServerConfig::default());
    let key = TestKey::ec();
    let proof = dpop_proof(&app, &key);
    let assertion = asserted(&app, "threads");
    let dpop = with_proof(&proof);
    for request in [&assertion, &dpop] {
        let barrier = std::sync::Barrier::new(16);
        let issued = std::thread::scope(|s| {
            let runs: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        issue(&app, request).status == Status::OK
                    })
                })
                .collect();
            runs.into_iter()
                .filter_map(|r| r.join().unwrap().then_some(()))
                .count()
        });
        assert_eq!(issued, 1);
    }
}

fn guarded(faults: &[Fault]) -> App {
    let mut config = ServerConfig {
        brute_force: Some(BruteForce {
            max_failures: 3,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(30),
        }),
        log_security_events: false,
        ..ServerConfig::default()
    };
    config.faults = faults.iter().copied().collect();
    app(config)
}

fn wrong_secret() -> TestRequest {
    TestRequest::post(GRANT).basic("myClient", "wrong")
}

/// The clean throttle: of 16 wrong secrets sent together by threads, at most `max_failures`
/// (3) get an answer (401); the rest get 429, whatever the interleaving.
#[test]
fn the_clean_throttle_answers_at_most_its_free_failures_of_a_burst() {
    for _ in 0..5 {
        let app = guarded(&[]);
        let barrier = std::sync::Barrier::new(16);
        let statuses: Vec<Status> = std::thread::scope(|s| {
            let runs: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        let request = wrong_secret();
                        barrier.wait();
                        issue(&app, &request).status
                    })
                })
                .collect();
            runs.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let answered = statuses
            .iter()
            .filter(|s| **s == Status::UNAUTHORIZED)
            .count();
        assert!(answered <= 3, "{statuses:?}");
        assert!(statuses
            .iter()
            .all(|s| *s == Status::UNAUTHORIZED || *s == Status::TOO_MANY_REQUESTS));
    }
}

/// `throttle-race` with every guess of a burst reading the count before any writes it back:
/// all are answered 401; one at a time it throttles as the clean throttle does.
#[test]
fn throttle_race_answers_every_guess_of_a_burst_and_throttles_one_at_a_time() {
    let app = guarded(&[Fault::ThrottleRace]);
    let burst: Vec<TestRequest> = (0..10).map(|_| wrong_secret()).collect();
    let statuses: Vec<Status> = burst.iter().map(|r| issue(&app, r).status).collect();
    assert!(
        statuses.iter().all(|s| *s == Status::UNAUTHORIZED),
        "every guess read the count before any wrote it: {statuses:?}"
    );
    for request in &burst {
        request.deferred.run_now();
    }
    // The ten writes were lost updates of one another: the count is 1, so two more free
    // failures, and one at a time the throttle works as the clean one.
    for _ in 0..2 {
        let one = wrong_secret();
        assert_eq!(issue(&app, &one).status, Status::UNAUTHORIZED);
        one.deferred.run_now();
    }
    let refused = wrong_secret();
    assert_eq!(issue(&app, &refused).status, Status::TOO_MANY_REQUESTS);

    // Sequentially, faulty and clean count the same: 3 answered, then 429.
    for faults in [&[][..], &[Fault::ThrottleRace]] {
        let app = guarded(faults);
        let statuses: Vec<Status> = (0..5)
            .map(|_| {
                let request = wrong_secret();
                let status = issue(&app, &request).status;
                request.deferred.run_now();
                status
            })
            .collect();
        use Status as S;
        let expected = [S::UNAUTHORIZED; 3]
            .into_iter()
            .chain([S::TOO_MANY_REQUESTS; 2])
            .collect::<Vec<_>>();
        assert_eq!(statuses, expected, "{faults:?}");
    }
}

/// A right secret sent together with guesses that started the wait is refused too: its
/// answer would tell the burst which guess was right.
#[test]
fn a_right_secret_in_a_burst_past_the_free_failures_is_refused() {
    let app = guarded(&[]);
    for _ in 0..3 {
        assert_eq!(issue(&app, &wrong_secret()).status, Status::UNAUTHORIZED);
    }
    // As if it had passed the first check before the third failure counted.
    let throttle = app.throttle.as_ref().unwrap();
    let client: Arc<str> = app
        .config
        .clients
        .get("myClient")
        .unwrap()
        .shared_id
        .clone();
    let source = crate::throttle::Source::from(std::net::IpAddr::from([127, 0, 0, 1]));
    assert!(throttle.record_success(&client, source).is_some());
    assert!(throttle.waiting(&client, source).is_some(), "still waiting");
}

fn introspect(app: &App, request: &TestRequest) -> Value {
    introspection::introspect(app, &request.at(app)).json_body()
}

fn introspection(token: &str) -> TestRequest {
    TestRequest::post(&format!("token={token}")).basic("rs-client", "rs-secret")
}

fn revoke(app: &App, token: &str) -> Status {
    let request = TestRequest::post(&format!("token={token}")).basic("myClient", "forgerock");
    let status = revocation::revoke(app, &request.at(app)).status;
    request.deferred.run_now();
    status
}

/// `race-revocation`: an introspection that read the token before a revocation writes it
/// back after, and a request sent after the revocation's 200 is answered active; one request
/// at a time, the revoked token is inactive, as on the clean server.
#[test]
fn race_revocation_writes_a_stale_read_back_over_the_revocation() {
    for fault in [false, true] {
        let mut config = ServerConfig::default();
        if fault {
            config = config.with_fault(Fault::RaceRevocation);
        }
        let app = app(config);
        let token = issued_token(&app, "myClient", "forgerock");
        let reader = introspection(&token);
        assert_eq!(introspect(&app, &reader)["active"], true);
        assert_eq!(revoke(&app, &token), Status::OK);
        reader.deferred.run_now();
        let after = introspection(&token);
        assert_eq!(introspect(&app, &after)["active"], fault, "fault={fault}");
        after.deferred.run_now();

        // One request at a time.
        let token = issued_token(&app, "myClient", "forgerock");
        let before = introspection(&token);
        assert_eq!(introspect(&app, &before)["active"], true);
        before.deferred.run_now();
        assert_eq!(revoke(&app, &token), Status::OK);
        assert_eq!(introspect(&app, &introspection(&token))["active"], false);
    }
}
