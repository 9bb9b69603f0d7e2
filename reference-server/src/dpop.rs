//! DPoP proof verification (RFC 9449 §4.3), sans-IO: the caller passes the request's method
//! and URL as this server sees them, the access token when one is presented, the nonces it
//! currently accepts, and the time.
//!
//! The checks, in §4.3's order: one well-formed JWT; `typ` is `dpop+jwt`; `alg` asymmetric
//! (never `none`, never a MAC); the signature verifies with the `jwk` header, which must be
//! a public key; `jti`, `htm`, `htu` and `iat` are present; `htm` is the request's method;
//! `htu` is its URL without query and fragment, both normalized (RFC 3986 §6.2.2, §6.2.3,
//! as §4.3 recommends); `iat` within [`DpopPolicy`]'s window; the server's nonce when it
//! asks for one; with an access token, `ath` is base64url(SHA-256(token)) and the key is
//! the one the token is bound to. `jti` is used once ([`CheckedProof::record_use`]),
//! remembered in a bounded [`ReplayCache`] until the proof leaves the `iat` window.
//!
//! The result is the key's RFC 7638 thumbprint (`jkt`), to bind a new token to (`cnf.jkt`,
//! RFC 9449 §6.1) or to compare with the token's binding.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::jose::{numeric_date, Alg, JoseError, Jws, PublicJwk, VerifyingKey, PRIVATE_MEMBERS};
use crate::replay::{ReplayCache, ReplayError};

/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;

/// The `iat` window, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Allowed difference between the client's clock and this server's.
    pub clock_skew: u64,
    /// How old a proof may be (plus the skew): RFC 9449 §11.1 wants "a relatively brief
    /// period", since a proof is only meant for the request it was made for.
    pub max_age: u64,
    /// Rules not enforced: only the reference server's fault modes set these.
    pub lenience: Lenience,
}

/// Rules of RFC 9449 §4.3 (and §7.1) the reference server's fault modes break on purpose,
/// one each, so that grantcheck's cases can be shown to catch them. All off in [`POLICY`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lenience {
    /// Accept any `typ` (breaks §4.3 item 4).
    pub any_typ: bool,
    /// Accept `alg: none` proofs, unsigned (breaks §4.3 item 5).
    pub accept_alg_none: bool,
    /// Accept HS256 proofs, verified with the JWK's JSON as the MAC key: the algorithm
    /// confusion §4.3 item 5 rules out (only asymmetric algorithms).
    pub accept_hs256: bool,
    /// Accept a `jwk` that carries private members (breaks §4.3 item 7).
    pub accept_private_jwk: bool,
    /// Ignore `htm` (breaks §4.3 item 8).
    pub any_htm: bool,
    /// Ignore `htu` (breaks §4.3 item 9).
    pub any_htu: bool,
    /// Ignore `iat` (breaks §4.3 item 11).
    pub any_iat: bool,
    /// Ignore `ath` (breaks §4.3 item 12, §7.1).
    pub any_ath: bool,
    /// Ignore which key a token is bound to (breaks §4.3 item 12, §7.1).
    pub any_key: bool,
    /// Accept a proof without `jti`, as if it had a fresh one (breaks §4.3 item 3).
    pub accept_missing_jti: bool,
    /// Accept HS256 proofs MACed with the symmetric (`oct`) key their `jwk` carries (breaks
    /// §4.3 item 5 and §11.6: only asymmetric algorithms).
    pub accept_oct_jwk: bool,
}

impl Lenience {
    pub const STRICT: Lenience = Lenience {
        any_typ: false,
        accept_alg_none: false,
        accept_hs256: false,
        accept_private_jwk: false,
        any_htm: false,
        any_htu: false,
        any_iat: false,
        any_ath: false,
        any_key: false,
        accept_missing_jti: false,
        accept_oct_jwk: false,
    };
}

/// Proofs are good for 60 s, with 60 s of clock skew either way; every rule enforced.
pub const POLICY: DpopPolicy = DpopPolicy {
    clock_skew: 60,
    max_age: 60,
    lenience: Lenience::STRICT,
};

impl Default for DpopPolicy {
    fn default() -> DpopPolicy {
        POLICY
    }
}

