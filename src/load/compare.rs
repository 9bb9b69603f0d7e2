//! `grantcheck load compare BASE.json NEW.json --max-regression "p99:10%"`: did this release
//! get slower? Two load reports side by side, each rule judged, exit 5 on a regression. A
//! comparison between different profiles or arrival rates is refused, since it would say
//! nothing about the server.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;

use super::shard::{RequestStats, ShardReport};
use crate::exit::{Exit, Failure};

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The baseline report (`load-<profile>.json`, `load-merged.json` or a shard report).
    #[arg(value_name = "BASE")]
    pub base: PathBuf,
    /// The report to judge against it.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// METRIC:LIMIT, repeatable: latency (p50, p90, p99, p99.9, avg, max) may grow by LIMIT
    /// percent, rps may fall by LIMIT percent, error-rate and late may grow by LIMIT
    /// percentage points. Default: p99:10% and rps:5%.
    #[arg(long, value_name = "METRIC:LIMIT")]
    pub max_regression: Vec<String>,
    /// Also write the comparison as Markdown to FILE (for $GITHUB_STEP_SUMMARY).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
}

/// What a metric is and which way is worse.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    /// A latency percentile (0–1), in ms: higher is worse.
    Percentile(f64),
    Average,
    Maximum,
    /// Requests per second: lower is worse.
    Rps,
    /// Percent of requests failed: higher is worse, compared in points.
    ErrorRate,
    /// Percent of iterations late (arrival rate): higher is worse, in points.
    Late,
    /// Start lag p99 (arrival rate), in ms: the generator's precision; higher is worse.
    Lag,
}

impl Metric {
    fn parse(name: &str) -> Result<Metric, String> {
        Ok(match name.trim() {
            "avg" => Metric::Average,
            "max" => Metric::Maximum,
            "rps" => Metric::Rps,
            "error-rate" => Metric::ErrorRate,
            "late" => Metric::Late,
            "lag" => Metric::Lag,
            p if p.starts_with('p') => {
                let n: f64 = p[1..].parse().map_err(|_| {
                    format!(
                        "'{p}' is not a metric (p50, p99, p99.9, avg, max, rps, error-rate, late, lag)"
                    )
                })?;
                if !(n > 0.0 && n < 100.0) {
                    return Err(format!("'{p}': a percentile is above 0 and below 100"));
                }
                Metric::Percentile(n / 100.0)
            }
            other => {
                return Err(format!(
                "'{other}' is not a metric (p50, p99, p99.9, avg, max, rps, error-rate, late, lag)"
            ))
            }
        })
    }

    fn in_points(self) -> bool {
        matches!(self, Metric::ErrorRate | Metric::Late)
    }

    /// The metric's value in `report`; `None` when the report cannot say (e.g. `late` of a
    /// closed-loop run).
    fn value(self, report: &ShardReport) -> Option<f64> {
        let mut all = RequestStats::default();
        for r in report.requests.values() {
            all.absorb(r);
        }
        let count = all.success + all.fail;
        let ms = |us: u64| us as f64 / 1000.0;
        match self {
            // An arrival-rate run's latency counts from each iteration's intended start.
            Metric::Percentile(p) => match &report.arrival {
                Some(a) => a.latency_percentile_us(p).map(ms),
                None if count > 0 => Some(ms(all.percentile_us(p as f32))),
                None => None,
            },
            Metric::Average if count > 0 => Some(all.average_us() / 1000.0),
            Metric::Maximum if count > 0 => Some(ms(all.max_us)),
            Metric::Rps => Some(report.rps),
            Metric::ErrorRate if count > 0 => Some(100.0 * all.fail as f64 / count as f64),
            Metric::Late => report.arrival.as_ref().map(|a| 100.0 * a.late_ratio()),
            Metric::Lag => report
                .arrival
                .as_ref()
                .and_then(|a| a.lag_percentile_us(0.99))
                .map(ms),
            _ => None,
        }
    }

    /// How much worse `new` is than `base`: percent for latency and rps, points for rates.
    fn regression(self, base: f64, new: f64) -> f64 {
        match self {
            _ if self.in_points() => new - base,
            Metric::Rps if base > 0.0 => 100.0 * (base - new) / base,
            _ if base > 0.0 => 100.0 * (new - base) / base,
            _ => 0.0,
        }
    }
}

/// One `METRIC:LIMIT` rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    text: String,
    metric: Metric,
    limit: f64,
}

pub fn parse_rule(text: &str) -> Result<Rule, String> {
    let (metric, limit) = text.split_once(':').ok_or_else(|| {
        format!("--max-regression '{text}' is METRIC:LIMIT, e.g. p99:10% or rps:5%")
    })?;
    let metric = Metric::parse(metric).map_err(|e| format!("--max-regression '{text}': {e}"))?;
    let limit: f64 = limit
        .trim()
        .trim_end_matches('%')
        .parse()
        .ok()
        .filter(|l: &f64| l.is_finite() && *l >= 0.0)
        .ok_or_else(|| format!("--max-regression '{text}': '{limit}' is not a limit (e.g. 10%)"))?;
    Ok(Rule {
        text: text.trim().to_owned(),
        metric,
        limit,
    })
}

