//! The open model: `--rate 5000/s` or `--rate-plan "0/s..5000/s:1m, 5000/s:5m"`. Goose runs
//! closed loops (each user waits for its answer, goose#87), so grantcheck drives Goose's users
//! from a timetable instead: iteration k of a scenario is due at a fixed time computed from
//! the plan, whatever the server does. This module is the plan and what a run reports of it;
//! `pacer.rs` is the clock that hands iterations to users at their time. When every user is
//! busy an iteration starts late, and that lateness is counted and charged to its latency
//! (measured from the intended start, as wrk2 and oha's `--latency-correction` do), never
//! skipped. `--max-in-flight` is the number of users.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::timeline::percentile;

/// Goose's run time counts from when every user is launched, and the plan starts 50 ms after
/// the last is ready: the run time is the plan plus this margin.
pub const START_MARGIN_S: f64 = 2.0;

/// The plan starts anyway this long after the run began if some user never became ready.
/// (Goose builds a TLS client for each user it launches: in a debug build on a busy machine
/// launching 100 users has taken over 2 s.)
pub const START_FALLBACK: Duration = Duration::from_secs(30);

/// In-flight requests may finish this long after the plan's end, then they time out.
pub const END_GRACE: Duration = Duration::from_secs(2);

/// An iteration is late when no user was free to take it until this long after its time:
/// every one of `--max-in-flight` was busy. (Its start also lags by the clock's precision and
/// the hand-off to a user, tens of µs, which the start-lag figures show.)
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// One stage of a rate plan: from one rate to another (the same for a constant rate) over
/// a time span. Rates are iterations per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub from: f64,
    pub to: f64,
    pub secs: f64,
}

impl Stage {
    fn iterations(&self) -> f64 {
        (self.from + self.to) / 2.0 * self.secs
    }

    /// Seconds into the stage at which `x` iterations have become due.
    fn time_of(&self, x: f64) -> f64 {
        let slope = (self.to - self.from) / self.secs;
        if slope.abs() < 1e-12 {
            return x / self.from;
        }
        // from·t + slope·t²/2 = x
        let a = slope / 2.0;
        let t = (-self.from + (self.from * self.from + 4.0 * a * x).max(0.0).sqrt()) / (2.0 * a);
        t.clamp(0.0, self.secs)
    }
}

/// A rate plan: stages run one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct RatePlan {
    pub stages: Vec<Stage>,
}

impl RatePlan {
    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.stages.iter().map(|s| s.secs).sum())
    }

    /// Iterations the whole plan schedules.
    pub fn iterations(&self) -> u64 {
        self.stages
            .iter()
            .map(Stage::iterations)
            .sum::<f64>()
            .floor() as u64
    }

    /// The plan with every rate multiplied by `factor` (a shard's or a scenario's share).
    pub fn scaled(&self, factor: f64) -> RatePlan {
        RatePlan {
            stages: self
                .stages
                .iter()
                .map(|s| Stage {
                    from: s.from * factor,
                    to: s.to * factor,
                    secs: s.secs,
                })
                .collect(),
        }
    }

    /// A constant rate for `secs`.
    pub fn constant(rate: f64, secs: f64) -> RatePlan {
        RatePlan {
            stages: vec![Stage {
                from: rate,
                to: rate,
                secs,
            }],
        }
    }

    /// When iteration `k` (from 0) is due, from the start of the plan; `None` past its end.
    pub fn due(&self, k: u64) -> Option<Duration> {
        let mut x = k as f64;
        let mut start = 0.0;
        for stage in &self.stages {
            let n = stage.iterations();
            if x < n {
                return Some(Duration::from_secs_f64(start + stage.time_of(x)));
            }
            x -= n;
            start += stage.secs;
        }
        None
    }

    /// The highest rate of any stage.
    pub fn peak(&self) -> f64 {
        self.stages
            .iter()
            .map(|s| s.from.max(s.to))
            .fold(0.0, f64::max)
    }
}

