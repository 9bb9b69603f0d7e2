//! JWT client authentication (RFC 7521 §4.2, RFC 7523 §2.2 and §3; OIDC Core §9 names it
//! `private_key_jwt` when signed with the client's private key and `client_secret_jwt` when
//! MACed with its secret), as a sans-IO decision: the caller passes the request's
//! parameters, the client's registered keys, where the server is and what time it is.
//!
//! Every refusal is an [`AssertionError`], and every one of them means `invalid_client`
//! (RFC 6749 §5.2): the client failed to authenticate.
//!
//! # What is accepted
//!
//! - `client_assertion_type` is exactly [`JWT_BEARER`] (RFC 7523 §2.2).
//! - One compact JWS; `alg` from the client's allow-list: asymmetric algorithms for
//!   `private_key_jwt` (a public key can never verify an HMAC, so `HS256` keyed with the
//!   public key is refused), `HS256` with a secret of at least 256 bits for
//!   `client_secret_jwt` (RFC 7518 §3.2); `none` never. The key comes from the registration
//!   (by `kid`, or the only key that fits), never from the JWS header.
//! - `typ`, when present, is `JWT` or `client-authentication+jwt` (the explicit type of
//!   draft-ietf-oauth-rfc7523bis): a JWT typed for something else (`at+jwt`, `dpop+jwt`) is
//!   not a client assertion (RFC 8725 §3.11).
//! - `iss` and `sub` are both the client id (RFC 7523 §3 items 1 and 2.B; OIDC Core §9).
//! - `aud` identifies this server ([`Audience`]): its **issuer identifier** or its **token
//!   endpoint URL**, compared as simple strings (RFC 3986 §6.2.1, as RFC 7523 §3 item 3
//!   requires). The issuer is what draft-ietf-oauth-rfc7523bis asks clients to send (it
//!   closes the audience-injection attack on endpoint URLs); the token endpoint URL is what
//!   RFC 7523 §3 offers ("MAY be used") and OIDC Core §9 recommends ("SHOULD be the URL of
//!   the Authorization Server's Token Endpoint"), so deployed clients send it. The same two
//!   values are accepted at every endpoint that takes client authentication: they name the
//!   server, not the endpoint. An array is accepted when every member is one of them: an
//!   assertion that also names another server could be replayed there by this one, or here
//!   by that one.
//! - `exp` is required (RFC 7523 §3 item 4) and time-bound by [`Policy`]: not expired
//!   (with [`Policy::clock_skew`], 60 s), and at most [`Policy::max_lifetime`] (300 s) plus
//!   the skew ahead: RFC 7523 §3 lets the server refuse an `exp` "unreasonably far in the
//!   future", and the bound is what keeps the replay cache finite (each `jti` is remembered
//!   until its assertion expires).
//! - `nbf`, when present, is not in the future (beyond the skew; RFC 7523 §3 item 5).
//! - `iat`, when present, is not in the future and not older than the maximum lifetime plus
//!   the skew (RFC 7523 §3 item 6: "unreasonably far in the past").
//! - `jti` is required (OIDC Core §9: "REQUIRED"; RFC 7523 §3 item 7 makes it optional) and
//!   used once: "These tokens MUST only be used once" (OIDC Core §9); RFC 7523 §3 item 7
//!   leaves the replay check a MAY. It is checked last, so that an assertion refused for any
//!   other reason does not spend its `jti`, in a bounded [`ReplayCache`] that refuses when
//!   full.

use std::fmt;

use serde_json::Value;

use crate::jose::{numeric_date, Alg, JoseError, Jws, PublicJwk, VerifyingKey};
use crate::replay::{ReplayCache, ReplayError};

/// `client_assertion_type` for a JWT (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;

/// Time bounds, in seconds, and the rules a fault mode switched off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Allowed difference between the client's clock and this server's.
    pub clock_skew: u64,
    /// How far ahead `exp` may be (plus the skew), and how old `iat` may be (likewise).
    pub max_lifetime: u64,
    /// Rules not enforced: only the reference server's fault modes set these.
    pub lenience: Lenience,
}

