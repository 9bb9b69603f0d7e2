//! `grantcheck load`: short, bounded runs on loopback. Wrong answers under load count as
//! errors with their reason, thresholds decide exit 5, and secrets stay out of the output.

use std::process::Output;

use reference_server::{Fault, ReferenceServer};

use crate::common::cli::{run_async, temp_dir};
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
    // Goose marks the unexpected status itself: "wrong secret: 200 OK".
    assert!(stderr.contains("wrong secret: 200 OK"), "{stderr}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn thresholds_decide_exit_five() {
    let server = start(None).await;
    let output = load(against(
        &server,
        "issuance",
        &["--threshold", "rps>=100000000", "--report-dir", "reports-t"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("THRESHOLD FAILED: rps>=100000000"),
        "{stderr}"
    );
    // Every rule is in the summary, passed or failed, and an early stop says so.
    assert!(
        stderr.contains("threshold rps>=100000000: FAILED (observed "),
        "{stderr}"
    );
    assert!(
        stderr.contains("threshold error-rate<1%: pass (observed "),
        "{stderr}"
    );
    assert!(stderr.contains("the run stopped early"), "{stderr}");
    // Goose's INFO lines wait for -v.
    assert!(!stderr.contains("[INFO]"), "{stderr}");
    let output = load(against(
        &server,
        "issuance",
        &["--threshold", "p99<10s", "--report-dir", "reports-t"],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("threshold p99<10s: pass (observed "),
        "{stderr}"
    );
    // A typo in a profile file's threshold names the file, the line and the value.
    let dir = temp_dir("profile");
    let profile = dir.join("mine.toml");
    std::fs::write(
        &profile,
        "description = \"x\"\nthresholds = [\"error-rat<1%\"]\n[[scenario]]\nname = \"a\"\ntransactions = [\"issue_basic\"]\n",
    )
    .unwrap();
    let output = load(against(&server, profile.to_str().unwrap(), &[])).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mine.toml:2: threshold 'error-rat<1%': unknown metric 'error-rat'"),
        "{stderr}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn goose_reports_are_written_and_secret_leaking_logs_are_refused() {
    let server = start(None).await;
    let dir = temp_dir("load-reports");
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", dir.to_str().unwrap()],
    ))
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for ext in ["html", "json", "md"] {
        let text = std::fs::read_to_string(dir.join(format!("load-issuance.{ext}"))).unwrap();
        assert!(
            !text.contains("forgerock") && !text.contains("Basic "),
            "{ext} report leaks credentials"
        );
    }
    for flag in [
        vec!["--request-log", "r.log"],
        vec!["--error-log", "e.log"],
        vec!["--request-body"],
    ] {
        let output = load(against(&server, "issuance", &flag)).await;
        assert_eq!(output.status.code(), Some(2), "{flag:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("refuses"));
    }
    let output = load(vec!["--profile".into(), "nope".into()]).await;
    assert_eq!(output.status.code(), Some(2));
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
