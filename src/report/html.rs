//! report.html: one self-contained page that opens with the verdict, then what needs a
//! reader's attention (failures, warnings, blocked cases, snapshot drift), then the preflight
//! and the per-area tables (collapsed when every case passed). Exchanges read as HTTP, in the
//! page's neutral colour, the failing step's open.
//! No external asset: the style and the small filter script are inline, so it renders the
//! same offline.

use std::fmt::Write;

use super::{by_area, is_notable, Run};
use crate::outcome::{CaseResult, Outcome};
use crate::verdict::Tone;

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:1em auto;max-width:72em;padding:0 1em;color:#222}\
h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.15em;margin:1.2em 0 .4em}\
.verdict{padding:.8em 1em;border-radius:6px;font-size:1.1em;margin:.6em 0;overflow-wrap:anywhere}.verdict .counts{font-size:.85em;font-weight:normal;color:#222}.verdict .counts .fail,.verdict .counts .warn,.verdict .counts .blocked,.verdict .counts .error{font-weight:bold}\
.verdict.bad{background:#fde8ea;border:2px solid #b00020;color:#b00020}.verdict.warn{background:#fff4e0;border:2px solid #a35f00;color:#7a4700}.verdict.good{background:#e7f5ea;border:2px solid #17702b;color:#17702b}\
table{border-collapse:collapse;margin:.6em 0;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}\
.pass{color:#17702b}.fail{color:#b00020;font-weight:bold}.warn{color:#a35f00;font-weight:bold}.skip{color:#666}.blocked{color:#00707a;font-weight:bold}.error{color:#7b1fa2;font-weight:bold}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:12px;white-space:pre-wrap;word-break:break-all}\
details{margin:.4em 0}summary{cursor:pointer}.finding{border-left:4px solid #ccc;padding:.2em .8em;margin:.6em 0}\
.finding.fail{border-color:#b00020}.finding.warn{border-color:#a35f00}.finding.blocked{border-color:#00707a}.finding.error{border-color:#7b1fa2}\
.finding p{margin:.3em 0;font-weight:normal;color:#222}.finding .exchange{font-weight:normal;color:#222}.filter{margin:.6em 0}.filter select{margin-right:.6em}\
code{font-size:12px;overflow-wrap:anywhere}td{overflow-wrap:anywhere}#preflight td:first-child{overflow-wrap:normal;white-space:nowrap}\
@media (max-width:600px){table,tbody,tr,td,th{display:block;width:auto}tr{border-bottom:1px solid #ccc;padding:.2em 0}td,th{border:0}tr:first-child th{display:none}\
td:first-child{display:inline;padding-right:.6em}td:nth-child(2){display:inline;padding:0}td:nth-child(3){margin-top:.2em}}";

/// Hides the table rows the filter leaves out; the page works without it.
const SCRIPT: &str = "function gcFilter(){var o=document.getElementById('f-outcome').value,l=document.getElementById('f-level').value,a=document.getElementById('f-area').value;\
document.querySelectorAll('tr[data-outcome]').forEach(function(r){r.style.display=((!o||r.dataset.outcome==o)&&(!l||r.dataset.level==l)&&(!a||r.dataset.area==a))?'':'none';});\
document.querySelectorAll('details.area').forEach(function(d){if(o||l||a)d.open=true;d.style.display=(!a||d.dataset.area==a)?'':'none';});}\
if(location.hash=='#layout-check'){addEventListener('load',function(){var f=document.querySelector('.finding'),t=f?Math.round(f.getBoundingClientRect().top):-1;document.body.setAttribute('data-first-finding-top',t);if(parent!==window)parent.postMessage('first-finding-top='+t+' width='+innerWidth,'*');});}";

pub fn render(run: &Run<'_>) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=en><head><meta charset=\"utf-8\"><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>grantcheck: {}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>",
        esc(&run.target.label)
    );
    let _ = write!(
        h,
        "<h1>grantcheck conformance report</h1><div>Target <code>{}</code> · token endpoint <code>{}</code> · profile <code>{}</code></div>",
        esc(&run.target.label),
        esc(&run.target.token_url),
        esc(run.profile)
    );
    verdict(&mut h, run);
    if run.insecure {
        let _ = write!(
            h,
            "<p class=fail><strong>{}</strong></p>",
            esc(super::INSECURE_NOTICE)
        );
    }
    findings(&mut h, run);
    drift(&mut h, run);
    preflight(&mut h, run);
    areas(&mut h, run);
    h.push_str("</body></html>\n");
    h
}

/// The run's verdict in words and colour, first thing on the page.
fn verdict(h: &mut String, run: &Run<'_>) {
    let s = run.summary;
    let class = match run.verdict.tone() {
        Tone::Good => "good",
        Tone::Warn => "warn",
        Tone::Bad => "bad",
    };
    let words = run.verdict.headline();
    // Counts only where they mean something: a count that is not zero is coloured, and a run
    // that ended before any case says so instead of a row of zeros.
    let counts = if s.total() == 0 {
        "no case was run".to_owned()
    } else {
        let part = |n: usize, what: &str, class: &str| {
            if n > 0 && !class.is_empty() {
                format!("<span class={class}>{n} {what}</span>")
            } else {
                format!("{n} {what}")
            }
        };
        format!(
            "{} · {} · {} · {} · {} · {} ({} cases)",
            part(s.passed, "passed", ""),
            part(s.failed, "failed", "fail"),
            part(s.warned, "warned", "warn"),
            part(s.blocked, "blocked", "blocked"),
            part(s.skipped, "skipped", ""),
            part(s.errored, "errored", "error"),
            s.total()
        )
    };
    let _ = write!(
        h,
        "<div class=\"verdict {class}\"><strong>{}</strong><br><span class=counts>{counts}</span></div>",
        esc(&words),
    );
}

/// A race case's copies and release spread, on a line of its own.
fn race(r: &crate::outcome::CaseResult) -> String {
    let race = r
        .race
        .as_ref()
        .map(|s| format!("<br><small class=race>race: {}</small>", esc(&s.describe())));
    let cluster = r.propagation.as_ref().map(|p| {
        format!(
            "<br><small class=race>cluster: {}</small>",
            esc(&p.describe())
        )
    });
    race.into_iter().chain(cluster).collect()
}

/// Failures, then errors, warnings and blocked cases, each with its evidence.
fn findings(h: &mut String, run: &Run<'_>) {
    let notable = super::notable_in_order(run.results);
    if notable.is_empty() {
        return;
    }
    h.push_str("<h2>Needs attention</h2>");
    for r in notable {
        let note = r
            .note
            .as_deref()
            .map(|n| format!("<p><em>Why:</em> {}</p>", esc(n)))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<div class=\"finding {o}\" id=\"case-{id}\"><div class={o}>{upper} {id} — {title}</div><p>{level} {spec} · <code>{location}</code></p><p>{detail}{race}</p>{note}{exchanges}</div>",
            o = r.outcome.as_str(),
            upper = r.outcome.as_str().to_uppercase(),
            id = esc(&r.id),
            title = esc(&r.title),
            level = r.level.as_str(),
            spec = esc(&r.spec),
            location = esc(&r.location),
            detail = esc(&r.detail),
            race = race(r),
            exchanges = exchanges(r)
        );
    }
}

/// Each exchange as HTTP: request line, headers, body; then the response's. Collapsible; the
/// failing step's starts open.
fn exchanges(r: &CaseResult) -> String {
    let failing = super::http_text::failing_step(r);
    let mut out = String::new();
    for (i, ex) in r.exchanges.iter().enumerate() {
        let (open, mark) = if Some(i) == failing {
            (" open", " (the failing step)")
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            "<details class=exchange{open}><summary>{}{mark}</summary><pre>{}</pre></details>",
            esc(&ex.step),
            esc(&super::http_text::full(ex))
        );
    }
    out
}

fn drift(h: &mut String, run: &Run<'_>) {
    let Some(c) = run.snapshots else {
        return;
    };
    let _ = write!(
        h,
        "<p>Snapshots: {} matched, <span class={}>{} drifted</span>, {} new</p>",
        c.matched,
        if c.drifted.is_empty() { "pass" } else { "fail" },
        c.drifted.len(),
        c.new.len()
    );
    for group in c.grouped() {
        let text = group.text();
        let _ = write!(
            h,
            "<div class=\"finding fail\"><div class=fail>Snapshot drift in {}</div><pre>{}</pre></div>",
            esc(&group.cases.join(", ")),
            esc(&text)
        );
    }
}

fn preflight(h: &mut String, run: &Run<'_>) {
    let Some(preflight) = run.preflight else {
        return;
    };
    h.push_str("<details open><summary><strong>Preflight</strong></summary><table id=preflight><tr><th>status</th><th>checked</th><th>finding</th></tr>");
    for f in &preflight.findings {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            f.status.as_str(),
            esc(&f.subject),
            esc(&f.message)
        );
    }
    h.push_str("</table></details>");
}

/// Every case by area, with a filter; an area where every case passed starts collapsed.
fn areas(h: &mut String, run: &Run<'_>) {
    let areas = by_area(run.results);
    // A run that ended before any case (no verdict) has no table to filter.
    if areas.is_empty() {
        return;
    }
    h.push_str("<h2>All cases</h2><div class=filter>Show <select id=f-outcome onchange=gcFilter()><option value=''>every outcome</option>");
    for o in ["fail", "error", "warn", "blocked", "skip", "pass"] {
        let _ = write!(h, "<option>{o}</option>");
    }
    h.push_str("</select><select id=f-level onchange=gcFilter()><option value=''>every level</option><option>MUST</option><option>SHOULD</option><option>INFO</option></select><select id=f-area onchange=gcFilter()><option value=''>every area</option>");
    for (area, _) in &areas {
        let _ = write!(h, "<option>{}</option>", esc(area));
    }
    h.push_str("</select></div>");
    for (area, results) in &areas {
        // "29 passed, 2 skipped": every outcome that occurred, so skips never read as failures.
        let counts: Vec<String> = [
            (Outcome::Pass, "passed"),
            (Outcome::Fail, "failed"),
            (Outcome::Warn, "warned"),
            (Outcome::Blocked, "blocked"),
            (Outcome::Skip, "skipped"),
            (Outcome::Error, "errored"),
        ]
        .iter()
        .filter_map(|(outcome, word)| {
            let n = results.iter().filter(|r| r.outcome == *outcome).count();
            (n > 0).then(|| format!("{n} {word}"))
        })
        .collect();
        let open = if results.iter().any(|r| is_notable(r.outcome)) {
            " open"
        } else {
            ""
        };
        let _ = write!(
            h,
            "<details class=area data-area=\"{a}\"{open}><summary><strong>{a}</strong> — {}</summary><table><tr><th>outcome</th><th>case</th><th>requirement</th><th>detail</th></tr>",
            counts.join(", "),
            a = esc(area)
        );
        for r in results {
            let id = if is_notable(r.outcome) {
                format!("<a href=\"#case-{0}\">{0}</a>", esc(&r.id))
            } else {
                esc(&r.id)
            };
            let _ = write!(
                h,
                "<tr data-outcome={o} data-level={level} data-area=\"{area}\"><td class={o}>{o}</td><td><b>{id}</b> {title}</td><td class=req>{level} {spec}</td><td>{detail}{race}</td></tr>",
                o = r.outcome.as_str(),
                level = r.level.as_str(),
                area = esc(&r.area),
                title = esc(&r.title),
                spec = esc(&r.spec),
                detail = esc(&r.detail),
                race = race(r),
            );
        }
        h.push_str("</table></details>");
    }
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

#[cfg(test)]
mod tests {
    use super::{exchanges, STYLE};
    use crate::report::testing::revoked_still_active;

    #[test]
    fn the_failing_steps_exchange_starts_open_and_the_others_closed() {
        let html = exchanges(&revoked_still_active());
        assert_eq!(
            html.matches("<details class=exchange>").count(),
            2,
            "{html}"
        );
        assert_eq!(
            html.matches("<details class=exchange open>").count(),
            1,
            "{html}"
        );
        assert!(
            html.contains(
                "<details class=exchange open><summary>introspect (the failing step)</summary><pre>POST http://127.0.0.1:1/oauth2/introspect\n"
            ),
            "{html}"
        );
        assert!(html.contains("HTTP 200 OK"), "{html}");
    }

    #[test]
    fn exchanges_do_not_inherit_the_findings_colour() {
        // `.finding.fail` is bold red; its exchanges are plain text in the page's colour.
        assert!(STYLE.contains(".finding .exchange{font-weight:normal;color:#222}"));
    }
}