/// Rules of RFC 7523 §3 the reference server's fault modes break on purpose, one each, so
/// that grantcheck's cases can be shown to catch them. All off in [`POLICY`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lenience {
    /// Accept `alg: none` assertions, unsigned (breaks §3 item 9).
    pub accept_alg_none: bool,
    /// Check the algorithm and pick the key, but accept any signature (breaks §3 item 9).
    pub skip_signature: bool,
    /// Accept any `aud`, or none (breaks §3 item 3).
    pub any_audience: bool,
    /// Accept an `exp` in the past, and the old `iat` that comes with it (breaks §3 item 4).
    pub accept_expired: bool,
    /// Take an `HS256` assertion from a client registered with public keys as verified
    /// (algorithm confusion: the header's `alg` trusted; breaks §3 item 9, RFC 8725 §2.1).
    pub trust_hs256_header: bool,
    /// Accept an assertion without `exp` (breaks §3 item 4).
    pub exp_optional: bool,
    /// Ignore `nbf`, and with it how far ahead `exp` is (a MAY), since an `nbf` ahead comes
    /// with a later `exp` (breaks §3 item 5).
    pub ignore_nbf: bool,
    /// Accept any `iss` (breaks RFC 7521 §5.2).
    pub any_iss: bool,
    /// Accept any `sub` (breaks §3 item 2.B).
    pub any_sub: bool,
}

impl Lenience {
    pub const STRICT: Lenience = Lenience {
        accept_alg_none: false,
        skip_signature: false,
        any_audience: false,
        accept_expired: false,
        trust_hs256_header: false,
        exp_optional: false,
        ignore_nbf: false,
        any_iss: false,
        any_sub: false,
    };
}

/// 60 s of clock skew, assertions living at most 5 minutes, every rule enforced.
pub const POLICY: Policy = Policy {
    clock_skew: 60,
    max_lifetime: 300,
    lenience: Lenience::STRICT,
};

impl Default for Policy {
    fn default() -> Policy {
        POLICY
    }
}

/// The values of `aud` that identify this server.
#[derive(Debug, Clone, Copy)]
pub struct Audience<'a> {
    /// The issuer identifier (RFC 8414 §2).
    pub issuer: &'a str,
    /// The token endpoint URL.
    pub token_endpoint: &'a str,
    /// Only a string `aud`, not an array (FAPI 2.0 §5.3.2.1 item 8: "as a string").
    pub string_only: bool,
}

impl Audience<'_> {
    pub fn accepts(&self, value: &str) -> bool {
        value == self.issuer || value == self.token_endpoint
    }
}

/// How the registered client proves itself.
#[derive(Clone, Copy)]
pub enum ClientKeys<'a> {
    /// `private_key_jwt`: the client's public keys and the algorithms it may use (only the
    /// asymmetric ones count, whatever the list says).
    Public {
        keys: &'a [PublicJwk],
        algs: &'a [Alg],
    },
    /// `client_secret_jwt`: HS256 with the client secret.
    Secret(&'a [u8]),
}

impl fmt::Debug for ClientKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKeys::Public { keys, algs } => f
                .debug_struct("Public")
                .field("keys", keys)
                .field("algs", algs)
                .finish(),
            ClientKeys::Secret(_) => f.write_str("Secret(<redacted>)"),
        }
    }
}

/// Why a client assertion was refused: always `invalid_client`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionError {
    /// `client_assertion_type` is not [`JWT_BEARER`].
    WrongAssertionType,
    /// The JWS itself: malformed, `alg` refused, wrong key, bad signature.
    Jose(JoseError),
    /// `typ` names another kind of JWT.
    TypNotAllowed,
    IssNotClient,
    SubNotClient,
    AudMissing,
    AudNotThisServer,
    ExpMissing,
    Expired,
    ExpTooFarAhead,
    NbfInFuture,
    IatInFuture,
    IatTooOld,
    /// `exp`, `nbf` or `iat` is not a NumericDate.
    BadTimeClaim,
    JtiMissing,
    /// The `jti` was used before, within the assertion's validity.
    Replayed,
    /// Too many live `jti`s to remember another: refused rather than risk a replay.
    ReplayCacheFull,
}