impl fmt::Display for RatePlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |r: f64| format!("{}/s", trim(r));
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| {
                let span = format!("{}s", trim(s.secs));
                if s.from == s.to {
                    format!("{}:{span}", rate(s.from))
                } else {
                    format!("{}..{}:{span}", rate(s.from), rate(s.to))
                }
            })
            .collect();
        f.write_str(&stages.join(", "))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// `5000/s`, `300/m` or a bare number (per second).
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, per) = match t.split_once('/') {
        Some((n, "s")) => (n, 1.0),
        Some((n, "m")) => (n, 60.0),
        Some((_, unit)) => {
            return Err(format!(
                "rate '{t}': unit '/{unit}' is not /s or /m (e.g. 5000/s)"
            ))
        }
        None => (t, 1.0),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("rate '{t}' is not a number per second (e.g. 5000/s)"))?;
    if !value.is_finite() || value < 0.0 {
        return Err(format!("rate '{t}' must be a positive number"));
    }
    Ok(value / per)
}

impl FromStr for RatePlan {
    type Err = String;

    /// `RATE:SPAN` (constant) or `FROM..TO:SPAN` (a ramp), separated by commas, e.g.
    /// `0/s..5000/s:1m, 5000/s:5m`. Spans are Goose's (`30s`, `5m`, `1h30m`).
    fn from_str(text: &str) -> Result<RatePlan, String> {
        let mut stages = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (rates, span) = part.rsplit_once(':').ok_or_else(|| {
                format!("rate plan stage '{part}' needs a time span: RATE:SPAN or FROM..TO:SPAN (e.g. 0/s..500/s:1m)")
            })?;
            let secs = goose::util::parse_timespan(span.trim())
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("rate plan stage '{part}': '{span}' is not a time span above 0 (e.g. 30s, 5m)"))?
                as f64;
            let (from, to) = match rates.split_once("..") {
                Some((a, b)) => (parse_rate(a)?, parse_rate(b)?),
                None => {
                    let r = parse_rate(rates)?;
                    (r, r)
                }
            };
            if from == 0.0 && to == 0.0 {
                return Err(format!("rate plan stage '{part}' schedules nothing"));
            }
            stages.push(Stage { from, to, secs });
        }
        if stages.is_empty() {
            return Err("an empty rate plan".into());
        }
        Ok(RatePlan { stages })
    }
}

/// The timetable of one scenario: when each of its iterations is due.
pub struct Timetable {
    pub plan: RatePlan,
}

impl Timetable {
    pub fn new(plan: RatePlan) -> Timetable {
        Timetable { plan }
    }

    /// When iteration `k` is due after `start`, or `None` past the plan's end.
    pub fn due(&self, start: Instant, k: u64) -> Option<Instant> {
        self.plan.due(k).map(|offset| start + offset)
    }
}

/// What an arrival-rate run scheduled and how it kept to it, as reports carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArrivalStats {
    /// The plan as run (a shard's share of the rate).
    pub rate_plan: String,
    /// Iterations the plan scheduled.
    pub planned: u64,
    pub max_in_flight: u64,
    /// Iterations that started, and how many of them no user was free to take on time.
    pub started: u64,
    pub late: u64,
    /// Iterations that started after the plan's end: the run fell behind its plan (the
    /// generator or the server could not keep up) and caught up in the grace period.
    #[serde(default)]
    pub started_after_plan: u64,
    /// Start lag (start − due): `[µs bucket floor, count]`, buckets within 1%.
    pub lag_us: Vec<(u64, u64)>,
    /// Latency from the intended start to the end of the iteration, the same way.
    pub latency_us: Vec<(u64, u64)>,
    /// The start lag of iterations a user was free for when they fell due: the generator's
    /// own delay (clock and hand-off), which the verdict weighs against the latency.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generator_lag_us: Vec<(u64, u64)>,
}

impl ArrivalStats {
    /// Adds another shard's stats in; `None` when a count overflows.
    pub fn absorb(&mut self, other: &ArrivalStats) -> Option<()> {
        self.planned = self.planned.checked_add(other.planned)?;
        self.max_in_flight = self.max_in_flight.checked_add(other.max_in_flight)?;
        self.started = self.started.checked_add(other.started)?;
        self.late = self.late.checked_add(other.late)?;
        self.started_after_plan = self
            .started_after_plan
            .checked_add(other.started_after_plan)?;
        merge_into(&mut self.lag_us, &other.lag_us)?;
        merge_into(&mut self.latency_us, &other.latency_us)?;
        merge_into(&mut self.generator_lag_us, &other.generator_lag_us)?;
        Some(())
    }

    /// Late iterations as a share of those that started (0–1).
    pub fn late_ratio(&self) -> f64 {
        self.late as f64 / self.started.max(1) as f64
    }

