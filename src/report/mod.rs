//! Reporters: they render the runner's results; none of them runs anything.
//!
//! `human` writes to the terminal as cases finish; `json`, `junit`, `markdown` and `html`
//! render the finished run into the report directory (and `json` onto stdout on request).

pub mod html;
pub mod http_text;
pub mod human;
pub mod json;
pub mod junit;
pub mod markdown;
#[cfg(test)]
mod testing;

use std::path::Path;

pub use crate::outcome::Summary;
use crate::outcome::{CaseResult, Outcome};
use crate::target::Target;

/// Everything a finished run reports.
pub struct Run<'a> {
    pub target: &'a Target,
    pub profile: &'a str,
    pub results: &'a [CaseResult],
    pub summary: Summary,
    /// How the run compared with the target's snapshots, when they were used.
    pub snapshots: Option<&'a crate::snapshot::Comparisons>,
    /// TLS certificates were not verified (`--insecure`): every report says so.
    pub insecure: bool,
    /// What the preflight established before the cases ran.
    pub preflight: Option<&'a crate::preflight::Preflight>,
    /// The run's verdict ([`crate::verdict::decide`]): every reporter renders it as it is.
    pub verdict: &'a crate::verdict::Verdict,
}

/// Outcomes worth a reader's attention, listed with their evidence in every report.
pub fn is_notable(outcome: Outcome) -> bool {
    matches!(
        outcome,
        Outcome::Fail | Outcome::Error | Outcome::Warn | Outcome::Blocked
    )
}

/// The notable results in the order every report lists them: failures, errors, warnings,
/// then blocked cases (each group in run order).
pub fn notable_in_order(results: &[CaseResult]) -> Vec<&CaseResult> {
    const ORDER: [Outcome; 4] = [
        Outcome::Fail,
        Outcome::Error,
        Outcome::Warn,
        Outcome::Blocked,
    ];
    ORDER
        .iter()
        .flat_map(|o| results.iter().filter(move |r| r.outcome == *o))
        .collect()
}

/// The line every report carries for an `--insecure` run.
pub const INSECURE_NOTICE: &str =
    "TLS certificates were NOT verified (--insecure): the verdicts may come from an impostor";

/// Writes results.json, junit.xml, summary.md and report.html into `dir`.
pub fn write_files(run: &Run<'_>, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("results.json"), json::render(run))?;
    std::fs::write(dir.join("junit.xml"), junit::render(run))?;
    std::fs::write(dir.join("summary.md"), markdown::render(run))?;
    std::fs::write(dir.join("report.html"), html::render(run))?;
    Ok(())
}

/// Areas in first-seen order with their results.
pub fn by_area(results: &[CaseResult]) -> Vec<(&str, Vec<&CaseResult>)> {
    let mut areas: Vec<(&str, Vec<&CaseResult>)> = Vec::new();
    for r in results {
        match areas.iter_mut().find(|(a, _)| *a == r.area) {
            Some((_, list)) => list.push(r),
            None => areas.push((&r.area, vec![r])),
        }
    }
    areas
}
