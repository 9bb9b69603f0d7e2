//! JOSE for what clients send: a compact JWS (RFC 7515 §7.1) parsed strictly, its `alg`
//! checked against an allow-list (never `none`), its signature verified with a public JWK
//! (RFC 7517, RFC 7518 §6: RSA `n`/`e`, EC P-256 `x`/`y`, OKP Ed25519 `x`) or an HMAC
//! secret, and RFC 7638 JWK thumbprints. Verification only: the server never signs with a
//! client's key. The cryptography is ring's.
//!
//! Used by [`crate::client_assertion`] (RFC 7523 client authentication) and [`crate::dpop`]
//! (RFC 9449 proofs). Errors name the rule that failed and never carry key material or
//! the token itself.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// The longest compact JWS looked at: larger ones are refused before any decoding.
pub const MAX_JWS_LEN: usize = 16 * 1024;

/// Smallest HMAC key for HS256: RFC 7518 §3.2 "A key of the same size as the hash output
/// (for instance, 256 bits for "HS256") or larger MUST be used with this algorithm."
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// The JWS algorithms this server can verify (RFC 7518 §3.1 names; `Ed25519` is the
/// fully-specified name of RFC 9864 for what `EdDSA` with an Ed25519 key means).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    Rs256,
    Ps256,
    Es256,
    EdDsa,
    Ed25519,
    Hs256,
}

impl Alg {
    /// Every algorithm, asymmetric ones first.
    pub const ALL: &'static [Alg] = &[
        Alg::Rs256,
        Alg::Ps256,
        Alg::Es256,
        Alg::EdDsa,
        Alg::Ed25519,
        Alg::Hs256,
    ];

    /// The algorithms whose keys can be public: `private_key_jwt` and DPoP take only these.
    pub const ASYMMETRIC: &'static [Alg] =
        &[Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa, Alg::Ed25519];

    /// FAPI 2.0 Security Profile §5.4.1: "use PS256, ES256, or EdDSA (using the Ed25519
    /// variant) algorithms".
    pub const FAPI2: &'static [Alg] = &[Alg::Ps256, Alg::Es256, Alg::EdDsa, Alg::Ed25519];

    /// The name in a JWS header (case-sensitive, RFC 7515 §4.1.1).
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Ed25519 => "Ed25519",
            Alg::Hs256 => "HS256",
        }
    }

    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.iter().copied().find(|a| a.name() == name)
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

/// Why a JWS or a JWK was refused. The texts are fit for an `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoseError {
    /// Longer than [`MAX_JWS_LEN`].
    TooLong,
    /// Not three base64url segments separated by dots.
    NotCompact,
    /// A segment is not unpadded base64url.
    BadEncoding,
    /// The header is not a JSON object, or a member has the wrong type.
    BadHeader,
    /// The payload is not a JSON object.
    BadPayload,
    /// `alg` is `none`: an unsecured JWS (RFC 7518 §3.6) is never accepted.
    AlgNone,
    /// `alg` names an algorithm this server does not implement.
    AlgUnknown,
    /// `alg` is known but not allowed here (e.g. HS256 where a public key is required).
    AlgNotAllowed,
    /// `crit` lists extensions; this server understands none (RFC 7515 §4.1.11).
    CritUnsupported,
    /// The JWK is not one of RSA, EC P-256 or OKP Ed25519, or a member is malformed.
    KeyUnsupported,
    /// The JWK carries private members (`d`, RSA primes, or `k`).
    PrivateKeyInJwk,
    /// The key does not fit `alg` (type, curve, its own `alg` or `use`), or an HMAC secret
    /// is shorter than RFC 7518 §3.2 allows.
    KeyAlgMismatch,
    /// No registered key has the header's `kid`, or several could verify and none is named.
    NoMatchingKey,
    /// The signature does not verify.
    BadSignature,
}

