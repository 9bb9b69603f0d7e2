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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: "rfc6749".into(),
            max_wait: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: crate::http::MAX_BODY_BYTES,
            deadline: None,
            pace: None,
        }
    }
}
