//! What the load engine measures, recorded off Goose's aggregator: every response lands in a
//! [`Recorder`] (one of a few stripes, picked by the Goose user's index, so users rarely share
//! a lock) as a count and a latency in an HdrHistogram. Nothing is allocated per request: a
//! request is a [`Request`] (its report name is a constant), a check's reason a `&'static str`
//! (a reason with a status code in it is formatted only when a response fails). The stripes
//! are merged at the end, and once a second by the threshold watch.
//!
//! Memory is bounded whatever the run's length: a histogram covers 1 µs to an hour at two
//! significant digits (≈ 27 KB each, made on first use), the timeline holds at most
//! `timeline::MAX_SLOTS` slots per stripe, errors are keyed by request and reason.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use super::shard::RequestStats;
use super::timeline::{Recorded, TimelineData};

/// The slowest latency a histogram holds exactly (an hour, in µs); slower ones count as it.
pub const HIGHEST_US: u64 = 3_600_000_000;
/// Significant digits kept: every value within 1% (Goose's buckets were 1/64 wide).
const SIGNIFICANT_DIGITS: u8 = 2;

/// A latency histogram in µs with the engine's bounds.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, SIGNIFICANT_DIGITS)
        .expect("constant bounds are valid")
}

/// `[bucket floor in µs, count]` of every bucket that holds a value, fastest first.
pub fn buckets(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    h.iter_recorded()
        .map(|v| {
            (
                h.lowest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            )
        })
        .collect()
}

/// Every request the transactions send. Its label is the report's row name (Goose's
/// `METHOD name`), so thresholds `… for POST issue (client_secret_basic)` keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Request {
    IssueBasic,
    IssuePost,
    IssueJwt,
    IssueDpop,
    ResourceDpop,
    IssueMtls,
    ResourceMtls,
    Introspect,
    IntrospectSample,
    IntrospectFlow,
    IntrospectRevoked,
    IntrospectRevokedOnNode,
    Resource,
    Revoke,
    WrongSecret,
}

impl Request {
    pub const ALL: [Request; 15] = [
        Request::IssueBasic,
        Request::IssuePost,
        Request::IssueJwt,
        Request::IssueDpop,
        Request::ResourceDpop,
        Request::IssueMtls,
        Request::ResourceMtls,
        Request::Introspect,
        Request::IntrospectSample,
        Request::IntrospectFlow,
        Request::IntrospectRevoked,
        Request::IntrospectRevokedOnNode,
        Request::Resource,
        Request::Revoke,
        Request::WrongSecret,
    ];

    /// `METHOD name`, as reports, thresholds and `--sample-log` name it.
    pub fn label(self) -> &'static str {
        match self {
            Request::IssueBasic => "POST issue (client_secret_basic)",
            Request::IssuePost => "POST issue (client_secret_post)",
            Request::IssueJwt => "POST issue (private_key_jwt)",
            Request::IssueDpop => "POST issue (DPoP)",
            Request::ResourceDpop => "GET call the resource (DPoP)",
            Request::IssueMtls => "POST issue (mutual TLS)",
            Request::ResourceMtls => "GET call the resource (mutual TLS)",
            Request::Introspect => "POST introspect",
            Request::IntrospectSample => "POST introspect (sample of issued tokens)",
            Request::IntrospectFlow => "POST introspect (flow)",
            Request::IntrospectRevoked => "POST introspect (after revocation)",
            Request::IntrospectRevokedOnNode => "POST introspect (revoked, other nodes)",
            Request::Resource => "GET call the resource",
            Request::Revoke => "POST revoke",
            Request::WrongSecret => "POST wrong secret",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why a response failed its checks: a constant, or (cold path) a formatted sentence.
pub type Problem = Cow<'static, str>;

/// One request's figures in one stripe.
struct RequestRecord {
    success: u64,
    fail: u64,
    min_us: u64,
    max_us: u64,
    total_us: u64,
    latency: Histogram<u64>,
}

impl RequestRecord {
    fn new() -> RequestRecord {
        RequestRecord {
            success: 0,
            fail: 0,
            min_us: u64::MAX,
            max_us: 0,
            total_us: 0,
            latency: histogram(),
        }
    }
}

/// The second being recorded for the timeline, flushed into it when the next one begins.
struct Second {
    at: u64,
    requests: u64,
    errors: u64,
    latency: Histogram<u64>,
    intended: Histogram<u64>,
    lag: Option<Box<Histogram<u64>>>,
}

/// One stripe's records. [`crate::load::check::process_issuance_response`] records into one
/// without a network; the engine keeps a few behind [`Recorders`].
pub struct Recorder {
    requests: [Option<Box<RequestRecord>>; Request::ALL.len()],
    errors: HashMap<(Request, Problem), u64>,
    /// Arrival-rate runs: iterations started, late, their start lag and their latency from
    /// the intended start.
    started: u64,
    late: u64,
    lag: Option<Box<Histogram<u64>>>,
    generator_lag: Option<Box<Histogram<u64>>>,
    intended: Option<Box<Histogram<u64>>>,
    second: Option<Box<Second>>,
    timeline: Recorded,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            requests: Default::default(),
            errors: HashMap::new(),
            started: 0,
            late: 0,
            lag: None,
            generator_lag: None,
            intended: None,
            second: None,
            timeline: Recorded::new(),
        }
    }