impl AssertionError {
    /// The RFC 6749 §5.2 error code.
    pub fn error_code(self) -> &'static str {
        "invalid_client"
    }

    /// A description fit for `error_description`: the rule, never the assertion.
    pub fn describe(self) -> &'static str {
        match self {
            AssertionError::WrongAssertionType => "unsupported client_assertion_type",
            AssertionError::Jose(e) => e.describe(),
            AssertionError::TypNotAllowed => "the JWT's typ is not a client assertion's",
            AssertionError::IssNotClient => "iss must be the client_id",
            AssertionError::SubNotClient => "sub must be the client_id",
            AssertionError::AudMissing => "aud is required",
            AssertionError::AudNotThisServer => "aud does not identify this server",
            AssertionError::ExpMissing => "exp is required",
            AssertionError::Expired => "the assertion has expired",
            AssertionError::ExpTooFarAhead => "exp is too far in the future",
            AssertionError::NbfInFuture => "the assertion is not valid yet (nbf)",
            AssertionError::IatInFuture => "iat is in the future",
            AssertionError::IatTooOld => "iat is too far in the past",
            AssertionError::BadTimeClaim => "exp, nbf and iat must be NumericDates",
            AssertionError::JtiMissing => "jti is required",
            AssertionError::Replayed => "the assertion's jti was already used",
            AssertionError::ReplayCacheFull => "too many assertions in flight, try again later",
        }
    }
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client assertion: {}", self.describe())
    }
}

impl std::error::Error for AssertionError {}

impl From<JoseError> for AssertionError {
    fn from(e: JoseError) -> AssertionError {
        AssertionError::Jose(e)
    }
}

/// An assertion that passed every check but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedAssertion {
    pub client_id: String,
    /// `None` only when a fault mode let an unsigned assertion through.
    pub alg: Option<Alg>,
    jti: String,
    /// The last instant at which the assertion could be accepted: its `jti` is remembered
    /// until then.
    keep_until: u64,
}

impl CheckedAssertion {
    /// Spends the `jti` (RFC 7523 §3 item 7, OIDC Core §9).
    pub fn record_use(&self, cache: &mut ReplayCache, now: u64) -> Result<(), AssertionError> {
        cache
            .check_and_insert(&self.client_id, &self.jti, self.keep_until, now)
            .map_err(|e| match e {
                ReplayError::Replayed => AssertionError::Replayed,
                ReplayError::Full => AssertionError::ReplayCacheFull,
            })
    }

    /// The replay check alone, for the fault `race-replay`, which records the use later
    /// ([`ReplayCache::record`]).
    pub fn check_unused(
        &self,
        cache: &mut ReplayCache,
        now: u64,
    ) -> Result<crate::replay::PendingUse, AssertionError> {
        cache
            .check_unused(&self.client_id, &self.jti, self.keep_until, now)
            .map_err(|e| match e {
                ReplayError::Replayed => AssertionError::Replayed,
                ReplayError::Full => AssertionError::ReplayCacheFull,
            })
    }
}

/// What the request carried.
#[derive(Clone, Copy)]
pub struct Presented<'a> {
    pub assertion_type: &'a str,
    pub assertion: &'a str,
}

impl fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Presented")
            .field("assertion_type", &self.assertion_type)
            .field("assertion", &"<redacted>")
            .finish()
    }
}

/// The client an assertion claims to come from (`sub`, RFC 7523 §3 item 2.B), read without
/// verifying anything, to find its registration when the request has no `client_id`
/// (RFC 7521 §4.2 makes it optional). Verification then requires `iss` = `sub` = that id.
pub fn unverified_client_id(assertion: &str) -> Option<String> {
    let jws = Jws::parse(assertion).ok()?;
    jws.claims().get("sub")?.as_str().map(str::to_owned)
}

