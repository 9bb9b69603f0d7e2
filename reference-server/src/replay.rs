//! One-time identifiers (`jti`) seen recently: client assertions (RFC 7523 §3, OIDC Core §9)
//! and DPoP proofs (RFC 9449 §11.1) are accepted once each.
//!
//! Bounded: each entry is a fixed 32-byte digest with the time until which it must be
//! remembered (the last instant its JWT could still be accepted), entries are forgotten after
//! that, and a cache that is still full after forgetting refuses new identifiers ([`ReplayError::Full`]):
//! failing safe, since an identifier it cannot remember could be replayed. Sans-IO: the
//! caller passes the time.

use std::collections::{BTreeSet, HashMap};

/// Why an identifier was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayError {
    /// Seen before, and its JWT is still within its validity window.
    Replayed,
    /// The cache holds `capacity` live identifiers; nothing new is accepted until some expire.
    Full,
}

/// The default number of live identifiers: about 100 bytes each, so some 20 MB at most.
pub const DEFAULT_CAPACITY: usize = 200_000;

type Digest = [u8; 32];

/// Identifiers seen, each until its expiry.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    seen: HashMap<Digest, u64>,
    by_expiry: BTreeSet<(u64, Digest)>,
}

impl Default for ReplayCache {
    fn default() -> ReplayCache {
        ReplayCache::new(DEFAULT_CAPACITY)
    }
}

impl ReplayCache {
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity,
            seen: HashMap::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Live identifiers (after the last purge).
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Accepts `jti` within `scope` (a client id, a key thumbprint) once: it is remembered
    /// until `keep_until` (inclusive) and refused again until then. The check and the record
    /// are one step under the caller's `&mut` (one lock): of identical identifiers arriving
    /// together, exactly one is accepted.
    pub fn check_and_insert(
        &mut self,
        scope: &str,
        jti: &str,
        keep_until: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        let pending = self.check_unused(scope, jti, keep_until, now)?;
        self.record(pending);
        Ok(())
    }

    /// The check alone: `jti` is not remembered within `scope`, and there is room for it.
    /// [`ReplayCache::record`] then remembers it; the fault `race-replay` records it only
    /// after a window, with the lock released in between.
    pub fn check_unused(
        &mut self,
        scope: &str,
        jti: &str,
        keep_until: u64,
        now: u64,
    ) -> Result<PendingUse, ReplayError> {
        self.purge(now);
        let digest = digest(scope, jti);
        if self.seen.contains_key(&digest) {
            return Err(ReplayError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        Ok(PendingUse { digest, keep_until })
    }

    /// Remembers an identifier [`ReplayCache::check_unused`] accepted.
    pub fn record(&mut self, pending: PendingUse) {
        let PendingUse { digest, keep_until } = pending;
        if let Some(old) = self.seen.insert(digest, keep_until) {
            // Recorded already (by a request racing in the fault's window): keep one entry.
            self.by_expiry.remove(&(old, digest));
        }
        self.by_expiry.insert((keep_until, digest));
    }

    /// Forgets the identifiers whose JWTs can no longer be accepted at `now`.
    pub fn purge(&mut self, now: u64) {
        while let Some(&(until, digest)) = self.by_expiry.first() {
            if until >= now {
                break;
            }
            self.by_expiry.pop_first();
            self.seen.remove(&digest);
        }
    }
}

/// An identifier checked unused, not yet remembered (its digest and its expiry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingUse {
    digest: Digest,
    keep_until: u64,
}

/// SHA-256 over the scope's length, the scope and the identifier: no two (scope, jti) pairs
/// collide by concatenation, and every entry has the same size whatever the client sent.
fn digest(scope: &str, jti: &str) -> Digest {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    context.update(&(scope.len() as u64).to_be_bytes());
    context.update(scope.as_bytes());
    context.update(jti.as_bytes());
    let mut out = [0; 32];
    out.copy_from_slice(context.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_accepted_once_per_scope() {
        let mut cache = ReplayCache::new(10);
        assert_eq!(cache.check_and_insert("a", "1", 100, 0), Ok(()));
        assert_eq!(
            cache.check_and_insert("a", "1", 100, 50),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.check_and_insert("b", "1", 100, 50), Ok(()));
        // No ambiguity from concatenation: ("a", "b1") is not ("ab", "1").
        assert_eq!(cache.check_and_insert("ab", "1", 100, 50), Ok(()));
        assert_eq!(cache.check_and_insert("a", "b1", 100, 50), Ok(()));
    }

    #[test]
    fn entries_are_kept_until_their_expiry_inclusive_then_forgotten() {
        let mut cache = ReplayCache::new(10);
        cache.check_and_insert("a", "1", 100, 0).unwrap();
        assert_eq!(
            cache.check_and_insert("a", "1", 100, 100),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.check_and_insert("a", "1", 200, 101), Ok(()));
        cache.purge(1000);
        assert!(cache.is_empty());
    }

    /// The clean cache is atomic: of 16 threads spending the same identifier together,
    /// exactly one succeeds.
    #[test]
    fn identical_identifiers_arriving_together_are_accepted_once() {
        let cache = std::sync::Mutex::new(ReplayCache::new(100));
        let barrier = std::sync::Barrier::new(16);
        let accepted = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let mut cache = cache.lock().unwrap();
                        cache.check_and_insert("a", "1", 100, 0).is_ok()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(|ok| *ok)
                .count()
        });
        assert_eq!(accepted, 1);
    }

    /// Checked and recorded apart (the fault `race-replay`), identical identifiers checked
    /// before the first is recorded are all accepted; once recorded, it is refused.
    #[test]
    fn checked_apart_every_check_before_the_record_passes() {
        let mut cache = ReplayCache::new(10);
        let first = cache.check_unused("a", "1", 100, 0).unwrap();
        let second = cache.check_unused("a", "1", 100, 0).unwrap();
        cache.record(first);
        cache.record(second);
        assert_eq!(cache.len(), 1);
        assert_eq!(
            cache.check_unused("a", "1", 100, 1),
            Err(ReplayError::Replayed)
        );
        cache.purge(101);
        assert!(cache.is_empty(), "one expiry entry per identifier");
    }

    #[test]
    fn a_full_cache_refuses_until_entries_expire() {
        let mut cache = ReplayCache::new(2);
        cache.check_and_insert("a", "1", 100, 0).unwrap();
        cache.check_and_insert("a", "2", 200, 0).unwrap();
        assert_eq!(
            cache.check_and_insert("a", "3", 300, 0),
            Err(ReplayError::Full)
        );
        // A replay is still reported as a replay, not as a full cache.
        assert_eq!(
            cache.check_and_insert("a", "1", 100, 0),
            Err(ReplayError::Replayed)
        );
        assert_eq!(cache.len(), 2);
        // Once the first expires there is room again.
        assert_eq!(cache.check_and_insert("a", "3", 300, 101), Ok(()));
        assert_eq!(cache.len(), 2);
    }
}