/// The request a proof comes with, and what the server expects of it.
#[derive(Clone, Copy)]
pub struct ProofContext<'a> {
    /// The HTTP method, as sent (methods are case-sensitive).
    pub method: &'a str,
    /// The request's absolute URL as this server is addressed (query and fragment are
    /// ignored).
    pub url: &'a str,
    /// The asymmetric algorithms accepted (`dpop_signing_alg_values_supported`); symmetric
    /// ones in the list are ignored.
    pub algs: &'a [Alg],
    /// The access token presented with the proof (at a resource, RFC 9449 §7).
    pub access_token: Option<&'a str>,
    /// The `jkt` the presented token is bound to (its `cnf.jkt`).
    pub bound_jkt: Option<&'a str>,
    /// The nonces the server currently accepts, when it requires one (RFC 9449 §8, §9).
    pub nonces: Option<&'a [&'a str]>,
    pub now: u64,
}

impl fmt::Debug for ProofContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofContext")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("algs", &self.algs)
            .field("access_token", &self.access_token.map(|_| "<redacted>"))
            .field("bound_jkt", &self.bound_jkt)
            .field("nonce_required", &self.nonces.is_some())
            .field("now", &self.now)
            .finish()
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopError {
    /// Malformed JWS, `alg` refused (`none`, a MAC, unknown), private or unusable `jwk`,
    /// bad signature.
    Jose(JoseError),
    /// `typ` is not `dpop+jwt`.
    WrongTyp,
    /// No `jwk` header.
    JwkMissing,
    /// A required claim (`jti`, `htm`, `htu`, `iat`; `ath` with a token) is missing or not
    /// a string.
    MissingClaim(&'static str),
    /// `iat` is not a NumericDate.
    BadTimeClaim,
    HtmMismatch,
    HtuMismatch,
    IatTooOld,
    IatInFuture,
    /// The server requires a nonce and the proof has none: `use_dpop_nonce`.
    NonceRequired,
    /// The proof's nonce is not one the server accepts now: `use_dpop_nonce`.
    NonceMismatch,
    /// `ath` is not the hash of the presented token.
    AthMismatch,
    /// The proof's key is not the one the token is bound to.
    KeyNotBound,
    Replayed,
    ReplayCacheFull,
}

impl DpopError {
    /// The error code (RFC 9449 §5, §7.1, §8): `use_dpop_nonce` when the client should try
    /// again with the server's nonce, `invalid_dpop_proof` otherwise.
    pub fn error_code(self) -> &'static str {
        match self {
            DpopError::NonceRequired | DpopError::NonceMismatch => "use_dpop_nonce",
            _ => "invalid_dpop_proof",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            DpopError::Jose(e) => e.describe(),
            DpopError::WrongTyp => "typ must be dpop+jwt",
            DpopError::JwkMissing => "the jwk header is required",
            DpopError::MissingClaim("jti") => "jti is required",
            DpopError::MissingClaim("htm") => "htm is required",
            DpopError::MissingClaim("htu") => "htu is required",
            DpopError::MissingClaim("iat") => "iat is required",
            DpopError::MissingClaim("ath") => "ath is required with an access token",
            DpopError::MissingClaim(_) => "a required claim is missing",
            DpopError::BadTimeClaim => "iat must be a NumericDate",
            DpopError::HtmMismatch => "htm does not match the request method",
            DpopError::HtuMismatch => "htu does not match the request URL",
            DpopError::IatTooOld => "the proof is too old",
            DpopError::IatInFuture => "iat is in the future",
            DpopError::NonceRequired => "a DPoP nonce is required",
            DpopError::NonceMismatch => "the DPoP nonce is not current",
            DpopError::AthMismatch => "ath does not match the access token",
            DpopError::KeyNotBound => "the proof's key is not the token's",
            DpopError::Replayed => "the proof's jti was already used",
            DpopError::ReplayCacheFull => "too many proofs in flight, try again later",
        }
    }
}

impl fmt::Display for DpopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DPoP proof: {}", self.describe())
    }
}

impl std::error::Error for DpopError {}

impl From<JoseError> for DpopError {
    fn from(e: JoseError) -> DpopError {
        DpopError::Jose(e)
    }
}

/// A proof that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedProof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub alg: Alg,
    jti: String,
    keep_until: u64,
}