/// A row of the comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub metric: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// "+12.3%" or "+0.40 pt".
    pub change: String,
    /// The rule on this metric and whether it held.
    pub verdict: Option<(String, bool)>,
}

/// Why two reports cannot be compared fairly, if they cannot.
pub fn refuse(base: &ShardReport, new: &ShardReport) -> Option<String> {
    if base.profile != new.profile {
        return Some(format!(
            "the reports ran different profiles ({} and {}): compare runs of the same profile",
            base.profile, new.profile
        ));
    }
    match (&base.arrival, &new.arrival) {
        (Some(a), Some(b)) if a.rate_plan != b.rate_plan => Some(format!(
            "the reports ran different arrival rates ({} and {})",
            a.rate_plan, b.rate_plan
        )),
        (Some(_), None) | (None, Some(_)) => Some(
            "one report is an arrival-rate run and the other a closed loop: their latencies mean different things".into(),
        ),
        _ => None,
    }
}

/// Notes on differences that make a comparison less fair without making it meaningless.
pub fn caveats(base: &ShardReport, new: &ShardReport) -> Vec<String> {
    let mut notes = Vec::new();
    if let (Some(a), Some(b)) = (&base.meta, &new.meta) {
        if a.cores != b.cores || a.arch != b.arch || a.os != b.os {
            notes.push(format!(
                "the load ran on different machines ({} cores {} {} and {} cores {} {})",
                a.cores, a.os, a.arch, b.cores, b.os, b.arch
            ));
        }
        if a.users != b.users {
            notes.push(format!(
                "different numbers of users ({} and {})",
                a.users, b.users
            ));
        }
        if a.grantcheck_version != b.grantcheck_version {
            notes.push(format!(
                "different grantcheck versions ({} and {})",
                a.grantcheck_version, b.grantcheck_version
            ));
        }
    }
    notes
}

/// Every shown metric, with the rules judged.
pub fn compare(base: &ShardReport, new: &ShardReport, rules: &[Rule]) -> Vec<Row> {
    let mut shown: Vec<(String, Metric)> = vec![
        ("rps".into(), Metric::Rps),
        ("error-rate".into(), Metric::ErrorRate),
        ("p50".into(), Metric::Percentile(0.5)),
        ("p90".into(), Metric::Percentile(0.9)),
        ("p99".into(), Metric::Percentile(0.99)),
        ("p99.9".into(), Metric::Percentile(0.999)),
        ("max".into(), Metric::Maximum),
    ];
    if base.arrival.is_some() {
        shown.push(("late".into(), Metric::Late));
        shown.push(("lag p99".into(), Metric::Lag));
    }
    for rule in rules {
        if !shown.iter().any(|(_, m)| *m == rule.metric) {
            let name = rule.text.split(':').next().unwrap_or_default().to_owned();
            shown.push((name, rule.metric));
        }
    }
    shown
        .into_iter()
        .map(|(name, metric)| {
            let (b, n) = (metric.value(base), metric.value(new));
            let change = match (b, n) {
                (Some(b), Some(n)) if metric.in_points() => format!("{:+.2} pt", n - b),
                (Some(b), Some(n)) if b > 0.0 => format!("{:+.1}%", 100.0 * (n - b) / b),
                _ => "-".into(),
            };
            let verdict = rules.iter().find(|r| r.metric == metric).map(|rule| {
                let held = match (b, n) {
                    (Some(b), Some(n)) => metric.regression(b, n) <= rule.limit,
                    // A metric the new run cannot show is no regression of it.
                    _ => true,
                };
                (rule.text.clone(), held)
            });
            Row {
                metric: if name.starts_with('p')
                    || ["avg", "max", "lag", "lag p99"].contains(&name.as_str())
                {
                    format!("{name} ms")
                } else {
                    name
                },
                base: b,
                new: n,
                change,
                verdict,
            }
        })
        .collect()
}

fn cell(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2}"))
}

