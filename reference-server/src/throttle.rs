//! Brute-force protection (RFC 6749 §2.3.1: the server MUST protect the client
//! authentication endpoint against brute force attacks): after `max_failures` failed
//! authentications for one client id from one source address within `window`, every attempt
//! for that id from that address gets 429 with `Retry-After` until `lockout` has passed.
//! Off unless configured.
//!
//! Keyed by (client id, source) rather than by client id alone, so that a stranger cannot lock
//! a client out everywhere by sending it wrong secrets. A successful authentication clears
//! its source's count: that source knows the secret, and clearing it gains a guesser at
//! another address nothing. So a conformance run, which sends a dozen wrong secrets on
//! purpose among its right ones, can be repeated without running into the lockout.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// (client id, source) pairs tracked at most; past it, pairs whose window has ended are
/// dropped first.
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

type Key = (Source, String);

/// Where attempts come from: an IPv4 address, or an IPv6 /64, which one host or site
/// usually has whole, so that rotating addresses within it does not buy fresh attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Source {
        match ip {
            IpAddr::V4(_) => Source(ip),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => Source(IpAddr::V6((u128::from(v6) & !0u128 << 64).into())),
            },
        }
    }
}

pub struct FailureThrottle {
    settings: BruteForce,
    entries: Mutex<HashMap<Key, Entry>>,
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

    /// Seconds until `id` may try again from `source`, if it is locked out there now.
    pub fn locked(&self, id: &str, source: Source) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let until = entries.get(&(source, id.to_owned()))?.locked_until?;
        (until > now).then(|| (until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Forgets the failures of `id` from `source`: it has just authenticated.
    pub fn record_success(&self, id: &str, source: Source) {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&(source, id.to_owned()));
        self.tracked.store(entries.len(), Ordering::Relaxed);
    }

    /// Counts a failed authentication for `id` from `source`; locks that pair out at the limit.
    pub fn record_failure(&self, id: &str, source: Source) {
        let now = Instant::now();
        let key = (source, id.to_owned());
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&key) {
            let window = self.settings.window;
            entries.retain(|_, e| {
                now.duration_since(e.window_start) < window
                    || e.locked_until.is_some_and(|u| u > now)
            });
            if entries.len() >= MAX_TRACKED {
                return;
            }
        }
        let entry = entries.entry(key).or_insert(Entry {
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

    fn throttle(max_failures: u32, lockout: Duration) -> FailureThrottle {
        FailureThrottle::new(BruteForce {
            max_failures,
            window: Duration::from_secs(60),
            lockout,
        })
    }

    fn source(ip: &str) -> Source {
        ip.parse::<IpAddr>().unwrap().into()
    }

    #[test]
    fn locks_out_at_the_limit_and_releases_after_the_lockout() {
        let t = throttle(3, Duration::from_millis(300));
        let here = source("192.0.2.1");
        assert_eq!(t.locked("a", here), None);
        t.record_failure("a", here);
        t.record_failure("a", here);
        assert_eq!(t.locked("a", here), None);
        t.record_failure("a", here);
        assert_eq!(t.locked("a", here), Some(1));
        assert_eq!(t.locked("b", here), None, "other clients are not affected");
        assert_eq!(
            t.locked("a", source("192.0.2.2")),
            None,
            "other sources are not affected"
        );
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(t.locked("a", here), None);
    }

    #[test]
    fn a_success_clears_its_sources_failures_only() {
        let t = throttle(3, Duration::from_secs(30));
        let (here, there) = (source("192.0.2.1"), source("192.0.2.2"));
        for _ in 0..100 {
            t.record_failure("a", here);
            t.record_failure("a", here);
            t.record_success("a", here);
            assert_eq!(t.locked("a", here), None);
        }
        t.record_failure("a", there);
        t.record_failure("a", there);
        t.record_success("a", here);
        t.record_failure("a", there);
        assert!(
            t.locked("a", there).is_some(),
            "a success elsewhere does not help"
        );
        assert_eq!(t.locked("a", here), None);
    }

    #[test]
    fn ipv6_sources_are_64_bit_prefixes_and_mapped_ipv4_is_ipv4() {
        assert_eq!(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff::9"));
        assert_ne!(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"));
        assert_eq!(source("::ffff:192.0.2.1"), source("192.0.2.1"));
    }

    #[test]
    fn the_number_of_tracked_pairs_is_bounded() {
        let t = throttle(2, Duration::from_secs(30));
        for i in 0..MAX_TRACKED + 10 {
            t.record_failure(&format!("c{i}"), source("192.0.2.1"));
        }
        assert_eq!(t.tracked.load(Ordering::Relaxed), MAX_TRACKED);
    }
}
