//! The terminal reporter. By default a case prints a line as it finishes only when it needs
//! attention (failed, errored, warned, blocked); passes and skips are counted per area at
//! the end, before a block per failure (failures first) with what was expected, every step
//! of the case in a line and the failing step in full, then the totals and the verdict.
//! `-v` prints every case's line too; `-q` only the verdict (and warnings a user must see).
//! Colour follows `--color` and `NO_COLOR`.

use std::io::{IsTerminal, Write};

use super::Run;
use crate::runner::{CaseResult, Outcome};

/// `--color auto|always|never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// How much the terminal shows: `-q`, the default, `-v`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    /// The verdict line, and warnings a user must see.
    Quiet,
    /// Cases that need attention, in full; passes and skips as counts per area.
    #[default]
    Normal,
    /// Also a line for every case as it finishes, with why a skipped one was skipped.
    Verbose,
}

pub struct Human<W: Write> {
    out: W,
    color: bool,
    verbosity: Verbosity,
}

impl Human<std::io::Stderr> {
    /// Writes to stderr, so stdout stays free for `--format json`.
    pub fn stderr(choice: ColorChoice, verbosity: Verbosity) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        Human {
            out: std::io::stderr(),
            color,
            verbosity,
        }
    }
}

/// A failure's detail as a reader scans it: the step, then each unmet expectation with its
/// expected and actual values on lines of their own (the way Hurl shows assertions).
fn detail_lines(detail: &str) -> Vec<String> {
    let (step, problems) = match detail.split_once(": ") {
        Some((step, rest)) => (Some(step), rest),
        None => (None, detail),
    };
    let mut lines: Vec<String> = step.map(|s| vec![format!("{s}:")]).unwrap_or_default();
    for problem in problems.split("; ") {
        let (what, rest) = match problem.split_once(": expected ") {
            Some((what, rest)) => (Some(what), format!("expected {rest}")),
            None => (None, problem.to_owned()),
        };
        match rest
            .strip_prefix("expected ")
            .and_then(|r| r.rsplit_once(", got "))
        {
            Some((expected, actual)) => {
                if let Some(what) = what {
                    lines.push(format!("  {what}"));
                }
                lines.push(format!("    expected: {expected}"));
                lines.push(format!("    actual:   {actual}"));
            }
            None => lines.push(format!(
                "  {}{rest}",
                what.map(|w| format!("{w}: ")).unwrap_or_default()
            )),
        }
    }
    lines
}

impl<W: Write> Human<W> {
    pub fn new(out: W, color: bool, verbosity: Verbosity) -> Self {
        Human {
            out,
            color,
            verbosity,
        }
    }

    /// Whether lines beyond the verdict are shown (not `-q`).
    fn chatty(&self) -> bool {
        self.verbosity > Verbosity::Quiet
    }

