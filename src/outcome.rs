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
    /// For a case that raced: how wide and how close together its copies went.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<RaceStats>,
    /// For a cluster case that waited for a revocation: how long each other node took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    pub exchanges: Vec<Exchange>,
}

/// A race case's copies and release spreads (from the first copy's last byte written to
/// the last one's), over every try of its races.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RaceStats {
    /// Copies per race.
    pub copies: usize,
    /// Races sent: every try of every race step (a race over `--race-spread` is tried
    /// again).
    pub tries: usize,
    /// Median and widest release spread, in milliseconds.
    pub spread_p50_ms: f64,
    pub spread_max_ms: f64,
}

impl RaceStats {
    /// `20 copies, release spread p50 0.12 ms, max 0.31 ms (2 races sent)`.
    pub fn describe(&self) -> String {
        let tries = match self.tries {
            1 => String::new(),
            n => format!(" ({n} races sent)"),
        };
        format!(
            "{} copies, release spread p50 {:.3} ms, max {:.3} ms{tries}",
            self.copies, self.spread_p50_ms, self.spread_max_ms
        )
    }
}

/// How long a revocation on one node took to reach each other node (`until_refused`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Propagation {
    /// The node the revocation was sent to.
    pub from: String,
    /// The bound (`--max-propagation`), in milliseconds.
    pub max_ms: u64,
    pub nodes: Vec<NodeDelay>,
}

/// One other node: when it first refused the token, in milliseconds after the revocation's
/// answer (`None`: still accepting it at the bound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDelay {
    pub node: String,
    pub ms: Option<u64>,
}

impl Propagation {
    /// `revocation on http://a:1 reached http://b:2 in 0 ms, http://c:3 not within 1000 ms`.
    pub fn describe(&self) -> String {
        let each: Vec<String> = self
            .nodes
            .iter()
            .map(|n| match n.ms {
                Some(ms) => format!("{} in {ms} ms", n.node),
                None => format!("{} not within {} ms", n.node, self.max_ms),
            })
            .collect();
        format!("revocation on {} reached {}", self.from, each.join(", "))
    }
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
