//! The run's verdict: decided once, here, from everything the run found; the exit code and
//! every report (terminal, summary.md, junit.xml, report.html, results.json) render this one
//! value and none derives its own headline.

use serde::Serialize;

use crate::exit::Exit;
use crate::outcome::Summary;
use crate::preflight::{Preflight, Status};
use crate::snapshot::Comparisons;

/// How a conformance run ended, in the order the rule below checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// A MUST case failed (exit 4), whatever else happened.
    Failed {
        musts: usize,
        /// Cases or configured areas that were not judged as well.
        #[serde(skip_serializing_if = "Option::is_none")]
        also_unjudged: Option<String>,
    },
    /// Something the run was asked to judge could not be judged (exit 3): the run ended
    /// before the cases (discovery, the preflight), or cases were blocked or errored, or a
    /// client or endpoint the run was given turned out unusable.
    NoVerdict { why: String },
    /// Every case that ran met its MUSTs, but the responses differ from the stored snapshots,
    /// or snapshots are new under CI (exit 4).
    SnapshotsFailed { drifted: usize, new: usize },
    /// Every selected case met its MUSTs (exit 0).
    Passed { warned: usize },
}

/// What the verdict is drawn from.
#[derive(Default)]
pub struct Evidence<'a> {
    pub summary: Summary,
    /// Why the run ended before any case (discovery failed, the preflight's fatal finding).
    pub ended_early: Option<&'a str>,
    pub preflight: Option<&'a Preflight>,
    pub snapshots: Option<&'a Comparisons>,
    /// New snapshots fail the run (CI: never accepted silently).
    pub in_ci: bool,
}

/// The rule, stated once (README "The verdict"): a failed MUST fails the run; else anything
/// left unjudged (the run ended early, a case blocked or errored, a configured client or
/// endpoint unusable) gives no verdict; else snapshot drift (or a new snapshot in CI) fails
/// it; else it passed.
pub fn decide(e: &Evidence<'_>) -> Verdict {
    let unjudged = unjudged(e);
    if e.summary.failed > 0 {
        return Verdict::Failed {
            musts: e.summary.failed,
            also_unjudged: unjudged,
        };
    }
    if let Some(why) = unjudged {
        return Verdict::NoVerdict { why };
    }
    if let Some(c) = e.snapshots.filter(|c| c.fails(e.in_ci)) {
        return Verdict::SnapshotsFailed {
            drifted: c.drifted.len(),
            new: if e.in_ci { c.new.len() } else { 0 },
        };
    }
    Verdict::Passed {
        warned: e.summary.warned,
    }
}

