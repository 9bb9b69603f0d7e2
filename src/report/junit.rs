//! JUnit XML (quick-junit): one testsuite per area, one testcase per case; failures and
//! errors are distinguished, skips carry their reason; a failure's text is its case's
//! exchanges as HTTP (request line, headers, body; status line, headers, body), redacted.
//! GitHub, GitLab and Jenkins read it.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::{by_area, Run};
use crate::runner::Outcome;
use crate::verdict::Verdict;

pub fn render(run: &Run<'_>) -> String {
    let mut report = Report::new(format!("grantcheck conform ({})", run.target.label));
    for (area, results) in by_area(run.results) {
        let mut suite = TestSuite::new(area);
        if run.insecure {
            suite.add_property(("tls.certificates_verified", "false"));
        }
        if let Some(preflight) = run.preflight {
            for f in &preflight.findings {
                suite.add_property((
                    format!("preflight.{}", f.subject),
                    format!("{}: {}", f.status.as_str(), f.message),
                ));
            }
        }
        for r in results {
            let mut status = match r.outcome {
                Outcome::Pass | Outcome::Warn => TestCaseStatus::success(),
                Outcome::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(r.detail.clone());
                    s.set_type(format!("{} {}", r.level.as_str(), r.spec));
                    s
                }
                Outcome::Error => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
                    s.set_message(r.detail.clone());
                    s
                }
                Outcome::Skip => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.detail.clone());
                    s
                }
                // Not judged: a setup step failed. Skipped with the reason, so CI shows red
                // only for broken rules (the run still exits 3 when nothing failed).
                Outcome::Blocked => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(format!("blocked: {}", r.detail));
                    s.set_type("blocked");
                    s
                }
            };
            if let TestCaseStatus::NonSuccess { description, .. } = &mut status {
                *description = Some(exchanges_text(r).into());
            }
            let mut case = TestCase::new(format!("{} {}", r.id, r.title), status);
            case.set_classname(format!("grantcheck.{area}"));
            // GitLab and others link a testcase to its source by `file` (and `line`).
            if let Some((file, line)) = r.location.rsplit_once(':') {
                case.extra.insert("file".into(), file.into());
                case.extra.insert("line".into(), line.into());
            }
            case.set_time(Duration::from_millis(r.duration_ms));
            if r.outcome == Outcome::Warn {
                case.set_system_out(format!(
                    "WARNING ({} {}): {}",
                    r.level.as_str(),
                    r.spec,
                    r.detail
                ));
            }
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(c) = run.snapshots.filter(|c| !c.drifted.is_empty()) {
        // Drift fails the run, so it fails a testcase: one per drifted case, with its diff.
        let mut suite = TestSuite::new("snapshots");
        for id in &c.drifted {
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message("the case's exchanges differ from its stored snapshot");
            status.set_type("snapshot drift");
            if let TestCaseStatus::NonSuccess { description, .. } = &mut status {
                *description = c.diffs.get(id).map(|d| d.clone().into());
            }
            let mut case = TestCase::new(format!("{id} snapshot"), status);
            case.set_classname("grantcheck.snapshots");
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    report.add_test_suite(verdict_suite(run));
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- junit rendering failed: {e} -->"))
}

/// The run's verdict as a testcase of its own, so a CI that reads only JUnit sees a failure
/// (FAILED) or an error (NO VERDICT) whenever the exit code is not 0, even when no case
/// failed: a preflight that ended the run, blocked cases, snapshots new in CI.
fn verdict_suite(run: &Run<'_>) -> TestSuite {
    let verdict = run.verdict;
    let mut status = match verdict {
        Verdict::Passed { .. } => TestCaseStatus::success(),
        Verdict::Failed { .. } | Verdict::SnapshotsFailed { .. } => {
            TestCaseStatus::non_success(NonSuccessKind::Failure)
        }
        Verdict::NoVerdict { .. } => TestCaseStatus::non_success(NonSuccessKind::Error),
    };
    if let TestCaseStatus::NonSuccess { .. } = status {
        status.set_message(verdict.headline());
        status.set_type(format!("exit code {}", verdict.exit() as u8));
    }
    let mut case = TestCase::new("run verdict", status);
    case.set_classname("grantcheck.run");
    case.set_system_out(verdict.headline());
    let mut suite = TestSuite::new("run");
    suite.add_test_case(case);
    suite
}

/// Every step's exchange as HTTP text (redacted records), the failing step marked.
fn exchanges_text(r: &crate::runner::CaseResult) -> String {
    super::http_text::all(r)
}
