//! The one-screen summary of a load run or of merged shards: throughput, latency percentiles
//! (from the histogram, never averaged across requests or shards) and errors by kind; and the
//! same as Markdown and HTML for merged runs. Goose's own reports hold the rest of a run.

use std::fmt::Write as _;

use super::arrival::{ArrivalStats, RatePlan};
use super::chart::{self, Series};
use super::shard::{RequestStats, ShardReport};
use super::threshold::Judged;
use super::timeline::{Slot, TimelineData};
use crate::exit::Exit;
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
    let users = match &report.arrival {
        Some(a) => format!("at most {} in flight", a.max_in_flight),
        None => format!("{} users", report.users),
    };
    let _ = writeln!(
        out,
        "\ngrantcheck load: profile {}, {users}, {} s measured{shards}",
        report.profile, report.duration_s
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
    for line in arrival_lines(report) {
        let _ = writeln!(out, "  {line}");
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

/// An arrival-rate run's schedule, lateness and latency from the intended start, in words.
fn arrival_lines(report: &ShardReport) -> Vec<String> {
    let Some(a) = &report.arrival else {
        return Vec::new();
    };
    let plan_secs = a
        .rate_plan
        .parse::<RatePlan>()
        .map(|p| p.duration().as_secs_f64())
        .unwrap_or(0.0);
    let pct = |q: f64| {
        a.latency_percentile_us(q)
            .map_or("-".to_owned(), |us| format!("{:.2}", ms(us)))
    };
    let lag = |q: f64| ms(a.lag_percentile_us(q).unwrap_or(0));
    let mut lines = vec![
        format!(
            "arrival rate {}: {} of {} iterations started ({:.0}/s within the plan), at most {} in flight",
            a.rate_plan,
            a.started,
            a.planned,
            a.started.saturating_sub(a.started_after_plan) as f64 / plan_secs.max(1e-9),
            a.max_in_flight
        ),
        format!(
            "start lag (intended start to sent), per iteration: p50 {:.3} ms, p99 {:.3} ms, max {:.2} ms; late (no free user within 1 ms of their time): {} ({:.2}%)",
            lag(0.5),
            lag(0.99),
            lag(1.0),
            a.late,
            a.late_ratio() * 100.0
        ),
        format!(
            "latency from the intended start, per iteration: p50 {} ms, p90 {} ms, p99 {} ms, p99.9 {} ms (the table shows service time per request: send to response headers)",
            pct(0.5),
            pct(0.9),
            pct(0.99),
            pct(0.999)
        ),
    ];
    lines.extend(overrun(a, plan_secs));
    if let Some(warning) = domination(a) {
        lines.push(warning);
    }
    lines
}

/// Iterations started after the plan's end, if any: "FELL BEHIND" from 1% of the plan on
/// (the bar `bench/arrival.sh` holds both generators to, and oha's: an achieved rate within
/// 1% of the asked one), a plain count below it, where a handful caught up in the grace
/// period is a blip, not a run that could not keep up.
fn overrun(a: &ArrivalStats, plan_secs: f64) -> Option<String> {
    if a.started_after_plan == 0 {
        return None;
    }
    let within = a.started.saturating_sub(a.started_after_plan);
    let per_second = |n: u64| n as f64 / plan_secs.max(1e-9);
    let share = a.started_after_plan as f64 / a.planned.max(1) as f64;
    Some(if share >= 0.01 {
        format!(
            "FELL BEHIND: {} of {} iterations started after the plan's {:.0} s and were caught up in the grace period: {:.0}/s started within the plan, {:.0}/s asked (the generator or the server could not keep up; the table's req/s is over the longer span)",
            a.started_after_plan,
            a.planned,
            plan_secs,
            per_second(within),
            per_second(a.planned),
        )
    } else {
        format!(
            "{} of {} iterations ({:.3}%, under 1%) started after the plan's {:.0} s, in the grace period: {:.0}/s started within the plan, {:.0}/s asked",
            a.started_after_plan,
            a.planned,
            share * 100.0,
            plan_secs,
            per_second(within),
            per_second(a.planned),
        )
    })
}

/// The warning when the generator's own start lag is over a tenth of the latency.
fn domination(a: &ArrivalStats) -> Option<String> {
    let (lag, latency) = a.generator_dominated()?;
    Some(format!(
        "WARNING: the load generator, not the server, dominated latency: its own start lag p99 {:.3} ms is over 10% of the latency p99 {:.3} ms from the intended start (give the generator more CPU, or lower the rate)",
        ms(lag),
        ms(latency)
    ))
}

/// Rules a slow generator can fail on its own: latency from the intended start (`pNN`
/// without `for`) and `late`.
fn generator_sensitive(rule: &str) -> bool {
    let metric = rule.split(['<', '>']).next().unwrap_or("").trim();
    !rule.contains(" for ") && (metric == "late" || metric.starts_with('p'))
}

/// A load run's verdict, decided once: the thresholds (Goose's and grantcheck's) decide the
/// exit code, and the terminal, load-<profile>.md and load-<profile>.html say the same.
pub struct LoadVerdict {
    pub exit: Exit,
    pub headline: String,
}

impl LoadVerdict {
    /// The verdict of `report` judged by `judged`. A miss fails the run (exit 5), except
    /// when every missed rule is one a slow load generator fails on its own (latency from
    /// the intended start, `late`) and the generator did dominate latency: then there is no
    /// verdict (exit 3), since failing the server for the load machine's delay would be a
    /// false failure. A pass with a dominating generator stays a pass, with a warning: the
    /// generator's delay only adds latency, so the server met the rules all the same.
    pub fn of(judged: &[Judged], report: &ShardReport) -> LoadVerdict {
        let failed: Vec<&str> = judged
            .iter()
            .filter(|j| !j.passed)
            .map(|j| j.rule.as_str())
            .collect();
        let plural = if judged.len() == 1 { "" } else { "s" };
        let met = if judged.is_empty() {
            "no threshold was set (every response was checked; errors are in the table)".to_owned()
        } else {
            format!("{} threshold{plural} met", judged.len())
        };
        let dominated = report.arrival.as_ref().and_then(|a| {
            let (lag, latency) = a.generator_dominated()?;
            Some(format!(
                "the load generator, not the server, dominated latency (its start lag p99 {:.3} ms is over 10% of the latency p99 {:.3} ms)",
                ms(lag),
                ms(latency)
            ))
        });
        match (failed.is_empty(), dominated) {
            (true, None) => LoadVerdict {
                exit: Exit::Success,
                headline: format!("PASSED: {met}"),
            },
            (true, Some(why)) => LoadVerdict {
                exit: Exit::Success,
                headline: format!("PASSED: {met}; warning: {why}"),
            },
            (false, Some(why)) if failed.iter().all(|r| generator_sensitive(r)) => LoadVerdict {
                exit: Exit::Runtime,
                headline: format!(
                    "NO VERDICT: {} of {} threshold{plural} missed ({}), but {why}: give the generator more CPU or lower the rate, and run again",
                    failed.len(),
                    judged.len(),
                    failed.join(", ")
                ),
            },
            (false, _) => LoadVerdict {
                exit: Exit::LoadThreshold,
                headline: format!(
                    "FAILED: {} of {} threshold{plural} missed ({})",
                    failed.len(),
                    judged.len(),
                    failed.join(", ")
                ),
            },
        }
    }
}

pub fn markdown(report: &ShardReport, judged: &[Judged]) -> String {
    let shards = match report.shards.len() {
        0 | 1 => String::new(),
        n => format!("{n} shards, "),
    };
    let verdict = LoadVerdict::of(judged, report);
    let mut md = format!(
        "# grantcheck load {}: {} (exit {})\n\nrun {}, {shards}{} users, {} s, {:.0} requests/s\n\n",
        report.profile,
        verdict.headline,
        verdict.exit as u8,
        report.run_id,
        report.users,
        report.duration_s,
        report.rps
    );
    for line in arrival_lines(report) {
        let _ = writeln!(md, "- {line}");
    }
    if report.arrival.is_some() {
        md.push('\n');
    }
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

/// The load report as one self-contained page: the verdict in words and colour first, then
/// the charts over time, the per-request table, errors and thresholds. No script, no fetch.
pub fn html(report: &ShardReport, judged: &[Judged]) -> String {
    let mut h = format!(
        "<!doctype html><html lang=en><head><meta charset=\"utf-8\"><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>grantcheck load {}</title><style>{STYLE}{}</style></head><body>",
        esc(&report.profile),
        super::chart::STYLE
    );
    let (ok, failed) = report.total();
    let verdict = LoadVerdict::of(judged, report);
    let class = if verdict.exit == Exit::LoadThreshold {
        "bad"
    } else if verdict.exit != Exit::Success
        || failed > 0
        || ok == 0
        || verdict.headline.contains("warning")
    {
        "warn"
    } else {
        "good"
    };
    let verdict = if verdict.exit != Exit::Success {
        verdict.headline
    } else if failed > 0 {
        format!(
            "{}; {failed} of {} requests failed their checks",
            verdict.headline,
            ok + failed
        )
    } else if ok == 0 {
        format!("{}; no request was made", verdict.headline)
    } else {
        format!(
            "{}; all {ok} responses passed their checks",
            verdict.headline
        )
    };
    let shards = if report.shards.len() > 1 {
        format!(" · {} shards merged", report.shards.len())
    } else {
        String::new()
    };
    let _ = write!(
        h,
        "<header class={class}><h1>{}</h1><p>grantcheck load · profile <b>{}</b> · run {}{shards} · {} users · {} s · {:.0} requests/s</p></header>",
        esc(&verdict),
        esc(&report.profile),
        esc(&report.run_id),
        report.users,
        report.duration_s,
        report.rps
    );
    if !judged.is_empty() {
        h.push_str(
            "<h2>Thresholds</h2><table><tr><th>rule</th><th>observed</th><th>result</th></tr>",
        );
        for j in judged {
            let (class, word) = if j.passed {
                ("pass", "pass")
            } else {
                ("fail", "FAIL")
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class={class}>{word}</td></tr>",
                esc(&j.rule),
                esc(&j.observed)
            );
        }
        h.push_str("</table>");
    }
    if !report.errors.is_empty() {
        h.push_str("<h2>Errors</h2><table><tr><th>error</th><th>occurrences</th></tr>");
        for (kind, n) in &report.errors {
            let _ = write!(h, "<tr><td>{}</td><td>{n}</td></tr>", esc(kind));
        }
        h.push_str("</table>");
    }
    let arrival = arrival_lines(report);
    if !arrival.is_empty() {
        h.push_str("<h2>Arrival rate</h2><ul>");
        for line in arrival {
            let _ = write!(h, "<li>{}</li>", esc(&line));
        }
        h.push_str("</ul>");
    }
    match &report.timeline {
        Some(timeline) if !timeline.slots.is_empty() => h.push_str(&over_time(timeline)),
        _ => h.push_str("<p class=note>No data over time in this report.</p>"),
    }
    // Below 600 px each request's row stacks into labelled values (the style's `stack`), so
    // the latency columns are on screen on a phone.
    h.push_str("<h2>Requests</h2><div class=scroll><table class=stack><tr><th>request</th><th>requests</th><th>errors</th><th>req/s</th><th>p50 ms</th><th>p90 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>avg ms</th><th>max ms</th></tr>");
    for row in rows(report) {
        let s = &row.stats;
        let _ = write!(
            h,
            "<tr><td>{}</td><td data-label=requests>{}</td><td data-label=errors>{}</td><td data-label=req/s>{:.0}</td><td data-label=\"p50 ms\">{:.2}</td><td data-label=\"p90 ms\">{:.2}</td><td data-label=\"p99 ms\">{:.2}</td><td data-label=\"p99.9 ms\">{:.2}</td><td data-label=\"avg ms\">{:.2}</td><td data-label=\"max ms\">{:.2}</td></tr>",
            esc(row.name), s.success + s.fail, s.fail, row.rps,
            ms(s.percentile_us(0.5)), ms(s.percentile_us(0.9)), ms(s.percentile_us(0.99)), ms(s.percentile_us(0.999)),
            s.average_us() / 1000.0, ms(s.max_us)
        );
    }
    h.push_str(if report.arrival.is_some() {
        "</table></div><p class=note>This table is service time: from when a request was sent to when its response headers arrived. Latency from each iteration's intended start, which charges queueing to the server, is under Arrival rate above.</p>"
    } else {
        "</table></div><p class=note>Latency is measured from when a request was sent to when its response headers arrived (Goose's closed loop: each user waits for its answer before the next request, so time a request spent waiting to be sent is not counted).</p>"
    });
    h.push_str("</body></html>\n");
    h
}

pub(crate) const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:0 auto;padding:1em;max-width:60em;color:#222}header{border-radius:6px;padding:.6em 1em;margin-bottom:1em}header h1{margin:.1em 0;font-size:1.4em}header p{margin:.2em 0}.good{background:#e6f4ea;border-left:6px solid #1e7e34}.warn{background:#fff4e0;border-left:6px solid #b26a00}.bad{background:#fdecea;border-left:6px solid #b00020}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:right}td:first-child,th:first-child{text-align:left}.fail{color:#b00020;font-weight:bold}.pass{color:#1e7e34}.scroll{overflow-x:auto}.note{color:#555;font-size:12px}\
@media (max-width:600px){table.stack,table.stack tbody,table.stack tr{display:block}table.stack tr:first-child{display:none}table.stack tr{border-bottom:1px solid #ccc;padding:.4em 0}table.stack td{display:inline-block;border:0;padding:.1em 1em .1em 0;text-align:left}table.stack td:first-child{display:block;font-weight:600}table.stack td[data-label]::before{content:attr(data-label)\" \";color:#555}}";

/// Throughput and latency percentiles per slot of the timeline, as two charts.
fn over_time(timeline: &TimelineData) -> String {
    let width = timeline.slot_s.max(1) as f64;
    let at = |i: usize| i as f64 * width;
    let per_second = |f: &dyn Fn(&Slot) -> u64| -> Vec<(f64, Option<f64>)> {
        timeline
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| (at(i), Some(f(s) as f64 / timeline.slot_seconds(i))))
            .collect()
    };
    let percentile = |p: f64, of: fn(&Slot) -> &Vec<(u64, u64)>| -> Vec<(f64, Option<f64>)> {
        timeline
            .slots
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let histogram = of(s);
                let us = super::timeline::percentile(histogram, p);
                (at(i), us.map(|us| us as f64 / 1000.0))
            })
            .collect()
    };
    let arrival = timeline.slots.iter().any(|s| !s.intended_us.is_empty());
    let slot = if timeline.slot_s > 1 {
        format!(" ({} s slots)", timeline.slot_s)
    } else {
        String::new()
    };
    let mut h = format!("<h2>Over time{slot}</h2>");
    h.push_str(&chart::line_chart(
        "Throughput",
        "requests/s",
        "s",
        &[
            Series {
                name: "responses/s",
                colour: "#1565c0",
                points: per_second(&|s| s.requests),
            },
            Series {
                name: "errors/s",
                colour: "#c62828",
                points: per_second(&|s| s.errors),
            },
        ],
    ));
    let mut latency = vec![
        Series {
            name: "p50",
            colour: "#2e7d32",
            points: percentile(0.5, |s| &s.latency_us),
        },
        Series {
            name: "p90",
            colour: "#ef6c00",
            points: percentile(0.9, |s| &s.latency_us),
        },
        Series {
            name: "p99",
            colour: "#c62828",
            points: percentile(0.99, |s| &s.latency_us),
        },
    ];
    if arrival {
        latency.push(Series {
            name: "p99 from the intended start",
            colour: "#6a1b9a",
            points: percentile(0.99, |s| &s.intended_us),
        });
        latency.push(Series {
            name: "start lag p99",
            colour: "#757575",
            points: percentile(0.99, |s| &s.lag_us),
        });
    }
    let title = if arrival {
        "Latency (service time per request, per iteration from its intended start, and its start lag)"
    } else {
        "Latency"
    };
    h.push_str(&chart::line_chart(title, "ms", "s", &latency));
    h
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(planned: u64, after: u64) -> ArrivalStats {
        ArrivalStats {
            rate_plan: format!("{}/s:3s", planned / 3),
            planned,
            started: planned,
            started_after_plan: after,
            ..ArrivalStats::default()
        }
    }

    #[test]
    fn a_run_is_said_to_fall_behind_from_one_percent_of_its_plan() {
        assert_eq!(overrun(&stats(270_000, 0), 3.0), None);
        let blip = overrun(&stats(141_000, 3), 3.0).unwrap();
        assert!(!blip.contains("FELL BEHIND"), "{blip}");
        assert!(
            blip.starts_with("3 of 141000 iterations (0.002%, under 1%)"),
            "{blip}"
        );
        let behind = overrun(&stats(270_000, 51_026), 3.0).unwrap();
        assert!(
            behind.starts_with("FELL BEHIND: 51026 of 270000")
                && behind.contains("72991/s started within the plan"),
            "{behind}"
        );
        assert!(overrun(&stats(100_000, 1_000), 3.0)
            .unwrap()
            .starts_with("FELL BEHIND"));
    }
}
