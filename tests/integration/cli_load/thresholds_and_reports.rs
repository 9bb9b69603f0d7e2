//! What a `load` run decides and writes: thresholds and exit 5, the HTML, JSON and Markdown
//! reports (and Goose's), the logs that would hold secrets refused, `--no-print-metrics`, and
//! `load --help`.

use crate::common::cli::temp_dir;

use super::{against, load, start};

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
    for ext in ["html", "json", "md", "goose.json"] {
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
async fn the_html_load_report_is_self_contained_with_charts_over_time() {
    let server = start(None).await;
    let dir = temp_dir("load-html");
    let output = load(against(
        &server,
        "issuance",
        &["--report-dir", dir.to_str().unwrap()],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0));
    let html = std::fs::read_to_string(dir.join("load-issuance.html")).unwrap();
    // Nothing to fetch: no script, no stylesheet or image from elsewhere.
    for remote in ["<script", "src=", "href=", "@import", "cdn"] {
        assert!(!html.contains(remote), "the report refers to {remote}");
    }
    assert!(html.contains("all ") && html.contains("responses passed their checks"));
    assert_eq!(
        html.matches("<svg").count(),
        2,
        "throughput and latency charts"
    );
    assert!(html.contains("<polyline"), "a line drawn from the data");
    // The JSON carries the same data over time, for merges and comparisons.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("load-issuance.json")).unwrap())
            .unwrap();
    let slots = json["timeline"]["slots"].as_array().unwrap();
    assert!(slots.len() >= 2, "{slots:?}");
    let requests: u64 = slots.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert!(requests > 0);
    server.shutdown().await;
}

/// `--no-print-metrics` leaves the end-of-run summary off the terminal; the reports are
/// written all the same.
#[tokio::test(flavor = "multi_thread")]
async fn no_print_metrics_leaves_the_summary_out_and_writes_the_reports() {
    let server = start(None).await;
    let dir = temp_dir("load-quiet");
    let report_dir = dir.to_str().unwrap();
    let output = load(against(
        &server,
        "issuance",
        &["--no-print-metrics", "--report-dir", report_dir],
    ))
    .await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(" s measured"), "{stderr}");
    assert!(stderr.contains("reports: "), "{stderr}");
    for ext in ["html", "json", "md"] {
        assert!(dir.join(format!("load-issuance.{ext}")).exists(), "{ext}");
    }
    server.shutdown().await;
}

/// The Goose logs grantcheck refuses (they would hold credentials and tokens) are not offered
/// in `load --help` or `load capacity --help`, nor mentioned by other options' help.
#[test]
fn load_help_offers_no_option_grantcheck_refuses() {
    for command in [vec!["load", "--help"], vec!["load", "capacity", "--help"]] {
        let output = crate::common::cli::run(&command);
        let help = String::from_utf8_lossy(&output.stdout);
        assert!(help.contains("--no-print-metrics"), "{command:?}: {help}");
        for refused in [
            "--request-log",
            "--request-body",
            "--request-format",
            "--error-log",
            "--error-format",
            "--debug-log",
            "--debug-format",
            "--no-debug-body",
        ] {
            assert!(!help.contains(refused), "{command:?} offers {refused}");
        }
    }
}
