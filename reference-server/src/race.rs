//! What the race fault modes (`race-replay`, `race-revocation`, `throttle-race`) need: a
//! window between a check and the write it should have made at once.
//!
//! A decision under such a fault checks (a `jti` unused, a failure count, a token's state),
//! releases its lock, and defers the write ([`Deferred::push`]); the server waits
//! [`WINDOW`] (asynchronously: other requests go on meanwhile, on any runtime) and makes the
//! deferred writes before it sends the answer. So requests arriving together all check
//! before any of them writes (the race), while a client that sends one request at a time
//! never sees the window: its previous request's write was made before its answer. The clean
//! server defers nothing, and its checks and writes are one step under one lock.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::tokens::TokenRecord;

/// How long a deferred write waits: long enough for a burst of requests released together
/// (20 of them, each verifying a signature, on a loaded 2-core machine) to all make their
/// check first.
pub const WINDOW: Duration = Duration::from_millis(25);

/// A write a decision deferred.
pub type Commit = Box<dyn FnOnce() + Send>;

/// The writes one request's decision deferred; empty (and costing nothing but its creation)
/// unless a race fault is on.
#[derive(Default)]
pub struct Deferred(Mutex<Vec<Commit>>);

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.0.lock().map_or(0, |c| c.len());
        write!(f, "Deferred({pending} writes)")
    }
}

impl Deferred {
    pub fn push(&self, commit: impl FnOnce() + Send + 'static) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(commit));
    }

    /// The deferred writes, to make after [`WINDOW`].
    pub fn into_commits(self) -> Vec<Commit> {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the deferred writes now (unit tests, which have no server to wait).
    #[cfg(test)]
    pub fn run_now(&self) {
        let commits = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for commit in commits {
            commit();
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.0.lock().map_or(true, |c| c.is_empty())
    }
}

/// How long an entry of the fault `race-revocation`'s cache is believed.
pub const STALE_TTL: Duration = Duration::from_secs(2);

/// Entries held at most; a full cache is emptied (it is a fault's cache, not a hot path).
const CACHE_CAPACITY: usize = 10_000;

/// The fault `race-revocation`'s read-through cache of token state, by token text: a miss
/// reads the store and writes the record back after [`WINDOW`], a revocation invalidates
/// the entry. A reader that read before a revocation writes its stale record back after the
/// invalidation, and the revoked token is answered active until [`STALE_TTL`] passes.
#[derive(Default)]
pub struct TokenStateCache(Mutex<HashMap<String, (TokenRecord, Instant)>>);

impl TokenStateCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TokenRecord, Instant)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached record of `token`, if one younger than [`STALE_TTL`] is held.
    pub fn get(&self, token: &str) -> Option<TokenRecord> {
        let cache = self.lock();
        let (record, at) = cache.get(token)?;
        (at.elapsed() < STALE_TTL).then(|| record.clone())
    }

    /// Writes a record read from the store back into the cache.
    pub fn put(&self, token: String, record: TokenRecord) {
        let mut cache = self.lock();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(token, (record, Instant::now()));
    }

    /// A revocation's invalidation.
    pub fn invalidate(&self, token: &str) {
        self.lock().remove(token);
    }
}

#[cfg(test)]
mod tests;
