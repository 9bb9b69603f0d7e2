//! The harness's own JOSE: client keys (PEM or private JWK, or generated per run), compact
//! JWS signing with RS256, PS256, ES256, EdDSA and HS256, public JWKs and RFC 7638
//! thumbprints, and builders for what a client sends: RFC 7523 client assertions
//! ([`assertion`]) and RFC 9449 DPoP proofs ([`dpop`]), each with deliberate flaws a case
//! can name.
//!
//! Independent of the reference server's verifier (`reference_server::jose`): the suite
//! must not share code with what it judges. Cryptography is ring's (aws-lc-rs only generates
//! RSA keys, which ring cannot). Keys, secrets and signed JWTs print as redacted.

pub mod assertion;
pub mod dpop;
mod key;

pub use assertion::{AssertionBuilder, AssertionFlaw};
pub use dpop::{DpopFlaw, DpopProofBuilder};
pub use key::{jwk_thumbprint, KeyError, SigningKey};

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;
use serde_json::Value;

/// The JWS algorithms the harness signs with (RFC 7518 §3.1 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Ps256,
    Es256,
    EdDsa,
    Hs256,
}

impl Alg {
    pub const ALL: &'static [Alg] = &[Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa, Alg::Hs256];

    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Hs256 => "HS256",
        }
    }

    pub fn is_symmetric(self) -> bool {
        self == Alg::Hs256
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Alg {
    type Err = String;
    fn from_str(s: &str) -> Result<Alg, String> {
        Alg::ALL
            .iter()
            .copied()
            .find(|a| a.name() == s)
            .ok_or_else(|| {
                format!("unknown signing algorithm '{s}' (RS256, PS256, ES256, EdDSA, HS256)")
            })
    }
}

/// A compact JWS the harness made: a client assertion or a DPoP proof. It authenticates
/// whoever holds it, so it prints as redacted; [`SignedJwt::expose`] is for the one place
/// that sends it.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedJwt(String);

impl SignedJwt {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SignedJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignedJwt(<redacted>)")
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `base64url(header) . base64url(claims)`: what a JWS signs.
fn signing_input(header: &Value, claims: &Value) -> String {
    format!("{}.{}", b64(header.to_string()), b64(claims.to_string()))
}

/// 128 random bits, base64url: a `jti`.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // SystemRandom only fails when the OS has no randomness at all; fall back to the clock
    // and a counter so the id is still unique within the run.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes[..8].copy_from_slice(&nanos.to_be_bytes());
        bytes[8..].copy_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    }
    b64(bytes)
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithms_parse_by_their_jws_names_only() {
        for alg in Alg::ALL {
            assert_eq!(alg.name().parse::<Alg>(), Ok(*alg));
        }
        for bad in ["none", "rs256", "ES384", ""] {
            let err = bad.parse::<Alg>().unwrap_err();
            assert!(err.contains("RS256, PS256"), "{err}");
        }
    }

    #[test]
    fn signed_jwts_print_redacted_and_ids_are_random() {
        let jwt = SignedJwt("eyJhbGciOiJFUzI1NiJ9.e30.c2ln".into());
        assert_eq!(format!("{jwt:?}"), "SignedJwt(<redacted>)");
        let (a, b) = (random_id(), random_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
    }
}