    pub fn latency_percentile_us(&self, fraction: f64) -> Option<u64> {
        percentile(&self.latency_us, fraction)
    }

    pub fn lag_percentile_us(&self, fraction: f64) -> Option<u64> {
        percentile(&self.lag_us, fraction)
    }

    pub fn generator_lag_percentile_us(&self, fraction: f64) -> Option<u64> {
        percentile(&self.generator_lag_us, fraction)
    }

    /// Whether the generator, not the server, dominated latency: its own start lag at p99
    /// is over a tenth of the latency p99 from the intended start. Then a latency figure
    /// says as much about the load machine as about the server.
    pub fn generator_dominated(&self) -> Option<(u64, u64)> {
        let lag = self.generator_lag_percentile_us(0.99)?;
        let latency = self.latency_percentile_us(0.99)?;
        (lag * 10 > latency).then_some((lag, latency))
    }
}

fn merge_into(into: &mut Vec<(u64, u64)>, other: &[(u64, u64)]) -> Option<()> {
    let mut merged: BTreeMap<u64, u64> = into.iter().copied().collect();
    for (v, c) in other {
        let slot = merged.entry(*v).or_default();
        *slot = slot.checked_add(*c)?;
    }
    *into = merged.into_iter().collect();
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_parse_and_print() {
        let plan: RatePlan = "0/s..100/s:10s, 100/s:1m".parse().unwrap();
        assert_eq!(plan.stages.len(), 2);
        assert_eq!(plan.duration(), Duration::from_secs(70));
        assert_eq!(plan.iterations(), 500 + 6000);
        assert_eq!(plan.to_string(), "0/s..100/s:10s, 100/s:60s");
        assert_eq!(parse_rate("120/m").unwrap(), 2.0);
        assert_eq!(parse_rate("5000").unwrap(), 5000.0);
        for bad in [
            "",
            "100/s",
            "x/s:10s",
            "100/h:10s",
            "100/s:0s",
            "0/s:10s",
            "-5/s:1s",
        ] {
            assert!(bad.parse::<RatePlan>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_constant_rate_spaces_iterations_evenly() {
        let plan = RatePlan::constant(100.0, 2.0);
        assert_eq!(plan.due(0), Some(Duration::ZERO));
        assert_eq!(plan.due(50), Some(Duration::from_millis(500)));
        assert_eq!(plan.due(199), Some(Duration::from_millis(1990)));
        assert_eq!(plan.due(200), None);
    }

    #[test]
    fn a_ramp_schedules_more_as_it_climbs() {
        // 0 → 100/s over 10 s: 500 iterations; half of them in the last ~2.9 s.
        let plan: RatePlan = "0/s..100/s:10s".parse().unwrap();
        let at = |k| plan.due(k).unwrap().as_secs_f64();
        assert!((at(250) - 7.071).abs() < 0.01, "{}", at(250));
        assert!(at(499) < 10.0 && plan.due(500).is_none());
        // Due times never go backwards.
        let mut last = 0.0;
        for k in 0..500 {
            assert!(at(k) >= last);
            last = at(k);
        }
    }

    #[test]
    fn scenario_shares_add_up_to_the_plan() {
        let plan = RatePlan::constant(90.0, 10.0);
        let pacing = super::super::pacer::Pacing::new(plan, &[2, 1], 10);
        let counts: Vec<u64> = pacing
            .timetables
            .iter()
            .map(|t| t.plan.iterations())
            .collect();
        assert_eq!(counts, vec![600, 300]);
    }

    #[test]
    fn percentiles_and_merges() {
        let mut a = ArrivalStats {
            started: 10,
            late: 1,
            latency_us: vec![(100, 9), (1_000_000, 1)],
            ..ArrivalStats::default()
        };
        assert_eq!(a.latency_percentile_us(0.5), Some(100));
        assert_eq!(a.latency_percentile_us(0.99), Some(1_000_000));
        let b = a.clone();
        a.absorb(&b).unwrap();
        assert_eq!((a.started, a.late), (20, 2));
        assert_eq!(a.latency_us, vec![(100, 18), (1_000_000, 2)]);
        let huge = ArrivalStats {
            started: u64::MAX,
            ..ArrivalStats::default()
        };
        assert!(a.absorb(&huge).is_none());
    }
}
