//! Issued access tokens: generation and an in-memory store sharded to keep lock contention
//! low under load. Expired tokens are purged so memory stays bounded under sustained issuance,
//! and the store holds at most a fixed number of tokens, so that long-lived tokens issued fast
//! cannot take all memory (issue 14 item 7): past it, [`TokenStore::insert`] refuses and says
//! when the first held token expires.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use rand::RngCore;
use rustc_hash::{FxBuildHasher, FxHashMap};

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
    pub jti: Jti,
    /// The RFC 7638 thumbprint of the key a DPoP-bound token is bound to (RFC 9449 §6).
    pub jkt: Option<Arc<str>>,
    /// The `x5t#S256` of the client certificate a certificate-bound token is bound to
    /// (RFC 8705 §3).
    pub x5t: Option<Arc<str>>,
    /// The fault `grant-forbidden-scope-silently` granted a scope the client may not have:
    /// no client is shown the scope, in the JWT or introspection.
    pub scope_hidden: bool,
    /// Where and when it was written and revoked, for a cluster's views (`cluster.rs`); the
    /// default on a single server, which never reads it.
    pub replica: crate::cluster::Replica,
}

/// A token's unique id: 128 random bits, base64url, kept inline (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Jti([u8; 22]);

impl Jti {
    pub fn random() -> Jti {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let mut text = [0u8; 22];
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(bytes, &mut text)
            .expect("16 bytes encode to 22 characters");
        Jti(text)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base64url is ASCII")
    }
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

/// A new opaque access token: 32 random bytes from the OS-seeded CSPRNG and their base64url
/// text (43 characters), both inline (no allocation).
pub struct OpaqueToken {
    bytes: [u8; 32],
    text: [u8; 43],
}

impl OpaqueToken {
    pub fn random() -> OpaqueToken {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        // base64url by table (what the base64 engine writes, for a third of the cost).
        let mut text = [0u8; 43];
        for (chunk, out) in bytes[..30].chunks_exact(3).zip(text.chunks_exact_mut(4)) {
            let n = u32::from_be_bytes([0, chunk[0], chunk[1], chunk[2]]);
            for (i, c) in out.iter_mut().enumerate() {
                *c = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
            }
        }
        let n = (u32::from(bytes[30]) << 10) | (u32::from(bytes[31]) << 2);
        for (i, c) in text[40..].iter_mut().enumerate() {
            *c = ALPHABET[((n >> (12 - 6 * i)) & 63) as usize];
        }
        OpaqueToken { bytes, text }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.text).expect("base64url is ASCII")
    }
}

/// `bytes` random bytes from the OS-seeded CSPRNG, base64url without padding.
pub fn random_token(bytes: usize) -> String {
    let mut buf = [0u8; 64];
    let buf = &mut buf[..bytes.min(64)];
    rand::rng().fill_bytes(buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// The bytes of an opaque token in the server's own form: exactly 43 characters of canonical
/// base64url (no padding, no stray trailing bits), so that decoding is one-to-one. (Decoded
/// by table: the general base64 engine costs several times as much for 43 characters.)
fn random_bytes(token: &str) -> Option<[u8; 32]> {
    let text: &[u8; 43] = token.as_bytes().try_into().ok()?;
    let mut bytes = [0u8; 32];
    let sextet = |c: u8| match DECODE[usize::from(c)] {
        INVALID => None,
        v => Some(u32::from(v)),
    };
    for (chunk, out) in text[..40].chunks_exact(4).zip(bytes.chunks_exact_mut(3)) {
        let n = (sextet(chunk[0])? << 18)
            | (sextet(chunk[1])? << 12)
            | (sextet(chunk[2])? << 6)
            | sextet(chunk[3])?;
        out.copy_from_slice(&n.to_be_bytes()[1..]);
    }
    // The last 3 characters carry 2 bytes; their 2 spare bits must be zero (canonical).
    let n = (sextet(text[40])? << 12) | (sextet(text[41])? << 6) | sextet(text[42])?;
    if n & 0b11 != 0 {
        return None;
    }
    bytes[30] = (n >> 10) as u8;
    bytes[31] = (n >> 2) as u8;
    Some(bytes)
}

const INVALID: u8 = 0xff;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url characters to their values.
static DECODE: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Hashes a random key by 8 of its bytes (random already: no client chooses them), and
/// anything else with Fx.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut fx = rustc_hash::FxHasher::default();
        std::hash::Hasher::write_u64(&mut fx, self.0);
        std::hash::Hasher::write(&mut fx, bytes);
        self.0 = std::hash::Hasher::finish(&fx);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The key of one of the server's opaque tokens: its 32 random bytes (fixed size, no
/// allocation, already a good hash), hashed as its bytes 8..16 (bytes 0..8 pick the shard).
/// Anything else (a JWT, a string that only looks like a token) is held by its text.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RandomKey([u8; 32]);

impl std::hash::Hash for RandomKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from_le_bytes(
            self.0[8..16].try_into().expect("8 bytes"),
        ));
    }
}

