//! summary.md: short enough for a GitHub job summary.

use std::fmt::Write;

use super::{by_area, Run};
use crate::runner::Outcome;
use crate::verdict::Tone;

pub fn render(run: &Run<'_>) -> String {
    let s = run.summary;
    let mut md = String::new();
    let mark = match run.verdict.tone() {
        Tone::Good => "✅",
        Tone::Warn if run.verdict.passed() => "✅",
        Tone::Warn => "⚠️",
        Tone::Bad => "❌",
    };
    let _ = writeln!(
        md,
        "# grantcheck conform: {mark} {}\n",
        run.verdict.headline()
    );
    let _ = writeln!(md, "Exit code {}\n", run.verdict.exit() as u8);
    let _ = writeln!(
        md,
        "Target `{}` · profile `{}`\n",
        run.target.label, run.profile
    );
    if run.insecure {
        let _ = writeln!(md, "> ⚠️ {}\n", super::INSECURE_NOTICE);
    }
    if let Some(preflight) = run.preflight {
        let _ = writeln!(md, "**Preflight**\n");
        for f in &preflight.findings {
            let _ = writeln!(
                md,
                "- {} `{}`: {}",
                f.status.as_str(),
                f.subject,
                f.message.replace('\n', " ")
            );
        }
        md.push('\n');
    }
    let _ = writeln!(
        md,
        "| passed | failed | warned | blocked | skipped | errored |\n|---:|---:|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} |\n",
        s.passed, s.failed, s.warned, s.blocked, s.skipped, s.errored
    );
    let _ = writeln!(
        md,
        "| area | pass | fail | warn | blocked | skip | error |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    for (area, results) in by_area(run.results) {
        let n = |o: Outcome| results.iter().filter(|r| r.outcome == o).count();
        let _ = writeln!(
            md,
            "| {area} | {} | {} | {} | {} | {} | {} |",
            n(Outcome::Pass),
            n(Outcome::Fail),
            n(Outcome::Warn),
            n(Outcome::Blocked),
            n(Outcome::Skip),
            n(Outcome::Error)
        );
    }
    let waited: Vec<_> = run
        .results
        .iter()
        .filter_map(|r| r.propagation.as_ref().map(|p| (r, p)))
        .collect();
    if !waited.is_empty() {
        let _ = writeln!(
            md,
            "\n**Cluster** (a revocation on one node, asked of each other node until it refused the token)\n\n| case | outcome | from | node | took (ms) |\n|---|---|---|---|---:|"
        );
        for (r, p) in waited {
            for n in &p.nodes {
                let took =
                    n.ms.map_or(format!("not within {}", p.max_ms), |ms| ms.to_string());
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {took} |",
                    r.id,
                    r.outcome.as_str(),
                    p.from,
                    n.node
                );
            }
        }
    }
    let raced: Vec<_> = run.results.iter().filter(|r| r.race.is_some()).collect();
    if !raced.is_empty() {
        let _ = writeln!(
            md,
            "\n**Races** (release spread: first to last copy's final byte written)\n\n| case | outcome | copies | tries | spread p50 (ms) | spread max (ms) |\n|---|---|---:|---:|---:|---:|"
        );
        for r in raced {
            let Some(s) = &r.race else { continue };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {:.3} | {:.3} |",
                r.id,
                r.outcome.as_str(),
                s.copies,
                s.tries,
                s.spread_p50_ms,
                s.spread_max_ms
            );
        }
    }
    if let Some(c) = run.snapshots {
        let _ = writeln!(
            md,
            "\nSnapshots: {} matched, {} drifted, {} new\n",
            c.matched,
            c.drifted.len(),
            c.new.len()
        );
        for group in c.grouped() {
            let _ = writeln!(
                md,
                "<details><summary>Snapshot drift in {}</summary>\n\n```diff\n{}\n```\n</details>\n",
                group.cases.join(", "),
                group.text()
            );
        }
    }
    let notable = super::notable_in_order(run.results);
    if !notable.is_empty() {
        let _ = writeln!(md, "\n## Findings\n");
        for r in notable {
            let _ = writeln!(
                md,
                "- **{}** `{}` {} ({} {}): {}",
                r.outcome.as_str().to_uppercase(),
                r.id,
                r.title,
                r.level.as_str(),
                r.spec,
                r.detail.replace('\n', " ")
            );
        }
    }
    md
}
