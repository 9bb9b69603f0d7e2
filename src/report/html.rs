//! report.html: one self-contained page (no scripts, no external assets).

use std::fmt::Write;

use super::{by_area, Run};
use crate::runner::CaseResult;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
.pass{color:#17702b}.fail{color:#b00020;font-weight:bold}.warn{color:#a35f00}.skip{color:#666}.blocked{color:#00707a;font-weight:bold}.error{color:#7b1fa2;font-weight:bold}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px}details{margin:.5em 0 1em}summary{cursor:pointer}";

pub fn render(run: &Run<'_>) -> String {
    let s = run.summary;
    let mut h = String::new();
    let _ = write!(h, "<!doctype html><html><head><meta charset=\"utf-8\"><title>grantcheck: {}</title><style>{STYLE}</style></head><body>", esc(&run.target.label));
    let _ = write!(h, "<h1>grantcheck conformance report</h1><p>Target <code>{}</code> · token endpoint <code>{}</code> · profile <code>{}</code></p>",
        esc(&run.target.label), esc(&run.target.token_url), esc(run.profile));
    if run.insecure {
        let _ = write!(
            h,
            "<p class=\"fail\"><strong>{}</strong></p>",
            esc(super::INSECURE_NOTICE)
        );
    }
    if let Some(preflight) = run.preflight {
        h.push_str(
            "<h2>Preflight</h2><table><tr><th>status</th><th>checked</th><th>finding</th></tr>",
        );
        for f in &preflight.findings {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                f.status.as_str(),
                esc(&f.subject),
                esc(&f.message)
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(h, "<table><tr><th>passed</th><th>failed</th><th>warned</th><th>blocked</th><th>skipped</th><th>errored</th></tr><tr><td class=pass>{}</td><td class=fail>{}</td><td class=warn>{}</td><td class=blocked>{}</td><td class=skip>{}</td><td class=error>{}</td></tr></table>",
        s.passed, s.failed, s.warned, s.blocked, s.skipped, s.errored);
    if let Some(c) = run.snapshots {
        let _ = write!(
            h,
            "<p>Snapshots: {} matched, <span class=fail>{} drifted</span>, {} new</p>",
            c.matched,
            c.drifted.len(),
            c.new.len()
        );
        for group in c.grouped() {
            let text = if group.cases.len() == 1 {
                group.diff.trim_end().to_owned()
            } else {
                group.changes.join("\n")
            };
            let _ = write!(
                h,
                "<details open><summary class=fail>Snapshot drift in {}</summary><pre>{}</pre></details>",
                esc(&group.cases.join(", ")),
                esc(&text)
            );
        }
    }
    for (area, results) in by_area(run.results) {
        let _ = write!(h, "<h2>{}</h2><table><tr><th>outcome</th><th>case</th><th>requirement</th><th>detail</th></tr>", esc(area));
        for r in &results {
            let _ = write!(
                h,
                "<tr><td class={o}>{o}</td><td><b>{}</b> {}</td><td>{} {}</td><td>{}</td></tr>",
                esc(&r.id),
                esc(&r.title),
                r.level.as_str(),
                esc(&r.spec),
                esc(&r.detail),
                o = r.outcome.as_str()
            );
        }
        h.push_str("</table>");
        for r in results.iter().filter(|r| super::is_notable(r.outcome)) {
            h.push_str(&failure_block(r));
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn failure_block(r: &CaseResult) -> String {
    let exchanges = serde_json::to_string_pretty(&r.exchanges).unwrap_or_default();
    let note = r
        .note
        .as_deref()
        .map(|n| format!("<p>{}</p>", esc(n)))
        .unwrap_or_default();
    format!(
        "<details open><summary class={o}>{} — {} ({} {})</summary><p><code>{}</code></p><p>{}</p>{note}<pre>{}</pre></details>",
        esc(&r.id), esc(&r.title), r.level.as_str(), esc(&r.spec), esc(&r.location), esc(&r.detail), esc(&exchanges), o = r.outcome.as_str()
    )
}

/// HTML-escapes text (every value shown comes from a server or a case file).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