    /// A response to `request` after `latency_us` (send to response headers), `second`s into
    /// the run, judged by its checks: `Err` carries why it failed.
    pub fn record(
        &mut self,
        request: Request,
        latency_us: u64,
        second: u64,
        outcome: Result<(), Problem>,
    ) {
        let failed = outcome.is_err();
        let s = self.second_at(second);
        s.requests += 1;
        s.errors += u64::from(failed);
        s.latency.saturating_record(latency_us);
        let r =
            self.requests[request.index()].get_or_insert_with(|| Box::new(RequestRecord::new()));
        r.min_us = r.min_us.min(latency_us);
        r.max_us = r.max_us.max(latency_us);
        r.total_us = r.total_us.saturating_add(latency_us);
        r.latency.saturating_record(latency_us);
        match outcome {
            Ok(()) => r.success += 1,
            Err(problem) => {
                r.fail += 1;
                *self.errors.entry((request, problem)).or_default() += 1;
            }
        }
    }

    /// An arrival-rate iteration started `lag_us` after it was due (`late`: no user was free
    /// when it fell due, nor within `arrival::LATE_AFTER`; `had_free_user`: a user was
    /// waiting for it when it fell due, so its lag is the generator's own).
    pub fn iteration_started(&mut self, lag_us: u64, second: u64, late: bool, had_free_user: bool) {
        self.second_at(second)
            .lag
            .get_or_insert_with(|| Box::new(histogram()))
            .saturating_record(lag_us);
        self.started += 1;
        self.late += u64::from(late);
        self.lag
            .get_or_insert_with(|| Box::new(histogram()))
            .saturating_record(lag_us);
        if had_free_user {
            self.generator_lag
                .get_or_insert_with(|| Box::new(histogram()))
                .saturating_record(lag_us);
        }
    }

    /// An arrival-rate iteration ended `latency_us` after its intended start.
    pub fn iteration_finished(&mut self, latency_us: u64, second: u64) {
        self.intended
            .get_or_insert_with(|| Box::new(histogram()))
            .saturating_record(latency_us);
        self.second_at(second)
            .intended
            .saturating_record(latency_us);
    }

    fn second_at(&mut self, at: u64) -> &mut Second {
        if self.second.as_ref().is_some_and(|s| s.at != at) {
            self.flush_second();
        }
        self.second.get_or_insert_with(|| {
            Box::new(Second {
                at,
                requests: 0,
                errors: 0,
                latency: histogram(),
                intended: histogram(),
                lag: None,
            })
        })
    }

    /// Moves the second being recorded into the timeline.
    fn flush_second(&mut self) {
        if let Some(s) = self.second.take() {
            self.timeline.add(
                s.at,
                s.requests,
                s.errors,
                &buckets(&s.latency),
                &buckets(&s.intended),
                &s.lag.as_deref().map(buckets).unwrap_or_default(),
            );
        }
    }

    /// Forgets the whole-run figures (Goose's reset once every user is launched); the
    /// timeline keeps the ramp-up.
    fn reset(&mut self) {
        self.requests = Default::default();
        self.errors.clear();
    }

    /// Responses recorded, and how many failed.
    pub fn counts(&self) -> (u64, u64) {
        self.requests
            .iter()
            .flatten()
            .fold((0, 0), |(s, f), r| (s + r.success, f + r.fail))
    }
}

/// What the stripes hold together, as reports carry it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub requests: BTreeMap<String, RequestStats>,
    /// `METHOD name: reason` → occurrences.
    pub errors: BTreeMap<String, usize>,
    pub started: u64,
    pub late: u64,
    pub lag_us: Vec<(u64, u64)>,
    pub generator_lag_us: Vec<(u64, u64)>,
    pub intended_us: Vec<(u64, u64)>,
}

/// The run's recorders: a few stripes, each behind its own lock.
pub struct Recorders {
    started: Instant,
    start_unix_ms: u64,
    stripes: Vec<Mutex<Recorder>>,
}

impl Recorders {
    /// Two stripes per core the generator has (at most 64): a user's lock is then rarely
    /// taken by another user at the same moment.
    pub fn new() -> Recorders {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Recorders::with_stripes((cores * 2).clamp(1, 64))
    }

    pub fn with_stripes(n: usize) -> Recorders {
        Recorders {
            started: Instant::now(),
            start_unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            stripes: (0..n.max(1)).map(|_| Mutex::new(Recorder::new())).collect(),
        }
    }

