//! Scale-out without a coordinator: `--shard I/N` runs this process's share of the load and
//! writes a shard report with full-resolution latency histograms; `grantcheck load merge`
//! combines the shards of one run exactly (see `merge.rs`). Any scheduler can start the
//! shards: a Kubernetes Indexed Job, a CI matrix, an SSH loop.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::exit::Failure;

/// `I/N`: shard I (0-based, as `JOB_COMPLETION_INDEX`) of N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let (i, n) = s.split_once('/').ok_or("a shard is I/N, e.g. 0/3")?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("shard index '{i}' is not a number"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count '{n}' is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index counts from 0 and must be below the count"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// This shard's part of `total` (users, requests per second): the parts add up to it.
    pub fn share(self, total: usize) -> usize {
        total / self.count + usize::from(self.index < total % self.count)
    }

    /// This shard's part of a rate given as text (`"10"`, `"0.5"`).
    pub fn share_rate(self, rate: &str) -> Result<String, String> {
        let value: f64 = rate
            .parse()
            .map_err(|_| format!("rate '{rate}' is not a number"))?;
        Ok(format!("{}", value / self.count as f64))
    }

    /// A test plan (`users,time;…`) with each step's users divided.
    pub fn share_plan(self, plan: &str) -> Result<String, String> {
        plan.split(';')
            .map(|step| {
                let (users, time) = step
                    .split_once(',')
                    .ok_or_else(|| format!("test plan step '{step}' is not users,time"))?;
                let users: usize = users
                    .trim()
                    .parse()
                    .map_err(|_| format!("test plan users '{users}' is not a number"))?;
                Ok(format!("{},{}", self.share(users), time.trim()))
            })
            .collect::<Result<Vec<_>, String>>()
            .map(|steps| steps.join(";"))
    }
}

/// One request's counts and latency histogram (in microseconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    pub success: usize,
    pub fail: usize,
    pub min_us: u64,
    pub max_us: u64,
    pub total_us: u64,
    /// `[bucket floor in µs, count]`, fastest first: every bucket that holds a time
    /// (HdrHistogram buckets, at most 1% wide).
    pub histogram: Vec<(u64, usize)>,
}

impl RequestStats {
    /// Adds `other` (another shard's same request) in, saturating: for totals over counts already checked on the way in.
    pub fn absorb(&mut self, other: &RequestStats) {
        let mut sum = self.clone();
        if sum.absorb_checked(other).is_some() {
            *self = sum;
        } else {
            self.success = self.success.saturating_add(other.success);
            self.fail = self.fail.saturating_add(other.fail);
            self.total_us = self.total_us.saturating_add(other.total_us);
            self.max_us = self.max_us.max(other.max_us);
        }
    }

    /// [`absorb`](Self::absorb) for counts read from files: `None` when a sum overflows
    /// (a shard report that says 2^64−1 requests must not wrap into a small number).
    pub fn absorb_checked(&mut self, other: &RequestStats) -> Option<()> {
        let first = self.samples() == 0;
        self.success = self.success.checked_add(other.success)?;
        self.fail = self.fail.checked_add(other.fail)?;
        self.min_us = if first {
            other.min_us
        } else {
            self.min_us.min(other.min_us)
        };
        self.max_us = self.max_us.max(other.max_us);
        self.total_us = self.total_us.checked_add(other.total_us)?;
        let mut merged: BTreeMap<u64, usize> = self.histogram.iter().copied().collect();
        for (bucket, count) in &other.histogram {
            let slot = merged.entry(*bucket).or_default();
            *slot = slot.checked_add(*count)?;
        }
        self.histogram = merged.into_iter().collect();
        self.histogram
            .iter()
            .try_fold(0usize, |sum, (_, c)| sum.checked_add(*c))?;
        Some(())
    }

    /// Timed samples in the histogram.
    pub fn samples(&self) -> usize {
        self.histogram
            .iter()
            .fold(0usize, |sum, (_, c)| sum.saturating_add(*c))
    }

    /// The time `percent` (0–1) of the samples finished within: the floor of the bucket
    /// that holds that rank (buckets are at most 1% wide; Goose's, in older reports, 1/64),
    /// kept within the fastest and slowest times seen.
    pub fn percentile_us(&self, percent: f32) -> u64 {
        let total = self.samples();
        if total == 0 {
            return 0;
        }
        let rank = ((total as f64 * f64::from(percent)).ceil() as usize).clamp(1, total);
        let mut seen = 0usize;
        let mut value = self.max_us;
        for (bucket, count) in &self.histogram {
            seen = seen.saturating_add(*count);
            if seen >= rank {
                value = *bucket;
                break;
            }
        }
        value.clamp(self.min_us, self.max_us.max(self.min_us))
    }

