//! The run over time: requests, errors and a latency histogram per second, recorded by the
//! engine's recorders (`recorder.rs`) as responses arrive. Goose keeps only whole-run totals, and its own HTML
//! charts need a CDN; this is what grantcheck's report draws and `load merge` adds up.
//!
//! Memory is bounded whatever the run's length: latencies are kept rounded to two
//! significant digits (at most ~90 distinct values a decade), and past [`MAX_SLOTS`] slots
//! neighbouring slots merge and each slot covers twice the time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Slots kept before they are merged pairwise (an hour at one second each).
pub const MAX_SLOTS: usize = 3600;

/// One slot of the run: what finished in it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    pub requests: u64,
    pub errors: u64,
    /// `[latency in µs rounded to two significant digits, count]`, fastest first.
    pub latency_us: Vec<(u64, u64)>,
    /// Arrival-rate runs: iterations' latency from their intended start, the same way.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intended_us: Vec<(u64, u64)>,
    /// Arrival-rate runs: the start lag (intended start to sent) of iterations started in it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lag_us: Vec<(u64, u64)>,
}

impl Slot {
    /// The latency `fraction` (0–1) of this slot's requests finished within.
    pub fn percentile_us(&self, fraction: f64) -> Option<u64> {
        percentile(&self.latency_us, fraction)
    }

    /// Adds `other` in, saturating (counts from files are checked by the merge first).
    fn absorb(&mut self, other: &Slot) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        add_histogram(&mut self.latency_us, &other.latency_us);
        add_histogram(&mut self.intended_us, &other.intended_us);
        add_histogram(&mut self.lag_us, &other.lag_us);
    }
}

fn add_histogram(into: &mut Vec<(u64, u64)>, other: &[(u64, u64)]) {
    let mut merged: BTreeMap<u64, u64> = into.iter().copied().collect();
    for (value, count) in other {
        let slot = merged.entry(*value).or_default();
        *slot = slot.saturating_add(*count);
    }
    *into = merged.into_iter().collect();
}

/// A finished timeline, as reports carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineData {
    /// When the first slot began, in Unix milliseconds: shards that ran together line up.
    pub start_unix_ms: u64,
    /// Seconds each slot covers (1, or more for runs longer than [`MAX_SLOTS`] seconds).
    pub slot_s: u64,
    pub slots: Vec<Slot>,
    /// Milliseconds from the start to the end of recording: the last slot is usually partial.
    #[serde(default)]
    pub duration_ms: u64,
}

impl TimelineData {
    /// Seconds slot `i` covers: the slot width, or less for a partial last slot.
    pub fn slot_seconds(&self, i: usize) -> f64 {
        let width = self.slot_s.max(1) as f64;
        if self.duration_ms == 0 {
            return width;
        }
        let left = self.duration_ms as f64 / 1000.0 - i as f64 * width;
        left.clamp(0.1_f64.min(width), width)
    }

    /// The shards' timelines as one: slots on the same wall-clock second add up.
    pub fn merge(parts: &[&TimelineData]) -> Option<TimelineData> {
        let start = parts.iter().map(|t| t.start_unix_ms).min()?;
        let slot_s = parts.iter().map(|t| t.slot_s.max(1)).max()?;
        let width_ms = slot_s.saturating_mul(1000);
        let mut slots: Vec<Slot> = Vec::new();
        for part in parts {
            for (i, slot) in part.slots.iter().enumerate() {
                let at_ms = (part.start_unix_ms - start).saturating_add(
                    (i as u64).saturating_mul(part.slot_s.max(1).saturating_mul(1000)),
                );
                let index = (at_ms / width_ms) as usize;
                if index >= MAX_SLOTS * 2 {
                    break; // a shard that claims to have started long after the others
                }
                if slots.len() <= index {
                    slots.resize(index + 1, Slot::default());
                }
                slots[index].absorb(slot);
            }
        }
        let duration_ms = parts
            .iter()
            .map(|t| (t.start_unix_ms - start).saturating_add(t.duration_ms))
            .max()
            .unwrap_or(0);
        Some(TimelineData {
            start_unix_ms: start,
            slot_s,
            slots,
            duration_ms,
        })
    }
}

/// The value `fraction` (0–1) of a `[value, count]` histogram's samples are at or below.
pub fn percentile(histogram: &[(u64, u64)], fraction: f64) -> Option<u64> {
    let total = histogram
        .iter()
        .fold(0u64, |sum, (_, c)| sum.saturating_add(*c));
    if total == 0 {
        return None;
    }
    let rank = ((total as f64 * fraction).ceil() as u64).clamp(1, total);
    let mut seen = 0u64;
    for (value, count) in histogram {
        seen = seen.saturating_add(*count);
        if seen >= rank {
            return Some(*value);
        }
    }
    histogram.last().map(|(v, _)| *v)
}

/// Rounds a latency to two significant digits: 1234 µs → 1200, 87 µs → 87.
pub fn round_latency(us: u64) -> u64 {
    let mut scale = 1;
    while us / scale >= 100 {
        scale *= 10;
    }
    us / scale * scale
}

/// One stripe's timeline (`recorder::Recorder` keeps one): whole seconds added as they end.
pub(crate) struct Recorded {
    slot_s: u64,
    slots: Vec<BTreeMap<u64, u64>>,
    intended: Vec<BTreeMap<u64, u64>>,
    lag: Vec<BTreeMap<u64, u64>>,
    requests: Vec<u64>,
    errors: Vec<u64>,
}

