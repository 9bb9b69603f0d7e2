//! Brute-force protection (RFC 6749 §2.3.1: the server MUST protect the client
//! authentication endpoint against brute force attacks): after `max_failures` failed
//! authentications for one client id within `window`, every attempt for that id gets
//! 429 with `Retry-After` until `lockout` has passed. Off unless configured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Ids tracked at most; past it, ids whose window has ended are dropped first.
const MAX_TRACKED: usize = 10_000;

/// How strict the protection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForce {
    pub max_failures: u32,
    pub window: Duration,
    pub lockout: Duration,
}

struct Entry {
    window_start: Instant,
    failures: u32,
    locked_until: Option<Instant>,
}

pub struct FailureThrottle {
    settings: BruteForce,
    entries: Mutex<HashMap<String, Entry>>,
    /// Entries held: lets the common case (nobody failing) skip the lock entirely.
    tracked: AtomicUsize,
}

impl FailureThrottle {
    pub fn new(settings: BruteForce) -> FailureThrottle {
        FailureThrottle {
            settings,
            entries: Mutex::new(HashMap::new()),
            tracked: AtomicUsize::new(0),
        }
    }

    /// Seconds until `id` may try again, if it is locked out now.
    pub fn locked(&self, id: &str) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let until = entries.get(id)?.locked_until?;
        (until > now).then(|| (until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Counts a failed authentication for `id`; locks it out at the limit.
    pub fn record_failure(&self, id: &str) {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TRACKED && !entries.contains_key(id) {
            let window = self.settings.window;
            entries.retain(|_, e| {
                now.duration_since(e.window_start) < window
                    || e.locked_until.is_some_and(|u| u > now)
            });
            if entries.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = entries.entry(id.to_owned()).or_insert(Entry {
            window_start: now,
            failures: 0,
            locked_until: None,
        });
        if now.duration_since(entry.window_start) >= self.settings.window {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures >= self.settings.max_failures {
            entry.locked_until = Some(now + self.settings.lockout);
            entry.failures = 0;
            entry.window_start = now;
        }
        self.tracked.store(entries.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_out_at_the_limit_and_releases_after_the_lockout() {
        let t = FailureThrottle::new(BruteForce {
            max_failures: 3,
            window: Duration::from_secs(60),
            lockout: Duration::from_millis(300),
        });
        assert_eq!(t.locked("a"), None);
        t.record_failure("a");
        t.record_failure("a");
        assert_eq!(t.locked("a"), None);
        t.record_failure("a");
        assert_eq!(t.locked("a"), Some(1));
        assert_eq!(t.locked("b"), None, "other clients are not affected");
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(t.locked("a"), None);
    }
}