type RandomMap = HashMap<RandomKey, TokenRecord, BuildHasherDefault<KeyHasher>>;

/// Tokens expiring within one second, by key.
#[derive(Default)]
struct Bucket {
    random: Vec<[u8; 32]>,
    text: Vec<Arc<str>>,
}

/// One shard: tokens by key, plus the same keys bucketed by expiry second so that purging
/// touches only what expired instead of scanning everything.
#[derive(Default)]
struct Shard {
    random: RandomMap,
    text: FxHashMap<Arc<str>, TokenRecord>,
    expiries: BTreeMap<u64, Bucket>,
}

/// A token as looked up: its text, and its bytes when it is one of the server's opaque ones.
struct Lookup<'a> {
    text: &'a str,
    random: Option<[u8; 32]>,
}

impl Lookup<'_> {
    fn of(text: &str) -> Lookup<'_> {
        Lookup {
            text,
            random: random_bytes(text),
        }
    }

    fn shard(&self) -> usize {
        let hash = match &self.random {
            Some(bytes) => u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
            None => FxBuildHasher.hash_one(self.text),
        };
        hash as usize % SHARDS
    }
}

impl Shard {
    fn get(&self, token: &Lookup<'_>) -> Option<&TokenRecord> {
        match token.random {
            Some(bytes) => self.random.get(&RandomKey(bytes)),
            None => self.text.get(token.text),
        }
    }

    fn remove(&mut self, token: &Lookup<'_>) -> Option<TokenRecord> {
        match token.random {
            Some(bytes) => self.random.remove(&RandomKey(bytes)),
            None => self.text.remove(token.text),
        }
    }
}

/// Tokens by their key, split over shards. Fx hashing is safe here: keys are server-generated
/// random strings, so no client can choose colliding keys.
pub struct TokenStore {
    shards: Vec<Mutex<Shard>>,
    /// Tokens held at most.
    capacity: usize,
    /// Tokens held now (kept beside the shards so that the bound costs no lock).
    held: AtomicUsize,
}

/// The store is full: the first held token expires in `retry_after` seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreFull {
    pub retry_after: u64,
}

impl Default for TokenStore {
    fn default() -> Self {
        TokenStore::with_capacity(usize::MAX)
    }
}

/// Tokens a store makes room for up front (beyond it, shards grow as tokens come). Not the
/// whole `--max-live-tokens`: tokens land in random buckets and expire, so under steady
/// issuance every page of a table gets touched and the resident memory becomes the table's
/// full size (a 30 s soak holding 5,700 tokens grew to 265 MB with a table for a million).
const PRESIZE_AT_MOST: usize = 1 << 16;

impl TokenStore {
    /// A store for at most `capacity` tokens. Its shards are sized for them up front, up to
    /// 65,536 in all, so that a usual live set never rehashes on the request path; beyond
    /// that they grow (each growth doubles a shard, a sixty-fourth of the store).
    pub fn with_capacity(capacity: usize) -> TokenStore {
        let capacity = capacity.max(1);
        let per_shard = if capacity == usize::MAX {
            0
        } else {
            // The largest of 64 random shares is some way above the average.
            let even = capacity.min(PRESIZE_AT_MOST) / SHARDS;
            even + even / 8
        };
        let shard = || Shard {
            random: RandomMap::with_capacity_and_hasher(per_shard, Default::default()),
            ..Shard::default()
        };
        TokenStore {
            shards: (0..SHARDS).map(|_| Mutex::new(shard())).collect(),
            capacity,
            held: AtomicUsize::new(0),
        }
    }

