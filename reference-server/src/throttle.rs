//! Brute-force protection (RFC 6749 §2.3.1: the server MUST protect the client
//! authentication endpoint against brute force attacks). Off unless configured.
//!
//! Attempts are counted per (registered client, source address). The first `max_failures`
//! failed authentications of a pair cost nothing; each one after that makes the pair wait
//! before its next attempt is even checked: 1 s, then 2 s, 4 s, … up to `max_delay`. While a
//! pair waits, every attempt of that client from that address, the right secret included,
//! gets 429 with `Retry-After`, so waiting cannot be skipped by guessing faster. A pair that
//! fails no more for `window` is forgotten; a success clears its pair at once (that source
//! knows the secret, and clearing it gains a guesser elsewhere nothing), so a conformance
//! run, which sends a dozen wrong secrets on purpose among right ones, never waits.
//!
//! Why not a lockout per client: a stranger could then shut any client out by sending it
//! wrong secrets (issue 14). Per (client, source), a stranger slows only itself and whoever
//! shares its address; the delays grow instead of locking, so a client that mistyped its
//! secret recovers in seconds. The resource server's own introspection calls are never
//! throttled (`auth.rs`), so no flood of bad `rs-client` secrets takes the resource down.
//!
//! Only registered clients are tracked: a guess for an id nobody registered has no secret to
//! find, and tracking such ids would let junk ids fill the table. The table holds at most
//! `capacity` pairs. When it is full of pairs that are still failing, a new pair is not
//! dropped (that would switch the protection off for it): its failures count in one shared
//! entry for its client, whose delays then apply to every untracked address of that client
//! (fail safe: a client may wait, a guesser gains nothing).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (client, source) pairs tracked at most by default.
pub const DEFAULT_CAPACITY: usize = 65_536;

/// The first delay after the free failures; each further failure doubles it.
const FIRST_DELAY: Duration = Duration::from_secs(1);

