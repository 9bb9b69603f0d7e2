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
    /// until `keep_until` (inclusive) and refused again until then.
    pub fn check_and_insert(
        &mut self,
        scope: &str,
        jti: &str,
        keep_until: u64,
        now: u64,
    ) -> Result<(), ReplayError> {
        self.purge(now);
        let digest = digest(scope, jti);
        if self.seen.contains_key(&digest) {
            return Err(ReplayError::Replayed);
        }
        if self.seen.len() >= self.capacity {
            return Err(ReplayError::Full);
        }
        self.seen.insert(digest, keep_until);
        self.by_expiry.insert((keep_until, digest));
        Ok(())
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