    /// The stripe of Goose user `user` (its `weighted_users_index`).
    pub fn stripe(&self, user: usize) -> MutexGuard<'_, Recorder> {
        lock(&self.stripes[user % self.stripes.len()])
    }

    /// Whole seconds from the start of recording to `now`: the timeline's slot.
    pub fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }

    pub fn reset(&self) {
        for s in &self.stripes {
            lock(s).reset();
        }
    }

    /// Responses so far and how many failed.
    pub fn counts(&self) -> (u64, u64) {
        self.stripes.iter().fold((0, 0), |(s, f), stripe| {
            let (a, b) = lock(stripe).counts();
            (s + a, f + b)
        })
    }

    /// The stripes merged: per request, errors, and the arrival figures.
    pub fn snapshot(&self) -> Snapshot {
        let mut merged: Vec<Option<RequestRecord>> = Request::ALL.iter().map(|_| None).collect();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        let (mut lag, mut generator_lag, mut intended) = (histogram(), histogram(), histogram());
        let (mut started, mut late) = (0, 0);
        for stripe in &self.stripes {
            let s = lock(stripe);
            for (i, r) in s.requests.iter().enumerate() {
                let Some(r) = r else { continue };
                let m = merged[i].get_or_insert_with(RequestRecord::new);
                m.success += r.success;
                m.fail += r.fail;
                m.min_us = m.min_us.min(r.min_us);
                m.max_us = m.max_us.max(r.max_us);
                m.total_us = m.total_us.saturating_add(r.total_us);
                // Same bounds on both sides: adding cannot fail.
                let _ = m.latency.add(&r.latency);
            }
            for ((request, problem), n) in &s.errors {
                *errors
                    .entry(format!("{}: {problem}", request.label()))
                    .or_default() += *n as usize;
            }
            if let Some(h) = &s.lag {
                let _ = lag.add(h.as_ref());
            }
            if let Some(h) = &s.generator_lag {
                let _ = generator_lag.add(h.as_ref());
            }
            if let Some(h) = &s.intended {
                let _ = intended.add(h.as_ref());
            }
            started += s.started;
            late += s.late;
        }
        let requests = Request::ALL
            .iter()
            .zip(merged)
            .filter_map(|(request, r)| {
                let r = r?;
                let stats = RequestStats {
                    success: r.success as usize,
                    fail: r.fail as usize,
                    min_us: if r.min_us == u64::MAX { 0 } else { r.min_us },
                    max_us: r.max_us,
                    total_us: r.total_us,
                    histogram: buckets(&r.latency)
                        .into_iter()
                        .map(|(v, c)| (v, c as usize))
                        .collect(),
                };
                Some((request.label().to_owned(), stats))
            })
            .collect();
        Snapshot {
            requests,
            errors,
            started,
            late,
            lag_us: buckets(&lag),
            generator_lag_us: buckets(&generator_lag),
            intended_us: buckets(&intended),
        }
    }

    /// The run over time: every stripe's seconds, merged.
    pub fn timeline(&self) -> TimelineData {
        let duration_ms = self.started.elapsed().as_millis() as u64;
        let parts: Vec<TimelineData> = self
            .stripes
            .iter()
            .map(|stripe| {
                let mut s = lock(stripe);
                s.flush_second();
                s.timeline.data(self.start_unix_ms, duration_ms)
            })
            .collect();
        let refs: Vec<&TimelineData> = parts.iter().collect();
        TimelineData::merge(&refs).unwrap_or_default()
    }
}

impl Default for Recorders {
    fn default() -> Self {
        Recorders::new()
    }
}

fn lock(m: &Mutex<Recorder>) -> MutexGuard<'_, Recorder> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripes_merge_exactly_and_name_their_rows() {
        let recorders = Recorders::with_stripes(3);
        for user in 0..30u64 {
            let outcome = if user == 7 {
                Err(Problem::Borrowed("token_type is not Bearer"))
            } else {
                Ok(())
            };
            recorders.stripe(user as usize).record(
                Request::IssueBasic,
                100 + user,
                user / 10,
                outcome,
            );
        }
        let snap = recorders.snapshot();
        let stats = &snap.requests["POST issue (client_secret_basic)"];
        assert_eq!((stats.success, stats.fail), (29, 1));
        assert_eq!((stats.min_us, stats.max_us), (100, 129));
        assert_eq!(stats.samples(), 30);
        assert_eq!(
            snap.errors["POST issue (client_secret_basic): token_type is not Bearer"],
            1
        );
        // Percentiles within 1% of the exact ones.
        let p50 = stats.percentile_us(0.5) as f64;
        assert!((p50 - 114.0).abs() <= 114.0 * 0.01 + 1.0, "{p50}");
        let timeline = recorders.timeline();
        let per_second: Vec<u64> = timeline.slots.iter().map(|s| s.requests).collect();
        assert_eq!(per_second, vec![10, 10, 10]);
        assert_eq!(timeline.slots[0].errors, 1);
        recorders.reset();
        assert_eq!(recorders.counts(), (0, 0));
        assert_eq!(
            recorders.timeline().slots.len(),
            3,
            "the timeline keeps the ramp-up"
        );
    }

    #[test]
    fn latencies_beyond_the_bounds_are_clamped_not_lost() {
        let mut r = Recorder::new();
        r.record(Request::Revoke, u64::MAX, 0, Ok(()));
        r.record(Request::Revoke, 0, 0, Ok(()));
        assert_eq!(r.counts(), (2, 0));
    }
}
