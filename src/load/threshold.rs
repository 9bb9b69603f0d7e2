//! Thresholds judged on merged shard reports, in Goose's syntax: `<metric><op><value>` with an
//! optional ` for <request>`; metrics `pNN` (decimals allowed), `avg`, `max`, `error-rate`,
//! `rps`; operators `<`, `<=`, `>`, `>=`; times in `us`, `ms` (default) or `s`. A single run
//! is judged by Goose itself; shards leave their rules to the merge.
//!
//! Arrival-rate runs add `late<N%` (iterations no user was free to start on time), and their
//! `pNN` without `for` is the latency from the intended start, which counts queueing:
//! grantcheck judges those runs itself.

use super::shard::{RequestStats, ShardReport};

/// A rule and its outcome.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Judged {
    pub rule: String,
    pub observed: String,
    pub passed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Percentile(f32),
    Average,
    Maximum,
    ErrorRate,
    Rps,
    Late,
}

/// Whether `rule` is a threshold this module can judge (the request it names, if any, is
/// only known once the run has one).
pub fn check_syntax(rule: &str) -> Result<(), String> {
    let expr = rule.split_once(" for ").map_or(rule, |(e, _)| e);
    judge(expr, &ShardReport::default()).map(|_| ())
}

/// Judges `rule` on `report`; a rule that does not parse is an error.
pub fn judge(rule: &str, report: &ShardReport) -> Result<Judged, String> {
    let (expr, request) = match rule.split_once(" for ") {
        Some((e, r)) => (e.trim(), Some(r.trim())),
        None => (rule.trim(), None),
    };
    let op_at = expr
        .find(['<', '>'])
        .ok_or_else(|| format!("threshold '{rule}' has no < or >"))?;
    let (metric, rest) = expr.split_at(op_at);
    let (op, value) = if let Some(v) = rest.strip_prefix("<=").or_else(|| rest.strip_prefix(">=")) {
        (&rest[..2], v)
    } else {
        (&rest[..1], &rest[1..])
    };
    let metric = match metric.trim() {
        "avg" => Metric::Average,
        "max" => Metric::Maximum,
        "error-rate" => Metric::ErrorRate,
        "rps" => Metric::Rps,
        "late" => Metric::Late,
        p if p.starts_with('p') => {
            let n: f32 = p[1..]
                .parse()
                .map_err(|_| format!("threshold '{rule}': '{p}' is not a percentile"))?;
            if !(0.0..100.0).contains(&n) || n == 0.0 {
                return Err(format!(
                    "threshold '{rule}': a percentile is above 0 and below 100"
                ));
            }
            Metric::Percentile(n / 100.0)
        }
        other => return Err(format!("threshold '{rule}': unknown metric '{other}'")),
    };
    let value = value.trim();
    let limit = match metric {
        Metric::Percentile(_) | Metric::Average | Metric::Maximum => parse_time_ms(value),
        Metric::ErrorRate | Metric::Late => value.trim_end_matches('%').parse().ok(),
        Metric::Rps => value.parse().ok(),
    }
    .ok_or_else(|| format!("threshold '{rule}': '{value}' is not a value"))?;

    let (stats, rps) = match request {
        None => {
            let mut all = RequestStats::default();
            for r in report.requests.values() {
                all.absorb(r);
            }
            (all, report.rps)
        }
        Some(name) => {
            let stats = report.requests.get(name).cloned().ok_or_else(|| {
                let known: Vec<&str> = report.requests.keys().map(String::as_str).collect();
                format!(
                    "threshold '{rule}': no request named '{name}' (known: {})",
                    known.join(", ")
                )
            })?;
            let (ok, fail) = report.total();
            let share = (stats.success + stats.fail) as f64 / (ok + fail).max(1) as f64;
            (stats, report.rps * share)
        }
    };
    let count = stats.success + stats.fail;
    let arrival = report.arrival.as_ref().filter(|_| request.is_none());
    let observed = match (metric, arrival) {
        (Metric::Late, Some(a)) => Some(100.0 * a.late_ratio()),
        (Metric::Late, None) if report.requests.is_empty() => None,
        (Metric::Late, None) => {
            return Err(format!(
                "threshold '{rule}': late is measured in arrival-rate runs (--rate, --rate-plan)"
            ))
        }
        (Metric::Percentile(p), Some(a)) if a.started > 0 => a
            .latency_percentile_us(p as f64)
            .map(|us| us as f64 / 1000.0),
        _ => None,
    };
    let observed = match metric {
        _ if observed.is_some() => observed,
        _ if count == 0 => None,
        Metric::Late => None,
        Metric::Percentile(p) => Some(stats.percentile_us(p) as f64 / 1000.0),
        Metric::Average => Some(stats.average_us() / 1000.0),
        Metric::Maximum => Some(stats.max_us as f64 / 1000.0),
        Metric::ErrorRate => Some(100.0 * stats.fail as f64 / count as f64),
        Metric::Rps => Some(rps),
    };
    let Some(observed) = observed else {
        return Ok(Judged {
            rule: rule.into(),
            observed: "no samples".into(),
            passed: false,
        });
    };
    let passed = match op {
        "<" => observed < limit,
        "<=" => observed <= limit,
        ">" => observed > limit,
        _ => observed >= limit,
    };
    let shown = match metric {
        Metric::ErrorRate | Metric::Late => format!("{observed:.2}%"),
        Metric::Percentile(_) if arrival.is_some() => {
            format!("{observed:.2}ms from the intended start")
        }
        Metric::Rps => format!("{observed:.1}"),
        _ => format!("{observed:.2}ms"),
    };
    Ok(Judged {
        rule: rule.into(),
        observed: shown,
        passed,
    })
}