impl CheckedProof {
    /// Spends the proof's `jti` (RFC 9449 §11.1), per key.
    pub fn record_use(&self, cache: &mut ReplayCache, now: u64) -> Result<(), DpopError> {
        cache
            .check_and_insert(&self.jkt, &self.jti, self.keep_until, now)
            .map_err(|e| match e {
                ReplayError::Replayed => DpopError::Replayed,
                ReplayError::Full => DpopError::ReplayCacheFull,
            })
    }

    /// The replay check alone, for the fault `race-replay`, which records the use later
    /// ([`ReplayCache::record`]).
    pub fn check_unused(
        &self,
        cache: &mut ReplayCache,
        now: u64,
    ) -> Result<crate::replay::PendingUse, DpopError> {
        cache
            .check_unused(&self.jkt, &self.jti, self.keep_until, now)
            .map_err(|e| match e {
                ReplayError::Replayed => DpopError::Replayed,
                ReplayError::Full => DpopError::ReplayCacheFull,
            })
    }
}

/// `ath`: base64url(SHA-256(the ASCII access token)) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Every check of RFC 9449 §4.3 but the replay check (see [`verify`]).
pub fn check(
    proof: &str,
    cx: &ProofContext<'_>,
    policy: DpopPolicy,
) -> Result<CheckedProof, DpopError> {
    let lenience = policy.lenience;
    let jws = Jws::parse(proof)?;
    let typ_ok = jws.header.typ.as_deref().is_some_and(|typ| {
        let typ = typ.to_ascii_lowercase();
        typ == "dpop+jwt" || typ == "application/dpop+jwt"
    });
    if !typ_ok && !lenience.any_typ {
        return Err(DpopError::WrongTyp);
    }
    let asymmetric: Vec<Alg> = cx
        .algs
        .iter()
        .copied()
        .filter(|a| !a.is_symmetric())
        .collect();
    let (alg, jkt) = verify_signature(&jws, &asymmetric, lenience)?;
    let claims = jws.claims();
    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(DpopError::MissingClaim(name))
    };
    let jti = match text("jti") {
        Err(_) if lenience.accept_missing_jti => crate::tokens::random_token(12),
        jti => jti?.to_owned(),
    };
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(DpopError::MissingClaim("jti"));
    }
    if text("htm")? != cx.method && !lenience.any_htm {
        return Err(DpopError::HtmMismatch);
    }
    let htu = text("htu")?;
    let same_uri = normalize_htu(htu).is_some_and(|n| Some(n) == normalize_htu(cx.url));
    if !same_uri && !lenience.any_htu {
        return Err(DpopError::HtuMismatch);
    }
    let iat = numeric_date(claims, "iat", true)
        .map_err(|_| DpopError::BadTimeClaim)?
        .ok_or(DpopError::MissingClaim("iat"))?;
    if iat > cx.now.saturating_add(policy.clock_skew) && !lenience.any_iat {
        return Err(DpopError::IatInFuture);
    }
    let mut keep_until = iat
        .saturating_add(policy.max_age)
        .saturating_add(policy.clock_skew);
    if keep_until < cx.now {
        if !lenience.any_iat {
            return Err(DpopError::IatTooOld);
        }
        keep_until = cx.now.saturating_add(policy.max_age);
    }
    if let Some(nonces) = cx.nonces {
        match claims.get("nonce").and_then(Value::as_str) {
            None => return Err(DpopError::NonceRequired),
            Some(nonce) if !nonces.contains(&nonce) => return Err(DpopError::NonceMismatch),
            Some(_) => {}
        }
    }
    if let Some(token) = cx.access_token {
        if text("ath")? != access_token_hash(token) && !lenience.any_ath {
            return Err(DpopError::AthMismatch);
        }
    }
    if cx.bound_jkt.is_some_and(|bound| bound != jkt) && !lenience.any_key {
        return Err(DpopError::KeyNotBound);
    }
    Ok(CheckedProof {
        jkt,
        alg,
        jti,
        keep_until,
    })
}