pub fn run(args: CompareArgs) -> Result<Exit, Failure> {
    let base = ShardReport::read(&args.base)?;
    let new = ShardReport::read(&args.new)?;
    let texts = if args.max_regression.is_empty() {
        vec!["p99:10%".to_owned(), "rps:5%".to_owned()]
    } else {
        args.max_regression.clone()
    };
    let rules = texts
        .iter()
        .map(|t| parse_rule(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    if let Some(why) = refuse(&base, &new) {
        return Err(Failure::usage(format!("cannot compare: {why}")));
    }
    let rows = compare(&base, &new, &rules);
    let mut out = String::new();
    let latency_kind = if base.arrival.is_some() {
        "latency from the intended start"
    } else {
        "service time"
    };
    let _ = writeln!(
        out,
        "grantcheck load compare: profile {} ({latency_kind})\n  base {}\n  new  {}",
        base.profile,
        args.base.display(),
        args.new.display()
    );
    let _ = writeln!(
        out,
        "  {:<14} {:>12} {:>12} {:>10}  rule",
        "metric", "base", "new", "change"
    );
    let mut regressions = 0;
    for row in &rows {
        let rule = match &row.verdict {
            Some((rule, true)) => format!("{rule}: ok"),
            Some((rule, false)) => {
                regressions += 1;
                format!("{rule}: REGRESSION")
            }
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<14} {:>12} {:>12} {:>10}  {rule}",
            row.metric,
            cell(row.base),
            cell(row.new),
            row.change
        );
    }
    for note in caveats(&base, &new) {
        let _ = writeln!(out, "  note: {note}");
    }
    let _ = writeln!(
        out,
        "{}",
        if regressions == 0 {
            "no regression".to_owned()
        } else {
            format!(
                "{regressions} regression{}",
                if regressions == 1 { "" } else { "s" }
            )
        }
    );
    eprint!("{out}");
    if let Some(path) = &args.markdown {
        std::fs::write(path, markdown(&base.profile, &rows, regressions))
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(if regressions > 0 {
        Exit::LoadThreshold
    } else {
        Exit::Success
    })
}

fn markdown(profile: &str, rows: &[Row], regressions: usize) -> String {
    let mut md = format!(
        "# grantcheck load compare: {profile}\n\n{}\n\n| metric | base | new | change | rule |\n|---|---:|---:|---:|---|\n",
        if regressions == 0 {
            "No regression.".to_owned()
        } else {
            format!("**{regressions} regression(s).**")
        }
    );
    for row in rows {
        let rule = match &row.verdict {
            Some((rule, true)) => format!("`{rule}` ok"),
            Some((rule, false)) => format!("`{rule}` **REGRESSION**"),
            None => String::new(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {rule} |",
            row.metric,
            cell(row.base),
            cell(row.new),
            row.change
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(rps: f64, p99_us: u64, failed: usize) -> ShardReport {
        let mut r = ShardReport {
            profile: "issuance".into(),
            rps,
            ..ShardReport::default()
        };
        r.requests.insert(
            "POST issue".into(),
            RequestStats {
                success: 1000 - failed,
                fail: failed,
                min_us: 100,
                max_us: p99_us,
                total_us: 1000 * 200,
                histogram: vec![(200, 980), (p99_us, 20)],
            },
        );
        r
    }

    #[test]
    fn rules_parse_with_clear_errors() {
        assert_eq!(parse_rule("p99:10%").unwrap().limit, 10.0);
        assert_eq!(
            parse_rule("error-rate:0.5").unwrap().metric,
            Metric::ErrorRate
        );
        for bad in ["p99", "p100:5%", "speed:5%", "p99:-1%", "rps:x"] {
            assert!(parse_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slower_or_fewer_is_a_regression_within_limits_is_not() {
        let rules = [
            parse_rule("p99:10%").unwrap(),
            parse_rule("rps:5%").unwrap(),
        ];
        let verdicts = |new: &ShardReport| -> Vec<bool> {
            compare(&report(1000.0, 5000, 0), new, &rules)
                .iter()
                .filter_map(|r| r.verdict.as_ref().map(|v| v.1))
                .collect()
        };
        assert_eq!(verdicts(&report(1000.0, 5000, 0)), vec![true, true]);
        // 8% slower and 4% fewer: within the limits.
        assert_eq!(verdicts(&report(960.0, 5400, 0)), vec![true, true]);
        assert_eq!(verdicts(&report(900.0, 5000, 0)), vec![false, true]);
        assert_eq!(verdicts(&report(1000.0, 6000, 0)), vec![true, false]);
        // Faster is never a regression.
        assert_eq!(verdicts(&report(2000.0, 1000, 0)), vec![true, true]);
    }

    #[test]
    fn error_rates_compare_in_points() {
        let rules = [parse_rule("error-rate:0.5").unwrap()];
        let rows = compare(&report(1000.0, 5000, 0), &report(1000.0, 5000, 10), &rules);
        let row = rows.iter().find(|r| r.metric == "error-rate").unwrap();
        assert_eq!(row.change, "+1.00 pt");
        assert_eq!(row.verdict, Some(("error-rate:0.5".into(), false)));
    }

    #[test]
    fn different_profiles_and_rates_are_refused() {
        let a = report(1000.0, 5000, 0);
        let mut b = report(1000.0, 5000, 0);
        b.profile = "flow".into();
        assert!(refuse(&a, &b).unwrap().contains("different profiles"));
        let mut c = a.clone();
        c.arrival = Some(Default::default());
        assert!(refuse(&a, &c).unwrap().contains("closed loop"));
        assert!(refuse(&a, &a).is_none());
    }
}
