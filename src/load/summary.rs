//! The one-screen summary of a load run or of merged shards: throughput, latency percentiles
//! (from the histogram, never averaged across requests or shards) and errors by kind; and the
//! same as Markdown and HTML for merged runs. Goose's own reports hold the rest of a run.

use std::fmt::Write as _;

use super::shard::{RequestStats, ShardReport};
use super::threshold::Judged;
use crate::report::html::esc;

/// Percentiles shown.
const PERCENTILES: [f32; 4] = [0.5, 0.9, 0.99, 0.999];

/// One row per request plus the aggregate, shared by every renderer.
struct Row<'a> {
    name: &'a str,
    stats: RequestStats,
    rps: f64,
}

fn rows(report: &ShardReport) -> Vec<Row<'_>> {
    let (total_ok, total_fail) = report.total();
    let total = (total_ok + total_fail).max(1) as f64;
    let mut all = RequestStats::default();
    let mut rows: Vec<Row> = report
        .requests
        .iter()
        .map(|(name, stats)| {
            all.absorb(stats);
            let count = (stats.success + stats.fail) as f64;
            Row {
                name,
                stats: stats.clone(),
                rps: report.rps * count / total,
            }
        })
        .collect();
    rows.push(Row {
        name: "all requests",
        stats: all,
        rps: report.rps,
    });
    rows
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub fn render(report: &ShardReport) -> String {
    let mut out = String::new();
    let shards = if report.shards.len() > 1 {
        format!(", {} shards merged", report.shards.len())
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "\ngrantcheck load: profile {}, {} users, {} s measured{shards}",
        report.profile, report.users, report.duration_s
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "request", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"
    );
    for row in rows(report) {
        let s = &row.stats;
        let p: Vec<f64> = PERCENTILES
            .iter()
            .map(|q| ms(s.percentile_us(*q)))
            .collect();
        let _ = writeln!(
            out,
            "  {:<40} {:>10} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            truncate(row.name, 40),
            s.success + s.fail,
            s.fail,
            row.rps,
            p[0],
            p[1],
            p[2],
            p[3]
        );
    }
    if !report.errors.is_empty() {
        let _ = writeln!(out, "  errors by kind:");
        let mut errors: Vec<_> = report.errors.iter().collect();
        errors.sort_by_key(|(_, n)| std::cmp::Reverse(**n));
        for (kind, n) in errors {
            let _ = writeln!(out, "  {n:>10}  {kind}");
        }
    }
    out
}

pub fn markdown(report: &ShardReport, judged: &[Judged]) -> String {
    let mut md = format!(
        "# grantcheck load: {} (run {})\n\n{} shards, {} users, {} s, {:.0} requests/s\n\n",
        report.profile,
        report.run_id,
        report.shards.len(),
        report.users,
        report.duration_s,
        report.rps
    );
    md.push_str("| request | requests | errors | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | avg ms | max ms |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows(report) {
        let s = &row.stats;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            row.name,
            s.success + s.fail,
            s.fail,
            row.rps,
            ms(s.percentile_us(0.5)),
            ms(s.percentile_us(0.9)),
            ms(s.percentile_us(0.99)),
            ms(s.percentile_us(0.999)),
            s.average_us() / 1000.0,
            ms(s.max_us)
        );
    }
    if !report.errors.is_empty() {
        md.push_str("\n## Errors\n\n| occurrences | error |\n|---:|---|\n");
        for (kind, n) in &report.errors {
            let _ = writeln!(md, "| {n} | {kind} |");
        }
    }
    if !judged.is_empty() {
        md.push_str("\n## Thresholds\n\n| rule | observed | result |\n|---|---|---|\n");
        for j in judged {
            let _ = writeln!(
                md,
                "| `{}` | {} | {} |",
                j.rule,
                j.observed,
                if j.passed { "pass" } else { "FAIL" }
            );
        }
    }
    md
}

pub fn html(report: &ShardReport, judged: &[Judged]) -> String {
    let mut h = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>grantcheck load {}</title><style>body{{font:14px system-ui,sans-serif;margin:2em auto;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}td:first-child,th:first-child{{text-align:left}}.fail{{color:#b00020;font-weight:bold}}</style></head><body>",
        esc(&report.profile)
    );
    let _ = write!(
        h,
        "<h1>grantcheck load: {}</h1><p>run {} · {} shards · {} users · {} s · {:.0} requests/s</p>",
        esc(&report.profile), esc(&report.run_id), report.shards.len(), report.users, report.duration_s, report.rps
    );
    h.push_str("<table><tr><th>request</th><th>requests</th><th>errors</th><th>req/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>avg ms</th><th>max ms</th></tr>");
    for row in rows(report) {
        let s = &row.stats;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td></tr>",
            esc(row.name), s.success + s.fail, s.fail, row.rps,
            ms(s.percentile_us(0.5)), ms(s.percentile_us(0.9)), ms(s.percentile_us(0.99)), ms(s.percentile_us(0.999)),
            s.average_us() / 1000.0, ms(s.max_us)
        );
    }
    h.push_str("</table>");
    if !report.errors.is_empty() {
        h.push_str("<h2>Errors</h2><table><tr><th>error</th><th>occurrences</th></tr>");
        for (kind, n) in &report.errors {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(kind));
        }
        h.push_str("</table>");
    }
    if !judged.is_empty() {
        h.push_str(
            "<h2>Thresholds</h2><table><tr><th>rule</th><th>observed</th><th>result</th></tr>",
        );
        for j in judged {
            let (class, word) = if j.passed {
                ("", "pass")
            } else {
                (" class=fail", "FAIL")
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td{class}>{word}</td></tr>",
                esc(&j.rule),
                esc(&j.observed)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>\n");
    h
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