/// The proof's signature checked with its `jwk` (§4.3 items 5 to 7), with the lenience a
/// fault mode asks for: the algorithm and the key's RFC 7638 thumbprint.
fn verify_signature(
    jws: &Jws,
    asymmetric: &[Alg],
    lenience: Lenience,
) -> Result<(Alg, String), DpopError> {
    let unsigned = lenience.accept_alg_none && jws.header.alg.eq_ignore_ascii_case("none");
    let jwk = jws.header.jwk.as_ref();
    let oct = lenience.accept_oct_jwk
        && jws.header.alg == Alg::Hs256.name()
        && jwk.and_then(|j| j.get("kty")).and_then(Value::as_str) == Some("oct");
    if oct {
        return oct_signature(jws);
    }
    let mac = lenience.accept_hs256 && jws.header.alg == Alg::Hs256.name();
    if !unsigned && !mac {
        jws.alg(asymmetric)?;
    }
    let jwk = jwk.ok_or(DpopError::JwkMissing)?;
    let key = match PublicJwk::from_json(jwk) {
        Err(JoseError::PrivateKeyInJwk) if lenience.accept_private_jwk => {
            let public: serde_json::Map<String, Value> = jwk
                .iter()
                .filter(|(name, _)| !PRIVATE_MEMBERS.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            PublicJwk::from_json(&public)?
        }
        other => other?,
    };
    let alg = if unsigned {
        Alg::Es256
    } else if mac {
        let secret = Value::Object(jwk.clone()).to_string();
        jws.verify(&[Alg::Hs256], VerifyingKey::Secret(secret.as_bytes()))?
    } else {
        jws.verify(asymmetric, VerifyingKey::Public(&key))?
    };
    Ok((alg, key.thumbprint()))
}

/// Under [`Lenience::accept_oct_jwk`] only: the HS256 MAC checked with the `oct` key the
/// header carries, and that key's RFC 7638 thumbprint (members `k`, `kty`).
fn oct_signature(jws: &Jws) -> Result<(Alg, String), DpopError> {
    let k = jws
        .header
        .jwk
        .as_ref()
        .and_then(|jwk| jwk.get("k"))
        .and_then(Value::as_str)
        .ok_or(DpopError::JwkMissing)?;
    let secret = URL_SAFE_NO_PAD
        .decode(k)
        .map_err(|_| DpopError::JwkMissing)?;
    let alg = jws.verify(&[Alg::Hs256], VerifyingKey::Secret(&secret))?;
    let canonical = serde_json::json!({ "k": k, "kty": "oct" }).to_string();
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    Ok((alg, URL_SAFE_NO_PAD.encode(digest)))
}

/// Verifies a proof and spends its `jti`; returns the key's thumbprint.
pub fn verify(
    proof: &str,
    cx: &ProofContext<'_>,
    policy: DpopPolicy,
    cache: &mut ReplayCache,
) -> Result<CheckedProof, DpopError> {
    let checked = check(proof, cx, policy)?;
    checked.record_use(cache, cx.now)?;
    Ok(checked)
}

/// An absolute `http`/`https` URI without query and fragment, normalized as RFC 3986 §6.2.2
/// (case, percent-encoding, dot segments) and §6.2.3 (default port, empty path) describe.
/// `None` for anything else (other schemes, userinfo, a bad port or percent-encoding).
pub fn normalize_htu(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let after = &authority[end + 1..];
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&authority[..=end], port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        None | Some("") => None,
        Some(p) if !p.bytes().all(|b| b.is_ascii_digit()) => return None,
        Some(p) => {
            let p = p.trim_start_matches('0');
            let p = if p.is_empty() { "0" } else { p };
            (p != default_port).then_some(p)
        }
    };
    let host = normalize_percent(&host.to_ascii_lowercase())?;
    let path = if path.is_empty() {
        "/".to_owned()
    } else {
        remove_dot_segments(&normalize_percent(path)?)
    };
    Some(match port {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    })
}

/// Upper-case hex in percent-encodings, and unreserved characters decoded (RFC 3986 §6.2.2.1,
/// §6.2.2.2).
fn normalize_percent(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                out.push(byte as char);
            } else {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
            i += 3;
        } else {
            let ch = text[i..].chars().next()?;
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    Some(out)
}

/// RFC 3986 §5.2.4.
fn remove_dot_segments(path: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    let mut trailing_slash = false;
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => trailing_slash = i == last,
            ".." => {
                output.pop();
                trailing_slash = i == last;
            }
            s => {
                output.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &output {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}

pub(crate) mod state;

#[cfg(test)]
mod tests;