/// How strict the protection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BruteForce {
    /// Failed authentications of one client from one address that cost nothing.
    pub max_failures: u32,
    /// A pair with no failure for this long is forgotten.
    pub window: Duration,
    /// The longest wait between attempts.
    pub max_delay: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    last_failure: Instant,
    failures: u32,
    wait_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            last_failure: now,
            failures: 0,
            wait_until: None,
        }
    }

    fn waiting(&self, now: Instant) -> Option<u64> {
        let until = self.wait_until?;
        (until > now).then(|| (until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    fn stale(&self, now: Instant, window: Duration) -> bool {
        now.duration_since(self.last_failure) >= window && self.waiting(now).is_none()
    }

    /// Counts a failure; true when this one started the pair's waiting.
    fn fail(&mut self, now: Instant, settings: &BruteForce) -> bool {
        if self.stale(now, settings.window) {
            *self = Entry::new(now);
        }
        self.last_failure = now;
        self.failures = self.failures.saturating_add(1);
        let Some(over) = self.failures.checked_sub(settings.max_failures) else {
            return false;
        };
        let delay = FIRST_DELAY
            .saturating_mul(1u32 << over.min(20))
            .min(settings.max_delay);
        self.wait_until = Some(now + delay);
        over == 0
    }
}

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

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => v4.fmt(f),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// What [`FailureThrottle::record_failure`] did worth a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    Nothing,
    /// The pair ran out of free failures and now waits.
    StartedWaiting,
    /// The table was full: the failure counted in its client's shared entry.
    Shared,
}

/// The registered client's id (shared with its registration, so keys cost no allocation).
type ClientKey = Arc<str>;

struct Table {
    pairs: HashMap<(Source, ClientKey), Entry>,
    /// Per client: failures of pairs that found the table full.
    shared: HashMap<ClientKey, Entry>,
    last_sweep: Option<Instant>,
}

pub struct FailureThrottle {
    settings: BruteForce,
    capacity: usize,
    table: Mutex<Table>,
    /// Entries held (pairs and shared): lets the common case (nobody failing) skip the lock.
    tracked: AtomicUsize,
}

impl FailureThrottle {
    pub fn new(settings: BruteForce) -> FailureThrottle {
        FailureThrottle::with_capacity(settings, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(settings: BruteForce, capacity: usize) -> FailureThrottle {
        FailureThrottle {
            settings,
            capacity: capacity.max(1),
            table: Mutex::new(Table {
                pairs: HashMap::new(),
                shared: HashMap::new(),
                last_sweep: None,
            }),
            tracked: AtomicUsize::new(0),
        }
    }

    pub fn settings(&self) -> BruteForce {
        self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seconds until `client` may try again from `source`, if it must wait now.
    pub fn waiting(&self, client: &ClientKey, source: Source) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let table = self.lock();
        match table.pairs.get(&(source, client.clone())) {
            Some(entry) => entry.waiting(now),
            None => table.shared.get(client)?.waiting(now),
        }
    }

    /// Forgets the failures of `client` from `source`: it has just authenticated.
    pub fn record_success(&self, client: &ClientKey, source: Source) {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut table = self.lock();
        table.pairs.remove(&(source, client.clone()));
        self.tracked
            .store(table.pairs.len() + table.shared.len(), Ordering::Relaxed);
    }

    /// Counts a failed authentication of `client` from `source`.
    pub fn record_failure(&self, client: &ClientKey, source: Source) -> Noted {
        let now = Instant::now();
        let settings = self.settings;
        let key = (source, client.clone());
        let mut table = self.lock();
        if table.pairs.len() >= self.capacity && !table.pairs.contains_key(&key) {
            // Sweep stale pairs, at most once a second: under a flood of new pairs a sweep
            // per request would cost a scan of the whole table each time.
            let swept_lately = table
                .last_sweep
                .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1));
            if !swept_lately {
                table.last_sweep = Some(now);
                table.pairs.retain(|_, e| !e.stale(now, settings.window));
                table.shared.retain(|_, e| !e.stale(now, settings.window));
            }
        }
        let noted = if table.pairs.len() < self.capacity || table.pairs.contains_key(&key) {
            let entry = table.pairs.entry(key).or_insert(Entry::new(now));
            if entry.fail(now, &settings) {
                Noted::StartedWaiting
            } else {
                Noted::Nothing
            }
        } else {
            let entry = table
                .shared
                .entry(client.clone())
                .or_insert(Entry::new(now));
            entry.fail(now, &settings);
            Noted::Shared
        };
        self.tracked
            .store(table.pairs.len() + table.shared.len(), Ordering::Relaxed);
        noted
    }

    /// Pairs tracked now (for tests).
    #[cfg(test)]
    pub fn tracked_pairs(&self) -> usize {
        self.lock().pairs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(max_failures: u32, max_delay: Duration) -> FailureThrottle {
        FailureThrottle::new(BruteForce {
            max_failures,
            window: Duration::from_secs(60),
            max_delay,
        })
    }

    fn source(ip: &str) -> Source {
        ip.parse::<IpAddr>().unwrap().into()
    }

    fn id(name: &str) -> ClientKey {
        name.into()
    }

    #[test]
    fn waits_past_the_free_failures_and_is_released_after_the_delay() {
        let t = throttle(3, Duration::from_secs(30));
        let (a, here) = (id("a"), source("192.0.2.1"));
        assert_eq!(t.waiting(&a, here), None);
        assert_eq!(t.record_failure(&a, here), Noted::Nothing);
        assert_eq!(t.record_failure(&a, here), Noted::Nothing);
        assert_eq!(t.waiting(&a, here), None);
        assert_eq!(t.record_failure(&a, here), Noted::StartedWaiting);
        assert_eq!(t.waiting(&a, here), Some(1));
        assert_eq!(t.waiting(&id("b"), here), None, "other clients wait not");
        assert_eq!(
            t.waiting(&a, source("192.0.2.2")),
            None,
            "other sources neither"
        );
        std::thread::sleep(Duration::from_millis(1050));
        assert_eq!(t.waiting(&a, here), None, "the first delay is a second");
    }

    #[test]
    fn delays_double_up_to_the_longest() {
        let t = throttle(2, Duration::from_secs(5));
        let (a, here) = (id("a"), source("192.0.2.1"));
        t.record_failure(&a, here);
        let mut waits = Vec::new();
        for _ in 0..6 {
            t.record_failure(&a, here);
            waits.push(t.waiting(&a, here).unwrap());
        }
        assert_eq!(waits, [1, 2, 4, 5, 5, 5]);
    }

    #[test]
    fn a_success_clears_its_sources_failures_only() {
        let t = throttle(3, Duration::from_secs(30));
        let a = id("a");
        let (here, there) = (source("192.0.2.1"), source("192.0.2.2"));
        for _ in 0..100 {
            t.record_failure(&a, here);
            t.record_failure(&a, here);
            t.record_success(&a, here);
            assert_eq!(t.waiting(&a, here), None);
        }
        t.record_failure(&a, there);
        t.record_failure(&a, there);
        t.record_success(&a, here);
        t.record_failure(&a, there);
        assert!(
            t.waiting(&a, there).is_some(),
            "a success elsewhere does not help"
        );
        assert_eq!(t.waiting(&a, here), None);
    }

    #[test]
    fn ipv6_sources_are_64_bit_prefixes_and_mapped_ipv4_is_ipv4() {
        assert_eq!(source("2001:db8:1:2::1"), source("2001:db8:1:2:ffff::9"));
        assert_ne!(source("2001:db8:1:2::1"), source("2001:db8:1:3::1"));
        assert_eq!(source("::ffff:192.0.2.1"), source("192.0.2.1"));
        assert_eq!(source("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    /// Issue 14 item 6: a table full of pairs that keep failing must not switch the
    /// protection off for a new pair; its failures count in its client's shared entry.
    #[test]
    fn a_full_table_fails_safe() {
        let settings = BruteForce {
            max_failures: 3,
            window: Duration::from_secs(60),
            max_delay: Duration::from_secs(30),
        };
        let t = FailureThrottle::with_capacity(settings, 100);
        let (a, b) = (id("a"), id("b"));
        for i in 0..100u32 {
            let filler = source(&format!("10.0.{}.{}", i / 256, i % 256));
            assert_eq!(t.record_failure(&b, filler), Noted::Nothing);
        }
        assert_eq!(t.tracked_pairs(), 100);
        let guesser = source("192.0.2.1");
        for _ in 0..2 {
            assert_eq!(t.record_failure(&a, guesser), Noted::Shared);
        }
        assert_eq!(t.waiting(&a, guesser), None);
        t.record_failure(&a, guesser);
        assert!(t.waiting(&a, guesser).is_some(), "the guesser waits");
        assert!(
            t.waiting(&a, source("192.0.2.7")).is_some(),
            "so do other untracked sources of the same client (fail safe)"
        );
        assert_eq!(t.waiting(&b, guesser), None, "other clients do not");
        assert_eq!(t.tracked_pairs(), 100, "the table stays bounded");
    }

    #[test]
    fn stale_pairs_make_room() {
        let settings = BruteForce {
            max_failures: 3,
            window: Duration::from_millis(100),
            max_delay: Duration::from_secs(30),
        };
        let t = FailureThrottle::with_capacity(settings, 10);
        let b = id("b");
        for i in 0..10 {
            t.record_failure(&b, source(&format!("10.0.0.{i}")));
        }
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(
            t.record_failure(&id("a"), source("192.0.2.1")),
            Noted::Nothing
        );
        assert_eq!(t.tracked_pairs(), 1);
    }
}
