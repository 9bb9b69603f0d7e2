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

pub mod guard;

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

/// One pair's failures (a copy of it is what the fault `throttle-race` reads first and
/// writes back later, [`Snapshot`]).
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

/// What [`FailureThrottle::record_failure`] did worth a log line, or a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Noted {
    Nothing,
    /// The pair was already waiting when this failure was counted: requests that arrived
    /// together passed [`FailureThrottle::waiting`] before any of them failed, and this one
    /// came after the last free failure. It is answered as a waiting pair's attempt is (429,
    /// these seconds), so no more than `max_failures` guesses get an answer.
    Waiting(u64),
    /// The pair ran out of free failures and now waits.
    StartedWaiting,
    /// The table was full: the failure counted in its client's shared entry.
    Shared,
}

/// A pair's count as read by the fault `throttle-race` ([`FailureThrottle::snapshot`]).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot(Option<Entry>);

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

    /// Forgets the failures of `client` from `source`: it has just authenticated. Unless the
    /// pair started waiting meanwhile (failures of requests sent together with this one):
    /// then the seconds it waits, and the success is answered as a waiting pair's attempt
    /// is, so a burst of guesses learns nothing from the ones past the free failures.
    pub fn record_success(&self, client: &ClientKey, source: Source) -> Option<u64> {
        if self.tracked.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let mut table = self.lock();
        let key = (source, client.clone());
        if let Some(wait) = table.pairs.get(&key).and_then(|e| e.waiting(now)) {
            return Some(wait);
        }
        table.pairs.remove(&key);
        self.tracked
            .store(table.pairs.len() + table.shared.len(), Ordering::Relaxed);
        None
    }

    /// The fault `throttle-race`: the pair's count as it is now, read before the secret is
    /// checked, to be written back after ([`FailureThrottle::write_back_failure`]).
    pub fn snapshot(&self, client: &ClientKey, source: Source) -> Snapshot {
        Snapshot(self.lock().pairs.get(&(source, client.clone())).copied())
    }

    /// The fault `throttle-race`'s write: the failure counted on the count read before
    /// ([`FailureThrottle::snapshot`]) and stored over whatever other requests stored
    /// meanwhile (a lost update each). One request at a time, that is the count.
    pub fn write_back_failure(&self, client: &ClientKey, source: Source, read: Snapshot) {
        let now = Instant::now();
        let key = (source, client.clone());
        let mut table = self.lock();
        if table.pairs.len() >= self.capacity && !table.pairs.contains_key(&key) {
            drop(table);
            self.record_failure(client, source);
            return;
        }
        let mut entry = read.0.unwrap_or(Entry::new(now));
        entry.fail(now, &self.settings);
        table.pairs.insert(key, entry);
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
            let waited = entry.waiting(now);
            match (entry.fail(now, &settings), waited) {
                (_, Some(wait)) => Noted::Waiting(wait),
                (true, None) => Noted::StartedWaiting,
                (false, None) => Noted::Nothing,
            }
        } else {
            let entry = table
                .shared
                .entry(client.clone())
                .or_insert(Entry::new(now));
            let waited = entry.waiting(now);
            entry.fail(now, &settings);
            waited.map_or(Noted::Shared, Noted::Waiting)
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
mod tests;