    fn paint(&self, outcome: Outcome, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match outcome {
            Outcome::Pass => "32",
            Outcome::Fail => "1;31",
            Outcome::Warn => "33",
            Outcome::Blocked => "36",
            Outcome::Skip => "2",
            Outcome::Error => "1;35",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    pub fn started(&mut self, target: &str, token_url: &str, cases: usize) {
        if !self.chatty() {
            return;
        }
        let _ = writeln!(
            self.out,
            "grantcheck conform: {cases} cases against {target} ({token_url})"
        );
    }

    /// A case as it finishes: a line when it needs attention, or for every case with `-v`.
    pub fn case(&mut self, r: &CaseResult) {
        let shown = match self.verbosity {
            Verbosity::Quiet => false,
            Verbosity::Normal => super::is_notable(r.outcome),
            Verbosity::Verbose => true,
        };
        if !shown {
            return;
        }
        let tag = self.paint(
            r.outcome,
            &format!("{:<5}", r.outcome.as_str().to_uppercase()),
        );
        let _ = writeln!(
            self.out,
            "  {tag} {:<12} {} [{} {}]",
            r.id,
            r.title,
            r.level.as_str(),
            r.spec
        );
        if r.outcome == Outcome::Skip && !r.detail.is_empty() {
            let _ = writeln!(self.out, "        skipped: {}", r.detail);
        }
        if r.outcome == Outcome::Blocked {
            let _ = writeln!(self.out, "        blocked: {}", r.detail);
        }
        if let Some(race) = &r.race {
            let _ = writeln!(self.out, "        race: {}", race.describe());
        }
        if let Some(propagation) = &r.propagation {
            let _ = writeln!(self.out, "        cluster: {}", propagation.describe());
        }
    }

    pub fn finished(&mut self, run: &Run<'_>) {
        if !self.chatty() {
            if run.insecure {
                let _ = writeln!(self.out, "WARNING: {}", super::INSECURE_NOTICE);
            }
            return;
        }
        if !run.results.is_empty() {
            let _ = writeln!(self.out);
        }
        for line in area_counts(run.results) {
            let _ = writeln!(self.out, "  {line}");
        }
        if let Some(line) = race_spreads(run.results) {
            let _ = writeln!(self.out, "  {line}");
        }
        for r in super::notable_in_order(run.results) {
            let head = self.paint(
                r.outcome,
                &format!("{} {}", r.outcome.as_str().to_uppercase(), r.id),
            );
            let _ = writeln!(self.out, "\n{head}: {}", r.title);
            for line in failure_block(r) {
                let _ = writeln!(self.out, "{line}");
            }
        }
        let s = run.summary;
        let _ = writeln!(
            self.out,
            "\n{} passed, {} failed, {} warned, {} blocked, {} skipped, {} errored ({} cases, profile {})",
            s.passed,
            s.failed,
            s.warned,
            s.blocked,
            s.skipped,
            s.errored,
            s.total(),
            run.profile
        );
        if self.verbosity == Verbosity::Normal && s.passed + s.skipped > 0 {
            let _ = writeln!(
                self.out,
                "(-v lists every case, with why each skipped one was skipped)"
            );
        }
        if run.insecure {
            let _ = writeln!(self.out, "WARNING: {}", super::INSECURE_NOTICE);
        }
    }

    /// The run's verdict, the last line a reader sees, in the colour of its outcome.
    pub fn verdict(&mut self, verdict: &crate::verdict::Verdict) {
        use crate::verdict::Tone;
        let outcome = match verdict.tone() {
            Tone::Good => Outcome::Pass,
            Tone::Warn if verdict.passed() => Outcome::Pass,
            Tone::Warn => Outcome::Warn,
            Tone::Bad => Outcome::Fail,
        };
        let line = format!("{} (exit {})", verdict.headline(), verdict.exit() as u8);
        let painted = self.paint(outcome, &line);
        let _ = writeln!(self.out, "{painted}");
    }

    /// How the run compared with its snapshots: the drift grouped by what changed (one
    /// value changed across many cases shows once, with its cases), then the counts.
    pub fn snapshots(
        &mut self,
        s: &crate::snapshot::Comparisons,
        dir: &std::path::Path,
        mode: crate::snapshot::Mode,
        in_ci: bool,
    ) {
        if !self.chatty() {
            return;
        }
        if mode == crate::snapshot::Mode::Update {
            let _ = writeln!(
                self.out,
                "snapshots: {} written to {}",
                s.written,
                dir.display()
            );
            return;
        }
        for group in s.grouped() {
            let cases = group.cases.len();
            let head = self.paint(
                Outcome::Fail,
                &format!(
                    "SNAPSHOT DRIFT in {cases} case{}: {}",
                    if cases == 1 { "" } else { "s" },
                    group.cases.join(", ")
                ),
            );
            let _ = writeln!(self.out, "\n{head}");
            let text = group.text();
            for line in text.lines() {
                let painted = match line.chars().next() {
                    Some('-') if !line.starts_with("---") => self.paint(Outcome::Fail, line),
                    Some('+') if !line.starts_with("+++") => self.paint(Outcome::Pass, line),
                    _ => line.to_owned(),
                };
                let _ = writeln!(self.out, "  {painted}");
            }
        }
        if !s.new.is_empty() {
            let _ = writeln!(self.out, "new (no stored snapshot): {}", s.new.join(", "));
        }
        let _ = writeln!(
            self.out,
            "snapshots: {} matched, {} drifted, {} new in {}",
            s.matched,
            s.drifted.len(),
            s.new.len(),
            dir.display()
        );
        if s.read_only && (!s.drifted.is_empty() || !s.new.is_empty()) {
            let _ = writeln!(
                self.out,
                "  (this run is not the golden one, so nothing was left to accept)"
            );
        } else if !s.drifted.is_empty() || !s.new.is_empty() {
            let _ = writeln!(
                self.out,
                "  review the pending .snap.new files with `grantcheck snapshots review` (or accept/reject them), or accept this run with --snapshots update{}",
                if in_ci && !s.new.is_empty() { " (new snapshots fail in CI: they are never accepted silently)" } else { "" }
            );
        }
    }

    /// The preflight's findings, before the cases.
    pub fn preflight(&mut self, preflight: &crate::preflight::Preflight) {
        use crate::preflight::Status;
        if !self.chatty() {
            return;
        }
        let _ = writeln!(self.out, "preflight:");
        for f in &preflight.findings {
            let outcome = match f.status {
                Status::Ok => Outcome::Pass,
                Status::Adjusted | Status::Note => Outcome::Warn,
                Status::Unusable => Outcome::Blocked,
                Status::Fatal => Outcome::Error,
            };
            let tag = self.paint(outcome, &format!("{:<8}", f.status.as_str()));
            let _ = writeln!(self.out, "  {tag} {:<28} {}", f.subject, f.message);
        }
    }

    /// A line of the run's progress (not with `-q`).
    pub fn message(&mut self, text: &str) {
        if self.chatty() {
            let _ = writeln!(self.out, "{text}");
        }
    }

    /// A warning or an error a user must see, even with `-q`.
    pub fn warning(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }
}

/// Passes and skips (and the rest) counted per area, areas in run order, names aligned:
/// `token          41 passed, 2 skipped`.
pub fn area_counts(results: &[CaseResult]) -> Vec<String> {
    const ORDER: [(Outcome, &str); 6] = [
        (Outcome::Pass, "passed"),
        (Outcome::Fail, "failed"),
        (Outcome::Error, "errored"),
        (Outcome::Warn, "warned"),
        (Outcome::Blocked, "blocked"),
        (Outcome::Skip, "skipped"),
    ];
    let areas = super::by_area(results);
    let width = areas
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    areas
        .iter()
        .map(|(area, list)| {
            let counts: Vec<String> = ORDER
                .iter()
                .filter_map(|(outcome, word)| {
                    let n = list.iter().filter(|r| r.outcome == *outcome).count();
                    (n > 0).then(|| format!("{n} {word}"))
                })
                .collect();
            format!("{area:<width$}  {}", counts.join(", "))
        })
        .collect()
}

/// Every race case's release spread in one line (p50/max over its tries, in ms):
/// `release spread p50/max ms (20 copies): RACE-001 0.126/0.126, RACE-002 0.114/3.257`.
fn race_spreads(results: &[CaseResult]) -> Option<String> {
    let raced: Vec<(&str, &crate::outcome::RaceStats)> = results
        .iter()
        .filter_map(|r| r.race.as_ref().map(|s| (r.id.as_str(), s)))
        .collect();
    let copies = raced.iter().map(|(_, s)| s.copies).max()?;
    let each: Vec<String> = raced
        .iter()
        .map(|(id, s)| format!("{id} {:.3}/{:.3}", s.spread_p50_ms, s.spread_max_ms))
        .collect();
    Some(format!(
        "release spread p50/max ms ({copies} copies): {}",
        each.join(", ")
    ))
}

/// A notable case's block under its heading: where and what it requires, what was expected
/// and what came back, why, then every step: one line each, the failing one in full.
pub fn failure_block(r: &CaseResult) -> Vec<String> {
    let mut lines = vec![
        format!("  --> {}", r.location),
        format!("  requirement: {} {}", r.level.as_str(), r.spec),
    ];
    if let Some(race) = &r.race {
        lines.push(format!("  race: {}", race.describe()));
    }
    if let Some(propagation) = &r.propagation {
        lines.push(format!("  cluster: {}", propagation.describe()));
    }
    lines.extend(
        detail_lines(&r.detail)
            .into_iter()
            .map(|l| format!("  {l}")),
    );
    if let Some(note) = &r.note {
        lines.push(format!("  why: {note}"));
    }
    let failing = super::http_text::failing_step(r);
    if !r.exchanges.is_empty() {
        lines.push("  steps:".to_owned());
    }
    for (i, ex) in r.exchanges.iter().enumerate() {
        // A step without a name is called "step N" already.
        let step = if ex.step == format!("step {}", i + 1) {
            ex.step.clone()
        } else {
            format!("{}. {}", i + 1, ex.step)
        };
        if Some(i) == failing {
            lines.push(format!("  {step} (the failing step):"));
            for line in super::http_text::full(ex).lines() {
                lines.push(if line.is_empty() {
                    String::new()
                } else {
                    format!("       {line}")
                });
            }
        } else {
            lines.push(format!("  {step}: {}", super::http_text::brief(ex)));
        }
    }
    lines
}

#[cfg(test)]
mod tests;
