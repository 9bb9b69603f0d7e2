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
    // --max-wait 1 skips the expiry cases (their tokens live 2 s) without a filter: a
    // filtered run is not the golden one, and leaves nothing pending to accept.
    cmd.args([
        "conform",
        "--max-wait",
        "1",
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

fn snapshots(dir: &Path, args: &[&str]) -> Output {
    grantcheck()
        .arg("snapshots")
        .args(args)
        .arg("--snapshot-dir")
        .arg(dir)
        .output()
        .unwrap()
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

fn pending(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".snap.new"))
        .count()
}

/// Edits stored snapshots as a server change would show: `from` becomes `to`.
fn edit_stored(dir: &Path, from: &str, to: &str) -> usize {
    let mut edited = 0;
    for (name, text) in snap_files(dir) {
        if text.contains(from) {
            std::fs::write(dir.join(name), text.replace(from, to)).unwrap();
            edited += 1;
        }
    }
    edited
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
fn drift_is_a_verdict_everywhere_shown_once_per_change_and_reviewed_without_cargo() {
    let dir = temp_dir("drift");
    assert_eq!(
        conform(&dir, &["--snapshots", "update"], false)
            .status
            .code(),
        Some(0)
    );
    let golden = dir.join("embedded");
    // One value changed in many cases: one group, listed once.
    let edited = edit_stored(&golden, "\"expires_in\": 3600", "\"expires_in\": 3599");
    assert!(edited > 20, "{edited}");
    let output = conform(&dir, &[], true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert_eq!(stderr.matches("SNAPSHOT DRIFT in").count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("SNAPSHOT DRIFT in {edited} cases: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains("-  \"expires_in\": 3599,") && stderr.contains("+  \"expires_in\": 3600,"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("FAILED: {edited} snapshots drifted (exit 4)")));
    assert!(stderr.contains("grantcheck snapshots review"), "{stderr}");
    assert_eq!(pending(&golden), edited);
    // Every report says so.
    let reports = dir.join("reports");
    let read = |name: &str| std::fs::read_to_string(reports.join(name)).unwrap();
    assert!(read("summary.md").starts_with(&format!(
        "# grantcheck conform: ❌ FAILED: {edited} snapshots drifted"
    )));
    let junit = read("junit.xml");
    assert_eq!(
        junit.matches("type=\"snapshot drift\"").count(),
        edited,
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&read("results.json")).unwrap();
    assert_eq!(
        json["snapshots"]["drifted"].as_array().unwrap().len(),
        edited
    );
    assert!(json["snapshots"]["diffs"]["RESP-001"]
        .as_str()
        .unwrap()
        .contains("+  \"expires_in\": 3600,"));
    assert!(read("report.html").contains("Snapshot drift in"));

    // Review without Cargo: from a script, review reads a line per answer (here: accept
    // RESP-001's); accept and reject decide without asking.
    let mut review = grantcheck()
        .args([
            "snapshots",
            "review",
            "--only",
            "RESP-001",
            "--snapshot-dir",
        ])
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut review.stdin.take().unwrap(), b"a\n").unwrap();
    let review = review.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&review.stderr);
    assert!(review.status.success(), "{said}");
    assert!(said.contains("1 accepted, 0 rejected, 0 skipped"), "{said}");
    assert!(snap_files(&golden)["RESP-001.snap"].contains("\"expires_in\": 3600"));
    assert!(snapshots(&dir, &["accept", "--only", "RESP-001"])
        .status
        .success());
    assert!(snapshots(&dir, &["reject"]).status.success());
    assert_eq!(pending(&golden), 0);
    let output = conform(&dir, &["--only", "RESP-001"], true);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn golden_snapshots_stay_golden() {
    let dir = temp_dir("golden");
    assert!(conform(&dir, &["--snapshots", "update"], false)
        .status
        .success());
    let golden = dir.join("embedded");
    let stored = snap_files(&golden);
    // A fault bends the server: not compared unless asked, never written.
    let fault = ["--embedded-fault", "issue-refresh-token"];
    let output = conform(&dir, &fault, true);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "snapshots: not compared (this run uses --embedded-fault issue-refresh-token)"
        ),
        "{stderr}"
    );
    let output = conform(
        &dir,
        &[&fault[..], &["--snapshots", "check"]].concat(),
        true,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("SNAPSHOT DRIFT in 1 case: RESP-007"),
        "{stderr}"
    );
    assert!(
        stderr.contains("-outcome: pass") && stderr.contains("+outcome: warn"),
        "{stderr}"
    );
    assert!(!stderr.contains("--snapshots update"), "{stderr}");
    let output = conform(
        &dir,
        &[&fault[..], &["--snapshots", "update"]].concat(),
        false,
    );
    assert_eq!(output.status.code(), Some(2));
    let output = conform(
        &dir,
        &["--profile", "oauth21", "--snapshots", "update"],
        false,
    );
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(pending(&golden), 0);
    assert_eq!(stored, snap_files(&golden), "nothing golden was touched");
    // A filtered run is compared, leaves nothing pending and suggests no update.
    edit_stored(&golden, "\"expires_in\": 3600", "\"expires_in\": 3599");
    let output = conform(&dir, &["--only", "RESP-001"], false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("nothing was left to accept"), "{stderr}");
    assert!(!stderr.contains("--snapshots update"), "{stderr}");
    assert_eq!(pending(&golden), 0);
}

#[test]
fn new_snapshots_are_pending_and_fail_only_in_ci() {
    let dir = temp_dir("new");
    // A filtered update writes just the selected case.
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
    assert_eq!(snap_files(&dir.join("embedded")).len(), 1);
    let output = conform(&dir, &["--snapshots", "check"], false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "locally a new snapshot is only reported: {stderr}"
    );
    assert!(stderr.contains("new (no stored snapshot): "), "{stderr}");
    assert!(dir.join("embedded/AUTH-010.snap.new").exists());
    assert!(
        !dir.join("embedded/AUTH-010.snap").exists(),
        "never accepted silently"
    );
    assert_eq!(
        conform(&dir, &["--snapshots", "check"], true).status.code(),
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
