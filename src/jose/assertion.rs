//! Client assertions (RFC 7523 §2.2, §3; OIDC Core §9 `private_key_jwt` and
//! `client_secret_jwt`), well-formed or with one deliberate flaw a case names.
//!
//! A well-formed assertion: header `alg` (and `kid` when the key has one); claims `iss` =
//! `sub` = the client id, `aud` = the audience given (the token endpoint URL or the issuer),
//! `iat` = now, `exp` = now + 60 s, a fresh random `jti`. Each flaw changes exactly one
//! thing, so that a server refusing it refuses it for that reason.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::key::hmac_sha256;
use super::{b64, random_id, signing_input, Alg, KeyError, SignedJwt, SigningKey};

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a well-formed assertion lives: short, as RFC 7523 §3 expects ("limits the time
/// window during which the JWT can be used").
pub const LIFETIME_SECS: u64 = 60;

/// How long ago an `expired` assertion's `exp` was, and how far ahead a `nbf_in_future`
/// one's `nbf` is: an hour, so that only skew-free behaviour is judged. A server may allow
/// for clock skew (RFC 7523 §3 item 4: "subject to allowable clock skew between systems";
/// RFC 7519 §4.1.4: "usually no more than a few minutes"), and .NET's default is 300 s.
pub const EXPIRED_SECS: u64 = 3600;
pub const NOT_YET_SECS: u64 = 3600;

/// An audience no server is: `.invalid` is reserved (RFC 6761 §6.4).
pub const OTHER_AUDIENCE: &str = "https://as.grantcheck.invalid/token";

/// A client id that is not the client's.
pub const OTHER_CLIENT: &str = "grantcheck-other-client";

/// The `typ` a [`AssertionFlaw::WrongType`] uses when the case names none: an access
/// token's (RFC 9068), a JWT that must never pass as a client assertion.
pub const DEFAULT_WRONG_TYPE: &str = "at+jwt";

/// One deliberate defect in an assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssertionFlaw {
    /// None: a well-formed assertion.
    None,
    /// `typ` names another kind of JWT (RFC 8725 §3.11).
    WrongType(String),
    /// Signed by a key other than the registered one (same algorithm, same `kid`); for
    /// `client_secret_jwt`, MACed with another secret.
    SignedByOtherKey,
    /// `alg: none` and no signature (RFC 7518 §3.6).
    AlgNone,
    /// HS256 keyed with the client's public JWK: the algorithm-confusion attack.
    Hs256WithPublicKey,
    /// `exp` an hour ago (and `iat` a minute before that): past any clock skew a server
    /// may allow (.NET's default is five minutes; RFC 7519 §4.1.4 "usually no more than a
    /// few minutes").
    Expired,
    /// No `exp` (RFC 7523 §3 item 4: required).
    MissingExp,
    /// `exp` a day ahead.
    FarFutureExp,
    /// `nbf` an hour ahead, `exp` a minute after it (RFC 7523 §3 item 5): past any clock
    /// skew a server may allow.
    NbfInFuture,
    /// `iat` an hour ago, `exp` still ahead (RFC 7523 §3 item 6).
    IatFarPast,
    /// `iat` four minutes ahead.
    IatInFuture,
    /// No `jti` (OIDC Core §9: required).
    MissingJti,
    /// Well-formed, but with the `jti` of the previous assertion this builder made.
    Replayed,
    /// `iss` is another client id.
    IssNotClient,
    /// `sub` is another client id.
    SubNotClient,
    /// `aud` names another server.
    AudOtherServer,
    /// No `aud`.
    AudMissing,
    /// `aud` as a one-element array holding the usual audience (FAPI 2.0 §5.3.2.1 item 8:
    /// the issuer "as a string").
    AudArray,
    /// `aud` is the token endpoint URL where the usual audience is the issuer.
    AudTokenEndpoint,
    /// `iat` and `nbf` five seconds ahead (FAPI 2.0 §5.3.2.1 item 13: accepted up to 10 s).
    IatNearFuture,
    /// `iat` and `nbf` ninety seconds ahead (FAPI 2.0 §5.3.2.1 item 13: refused past 60 s).
    IatBeyondFapiSkew,
}