    fn lock(&self, token: &Lookup<'_>) -> MutexGuard<'_, Shard> {
        lock(&self.shards[token.shard()])
    }

    /// Holds a new opaque token (its bytes known: nothing to decode), unless the store is full.
    pub fn insert_opaque(&self, token: &OpaqueToken, record: TokenRecord) -> Result<(), StoreFull> {
        let token = Lookup {
            text: token.as_str(),
            random: Some(token.bytes),
        };
        self.insert_lookup(token, record)
    }

    /// Holds `token`, unless the store is full.
    pub fn insert(&self, token: &str, record: TokenRecord) -> Result<(), StoreFull> {
        self.insert_lookup(Lookup::of(token), record)
    }

    fn insert_lookup(&self, token: Lookup<'_>, record: TokenRecord) -> Result<(), StoreFull> {
        let reserved = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.capacity).then_some(held + 1)
            });
        if reserved.is_err() {
            return Err(self.full_now());
        }
        let mut shard = self.lock(&token);
        let expires_at = record.expires_at;
        let replaced = match token.random {
            Some(bytes) => {
                let replaced = shard.random.insert(RandomKey(bytes), record).is_some();
                bucket(&mut shard.expiries, expires_at).random.push(bytes);
                replaced
            }
            None => {
                let key: Arc<str> = token.text.into();
                bucket(&mut shard.expiries, expires_at)
                    .text
                    .push(key.clone());
                shard.text.insert(key, record).is_some()
            }
        };
        if replaced {
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(())
    }

    /// `Some` when the store holds all it may.
    pub fn full(&self) -> Option<StoreFull> {
        (self.held.load(Ordering::Acquire) >= self.capacity).then(|| self.full_now())
    }

    fn full_now(&self) -> StoreFull {
        let first = self.first_expiry();
        StoreFull {
            retry_after: first.map_or(1, |at| at.saturating_sub(unix_now()).clamp(1, 3600)),
        }
    }

    /// When the first held token expires (its second), if any is held.
    fn first_expiry(&self) -> Option<u64> {
        self.shards
            .iter()
            .filter_map(|s| lock(s).expiries.first_key_value().map(|(at, _)| *at))
            .min()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The record of a known token, expired or not.
    pub fn get(&self, token: &str) -> Option<TokenRecord> {
        let token = Lookup::of(token);
        self.lock(&token).get(&token).cloned()
    }

    /// What `read` makes of the record of a known token, expired or not (read in place: no
    /// copy of the record).
    pub fn read<T>(&self, token: &str, read: impl FnOnce(&TokenRecord) -> T) -> Option<T> {
        let token = Lookup::of(token);
        self.lock(&token).get(&token).map(read)
    }

    /// What `change` makes of the record of a known token, changed in place.
    pub fn update<T>(&self, token: &str, change: impl FnOnce(&mut TokenRecord) -> T) -> Option<T> {
        let token = Lookup::of(token);
        let mut shard = self.lock(&token);
        let record = match token.random {
            Some(bytes) => shard.random.get_mut(&RandomKey(bytes)),
            None => shard.text.get_mut(token.text),
        }?;
        Some(change(record))
    }

    /// Removes `token` if `may_revoke` accepts its record. Returns the record and whether it
    /// was removed; `None` for unknown tokens. (Its expiry entry goes at purge time.)
    pub fn revoke_if(
        &self,
        token: &str,
        may_revoke: impl FnOnce(&TokenRecord) -> bool,
    ) -> Option<(TokenRecord, bool)> {
        let token = Lookup::of(token);
        let mut shard = self.lock(&token);
        let record = shard.get(&token)?;
        if may_revoke(record) {
            let removed = shard.remove(&token);
            self.held
                .fetch_sub(usize::from(removed.is_some()), Ordering::AcqRel);
            removed.map(|r| (r, true))
        } else {
            Some((record.clone(), false))
        }
    }

    /// Drops every token expired at `now`; returns how many were dropped.
    pub fn purge_expired(&self, now: u64) -> usize {
        (0..SHARDS).map(|i| self.purge_shard(i, now)).sum()
    }

    /// Drops the tokens of shard `index` expired at `now`. The purge task calls it shard by
    /// shard, yielding in between, so a second's worth of expiries never stalls requests.
    pub fn purge_shard(&self, index: usize, now: u64) -> usize {
        let mut purged = 0;
        let mut shard = lock(&self.shards[index % SHARDS]);
        let Shard {
            random,
            text,
            expiries,
        } = &mut *shard;
        while let Some(entry) = expiries.first_entry() {
            if *entry.key() > now {
                break;
            }
            let bucket = entry.remove();
            for bytes in bucket.random {
                purged += usize::from(random.remove(&RandomKey(bytes)).is_some());
            }
            for token in bucket.text {
                purged += usize::from(text.remove(&token).is_some());
            }
        }
        self.held.fetch_sub(purged, Ordering::AcqRel);
        purged
    }

    pub fn shard_count(&self) -> usize {
        SHARDS
    }

    /// Every token held (for tests that prove no token leaks into output).
    pub fn tokens(&self) -> Vec<String> {
        let encode =
            |bytes: &RandomKey| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes.0);
        self.shards
            .iter()
            .flat_map(|s| {
                let shard = lock(s);
                let random = shard.random.keys().map(encode);
                let text = shard.text.keys().map(|k| k.to_string());
                random.chain(text).collect::<Vec<_>>()
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The bucket of tokens expiring at `second`: usually the newest one, found without a search.
fn bucket(expiries: &mut BTreeMap<u64, Bucket>, second: u64) -> &mut Bucket {
    if expiries
        .last_key_value()
        .is_some_and(|(at, _)| *at == second)
    {
        return expiries.last_entry().expect("not empty").into_mut();
    }
    expiries.entry(second).or_default()
}

/// A poisoned shard only means another request panicked mid-insert; the map is intact.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
pub(crate) mod tests;
