//! How a conformance run behaves: its profile, waits, limits and pace. Read by the runner,
//! the preflight and the HTTP client alike.

use std::time::{Duration, Instant};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `rfc6749`, `oauth21` or `strict`.
    pub profile: String,
    /// Longest a case may wait for a token to expire, or for a rate limit to lift.
    pub max_wait: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Largest response body read.
    pub max_body_bytes: usize,
    /// When the whole run must end: cases not started by then (and expiry waits that would
    /// pass it) end as errors, so a run against a slow target still finishes in bounded time.
    pub deadline: Option<Instant>,
    /// Least time between two requests (`--pace`), for targets that throttle.
    pub pace: Option<Duration>,
    /// How many copies a race step (`parallel = true`) sends at once (`--race-width`).
    pub race_width: usize,
    /// The widest release spread a conclusive race may have (`--race-spread`): a race
    /// whose last bytes left further apart is tried again, and after three tries the case
    /// is not conclusive (blocked).
    pub race_spread: Duration,
    /// `--max-parallel-guesses K`: more than K wrong secrets evaluated in one race fails the
    /// brute-force race (recorded otherwise).
    pub max_parallel_guesses: Option<usize>,
    /// How long a revocation may take to reach every other node of a cluster
    /// (`--max-propagation`): each node is asked again until then.
    pub max_propagation: Duration,
}

/// The default width of a race (`--race-width`).
pub const DEFAULT_RACE_WIDTH: usize = 20;
/// The default bound on a race's release spread (`--race-spread`).
pub const DEFAULT_RACE_SPREAD: Duration = Duration::from_millis(1);
/// The default of `--max-propagation`.
pub const DEFAULT_MAX_PROPAGATION: Duration = Duration::from_secs(1);
/// How many times a race is tried while its spread is over the bound.
pub const RACE_TRIES: usize = 3;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: "rfc6749".into(),
            max_wait: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: crate::http::MAX_BODY_BYTES,
            deadline: None,
            pace: None,
            race_width: DEFAULT_RACE_WIDTH,
            race_spread: DEFAULT_RACE_SPREAD,
            max_parallel_guesses: None,
            max_propagation: DEFAULT_MAX_PROPAGATION,
        }
    }
}

/// The longest default run deadline, however many cases a run selects.
pub const MAX_DEFAULT_DEADLINE: Duration = Duration::from_secs(3600);

impl Settings {
    /// The run's deadline when `--deadline` is not given, for `requests` requests (the steps
    /// of the selected cases), `expiry_waits` when one of them waits on a real clock for a
    /// token to expire:
    ///
    /// `6 × --timeout` (discovery and the preflight, whose requests may each take a whole
    /// timeout) `+ requests × (--timeout / 10 + --pace)` `+ --max-wait + 2 s` (the expiry
    /// waits, which overlap) `+ 5 s`, at most one hour.
    ///
    /// A target that answers keeps well inside it (a tenth of the timeout per request on
    /// average); one that stops answering after the preflight ends about ten times sooner
    /// than with every request waiting out its timeout.
    pub fn default_deadline(&self, requests: usize, expiry_waits: bool) -> Duration {
        let per_request = self.request_timeout / 10 + self.pace.unwrap_or_default();
        let requests = u32::try_from(requests).unwrap_or(u32::MAX);
        let waits = if expiry_waits {
            self.max_wait.saturating_add(Duration::from_secs(2))
        } else {
            Duration::ZERO
        };
        self.request_timeout
            .saturating_mul(6)
            .saturating_add(per_request.saturating_mul(requests))
            .saturating_add(waits)
            .saturating_add(Duration::from_secs(5))
            .min(MAX_DEFAULT_DEADLINE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(timeout: u64, max_wait: u64, pace_ms: Option<u64>) -> Settings {
        Settings {
            request_timeout: Duration::from_secs(timeout),
            max_wait: Duration::from_secs(max_wait),
            pace: pace_ms.map(Duration::from_millis),
            ..Settings::default()
        }
    }

    #[test]
    fn the_default_deadline_scales_with_requests_waits_and_pace() {
        let s = settings(10, 10, None);
        // 60 s for discovery and the preflight, 1 s a request, 5 s of margin.
        assert_eq!(s.default_deadline(0, false), Duration::from_secs(65));
        assert_eq!(s.default_deadline(200, false), Duration::from_secs(265));
        // The expiry waits overlap: once --max-wait (and the 1.5 s past expiry).
        assert_eq!(s.default_deadline(200, true), Duration::from_secs(277));
        // A shorter timeout scales every part down.
        let s = settings(1, 1, None);
        assert_eq!(
            s.default_deadline(100, true),
            Duration::from_secs(6 + 10 + 3 + 5)
        );
        // --pace adds its gap to every request.
        let s = settings(10, 10, Some(500));
        assert_eq!(s.default_deadline(100, false), Duration::from_secs(215));
    }

    #[test]
    fn the_default_deadline_is_capped_and_never_overflows() {
        let s = settings(600, 3600, Some(60_000));
        assert_eq!(s.default_deadline(10_000, true), MAX_DEFAULT_DEADLINE);
        assert_eq!(s.default_deadline(usize::MAX, true), MAX_DEFAULT_DEADLINE);
    }
}
