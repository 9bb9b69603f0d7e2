//! The terminal reporter: one line per case as it finishes, then a block per failure with
//! what was expected and what came back, then a summary line. Colour follows `--color` and
//! `NO_COLOR`.

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

pub struct Human<W: Write> {
    out: W,
    color: bool,
}

impl Human<std::io::Stderr> {
    /// Writes to stderr, so stdout stays free for `--format json`.
    pub fn stderr(choice: ColorChoice) -> Self {
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
    pub fn new(out: W, color: bool) -> Self {
        Human { out, color }
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
        let _ = writeln!(
            self.out,
            "grantcheck conform: {cases} cases against {target} ({token_url})"
        );
    }

    pub fn case(&mut self, r: &CaseResult) {
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
    }

    pub fn finished(&mut self, run: &Run<'_>) {
        for r in super::notable_in_order(run.results) {
            let head = self.paint(
                r.outcome,
                &format!("{} {}", r.outcome.as_str().to_uppercase(), r.id),
            );
            let _ = writeln!(self.out, "\n{head}: {}", r.title);
            let _ = writeln!(self.out, "  --> {}", r.location);
            let _ = writeln!(self.out, "  requirement: {} {}", r.level.as_str(), r.spec);
            for line in detail_lines(&r.detail) {
                let _ = writeln!(self.out, "  {line}");
            }
            if let Some(note) = &r.note {
                let _ = writeln!(self.out, "  why: {note}");
            }
            if let Some(last) = r.exchanges.last() {
                let _ = writeln!(
                    self.out,
                    "  sent:     {} {}",
                    last.request.method, last.request.url
                );
                if let Some(resp) = &last.response {
                    let headers: Vec<String> = resp
                        .headers
                        .iter()
                        .map(|(n, v)| format!("{n}: {v}"))
                        .collect();
                    let mut body = resp.body.to_string();
                    if body.len() > 300 {
                        body = format!("{}…", body.chars().take(300).collect::<String>());
                    }
                    let _ = writeln!(
                        self.out,
                        "  received: {} [{}] {}",
                        resp.status,
                        headers.join("; "),
                        body
                    );
                }
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

    pub fn message(&mut self, text: &str) {
        let _ = writeln!(self.out, "{text}");
    }
}

#[cfg(test)]
mod tests {
    use super::detail_lines;

    #[test]
    fn details_show_expected_and_actual_on_their_own_lines() {
        assert_eq!(
            detail_lines("step 1: no_store: expected Cache-Control: no-store, got nothing"),
            [
                "step 1:",
                "  no_store",
                "    expected: Cache-Control: no-store",
                "    actual:   nothing"
            ]
        );
        assert_eq!(
            detail_lines("issue: expected status 200, got 403; token_type is missing"),
            [
                "issue:",
                "    expected: status 200",
                "    actual:   403",
                "  token_type is missing"
            ]
        );
    }
}