/// `250us`, `500ms`, `2s`, or a bare number of milliseconds.
pub(crate) fn parse_time_ms(value: &str) -> Option<f64> {
    if let Some(us) = value.strip_suffix("us") {
        return us.parse::<f64>().ok().map(|v| v / 1000.0);
    }
    if let Some(ms) = value.strip_suffix("ms") {
        return ms.parse().ok();
    }
    if let Some(s) = value.strip_suffix('s') {
        return s.parse::<f64>().ok().map(|v| v * 1000.0);
    }
    value.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::shard::FORMAT;

    fn report() -> ShardReport {
        let mut requests = std::collections::BTreeMap::new();
        requests.insert(
            "POST issue".to_string(),
            RequestStats {
                success: 99,
                fail: 1,
                min_us: 100,
                max_us: 5000,
                total_us: 100 * 500,
                histogram: vec![(500, 99), (4992, 1)],
            },
        );
        ShardReport {
            format: FORMAT.into(),
            run_id: "r".into(),
            shard: None,
            shards: vec![],
            profile: "p".into(),
            users: 1,
            duration_s: 10,
            rps: 10.0,
            thresholds: vec![],
            requests,
            errors: Default::default(),
            timeline: None,
            arrival: None,
            meta: None,
        }
    }

    #[test]
    fn rules_are_judged_like_goose() {
        let r = report();
        assert!(judge("error-rate<2%", &r).unwrap().passed);
        assert!(!judge("error-rate<1", &r).unwrap().passed);
        assert!(judge("rps>=10", &r).unwrap().passed);
        assert!(!judge("rps>10", &r).unwrap().passed);
        assert!(judge("p50<1ms", &r).unwrap().passed);
        assert!(!judge("p99.9<2ms", &r).unwrap().passed);
        assert!(judge("max<=5s", &r).unwrap().passed);
        assert!(judge("avg<600us for POST issue", &r).unwrap().passed);
        assert!(judge("p99<1 for POST nope", &r).is_err());
        assert!(judge("p100<1", &r).is_err());
        assert!(judge("speed<1", &r).is_err());
    }
}
