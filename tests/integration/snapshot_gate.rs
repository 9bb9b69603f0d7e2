//! Conformance snapshots as a CI gate: deterministic files, drift caught with a diff naming
//! the case, `update` accepting it, new snapshots never accepted silently in CI, and no
//! secret, token or signature in any snapshot.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use grantcheck::runner::{self, Settings};

use grantcheck::snapshot::{self, Mode};
use grantcheck::target::Target;
use reference_server::{ServerConfig, TokenFormat};

use crate::common::cli::{grantcheck, temp_dir};
use crate::common::server;

fn conform(snapshot_dir: &Path, extra: &[&str], ci: bool) -> Output {
    let reports = snapshot_dir.join("reports");
    let mut cmd = grantcheck();
    cmd.args([
        "conform",
        "--skip",
        "expiry",
        "--color",
        "never",
        "--snapshot-dir",
    ])
    .arg(snapshot_dir)
    .arg("--report-dir")
    .arg(&reports)
    .args(extra);
    if ci {
        cmd.env("CI", "true");
    } else {
        cmd.env_remove("CI");
    }
    cmd.output().unwrap()
}

fn snap_files(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn two_runs_write_identical_snapshots_and_check_passes() {
    let dir = temp_dir("determinism");
    assert_eq!(
        conform(&dir, &["--snapshots", "update"], false)
            .status
            .code(),
        Some(0)
    );
    let first = snap_files(&dir.join("embedded"));
    assert!(first.len() > 100, "{} snapshots", first.len());
    assert_eq!(
        conform(&dir, &["--snapshots", "update"], false)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        first,
        snap_files(&dir.join("embedded")),
        "a second run must write byte-identical files"
    );
    let output = conform(&dir, &[], true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("snapshots: ") && stderr.contains(" matched, 0 drifted, 0 new"),
        "{stderr}"
    );
}

#[test]
fn drift_fails_check_with_a_diff_and_update_accepts_it() {
    let dir = temp_dir("drift");
    assert_eq!(
        conform(&dir, &["--snapshots", "update"], false)
            .status
            .code(),
        Some(0)
    );
    // A refresh token in token responses only warns (SHOULD), so only the snapshot can fail.
    let fault = ["--embedded-fault", "issue-refresh-token"];
    let output = conform(
        &dir,
        &[&fault[..], &["--snapshots", "check"]].concat(),
        true,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("SNAPSHOT DRIFT RESP-007"), "{stderr}");
    assert!(
        stderr.contains("-outcome: pass") && stderr.contains("+outcome: warn"),
        "{stderr}"
    );
    assert!(
        stderr.contains("+  \"refresh_token\": \"<redacted>\""),
        "{stderr}"
    );
    assert!(
        dir.join("embedded/RESP-007.snap.new").exists(),
        "a pending snapshot for cargo insta review"
    );
    assert_eq!(
        conform(
            &dir,
            &[&fault[..], &["--snapshots", "update"]].concat(),
            false
        )
        .status
        .code(),
        Some(0)
    );
    assert!(!dir.join("embedded/RESP-007.snap.new").exists());
    let output = conform(&dir, &fault, true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn new_snapshots_are_pending_and_fail_only_in_ci() {
    let dir = temp_dir("new");
    assert_eq!(
        conform(
            &dir,
            &["--snapshots", "update", "--only", "AUTH-001"],
            false
        )
        .status
        .code(),
        Some(0)
    );
    let more = ["--snapshots", "check", "--only", "AUTH-001,AUTH-010"];
    let output = conform(&dir, &more, false);
    assert_eq!(
        output.status.code(),
        Some(0),
        "locally a new snapshot is only reported"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("new snapshot AUTH-010"));
    assert!(dir.join("embedded/AUTH-010.snap.new").exists());
    assert!(
        !dir.join("embedded/AUTH-010.snap").exists(),
        "never accepted silently"
    );
    assert_eq!(
        conform(&dir, &more, true).status.code(),
        Some(4),
        "in CI a new snapshot fails"
    );
}

#[tokio::test]
async fn snapshots_hold_no_secret_token_or_signature() {
    for format in [TokenFormat::Opaque, TokenFormat::Jwt] {
        let config = ServerConfig {
            token_format: format,
            ..ServerConfig::default()
        };
        let server = server::start(config).await;
        let target = Target::reference(&server);
        let cases: Vec<_> = grantcheck::case::builtin()
            .unwrap()
            .into_iter()
            .filter(|c| c.area != "expiry")
            .collect();
        let settings = Settings::default();
        let results = runner::run_cases(
            &target,
            &cases,
            &settings,
            &runner::http_client(settings.request_timeout),
            |_| {},
        )
        .await;
        let dir = temp_dir(&format!("secrets-{format:?}"));
        snapshot::apply(Mode::Update, &dir, &target, &results, true).unwrap();
        let files = snap_files(&dir);
        let all: String = files.values().cloned().collect();
        let tokens = server.issued_tokens();
        assert!(tokens.len() > 50, "{} tokens issued", tokens.len());
        for token in &tokens {
            assert!(
                !all.contains(token.as_str()),
                "{format:?}: an access token is in a snapshot"
            );
            if let Some(signature) = token.rsplit('.').next().filter(|_| token.contains('.')) {
                assert!(
                    !all.contains(signature),
                    "{format:?}: a JWT signature is in a snapshot"
                );
            }
        }
        for secret in [
            "forgerock",
            "rs-secret",
            "other-secret-2",
            "p+w/=:&ä q",
            "p%2Bw%2F%3D%3A%26%C3%A4+q",
            "short-secret",
        ] {
            assert!(
                !all.contains(secret),
                "{format:?}: secret {secret} is in a snapshot"
            );
        }
        if format == TokenFormat::Jwt {
            let resp = &files["RESP-001.snap"];
            assert!(
                resp.contains("access_token (JWT, signature omitted)")
                    && resp.contains("\"typ\": \"at+jwt\""),
                "{resp}"
            );
        }
        server.shutdown().await;
    }
}
