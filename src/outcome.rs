//! What a case run ends with: its outcome and evidence, as every reporter sees them, and the
//! counts a run's verdict is drawn from.

use serde::Serialize;

use crate::case::Level;
use crate::exchange::Exchange;

/// The result of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    /// A setup step did not give what the case needed (or the target rate-limited it):
    /// the behaviour the case judges was never reached.
    Blocked,
    Skip,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Blocked => "blocked",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }
}

/// One case's verdict with its evidence, as every reporter sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub spec: String,
    pub level: Level,
    pub area: String,
    pub tags: Vec<String>,
    pub outcome: Outcome,
    /// Why it failed, warned, was blocked, skipped or errored; for INFO cases, what differed.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub source: String,
    /// `file:line` of the step that decided the outcome (of the case when every step ran).
    pub location: String,
    pub duration_ms: u64,
    pub exchanges: Vec<Exchange>,
}

/// Counts by outcome, as the JSON report's `summary`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub warned: usize,
    /// A setup step did not give what the case needed: not judged, not failed.
    pub blocked: usize,
    pub skipped: usize,
    pub errored: usize,
}

impl Summary {
    pub fn of(results: &[CaseResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.outcome {
                Outcome::Pass => s.passed += 1,
                Outcome::Fail => s.failed += 1,
                Outcome::Warn => s.warned += 1,
                Outcome::Blocked => s.blocked += 1,
                Outcome::Skip => s.skipped += 1,
                Outcome::Error => s.errored += 1,
            }
        }
        s
    }

    pub fn total(&self) -> usize {
        self.passed + self.failed + self.warned + self.blocked + self.skipped + self.errored
    }
}
