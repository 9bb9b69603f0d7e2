//! Issued access tokens: generation and an in-memory store sharded to keep lock contention
//! low under load. Expired tokens are purged so memory stays bounded under sustained issuance.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::RngCore;

const SHARDS: usize = 64;

/// What the server remembers about one token.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub client_id: Arc<str>,
    pub realm: Arc<str>,
    /// Space-delimited granted scope.
    pub scope: Arc<str>,
    pub issued_at: u64,
    pub expires_at: u64,
    pub jti: String,
}

impl TokenRecord {
    pub fn is_expired(&self, now: u64) -> bool {
        now >= self.expires_at
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `bytes` random bytes from the OS-seeded CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = [0u8; 64];
    let buf = &mut buf[..bytes.min(64)];
    rand::thread_rng().fill_bytes(buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Tokens by their string, split over shards by hash.
pub struct TokenStore {
    shards: Vec<Mutex<HashMap<String, TokenRecord>>>,
}

impl Default for TokenStore {
    fn default() -> Self {
        TokenStore {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }
}

impl TokenStore {
    fn shard(&self, token: &str) -> &Mutex<HashMap<String, TokenRecord>> {
        let mut hasher = DefaultHasher::new();
        token.hash(&mut hasher);
        &self.shards[hasher.finish() as usize % SHARDS]
    }

    fn lock(&self, token: &str) -> std::sync::MutexGuard<'_, HashMap<String, TokenRecord>> {
        // A poisoned shard only means another request panicked mid-insert; the map is intact.
        self.shard(token).lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn insert(&self, token: String, record: TokenRecord) {
        self.lock(&token).insert(token, record);
    }

    /// The record of a known token, expired or not.
    pub fn get(&self, token: &str) -> Option<TokenRecord> {
        self.lock(token).get(token).cloned()
    }

    /// Removes `token` if `may_revoke` accepts its record. Returns the record when found.
    pub fn revoke_if(
        &self,
        token: &str,
        may_revoke: impl FnOnce(&TokenRecord) -> bool,
    ) -> Option<(TokenRecord, bool)> {
        let mut shard = self.lock(token);
        match shard.entry(token.to_owned()) {
            Entry::Occupied(entry) => {
                if may_revoke(entry.get()) {
                    Some((entry.remove(), true))
                } else {
                    Some((entry.get().clone(), false))
                }
            }
            Entry::Vacant(_) => None,
        }
    }

    /// Drops every token expired at `now`; returns how many were dropped.
    pub fn purge_expired(&self, now: u64) -> usize {
        let mut purged = 0;
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|p| p.into_inner());
            let before = shard.len();
            shard.retain(|_, r| !r.is_expired(now));
            purged += before - shard.len();
        }
        purged
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(client: &str, exp: u64) -> TokenRecord {
        TokenRecord {
            client_id: client.into(),
            realm: "root".into(),
            scope: "read".into(),
            issued_at: 0,
            expires_at: exp,
            jti: "j".into(),
        }
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn purge_drops_only_expired() {
        let store = TokenStore::default();
        store.insert("old".into(), record("a", 10));
        store.insert("new".into(), record("a", 100));
        assert_eq!(store.purge_expired(50), 1);
        assert!(store.get("old").is_none());
        assert!(store.get("new").is_some());
    }

    #[test]
    fn revoke_respects_the_predicate() {
        let store = TokenStore::default();
        store.insert("t".into(), record("a", 100));
        let (_, removed) = store.revoke_if("t", |r| &*r.client_id == "b").unwrap();
        assert!(!removed);
        let (_, removed) = store.revoke_if("t", |r| &*r.client_id == "a").unwrap();
        assert!(removed);
        assert!(store.revoke_if("t", |_| true).is_none());
    }
}
