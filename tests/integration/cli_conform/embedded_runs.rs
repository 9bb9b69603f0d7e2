//! `grantcheck conform` against the embedded server: every report without secrets, a fault
//! mode's readable failure block, filters and exit 6, and user case files loaded without
//! recompiling.

use crate::common::cli::{run, temp_dir};

use super::{assert_no_secrets, files_in};

#[test]
fn conform_passes_the_embedded_server_and_writes_every_report_without_secrets() {
    let dir = temp_dir("reports");
    let output = run(&[
        "conform",
        "--format",
        "json",
        "--color",
        "never",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["summary"]["failed"], 0);
    assert!(doc["summary"]["passed"].as_u64().unwrap() >= 80);
    let case = &doc["cases"][0];
    for key in [
        "id",
        "title",
        "spec",
        "level",
        "outcome",
        "detail",
        "exchanges",
    ] {
        assert!(case.get(key).is_some(), "case lacks {key}");
    }
    assert!(stderr.contains(" passed, 0 failed"), "{stderr}");
    let files = files_in(&dir);
    let names: Vec<&str> = files
        .iter()
        .map(|(p, _)| p.rsplit('/').next().unwrap())
        .collect();
    for expected in ["results.json", "junit.xml", "summary.md", "report.html"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for (path, text) in &files {
        assert_no_secrets(path, text);
    }
    assert_no_secrets("stdout", &stdout);
    assert_no_secrets("stderr", &stderr);
    let junit = files
        .iter()
        .find(|(p, _)| p.ends_with("junit.xml"))
        .unwrap();
    assert!(junit.1.contains("<testsuites") && junit.1.contains("classname=\"grantcheck.auth\""));
    // The preflight is in every report.
    assert_eq!(doc["summary"]["blocked"], 0);
    assert_eq!(doc["preflight"]["findings"][0]["status"], "ok");
    assert!(
        stderr.contains("preflight:\n  ok       token (myClient)"),
        "{stderr}"
    );
    let text = |name: &str| &files.iter().find(|(p, _)| p.ends_with(name)).unwrap().1;
    assert!(junit.1.contains("preflight.token (myClient)"));
    assert!(
        text("summary.md").contains("**Preflight**") && text("summary.md").contains("| blocked |")
    );
    assert!(text("report.html").contains("<strong>Preflight</strong>"));
}

#[test]
fn a_fault_mode_fails_the_run_with_a_readable_block() {
    let dir = temp_dir("fault");
    let output = run(&[
        "conform",
        "--embedded-fault",
        "omit-cache-control",
        "--skip",
        "expiry",
        "--color",
        "never",
        "--report-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("FAIL RESP-008: Token responses carry Cache-Control: no-store"),
        "{stderr}"
    );
    assert!(
        stderr.contains("requirement: MUST RFC 6749 §5.1"),
        "{stderr}"
    );
    // The failure points at its case file line, with expected and actual apart.
    assert!(
        stderr.contains("--> scenarios/response/token-response.toml:76"),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected: Cache-Control: no-store\n      actual:   nothing"),
        "{stderr}"
    );
    // Every step of the case, the failing one in full as HTTP.
    assert!(
        stderr.contains("  step 1 (the failing step):\n       POST http://"),
        "{stderr}"
    );
    assert!(stderr.contains("\n       HTTP 200 OK\n"), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let resp_008 = report["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "RESP-008")
        .unwrap();
    assert_eq!(
        resp_008["location"],
        "scenarios/response/token-response.toml:76"
    );
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("file=\"scenarios/response/token-response.toml\" line=\"76\""),
        "{junit}"
    );
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("<code>scenarios/response/token-response.toml:76</code>"));
    assert_no_secrets("stderr", &stderr);
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("RESP-008"));
}

#[test]
fn filters_and_exit_code_six() {
    let output = run(&[
        "conform",
        "--only",
        "NO-SUCH-CASE",
        "--report-dir",
        temp_dir("nocase").to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(6));
    let output = run(&["list", "--only", "scope", "--skip", "SCOPE-0*"]);
    assert_eq!(output.status.code(), Some(0));
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(
        listed.contains("PARAM-012") && !listed.contains("SCOPE-001"),
        "{listed}"
    );
    let output = run(&["list"]);
    let listed = String::from_utf8_lossy(&output.stdout);
    assert!(listed.lines().count() > 80, "{listed}");
    let output = run(&["list", "--checks"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("token_response"));
}

#[test]
fn user_cases_load_without_recompiling_and_bad_files_name_their_place() {
    let dir = temp_dir("cases");
    std::fs::create_dir_all(dir.join("mine")).unwrap();
    std::fs::write(
        dir.join("mine/custom.toml"),
        r#"
[[case]]
id = "MINE-001"
title = "My server answers the brief's request"
spec = "RFC 6749 §4.4"
level = "MUST"

[[case.step]]
auth = "post"
form = { grant_type = "client_credentials", scope = "write" }
[case.step.expect]
status = 200
json = { "/scope" = "write", "/token_type" = "Bearer" }
"#,
    )
    .unwrap();
    let reports = temp_dir("cases-reports");
    let output = run(&[
        "conform",
        "--no-builtin",
        "--scenarios",
        dir.to_str().unwrap(),
        "--color",
        "never",
        "-v",
        "--report-dir",
        reports.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("PASS  MINE-001"), "{stderr}");

    std::fs::write(
        dir.join("mine/broken.toml"),
        "[[case]]\nid = \"MINE-002\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MUSTN'T\"\n",
    )
    .unwrap();
    let output = run(&[
        "conform",
        "--no-builtin",
        "--scenarios",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("mine/broken.toml:5:9"), "{stderr}");
}