/// Every check of RFC 7523 §3 except the replay check (see [`verify`]).
pub fn check(
    presented: Presented<'_>,
    client_id: &str,
    keys: ClientKeys<'_>,
    audience: Audience<'_>,
    now: u64,
    policy: Policy,
) -> Result<CheckedAssertion, AssertionError> {
    if presented.assertion_type != JWT_BEARER {
        return Err(AssertionError::WrongAssertionType);
    }
    let jws = Jws::parse(presented.assertion)?;
    if let Some(typ) = &jws.header.typ {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" && typ != "client-authentication+jwt" {
            return Err(AssertionError::TypNotAllowed);
        }
    }
    let lenience = policy.lenience;
    let alg = match keys {
        _ if lenience.accept_alg_none && jws.header.alg.eq_ignore_ascii_case("none") => None,
        ClientKeys::Public { .. } if lenience.trust_hs256_header && jws.header.alg == "HS256" => {
            Some(Alg::Hs256)
        }
        ClientKeys::Public { keys, algs } => {
            let asymmetric: Vec<Alg> = algs.iter().copied().filter(|a| !a.is_symmetric()).collect();
            let key = jws.select_key(keys, &asymmetric)?;
            Some(lenient_signature(
                jws.verify(&asymmetric, VerifyingKey::Public(key)),
                &jws,
                &asymmetric,
                lenience,
            )?)
        }
        ClientKeys::Secret(secret) => Some(lenient_signature(
            jws.verify(&[Alg::Hs256], VerifyingKey::Secret(secret)),
            &jws,
            &[Alg::Hs256],
            lenience,
        )?),
    };
    let claims = jws.claims();
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(client_id) && !lenience.any_iss {
        return Err(AssertionError::IssNotClient);
    }
    if text("sub") != Some(client_id) && !lenience.any_sub {
        return Err(AssertionError::SubNotClient);
    }
    match claims.get("aud") {
        _ if lenience.any_audience => {}
        None => return Err(AssertionError::AudMissing),
        Some(Value::String(aud)) if audience.accepts(aud) => {}
        Some(Value::Array(auds))
            if !audience.string_only
                && !auds.is_empty()
                && auds
                    .iter()
                    .all(|a| a.as_str().is_some_and(|a| audience.accepts(a))) => {}
        Some(_) => return Err(AssertionError::AudNotThisServer),
    }
    let date = |name, round_up| {
        numeric_date(claims, name, round_up).map_err(|_| AssertionError::BadTimeClaim)
    };
    let skew = policy.clock_skew;
    // An `exp` with a fraction counts as the earlier second, `nbf`/`iat` as the later one.
    let exp = match date("exp", false)? {
        Some(exp) => exp,
        // Without `exp`, a server that does not require it keeps the jti for the skew only.
        None if lenience.exp_optional => now,
        None => return Err(AssertionError::ExpMissing),
    };
    let keep_until = exp.saturating_add(skew);
    if now >= keep_until && !lenience.accept_expired {
        return Err(AssertionError::Expired);
    }
    // `nbf` before the lifetime: an assertion not valid yet is refused as such, however
    // far ahead its `exp` is.
    if date("nbf", true)?.is_some_and(|nbf| nbf > now.saturating_add(skew)) && !lenience.ignore_nbf
    {
        return Err(AssertionError::NbfInFuture);
    }
    if exp > now.saturating_add(policy.max_lifetime).saturating_add(skew) && !lenience.ignore_nbf {
        return Err(AssertionError::ExpTooFarAhead);
    }
    if let Some(iat) = date("iat", true)? {
        if iat > now.saturating_add(skew) {
            return Err(AssertionError::IatInFuture);
        }
        // A server that ignores `exp` ignores the age that goes with it.
        if iat.saturating_add(policy.max_lifetime).saturating_add(skew) < now
            && !lenience.accept_expired
        {
            return Err(AssertionError::IatTooOld);
        }
    }
    let jti = match text("jti") {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => jti,
        _ => return Err(AssertionError::JtiMissing),
    };
    Ok(CheckedAssertion {
        client_id: client_id.to_owned(),
        alg,
        jti: jti.to_owned(),
        keep_until,
    })
}

/// A signature check's result, with a bad signature forgiven under
/// [`Lenience::skip_signature`] (the algorithm must still be allowed).
fn lenient_signature(
    verified: Result<Alg, JoseError>,
    jws: &Jws,
    allowed: &[Alg],
    lenience: Lenience,
) -> Result<Alg, JoseError> {
    match verified {
        Err(JoseError::BadSignature) if lenience.skip_signature => jws.alg(allowed),
        other => other,
    }
}

/// Verifies a client assertion for `client_id` and spends its `jti`.
pub fn verify(
    presented: Presented<'_>,
    client_id: &str,
    keys: ClientKeys<'_>,
    audience: Audience<'_>,
    now: u64,
    policy: Policy,
    cache: &mut ReplayCache,
) -> Result<CheckedAssertion, AssertionError> {
    let checked = check(presented, client_id, keys, audience, now, policy)?;
    checked.record_use(cache, now)?;
    Ok(checked)
}

#[cfg(test)]
mod tests;