impl Recorded {
    pub(crate) fn new() -> Recorded {
        Recorded {
            slot_s: 1,
            slots: Vec::new(),
            intended: Vec::new(),
            lag: Vec::new(),
            requests: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Adds what happened in `second` (from the start): `[µs, count]` histograms, kept
    /// rounded to two significant digits.
    pub(crate) fn add(
        &mut self,
        second: u64,
        requests: u64,
        errors: u64,
        latency_us: &[(u64, u64)],
        intended_us: &[(u64, u64)],
        lag_us: &[(u64, u64)],
    ) {
        let i = self.index(second);
        self.requests[i] += requests;
        self.errors[i] += errors;
        for (v, c) in latency_us {
            *self.slots[i].entry(round_latency(*v)).or_default() += c;
        }
        for (v, c) in intended_us {
            *self.intended[i].entry(round_latency(*v)).or_default() += c;
        }
        for (v, c) in lag_us {
            *self.lag[i].entry(round_latency(*v)).or_default() += c;
        }
    }

    pub(crate) fn data(&self, start_unix_ms: u64, duration_ms: u64) -> TimelineData {
        TimelineData {
            start_unix_ms,
            slot_s: self.slot_s,
            slots: (0..self.slots.len())
                .map(|i| Slot {
                    requests: self.requests[i],
                    errors: self.errors[i],
                    latency_us: self.slots[i].iter().map(|(v, c)| (*v, *c)).collect(),
                    intended_us: self.intended[i].iter().map(|(v, c)| (*v, *c)).collect(),
                    lag_us: self.lag[i].iter().map(|(v, c)| (*v, *c)).collect(),
                })
                .collect(),
            duration_ms,
        }
    }
}

impl Recorded {
    /// The slot for `second` since the start, growing (and coarsening) the timeline.
    fn index(&mut self, second: u64) -> usize {
        while second / self.slot_s >= MAX_SLOTS as u64 {
            self.coarsen();
        }
        let i = (second / self.slot_s) as usize;
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, BTreeMap::new);
            self.intended.resize_with(i + 1, BTreeMap::new);
            self.lag.resize_with(i + 1, BTreeMap::new);
            self.requests.resize(i + 1, 0);
            self.errors.resize(i + 1, 0);
        }
        i
    }

    /// Merges neighbouring slots: each now covers twice the time.
    fn coarsen(&mut self) {
        let merge_pairs = |maps: Vec<BTreeMap<u64, u64>>| {
            let mut merged = Vec::with_capacity(maps.len().div_ceil(2));
            let mut maps = maps.into_iter();
            while let Some(mut first) = maps.next() {
                for (v, c) in maps.next().unwrap_or_default() {
                    *first.entry(v).or_default() += c;
                }
                merged.push(first);
            }
            merged
        };
        let slots = merge_pairs(std::mem::take(&mut self.slots));
        self.intended = merge_pairs(std::mem::take(&mut self.intended));
        self.lag = merge_pairs(std::mem::take(&mut self.lag));
        let sum_pairs = |v: &[u64]| v.chunks(2).map(|c| c.iter().sum()).collect::<Vec<u64>>();
        self.requests = sum_pairs(&self.requests);
        self.errors = sum_pairs(&self.errors);
        self.slots = slots;
        self.slot_s *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_keep_two_significant_digits() {
        assert_eq!(round_latency(0), 0);
        assert_eq!(round_latency(87), 87);
        assert_eq!(round_latency(1234), 1200);
        assert_eq!(round_latency(999_999), 990_000);
    }

    #[test]
    fn percentiles_come_from_the_slot_histogram() {
        let slot = Slot {
            requests: 100,
            errors: 0,
            latency_us: vec![(100, 90), (1000, 9), (50_000, 1)],
            intended_us: Vec::new(),
            lag_us: Vec::new(),
        };
        assert_eq!(slot.percentile_us(0.5), Some(100));
        assert_eq!(slot.percentile_us(0.9), Some(100));
        assert_eq!(slot.percentile_us(0.99), Some(1000));
        assert_eq!(slot.percentile_us(1.0), Some(50_000));
        assert_eq!(Slot::default().percentile_us(0.5), None);
    }

    #[test]
    fn a_long_run_coarsens_instead_of_growing() {
        let mut r = Recorded::new();
        for second in 0..(MAX_SLOTS as u64 * 3) {
            let i = r.index(second);
            r.requests[i] += 1;
        }
        assert!(r.slots.len() <= MAX_SLOTS, "{} slots", r.slots.len());
        assert_eq!(r.slot_s, 4);
        assert_eq!(r.requests.iter().sum::<u64>(), MAX_SLOTS as u64 * 3);
    }

    #[test]
    fn shards_line_up_on_the_wall_clock() {
        let slot = |n| Slot {
            requests: n,
            errors: 0,
            latency_us: vec![(100, n)],
            intended_us: Vec::new(),
            lag_us: Vec::new(),
        };
        let a = TimelineData {
            start_unix_ms: 10_000,
            slot_s: 1,
            slots: vec![slot(1), slot(2)],
            duration_ms: 2000,
        };
        let b = TimelineData {
            start_unix_ms: 11_000,
            slot_s: 1,
            slots: vec![slot(10), slot(20)],
            duration_ms: 1500,
        };
        let m = TimelineData::merge(&[&a, &b]).unwrap();
        assert_eq!(m.start_unix_ms, 10_000);
        let counts: Vec<u64> = m.slots.iter().map(|s| s.requests).collect();
        assert_eq!(counts, vec![1, 12, 20]);
        assert_eq!(m.slots[1].latency_us, vec![(100, 12)]);
        assert_eq!(m.duration_ms, 2500);
        assert_eq!(m.slot_seconds(0), 1.0);
        assert_eq!(m.slot_seconds(2), 0.5);
    }
}
