//! What `conform` prints on the terminal, through the real binary: passes collapsed into
//! counts per area (a line each with `-v`), only the verdict with `-q`, and a failure with
//! every step of its case, the failing one in full; the same steps as HTTP in junit.xml and,
//! the failing one open, in report.html. Nothing secret in any of them.

use std::path::Path;
use std::process::Output;

use crate::cli_conform::assert_no_secrets;
use crate::common::cli::{run, temp_dir};

fn conform(reports: &Path, args: &[&str]) -> (Output, String) {
    let mut all = vec![
        "conform",
        "--color",
        "never",
        "--report-dir",
        reports.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let output = run(&all);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

#[test]
fn passes_are_counted_per_area_and_listed_only_with_verbose() {
    let reports = temp_dir("terminal-pass");
    let (output, stderr) = conform(&reports, &["--only", "RESP-*,TOKEN-00*"]);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("PASS "), "{stderr}");
    let counts: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(" passed") && !l.contains(" failed"))
        .collect();
    assert!(
        counts
            .iter()
            .any(|l| l.trim_start().starts_with("response ")),
        "{stderr}"
    );
    assert!(
        counts
            .iter()
            .any(|l| l.trim_start().starts_with("transport ")),
        "{stderr}"
    );
    assert!(stderr.contains("(-v lists every case"), "{stderr}");
    assert!(stderr.ends_with("(exit 0)\n"), "{stderr}");

    let (output, verbose) = conform(&reports, &["--only", "RESP-*,TOKEN-00*", "-v"]);
    assert_eq!(output.status.code(), Some(0), "{verbose}");
    assert!(verbose.contains("  PASS  RESP-008"), "{verbose}");
    assert!(verbose.contains("        skipped: "), "{verbose}");
}

#[test]
fn quiet_prints_the_verdict_alone_whatever_the_run_ends_with() {
    let reports = temp_dir("terminal-quiet");
    let runs: [(&[&str], i32, &str); 3] = [
        (&["--only", "RESP-00*", "-q"], 0, "PASSED"),
        (
            &[
                "--only",
                "RESP-008",
                "--embedded-fault",
                "omit-cache-control",
                "--quiet",
            ],
            4,
            "FAILED",
        ),
        (
            &["--client-id", "myClient", "--client-secret", "wrong", "-q"],
            3,
            "NO VERDICT",
        ),
    ];
    for (args, code, word) in runs {
        let (output, stderr) = conform(&reports, args);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(word), "{args:?}: {stderr}");
        assert!(
            stderr.ends_with(&format!("(exit {code})\n")),
            "{args:?}: {stderr}"
        );
        // The reports are written as always.
        assert!(reports.join("report.html").exists());
    }
    let (output, stderr) = conform(&reports, &["-q", "-v"]);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
}

#[test]
fn a_failure_shows_every_step_and_the_failing_one_in_full() {
    let reports = temp_dir("terminal-fail");
    let (output, stderr) = conform(
        &reports,
        &[
            "--only",
            "INTRO-007",
            "--embedded-fault",
            "ignore-revocation",
        ],
    );
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    // The revocation's 200 explains the introspection that follows.
    assert!(
        stderr.contains("\n  1. issue: POST http://") && stderr.contains("/access_token → 200 {"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  2. revoke: POST http://")
            && stderr.contains("/revoke → 200 (empty body)\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n  3. introspect (the failing step):\n       POST http://"),
        "{stderr}"
    );
    assert!(
        stderr.contains("\n       HTTP 200 OK\n") && stderr.contains("\"active\": true"),
        "{stderr}"
    );
    assert_no_secrets("stderr", &stderr);

    let junit = std::fs::read_to_string(reports.join("junit.xml")).unwrap();
    assert!(junit.contains("--- step 2: revoke ---"), "{junit}");
    assert!(
        junit.contains("--- step 3: introspect (the failing step) ---"),
        "{junit}"
    );
    assert!(junit.contains("HTTP 200 OK"), "{junit}");
    assert!(
        !junit.contains("&quot;method&quot;"),
        "HTTP, not JSON: {junit}"
    );
    assert_no_secrets("junit.xml", &junit);

    let html = std::fs::read_to_string(reports.join("report.html")).unwrap();
    assert!(
        html.contains(
            "<details class=exchange open><summary>introspect (the failing step)</summary>"
        ),
        "{html}"
    );
    assert!(
        html.contains("<details class=exchange><summary>revoke</summary>"),
        "{html}"
    );
    assert_no_secrets("report.html", &html);
}