/// Every flaw's name, for error messages and `list`.
pub const FLAW_NAMES: &[&str] = &[
    "none",
    "wrong_type[:TYP]",
    "signed_by_other_key",
    "alg_none",
    "hs256_with_public_key",
    "expired",
    "missing_exp",
    "far_future_exp",
    "nbf_in_future",
    "iat_far_past",
    "iat_in_future",
    "missing_jti",
    "replayed",
    "iss_not_client",
    "sub_not_client",
    "aud_other_server",
    "aud_missing",
    "aud_array",
    "aud_token_endpoint",
    "iat_near_future",
    "iat_beyond_fapi_skew",
];

impl AssertionFlaw {
    /// The name a case file uses.
    pub fn name(&self) -> String {
        let name = match self {
            AssertionFlaw::None => "none",
            AssertionFlaw::WrongType(typ) => return format!("wrong_type:{typ}"),
            AssertionFlaw::SignedByOtherKey => "signed_by_other_key",
            AssertionFlaw::AlgNone => "alg_none",
            AssertionFlaw::Hs256WithPublicKey => "hs256_with_public_key",
            AssertionFlaw::Expired => "expired",
            AssertionFlaw::MissingExp => "missing_exp",
            AssertionFlaw::FarFutureExp => "far_future_exp",
            AssertionFlaw::NbfInFuture => "nbf_in_future",
            AssertionFlaw::IatFarPast => "iat_far_past",
            AssertionFlaw::IatInFuture => "iat_in_future",
            AssertionFlaw::MissingJti => "missing_jti",
            AssertionFlaw::Replayed => "replayed",
            AssertionFlaw::IssNotClient => "iss_not_client",
            AssertionFlaw::SubNotClient => "sub_not_client",
            AssertionFlaw::AudOtherServer => "aud_other_server",
            AssertionFlaw::AudMissing => "aud_missing",
            AssertionFlaw::AudArray => "aud_array",
            AssertionFlaw::AudTokenEndpoint => "aud_token_endpoint",
            AssertionFlaw::IatNearFuture => "iat_near_future",
            AssertionFlaw::IatBeyondFapiSkew => "iat_beyond_fapi_skew",
        };
        name.to_owned()
    }
}

impl fmt::Display for AssertionFlaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for AssertionFlaw {
    type Err = String;
    fn from_str(s: &str) -> Result<AssertionFlaw, String> {
        if let Some(typ) = s.strip_prefix("wrong_type:") {
            if typ.is_empty() {
                return Err(
                    "wrong_type: needs a typ after the colon (e.g. wrong_type:dpop+jwt)".into(),
                );
            }
            return Ok(AssertionFlaw::WrongType(typ.to_owned()));
        }
        Ok(match s {
            "none" => AssertionFlaw::None,
            "wrong_type" => AssertionFlaw::WrongType(DEFAULT_WRONG_TYPE.into()),
            "signed_by_other_key" => AssertionFlaw::SignedByOtherKey,
            "alg_none" => AssertionFlaw::AlgNone,
            "hs256_with_public_key" => AssertionFlaw::Hs256WithPublicKey,
            "expired" => AssertionFlaw::Expired,
            "missing_exp" => AssertionFlaw::MissingExp,
            "far_future_exp" => AssertionFlaw::FarFutureExp,
            "nbf_in_future" => AssertionFlaw::NbfInFuture,
            "iat_far_past" => AssertionFlaw::IatFarPast,
            "iat_in_future" => AssertionFlaw::IatInFuture,
            "missing_jti" => AssertionFlaw::MissingJti,
            "replayed" => AssertionFlaw::Replayed,
            "iss_not_client" => AssertionFlaw::IssNotClient,
            "sub_not_client" => AssertionFlaw::SubNotClient,
            "aud_other_server" => AssertionFlaw::AudOtherServer,
            "aud_missing" => AssertionFlaw::AudMissing,
            "aud_array" => AssertionFlaw::AudArray,
            "aud_token_endpoint" => AssertionFlaw::AudTokenEndpoint,
            "iat_near_future" => AssertionFlaw::IatNearFuture,
            "iat_beyond_fapi_skew" => AssertionFlaw::IatBeyondFapiSkew,
            other => {
                return Err(format!(
                    "unknown client assertion flaw '{other}' (one of: {})",
                    FLAW_NAMES.join(", ")
                ))
            }
        })
    }
}