    pub fn average_us(&self) -> f64 {
        self.total_us as f64 / self.samples().max(1) as f64
    }
}

/// What one shard (or a merge of shards) measured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardReport {
    /// `grantcheck-load-shard/1`.
    pub format: String,
    pub run_id: String,
    /// `None` for a merged report.
    pub shard: Option<Shard>,
    /// The shards a merged report holds.
    #[serde(default)]
    pub shards: Vec<Shard>,
    pub profile: String,
    pub users: usize,
    /// Seconds measured; for a merged report, the longest shard's.
    pub duration_s: usize,
    /// Requests per second: a shard's requests over its own measured time; a merged report
    /// adds the shards' rates, since they ran at the same time.
    pub rps: f64,
    /// Rules to judge on the merged run (shards do not judge their part).
    pub thresholds: Vec<String>,
    pub requests: BTreeMap<String, RequestStats>,
    /// `name: error` → occurrences.
    pub errors: BTreeMap<String, usize>,
    /// Requests, errors and latency per second (reports before it have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<super::timeline::TimelineData>,
    /// An arrival-rate run's schedule and how it was kept (closed-loop runs have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrival: Option<super::arrival::ArrivalStats>,
    /// What ran the load, so `load compare` can tell a fair comparison from another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<RunMeta>,
}

/// The harness and machine behind a report.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    pub grantcheck_version: String,
    /// Cores the load generator could use.
    pub cores: usize,
    pub os: String,
    pub arch: String,
    /// Users (closed loop) or the in-flight bound (arrival rate).
    pub users: usize,
}

impl RunMeta {
    pub fn here(users: usize) -> RunMeta {
        RunMeta {
            grantcheck_version: env!("CARGO_PKG_VERSION").to_owned(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            users,
        }
    }
}

pub const FORMAT: &str = "grantcheck-load-shard/1";

impl ShardReport {
    /// An empty report of one run (or shard), for the engine to fill.
    pub fn new(
        run_id: &str,
        shard: Shard,
        profile: &str,
        thresholds: Vec<String>,
        users: usize,
    ) -> ShardReport {
        ShardReport {
            format: FORMAT.into(),
            run_id: run_id.into(),
            shard: Some(shard),
            shards: vec![shard],
            profile: profile.into(),
            users,
            thresholds,
            meta: Some(RunMeta::here(users)),
            ..ShardReport::default()
        }
    }

    pub fn total(&self) -> (usize, usize) {
        self.requests
            .values()
            .fold((0, 0), |(s, f), r| (s + r.success, f + r.fail))
    }

    pub fn write(&self, path: &Path) -> Result<(), Failure> {
        let text = serde_json::to_string_pretty(self).expect("a report serialises");
        std::fs::write(path, text + "\n")
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
    }

    pub fn read(path: &Path) -> Result<ShardReport, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        ShardReport::parse(&text, &path.display().to_string())
    }

    /// A shard report's JSON; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ShardReport, Failure> {
        let report: ShardReport = serde_json::from_str(text)
            .map_err(|e| Failure::usage(format!("{origin}: not a grantcheck shard report: {e}")))?;
        if report.format != FORMAT {
            return Err(Failure::usage(format!(
                "{origin}: format '{}', expected {FORMAT}",
                report.format
            )));
        }
        Ok(report)
    }
}

/// Where a shard writes its report.
pub fn report_path(dir: &Path, shard: Shard) -> PathBuf {
    dir.join(format!("shard-{}-of-{}.json", shard.index, shard.count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [0, 1, 7, 32, 33] {
            let sum: usize = (0..3)
                .map(|i| Shard { index: i, count: 3 }.share(total))
                .sum();
            assert_eq!(sum, total);
        }
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(
            s.share_plan("10,5s;30,1m;0,10s").unwrap(),
            "3,5s;10,1m;0,10s"
        );
        assert_eq!(s.share_rate("9").unwrap(), "3");
        assert!("3/3".parse::<Shard>().is_err());
        assert!("1".parse::<Shard>().is_err());
    }

    #[test]
    fn absorbing_adds_counts_and_histograms() {
        let mut a = RequestStats {
            success: 2,
            fail: 0,
            min_us: 100,
            max_us: 300,
            total_us: 400,
            histogram: vec![(100, 1), (300, 1)],
        };
        let b = RequestStats {
            success: 1,
            fail: 1,
            min_us: 50,
            max_us: 300,
            total_us: 350,
            histogram: vec![(50, 1), (300, 1)],
        };
        a.absorb(&b);
        assert_eq!(
            (a.success, a.fail, a.min_us, a.max_us, a.total_us),
            (3, 1, 50, 300, 750)
        );
        assert_eq!(a.histogram, vec![(50, 1), (100, 1), (300, 2)]);
        assert_eq!(a.samples(), 4);
    }
}