impl JoseError {
    pub fn describe(self) -> &'static str {
        match self {
            JoseError::TooLong => "the JWT is too long",
            JoseError::NotCompact => "not a compact JWS (three base64url parts)",
            JoseError::BadEncoding => "a JWS part is not unpadded base64url",
            JoseError::BadHeader => "the JWS header is not a valid JSON object",
            JoseError::BadPayload => "the JWT claims are not a JSON object",
            JoseError::AlgNone => "alg none is not accepted",
            JoseError::AlgUnknown => "unsupported alg",
            JoseError::AlgNotAllowed => "alg not allowed here",
            JoseError::CritUnsupported => "unsupported crit header",
            JoseError::KeyUnsupported => "unsupported or malformed JWK",
            JoseError::PrivateKeyInJwk => "the JWK contains a private key",
            JoseError::KeyAlgMismatch => "the key does not fit the alg",
            JoseError::NoMatchingKey => "no registered key matches the JWS",
            JoseError::BadSignature => "the signature does not verify",
        }
    }
}

impl fmt::Display for JoseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl std::error::Error for JoseError {}

fn b64(segment: &str) -> Result<Vec<u8>, JoseError> {
    // URL_SAFE_NO_PAD refuses padding and non-canonical trailing bits.
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| JoseError::BadEncoding)
}

/// The JOSE header members this server reads.
#[derive(Debug, Clone)]
pub struct Header {
    /// As written; checked by [`Jws::verify`] against an allow-list.
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    /// A public key carried in the header (DPoP, RFC 9449 §4.2); never trusted for client
    /// authentication, where keys come from the registration.
    pub jwk: Option<Map<String, Value>>,
}

/// A parsed compact JWS whose signature has not been checked yet.
pub struct Jws {
    pub header: Header,
    claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl fmt::Debug for Jws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws")
            .field("alg", &self.header.alg)
            .field("typ", &self.header.typ)
            .field("kid", &self.header.kid)
            .finish_non_exhaustive()
    }
}

impl Jws {
    /// Splits and decodes a compact JWS whose header and payload are JSON objects. Duplicate
    /// member names keep the last one (RFC 7515 §4, RFC 7519 §4 allow that reading).
    pub fn parse(compact: &str) -> Result<Jws, JoseError> {
        if compact.len() > MAX_JWS_LEN {
            return Err(JoseError::TooLong);
        }
        let mut parts = compact.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JoseError::NotCompact);
        };
        if h.is_empty() || p.is_empty() {
            return Err(JoseError::NotCompact);
        }
        let header: Map<String, Value> =
            serde_json::from_slice(&b64(h)?).map_err(|_| JoseError::BadHeader)?;
        let claims: Map<String, Value> =
            serde_json::from_slice(&b64(p)?).map_err(|_| JoseError::BadPayload)?;
        let signature = b64(s)?;
        let text = |name: &str| -> Result<Option<String>, JoseError> {
            match header.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(JoseError::BadHeader),
            }
        };
        let alg = text("alg")?.ok_or(JoseError::BadHeader)?;
        let typ = text("typ")?;
        let kid = text("kid")?;
        let jwk = match header.get("jwk") {
            None => None,
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => return Err(JoseError::BadHeader),
        };
        if header.contains_key("crit") {
            return Err(JoseError::CritUnsupported);
        }
        Ok(Jws {
            header: Header { alg, typ, kid, jwk },
            claims,
            signing_input: format!("{h}.{p}"),
            signature,
        })
    }

    /// The claims, not yet verified.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The header's `alg`, if it is one of `allowed`. `none` is refused whatever the list.
    pub fn alg(&self, allowed: &[Alg]) -> Result<Alg, JoseError> {
        if self.header.alg.eq_ignore_ascii_case("none") {
            return Err(JoseError::AlgNone);
        }
        let alg = Alg::from_name(&self.header.alg).ok_or(JoseError::AlgUnknown)?;
        if !allowed.contains(&alg) {
            return Err(JoseError::AlgNotAllowed);
        }
        Ok(alg)
    }

    /// Checks `alg` against `allowed` and the signature with `key`; returns the algorithm.
    pub fn verify(&self, allowed: &[Alg], key: VerifyingKey<'_>) -> Result<Alg, JoseError> {
        let alg = self.alg(allowed)?;
        let input = self.signing_input.as_bytes();
        match key {
            VerifyingKey::Public(jwk) => jwk.verify(alg, input, &self.signature)?,
            VerifyingKey::Secret(secret) => {
                if alg != Alg::Hs256 || secret.len() < MIN_HMAC_SECRET_LEN {
                    return Err(JoseError::KeyAlgMismatch);
                }
                let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
                ring::hmac::verify(&key, input, &self.signature)
                    .map_err(|_| JoseError::BadSignature)?;
            }
        }
        Ok(alg)
    }

    /// Picks the key of `keys` that should verify this JWS: the one with the header's `kid`,
    /// or, without `kid`, the only key that fits the algorithm.
    pub fn select_key<'k>(
        &self,
        keys: &'k [PublicJwk],
        allowed: &[Alg],
    ) -> Result<&'k PublicJwk, JoseError> {
        let alg = self.alg(allowed)?;
        if let Some(kid) = &self.header.kid {
            return keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid.as_str()))
                .ok_or(JoseError::NoMatchingKey);
        }
        let mut fitting = keys.iter().filter(|k| k.fits(alg));
        match (fitting.next(), fitting.next()) {
            (Some(key), None) => Ok(key),
            _ => Err(JoseError::NoMatchingKey),
        }
    }
}

