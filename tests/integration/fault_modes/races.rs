//! The race fault modes, shown with requests sent together (issue 21): each lets through
//! what the clean server refuses when its requests arrive at once, and behaves as the clean
//! server one request at a time, which is what makes it a race and not a plain fault.

use std::future::Future;
use std::time::Duration;

use hyper::StatusCode;
use reference_server::{BruteForce, Fault, ReferenceServer, ServerConfig};

use super::{asserted, bound_token, dpop_builder, dpop_proof, dpop_resource, dpop_token_request};
use crate::common::server::*;

const CC: &str = "grant_type=client_credentials";

/// Requests sent together.
const BURST: usize = 20;

/// `n` requests made by `request`, all started at once on this task.
async fn together<F: Future<Output = Reply>>(n: usize, request: impl Fn() -> F) -> Vec<Reply> {
    futures_util::future::join_all((0..n).map(|_| request())).await
}

fn count(replies: &[Reply], ok: impl Fn(&Reply) -> bool) -> usize {
    replies.iter().filter(|r| ok(r)).count()
}

/// `race-replay`: one client assertion, one DPoP proof at the token endpoint and one at the
/// resource, each sent 20 times at once, are accepted more than once (exactly once by the
/// clean server); sent again one after the other, the second is refused.
pub async fn race_replay(server: &ReferenceServer) {
    let clean = start(ServerConfig::default()).await;
    for (label, target) in [("race-replay", server), ("clean", &clean)] {
        let token_url = target.token_url("root");
        let form = asserted(target, "none");
        let replies = together(BURST, || post_form(&token_url, &form)).await;
        let assertion_tokens = count(&replies, Reply::has_token);

        let proof = dpop_proof(&mut dpop_builder(), "none", "POST", &token_url, None);
        let proofs = [proof.as_str()];
        let replies = together(BURST, || {
            dpop_token_request(target, "myClient", "forgerock", &proofs)
        })
        .await;
        let dpop_tokens = count(&replies, Reply::has_token);

        let (token, mut builder) = bound_token(target).await;
        let resource = target.resource_url();
        let proof = dpop_proof(&mut builder, "none", "GET", &resource, Some(&token));
        let replies = together(BURST, || dpop_resource(target, &token, &proof)).await;
        let served = count(&replies, |r| r.status == StatusCode::OK);

        let got = [assertion_tokens, dpop_tokens, served];
        if label == "clean" {
            assert_eq!(got, [1, 1, 1], "the clean server accepts each once");
        } else {
            assert!(
                got.iter().all(|n| *n > 1),
                "{label}: accepted {got:?} times"
            );
        }
    }
    clean.shutdown().await;

    // One at a time, a replay is refused as by the clean server.
    let token_url = server.token_url("root");
    let form = asserted(server, "none");
    assert!(post_form(&token_url, &form).await.has_token());
    assert_eq!(
        post_form(&token_url, &form).await.status,
        StatusCode::UNAUTHORIZED,
        "race-replay: a sequential replay"
    );
    let proof = dpop_proof(&mut dpop_builder(), "none", "POST", &token_url, None);
    let first = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
    assert!(first.has_token());
    let again = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
    assert_eq!(
        again.error(),
        "invalid_dpop_proof",
        "race-replay: a sequential replay"
    );
}

/// Introspections in flight while `token` is revoked; returns once all have answered.
async fn revoke_while_read(server: &ReferenceServer, token: &str) {
    let form = format!("token={token}");
    let url = server.introspection_url("root");
    let readers = together(10, || post_basic(&url, "rs-client", "rs-secret", &form));
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(8)).await;
        let url = server.revocation_url("root");
        post_basic(&url, "myClient", "forgerock", &form).await
    };
    let (_, revoked) = tokio::join!(readers, revoke);
    assert_eq!(revoked.status, StatusCode::OK);
}

/// `race-revocation`: introspections that read the token before its revocation write it back
/// after, so requests sent after the revocation's 200 (and after those reads answered) find
/// it active, at introspection and at the resource, until the stale entry's 2 s pass; the
/// clean server answers inactive. Revoked one request at a time, it is inactive at once.
pub async fn race_revocation(server: &ReferenceServer) {
    let clean = start(ServerConfig::default()).await;
    for (faulty, target) in [(true, server), (false, &clean)] {
        let token = issue(target, "myClient", "forgerock", None).await;
        revoke_while_read(target, &token).await;
        assert_eq!(introspect(target, &token).await["active"], faulty);
        let status = call_resource(target, &token).await.status;
        assert_eq!(status == StatusCode::OK, faulty, "the resource ({faulty})");
        if faulty {
            tokio::time::sleep(Duration::from_millis(2100)).await;
            assert_eq!(
                introspect(target, &token).await["active"],
                false,
                "aged out"
            );
        }
    }
    clean.shutdown().await;

    let token = issue(server, "myClient", "forgerock", None).await;
    assert_eq!(introspect(server, &token).await["active"], true);
    let url = server.revocation_url("root");
    let revoked = post_basic(&url, "myClient", "forgerock", &format!("token={token}")).await;
    assert_eq!(revoked.status, StatusCode::OK);
    assert_eq!(introspect(server, &token).await["active"], false);
    assert_eq!(
        call_resource(server, &token).await.status,
        StatusCode::UNAUTHORIZED
    );
}

fn guarded(faults: &[Fault]) -> ServerConfig {
    let mut config = ServerConfig {
        brute_force: Some(BruteForce {
            max_failures: 3,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(30),
        }),
        log_security_events: false,
        ..ServerConfig::default()
    };
    config.faults.extend(faults.iter().copied());
    config
}

/// `throttle-race` (with brute-force protection, 3 free failures): 20 wrong secrets sent
/// together are all answered 401, where the clean throttle answers at most 3 and refuses
/// the rest with 429; one at a time both answer 3 and then refuse.
pub async fn throttle_race() {
    for faults in [&[Fault::ThrottleRace][..], &[]] {
        let server = start(guarded(faults)).await;
        let url = server.token_url("root");
        let replies = together(BURST, || post_basic(&url, "myClient", "wrong", CC)).await;
        let answered = count(&replies, |r| r.status == StatusCode::UNAUTHORIZED);
        let refused = count(&replies, |r| r.status == StatusCode::TOO_MANY_REQUESTS);
        if faults.is_empty() {
            assert!(answered <= 3, "clean: {answered} answered");
            assert_eq!(answered + refused, BURST);
        } else {
            assert!(answered > 3, "throttle-race: only {answered} answered");
        }
        server.shutdown().await;

        let server = start(guarded(faults)).await;
        let mut statuses = Vec::new();
        for _ in 0..5 {
            statuses.push(
                post_basic(&url_of(&server), "myClient", "wrong", CC)
                    .await
                    .status,
            );
        }
        let (u, t) = (StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(statuses, [u, u, u, t, t], "{faults:?} one at a time");
        server.shutdown().await;
    }
}

fn url_of(server: &ReferenceServer) -> String {
    server.token_url("root")
}
