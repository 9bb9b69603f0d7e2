//! `load` profiles against the reference server: clean runs, wrong answers counted as errors
//! with their reason, the embedded server, JWT and DPoP issuance, and `-H/--host`.

use reference_server::Fault;

use crate::common::cli::temp_dir;

use super::{against, load, start};

#[tokio::test(flavor = "multi_thread")]
async fn every_profile_runs_clean_against_a_correct_server() {
    let server = start(None).await;
    for profile in ["issuance", "introspection", "flow", "bad-secret", "mixed"] {
        let output = load(against(&server, profile, &["--report-dir", "reports-ok"])).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{profile}: {stderr}");
        assert!(stderr.contains("all requests"), "{profile}: {stderr}");
        assert!(!stderr.contains("errors by kind"), "{profile}: {stderr}");
        assert!(
            !stderr.contains("forgerock") && !stderr.contains("rs-secret"),
            "{profile}: a secret in the output"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_answers_under_load_are_errors_with_their_reason_and_fail_the_threshold() {
    let server = start(Some(Fault::ExpiresInAsString)).await;
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", "reports-fault"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("errors by kind"), "{stderr}");
    assert!(
        stderr.contains("expires_in is not a positive JSON integer"),
        "{stderr}"
    );
    assert!(
        stderr.contains("THRESHOLD FAILED: error-rate<1%"),
        "{stderr}"
    );
    server.shutdown().await;

    let server = start(Some(Fault::IgnoreRevocation)).await;
    let output = load(against(&server, "flow", &["--report-dir", "reports-fault"])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("introspection: a revoked token is still active"),
        "{stderr}"
    );
    server.shutdown().await;

    let server = start(Some(Fault::AcceptWrongSecret)).await;
    let output = load(against(
        &server,
        "bad-secret",
        &["--report-dir", "reports-fault"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("POST wrong secret: a wrong secret got a token"),
        "{stderr}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_embedded_server_runs_on_its_own_runtime() {
    let output = load(vec![
        "--profile".into(),
        "flow".into(),
        "-u".into(),
        "2".into(),
        "-r".into(),
        "2".into(),
        "-t".into(),
        "2s".into(),
    ])
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("call the resource") && stderr.contains("introspect (after revocation)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_jwt_signs_a_fresh_assertion_per_request() {
    // The embedded server registers jwtClient (private_key_jwt) with the fixture key and
    // spends every jti once: a reused assertion would be refused and counted as an error.
    let dir = temp_dir("load-jwt");
    let output = load(
        [
            "--profile",
            "issuance-jwt",
            "-u",
            "2",
            "-r",
            "2",
            "-t",
            "2s",
            "--report-dir",
            dir.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    )
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("POST issue (private_key_jwt)"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    let json = std::fs::read_to_string(dir.join("load-issuance-jwt.json")).unwrap();
    assert!(!json.contains("eyJ"), "a JWS in the report");

    // A target without a private_key_jwt client is told what to pass.
    let server = start(None).await;
    let output = load(against(&server, "issuance-jwt", &[])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--client-auth private_key_jwt"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn issuance_dpop_binds_every_token_and_uses_it_at_the_resource() {
    let server = start(None).await;
    let output = load(against(
        &server,
        "issuance-dpop",
        &["--dpop", "ES256", "--report-dir", "reports-dpop"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("POST issue (DPoP)") && stderr.contains("GET call the resource (DPoP)"),
        "{stderr}"
    );
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    server.shutdown().await;

    // A server that says Bearer for a DPoP-bound token is caught on every request.
    let server = start(Some(Fault::DpopTokenTypeBearer)).await;
    let output = load(against(
        &server,
        "issuance-dpop",
        &["--dpop", "ES256", "--report-dir", "reports-dpop"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("token_type is not DPoP"), "{stderr}");
    server.shutdown().await;

    // Without a DPoP key for a target, the profile says what to pass.
    let server = start(None).await;
    let output = load(against(&server, "issuance-dpop", &[])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--dpop ES256"));
    server.shutdown().await;
}

/// `-H/--host` does what Goose users expect: the run's requests go to that origin, the paths
/// staying the target's. Here the target's URLs name a closed port; -H names the server.
/// Without a target, or with more than an origin, it is a usage error.
#[tokio::test(flavor = "multi_thread")]
async fn host_sends_the_runs_requests_to_that_origin() {
    let server = start(None).await;
    let closed = "http://127.0.0.1:9";
    let mut args: Vec<String> = against(&server, "flow", &[])
        .into_iter()
        .map(|a| a.replace(server.base_url(), closed))
        .collect();
    args.extend(["-H".to_owned(), server.base_url().to_owned()]);
    let output = load(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "against {}/oauth2/access_token",
            server.base_url()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("all requests"), "{stderr}");
    assert!(!stderr.contains("errors by kind"), "{stderr}");
    for wrong in [
        vec!["-H".to_owned(), server.base_url().to_owned()],
        against(
            &server,
            "issuance",
            &["-H", &format!("{}/oauth2", server.base_url())],
        ),
        against(&server, "issuance", &["--host", "ftp://127.0.0.1"]),
    ] {
        let output = load(wrong.clone()).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{wrong:?}: {stderr}");
        assert!(stderr.contains("-H/--host"), "{stderr}");
    }
    server.shutdown().await;
}