impl<'de> serde::Deserialize<'de> for AssertionFlaw {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// Why an assertion could not be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The flaw needs something this client's key does not have (a public key to confuse
    /// with a secret).
    NotApplicable(String),
    Key(KeyError),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NotApplicable(why) => f.write_str(why),
            BuildError::Key(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BuildError {}

impl From<KeyError> for BuildError {
    fn from(e: KeyError) -> BuildError {
        BuildError::Key(e)
    }
}

/// Makes a client's assertions; remembers the last `jti` for [`AssertionFlaw::Replayed`].
#[derive(Debug, Clone)]
pub struct AssertionBuilder {
    key: Arc<SigningKey>,
    client_id: String,
    audience: String,
    /// The token endpoint URL, for [`AssertionFlaw::AudTokenEndpoint`].
    token_endpoint: Option<String>,
    last_jti: Option<String>,
}

impl AssertionBuilder {
    /// `audience`: the `aud` value to send (the token endpoint URL, or the issuer).
    pub fn new(key: Arc<SigningKey>, client_id: &str, audience: &str) -> AssertionBuilder {
        AssertionBuilder {
            key,
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            token_endpoint: None,
            last_jti: None,
        }
    }

    /// The token endpoint URL, for the flaw that sends it as `aud`.
    pub fn with_token_endpoint(mut self, url: &str) -> AssertionBuilder {
        self.token_endpoint = Some(url.to_owned());
        self
    }

    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Starts from the `jti` an earlier builder used (a case's earlier step), for
    /// [`AssertionFlaw::Replayed`].
    pub fn with_last_jti(mut self, jti: Option<String>) -> AssertionBuilder {
        self.last_jti = jti;
        self
    }

    /// The `jti` of the last assertion made (or given to [`Self::with_last_jti`]).
    pub fn last_jti(&self) -> Option<&str> {
        self.last_jti.as_deref()
    }

    /// An assertion with `flaw`, made at `now` (seconds since the epoch).
    pub fn build(&mut self, flaw: &AssertionFlaw, now: u64) -> Result<SignedJwt, BuildError> {
        let jti = match (flaw, &self.last_jti) {
            (AssertionFlaw::Replayed, Some(last)) => last.clone(),
            _ => random_id(),
        };
        let mut claims = json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.audience,
            "iat": now,
            "exp": now + LIFETIME_SECS,
            "jti": jti,
        });
        let mut header = Map::new();
        let set = |claims: &mut Value, name: &str, value: Value| {
            if let Some(map) = claims.as_object_mut() {
                if value.is_null() {
                    map.remove(name);
                } else {
                    map.insert(name.to_owned(), value);
                }
            }
        };
        match flaw {
            AssertionFlaw::WrongType(typ) => {
                header.insert("typ".into(), typ.clone().into());
            }
            AssertionFlaw::Expired => {
                set(
                    &mut claims,
                    "iat",
                    json!(now.saturating_sub(EXPIRED_SECS + 60)),
                );
                set(&mut claims, "exp", json!(now.saturating_sub(EXPIRED_SECS)));
            }
            AssertionFlaw::MissingExp => set(&mut claims, "exp", Value::Null),
            AssertionFlaw::FarFutureExp => set(&mut claims, "exp", json!(now + 86_400)),
            AssertionFlaw::NbfInFuture => {
                set(&mut claims, "nbf", json!(now + NOT_YET_SECS));
                set(&mut claims, "exp", json!(now + NOT_YET_SECS + 60));
            }
            AssertionFlaw::IatFarPast => set(&mut claims, "iat", json!(now.saturating_sub(3600))),
            AssertionFlaw::IatInFuture => {
                set(&mut claims, "iat", json!(now + 240));
                set(&mut claims, "exp", json!(now + 300));
            }
            AssertionFlaw::MissingJti => set(&mut claims, "jti", Value::Null),
            AssertionFlaw::IssNotClient => set(&mut claims, "iss", json!(OTHER_CLIENT)),
            AssertionFlaw::SubNotClient => set(&mut claims, "sub", json!(OTHER_CLIENT)),
            AssertionFlaw::AudOtherServer => set(&mut claims, "aud", json!(OTHER_AUDIENCE)),
            AssertionFlaw::AudMissing => set(&mut claims, "aud", Value::Null),
            AssertionFlaw::AudArray => set(&mut claims, "aud", json!([self.audience])),
            AssertionFlaw::AudTokenEndpoint => match &self.token_endpoint {
                Some(url) if *url != self.audience => set(&mut claims, "aud", json!(url)),
                _ => {
                    return Err(BuildError::NotApplicable(
                        "the assertions' aud is already the token endpoint URL (--client-assertion-aud issuer sends the issuer)".into(),
                    ))
                }
            },
            AssertionFlaw::IatNearFuture => {
                set(&mut claims, "iat", json!(now + 5));
                set(&mut claims, "nbf", json!(now + 5));
                set(&mut claims, "exp", json!(now + 65));
            }
            AssertionFlaw::IatBeyondFapiSkew => {
                set(&mut claims, "iat", json!(now + 90));
                set(&mut claims, "nbf", json!(now + 90));
                set(&mut claims, "exp", json!(now + 150));
            }
            AssertionFlaw::None
            | AssertionFlaw::SignedByOtherKey
            | AssertionFlaw::AlgNone
            | AssertionFlaw::Hs256WithPublicKey
            | AssertionFlaw::Replayed => {}
        }
        let jwt = match flaw {
            AssertionFlaw::SignedByOtherKey => {
                // Same algorithm and `kid`, so that the server picks the registered key and
                // only the signature is wrong.
                let other = SigningKey::generate(self.key.alg())?;
                if let Some(kid) = self.key.kid() {
                    header.insert("kid".into(), kid.into());
                }
                other.sign_without_kid(header, &claims)?
            }
            AssertionFlaw::AlgNone => {
                header.insert("alg".into(), "none".into());
                if let Some(kid) = self.key.kid() {
                    header.insert("kid".into(), kid.into());
                }
                SignedJwt(format!(
                    "{}.",
                    signing_input(&Value::Object(header), &claims)
                ))
            }
            AssertionFlaw::Hs256WithPublicKey => {
                let public = self.key.public_jwk().ok_or_else(|| {
                    BuildError::NotApplicable(
                        "hs256_with_public_key needs a client with a public key (private_key_jwt)"
                            .into(),
                    )
                })?;
                header.insert("alg".into(), Alg::Hs256.name().into());
                if let Some(kid) = self.key.kid() {
                    header.insert("kid".into(), kid.into());
                }
                let input = signing_input(&Value::Object(header), &claims);
                let mac = hmac_sha256(public.to_string().as_bytes(), input.as_bytes());
                SignedJwt(format!("{input}.{}", b64(mac)))
            }
            _ => self.key.sign(header, &claims)?,
        };
        if !matches!(flaw, AssertionFlaw::MissingJti) {
            self.last_jti = Some(jti);
        }
        Ok(jwt)
    }
}

#[cfg(test)]
mod tests;