/// What verifies a signature: a public key, or an HMAC secret (`client_secret_jwt`).
#[derive(Clone, Copy)]
pub enum VerifyingKey<'a> {
    Public(&'a PublicJwk),
    Secret(&'a [u8]),
}

impl fmt::Debug for VerifyingKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyingKey::Public(jwk) => f.debug_tuple("Public").field(jwk).finish(),
            VerifyingKey::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

#[derive(Clone, PartialEq, Eq)]
enum KeyKind {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    P256 { x: Vec<u8>, y: Vec<u8> },
    Ed25519 { x: Vec<u8> },
}

/// A public key from a JWK (RFC 7517): RSA, EC P-256 or OKP Ed25519.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicJwk {
    kind: KeyKind,
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one: the key is then for that algorithm only.
    pub alg: Option<String>,
    /// The JWK's `use`, when present (`sig` for signing keys).
    pub key_use: Option<String>,
}

impl fmt::Debug for PublicJwk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicJwk")
            .field("kty", &self.kty())
            .field("kid", &self.kid)
            .field("thumbprint", &self.thumbprint())
            .finish()
    }
}

/// Members that only private (or symmetric) JWKs have (RFC 7518 §6.2.2, §6.3.2, §6.4.1,
/// RFC 8037 §2).
pub(crate) const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl PublicJwk {
    /// Reads a public JWK. A JWK with private members is refused, not stripped: whoever
    /// sent it has leaked the key.
    pub fn from_json(jwk: &Map<String, Value>) -> Result<PublicJwk, JoseError> {
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(JoseError::PrivateKeyInJwk);
        }
        let text = |name: &str| -> Result<Option<&str>, JoseError> {
            match jwk.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(_) => Err(JoseError::KeyUnsupported),
            }
        };
        let required = |name: &str| -> Result<Vec<u8>, JoseError> {
            let value = text(name)?.ok_or(JoseError::KeyUnsupported)?;
            b64(value).map_err(|_| JoseError::KeyUnsupported)
        };
        let fixed = |name: &str, len: usize| -> Result<Vec<u8>, JoseError> {
            let bytes = required(name)?;
            if bytes.len() == len {
                Ok(bytes)
            } else {
                Err(JoseError::KeyUnsupported)
            }
        };
        let kind = match (text("kty")?, text("crv")?) {
            (Some("RSA"), _) => {
                let (n, e) = (required("n")?, required("e")?);
                // Base64urlUInt: the minimum number of octets (RFC 7518 §2), so that the
                // thumbprint, computed from these bytes, matches the member as written.
                if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                    return Err(JoseError::KeyUnsupported);
                }
                KeyKind::Rsa { n, e }
            }
            (Some("EC"), Some("P-256")) => KeyKind::P256 {
                x: fixed("x", 32)?,
                y: fixed("y", 32)?,
            },
            (Some("OKP"), Some("Ed25519")) => KeyKind::Ed25519 { x: fixed("x", 32)? },
            _ => return Err(JoseError::KeyUnsupported),
        };
        Ok(PublicJwk {
            kind,
            kid: text("kid")?.map(str::to_owned),
            alg: text("alg")?.map(str::to_owned),
            key_use: text("use")?.map(str::to_owned),
        })
    }

    /// `kty`: `RSA`, `EC` or `OKP`.
    pub fn kty(&self) -> &'static str {
        match self.kind {
            KeyKind::Rsa { .. } => "RSA",
            KeyKind::P256 { .. } => "EC",
            KeyKind::Ed25519 { .. } => "OKP",
        }
    }

    /// Whether this key can verify `alg` signatures: its type and curve, and its own `alg`
    /// and `use` when it states them (RFC 7517 §4.2, §4.4).
    pub fn fits(&self, alg: Alg) -> bool {
        let kind_fits = matches!(
            (&self.kind, alg),
            (KeyKind::Rsa { .. }, Alg::Rs256 | Alg::Ps256)
                | (KeyKind::P256 { .. }, Alg::Es256)
                | (KeyKind::Ed25519 { .. }, Alg::EdDsa | Alg::Ed25519)
        );
        let alg_fits = self.alg.as_deref().is_none_or(|a| a == alg.name());
        let use_fits = self.key_use.as_deref().is_none_or(|u| u == "sig");
        kind_fits && alg_fits && use_fits
    }

    fn verify(&self, alg: Alg, input: &[u8], sig: &[u8]) -> Result<(), JoseError> {
        if !self.fits(alg) {
            return Err(JoseError::KeyAlgMismatch);
        }
        let ok = match (&self.kind, alg) {
            (KeyKind::Rsa { n, e }, Alg::Rs256 | Alg::Ps256) => {
                let params = if alg == Alg::Rs256 {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &signature::RSA_PSS_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n, e }
                    .verify(params, input, sig)
                    .is_ok()
            }
            (KeyKind::P256 { x, y }, Alg::Es256) => {
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(input, sig)
                    .is_ok()
            }
            (KeyKind::Ed25519 { x }, Alg::EdDsa | Alg::Ed25519) => {
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(input, sig)
                    .is_ok()
            }
            _ => return Err(JoseError::KeyAlgMismatch),
        };
        if ok {
            Ok(())
        } else {
            Err(JoseError::BadSignature)
        }
    }

    /// The RFC 7638 thumbprint: base64url(SHA-256) of the required members, in
    /// lexicographic order, without whitespace.
    pub fn thumbprint(&self) -> String {
        let enc = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        // base64url values need no JSON escaping, so the members can be written as is.
        let canonical = match &self.kind {
            KeyKind::Rsa { n, e } => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, enc(e), enc(n))
            }
            KeyKind::P256 { x, y } => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                enc(x),
                enc(y)
            ),
            KeyKind::Ed25519 { x } => {
                format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, enc(x))
            }
        };
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ))
    }
}

/// Reads a JWK Set (RFC 7517 §5): `{"keys": [...]}`. Every key must be a usable public key;
/// a set with a private key is refused as a whole.
pub fn parse_jwks(jwks: &Value) -> Result<Vec<PublicJwk>, JoseError> {
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JoseError::KeyUnsupported)?;
    keys.iter()
        .map(|key| match key {
            Value::Object(map) => PublicJwk::from_json(map),
            _ => Err(JoseError::KeyUnsupported),
        })
        .collect()
}

/// A time claim that is not a NumericDate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotNumericDate;

/// Reads a JWT NumericDate claim (RFC 7519 §2): seconds since the epoch, possibly with a
/// fraction; `round_up` says which way a fraction goes, so that each caller errs on the side
/// of refusing. `None` when absent; `Err` when it is not a non-negative number.
pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
    round_up: bool,
) -> Result<Option<u64>, NotNumericDate> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(NotNumericDate);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
            Ok(Some(if round_up { f.ceil() } else { f.floor() } as u64))
        }
        _ => Err(NotNumericDate),
    }
}

/// Test signers built on ring, shared by the unit tests of `jose`, `client_assertion` and
/// `dpop` (the server itself never signs with client keys).
#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests;