/// Everything the run could not judge, in words; `None` when it judged all it was given.
fn unjudged(e: &Evidence<'_>) -> Option<String> {
    if let Some(why) = e.ended_early {
        return Some(why.to_owned());
    }
    let mut parts = Vec::new();
    let s = e.summary;
    if s.blocked > 0 {
        parts.push(format!("{} blocked", count(s.blocked, "case")));
    }
    if s.errored > 0 {
        parts.push(format!("{} errored", count(s.errored, "case")));
    }
    for f in e.preflight.map_or(&[][..], |p| &p.findings[..]) {
        if f.status == Status::Unusable {
            parts.push(format!(
                "{} unusable, its cases untested: {}",
                f.subject, f.message
            ));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A multi-line reason (discovery lists each URL it tried) as one headline line.
fn one_line(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

fn count(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// How a report colours the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warn,
    Bad,
}

impl Verdict {
    pub fn exit(&self) -> Exit {
        match self {
            Verdict::Failed { .. } | Verdict::SnapshotsFailed { .. } => Exit::Conformance,
            Verdict::NoVerdict { .. } => Exit::Runtime,
            Verdict::Passed { .. } => Exit::Success,
        }
    }

    /// The first word a reader sees: PASSED, FAILED or NO VERDICT.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Failed { .. } | Verdict::SnapshotsFailed { .. } => "FAILED",
            Verdict::NoVerdict { .. } => "NO VERDICT",
            Verdict::Passed { .. } => "PASSED",
        }
    }

    /// One line: the word and why, as every report's headline.
    pub fn headline(&self) -> String {
        match self {
            Verdict::Failed {
                musts,
                also_unjudged,
            } => {
                let mut line = format!("FAILED: {} broken", count(*musts, "MUST requirement"));
                if let Some(rest) = also_unjudged {
                    line.push_str(&format!(" (not judged: {rest})"));
                }
                line
            }
            Verdict::NoVerdict { why } => format!("NO VERDICT: {}", one_line(why)),
            Verdict::SnapshotsFailed { drifted, new } => {
                let mut parts = Vec::new();
                if *drifted > 0 {
                    parts.push(format!("{} drifted", count(*drifted, "snapshot")));
                }
                if *new > 0 {
                    parts.push(format!(
                        "{} new and not accepted (CI)",
                        count(*new, "snapshot")
                    ));
                }
                format!("FAILED: {}", parts.join(", "))
            }
            Verdict::Passed { warned: 0 } => "PASSED: every MUST met".to_owned(),
            Verdict::Passed { warned } => format!(
                "PASSED with warnings: every MUST met, {}",
                count(*warned, "SHOULD warning")
            ),
        }
    }

    pub fn tone(&self) -> Tone {
        match self {
            Verdict::Failed { .. } | Verdict::SnapshotsFailed { .. } => Tone::Bad,
            Verdict::NoVerdict { .. } | Verdict::Passed { warned: 1.. } => Tone::Warn,
            Verdict::Passed { .. } => Tone::Good,
        }
    }

    /// As results.json's `verdict`: the kind and its counts, the headline and the exit code.
    pub fn document(&self) -> serde_json::Value {
        let mut doc = serde_json::to_value(self).expect("a verdict serialises");
        doc["headline"] = self.headline().into();
        doc["exit_code"] = (self.exit() as u8).into();
        doc
    }

    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(failed: usize, blocked: usize, warned: usize) -> Summary {
        Summary {
            passed: 10,
            failed,
            warned,
            blocked,
            ..Summary::default()
        }
    }

    fn drift(drifted: usize, new: usize) -> Comparisons {
        Comparisons {
            drifted: (0..drifted).map(|i| format!("D-{i}")).collect(),
            new: (0..new).map(|i| format!("N-{i}")).collect(),
            ..Comparisons::default()
        }
    }

    #[test]
    fn the_rule_in_order() {
        let d = drift(1, 0);
        let cases: Vec<(Evidence<'_>, Exit, &str)> = vec![
            (
                Evidence {
                    summary: summary(0, 0, 0),
                    ..Evidence::default()
                },
                Exit::Success,
                "PASSED: every MUST met",
            ),
            (
                Evidence {
                    summary: summary(0, 0, 2),
                    ..Evidence::default()
                },
                Exit::Success,
                "PASSED with warnings: every MUST met, 2 SHOULD warnings",
            ),
            (
                Evidence {
                    summary: summary(2, 1, 0),
                    snapshots: Some(&d),
                    ..Evidence::default()
                },
                Exit::Conformance,
                "FAILED: 2 MUST requirements broken (not judged: 1 case blocked)",
            ),
            (
                Evidence {
                    summary: summary(0, 1, 0),
                    snapshots: Some(&d),
                    ..Evidence::default()
                },
                Exit::Runtime,
                "NO VERDICT: 1 case blocked",
            ),
            (
                Evidence {
                    summary: summary(0, 0, 0),
                    snapshots: Some(&d),
                    ..Evidence::default()
                },
                Exit::Conformance,
                "FAILED: 1 snapshot drifted",
            ),
            (
                Evidence {
                    ended_early: Some("the token endpoint refused the main client"),
                    ..Evidence::default()
                },
                Exit::Runtime,
                "NO VERDICT: the token endpoint refused the main client",
            ),
        ];
        for (evidence, exit, headline) in cases {
            let v = decide(&evidence);
            assert_eq!(v.exit(), exit, "{v:?}");
            assert_eq!(v.headline(), headline);
        }
    }

    #[test]
    fn new_snapshots_fail_only_in_ci() {
        let new = drift(0, 3);
        let mut e = Evidence {
            summary: summary(0, 0, 0),
            snapshots: Some(&new),
            ..Evidence::default()
        };
        assert!(decide(&e).passed());
        e.in_ci = true;
        let v = decide(&e);
        assert_eq!(v.exit(), Exit::Conformance);
        assert_eq!(
            v.headline(),
            "FAILED: 3 snapshots new and not accepted (CI)"
        );
    }
}
