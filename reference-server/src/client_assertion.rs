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
            if !auds.is_empty()
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
mod tests {
    use super::*;
    use crate::jose::testing::{header, hs256, unsecured, TestKey};
    use serde_json::{json, Map};

    const NOW: u64 = 1_800_000_000;
    const ISSUER: &str = "http://127.0.0.1:8080/oauth2";
    const TOKEN: &str = "http://127.0.0.1:8080/oauth2/access_token";
    const CLIENT: &str = "jwtClient";
    const SECRET: &[u8] = b"hmac-secret-0123456789abcdef0123456789abcdef";

    fn audience() -> Audience<'static> {
        Audience {
            issuer: ISSUER,
            token_endpoint: TOKEN,
        }
    }

    fn claims() -> Value {
        json!({
            "iss": CLIENT, "sub": CLIENT, "aud": TOKEN,
            "exp": NOW + 60, "iat": NOW, "jti": "jti-1",
        })
    }

    fn with(changes: Value) -> Value {
        let mut claims = claims();
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
    }

    fn run(assertion: &str, key: &TestKey) -> Result<CheckedAssertion, AssertionError> {
        run_at(assertion, key, NOW, &mut ReplayCache::new(16))
    }

    fn run_at(
        assertion: &str,
        key: &TestKey,
        now: u64,
        cache: &mut ReplayCache,
    ) -> Result<CheckedAssertion, AssertionError> {
        let keys = [key.public()];
        verify(
            Presented {
                assertion_type: JWT_BEARER,
                assertion,
            },
            CLIENT,
            ClientKeys::Public {
                keys: &keys,
                algs: Alg::ALL,
            },
            audience(),
            now,
            POLICY,
            cache,
        )
    }

    fn signed(key: &TestKey, claims: &Value) -> String {
        key.sign(Map::new(), claims)
    }

    #[test]
    fn a_well_formed_assertion_passes_with_each_key_type() {
        for key in [TestKey::rsa(), TestKey::ec(), TestKey::ed()] {
            let checked = run(&signed(&key, &claims()), &key).unwrap();
            assert_eq!(checked.client_id, CLIENT);
            assert_eq!(checked.alg.map(Alg::name), Some(key.alg()));
        }
        let rsa = TestKey::rsa();
        let ps = rsa.sign_as("PS256", Map::new(), &claims());
        assert_eq!(run(&ps, &rsa).unwrap().alg, Some(Alg::Ps256));
    }

    #[test]
    fn the_issuer_and_the_token_endpoint_are_audiences_and_nothing_else() {
        let key = TestKey::ec();
        for aud in [
            json!(ISSUER),
            json!(TOKEN),
            json!([ISSUER]),
            json!([ISSUER, TOKEN]),
        ] {
            assert!(
                run(&signed(&key, &with(json!({"aud": aud}))), &key).is_ok(),
                "{aud}"
            );
        }
        for aud in [
            json!("https://other.example/token"),
            json!(format!("{ISSUER}/")),
            json!("http://127.0.0.1:8080/oauth2/introspect"),
            json!([]),
            json!([ISSUER, "https://other.example"]),
            json!([7]),
            json!(7),
        ] {
            assert_eq!(
                run(&signed(&key, &with(json!({"aud": aud}))), &key),
                Err(AssertionError::AudNotThisServer),
                "{aud}"
            );
        }
        assert_eq!(
            run(&signed(&key, &with(json!({"aud": null}))), &key),
            Err(AssertionError::AudMissing)
        );
    }

    #[test]
    fn each_claim_rule_refuses_exactly_its_flaw() {
        let key = TestKey::ec();
        let cases = [
            (json!({"iss": "other"}), AssertionError::IssNotClient),
            (json!({"iss": null}), AssertionError::IssNotClient),
            (json!({"sub": "other"}), AssertionError::SubNotClient),
            (json!({"sub": null}), AssertionError::SubNotClient),
            (json!({"exp": null}), AssertionError::ExpMissing),
            (json!({"exp": "soon"}), AssertionError::BadTimeClaim),
            (json!({"exp": NOW - 61}), AssertionError::Expired),
            (json!({"exp": NOW - 60}), AssertionError::Expired),
            (json!({"exp": NOW + 361}), AssertionError::ExpTooFarAhead),
            (json!({"nbf": NOW + 61}), AssertionError::NbfInFuture),
            (json!({"iat": NOW + 61}), AssertionError::IatInFuture),
            (json!({"iat": NOW - 361}), AssertionError::IatTooOld),
            (json!({"jti": null}), AssertionError::JtiMissing),
            (json!({"jti": ""}), AssertionError::JtiMissing),
            (json!({"jti": 7}), AssertionError::JtiMissing),
            (
                json!({"jti": "x".repeat(MAX_JTI_LEN + 1)}),
                AssertionError::JtiMissing,
            ),
        ];
        for (change, expected) in cases {
            assert_eq!(
                run(&signed(&key, &with(change.clone())), &key),
                Err(expected),
                "{change}"
            );
        }
        // Within the skew and the bounds: accepted.
        for change in [
            json!({"exp": NOW - 59}),
            json!({"exp": NOW + 360}),
            json!({"nbf": NOW + 60}),
            json!({"iat": NOW + 60}),
            json!({"iat": NOW - 360}),
            json!({"iat": null}),
            json!({"exp": (NOW + 30) as f64 + 0.5}),
        ] {
            assert!(
                run(&signed(&key, &with(change.clone())), &key).is_ok(),
                "{change}"
            );
        }
    }

    #[test]
    fn a_jti_is_accepted_once_and_a_refused_assertion_does_not_spend_it() {
        let key = TestKey::ec();
        let mut cache = ReplayCache::new(16);
        let expired = signed(&key, &with(json!({"exp": NOW - 100})));
        assert_eq!(
            run_at(&expired, &key, NOW, &mut cache),
            Err(AssertionError::Expired)
        );
        let good = signed(&key, &claims());
        assert!(run_at(&good, &key, NOW, &mut cache).is_ok());
        // The same assertion, and another one with the same jti, are replays.
        assert_eq!(
            run_at(&good, &key, NOW + 1, &mut cache),
            Err(AssertionError::Replayed)
        );
        let again = signed(&key, &with(json!({"iat": NOW + 1})));
        assert_eq!(
            run_at(&again, &key, NOW + 1, &mut cache),
            Err(AssertionError::Replayed)
        );
        // Another client's identical jti is its own.
        let checked = CheckedAssertion {
            client_id: "otherClient".into(),
            alg: Some(Alg::Es256),
            jti: "jti-1".into(),
            keep_until: NOW + 120,
        };
        assert_eq!(checked.record_use(&mut cache, NOW + 1), Ok(()));
    }

    #[test]
    fn a_full_replay_cache_refuses() {
        let key = TestKey::ec();
        let mut cache = ReplayCache::new(1);
        assert!(run_at(&signed(&key, &claims()), &key, NOW, &mut cache).is_ok());
        let other = signed(&key, &with(json!({"jti": "jti-2"})));
        assert_eq!(
            run_at(&other, &key, NOW, &mut cache),
            Err(AssertionError::ReplayCacheFull)
        );
        // Once the first assertion can no longer be accepted, its entry makes room.
        let later = signed(
            &key,
            &with(json!({"jti": "jti-3", "exp": NOW + 300, "iat": NOW + 121})),
        );
        assert!(run_at(&later, &key, NOW + 121, &mut cache).is_ok());
    }

    #[test]
    fn signature_and_algorithm_rules() {
        let key = TestKey::ec();
        let other = TestKey::ec();
        assert_eq!(
            run(&signed(&other, &claims()), &key),
            Err(AssertionError::Jose(JoseError::BadSignature))
        );
        assert_eq!(
            run(&unsecured(Map::new(), &claims()), &key),
            Err(AssertionError::Jose(JoseError::AlgNone))
        );
        let public_bytes = serde_json::to_vec(&key.public_jwk()).unwrap();
        assert_eq!(
            run(&hs256(&public_bytes, Map::new(), &claims()), &key),
            Err(AssertionError::Jose(JoseError::AlgNotAllowed))
        );
        assert_eq!(
            run("not-a-jwt", &key),
            Err(AssertionError::Jose(JoseError::NotCompact))
        );
        // A key restricted to ES256 only by the registration's algorithm list.
        let keys = [key.public()];
        let restricted = check(
            Presented {
                assertion_type: JWT_BEARER,
                assertion: &signed(&key, &claims()),
            },
            CLIENT,
            ClientKeys::Public {
                keys: &keys,
                algs: &[Alg::Rs256],
            },
            audience(),
            NOW,
            POLICY,
        );
        assert_eq!(
            restricted,
            Err(AssertionError::Jose(JoseError::AlgNotAllowed))
        );
    }

    #[test]
    fn typ_must_be_a_client_assertions() {
        let key = TestKey::ec();
        for typ in [
            "JWT",
            "jwt",
            "client-authentication+jwt",
            "application/client-authentication+jwt",
        ] {
            let jwt = key.sign(header(json!({"typ": typ})), &claims());
            assert!(run(&jwt, &key).is_ok(), "{typ}");
        }
        for typ in ["dpop+jwt", "at+jwt", "application/at+jwt", ""] {
            let jwt = key.sign(header(json!({"typ": typ})), &claims());
            assert_eq!(run(&jwt, &key), Err(AssertionError::TypNotAllowed), "{typ}");
        }
    }

    #[test]
    fn the_assertion_type_must_be_jwt_bearer() {
        let key = TestKey::ec();
        let keys = [key.public()];
        for assertion_type in [
            "",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer",
            "urn:ietf:params:oauth:grant-type:jwt-bearer",
        ] {
            let result = check(
                Presented {
                    assertion_type,
                    assertion: &signed(&key, &claims()),
                },
                CLIENT,
                ClientKeys::Public {
                    keys: &keys,
                    algs: Alg::ALL,
                },
                audience(),
                NOW,
                POLICY,
            );
            assert_eq!(
                result,
                Err(AssertionError::WrongAssertionType),
                "{assertion_type}"
            );
        }
    }

    #[test]
    fn client_secret_jwt_takes_hs256_with_the_secret_only() {
        let secret_check = |assertion: &str, secret: &[u8]| {
            check(
                Presented {
                    assertion_type: JWT_BEARER,
                    assertion,
                },
                CLIENT,
                ClientKeys::Secret(secret),
                audience(),
                NOW,
                POLICY,
            )
        };
        let good = hs256(SECRET, Map::new(), &claims());
        assert_eq!(secret_check(&good, SECRET).unwrap().alg, Some(Alg::Hs256));
        assert_eq!(
            secret_check(
                &hs256(
                    b"another-secret-0123456789abcdef-0123",
                    Map::new(),
                    &claims()
                ),
                SECRET
            ),
            Err(AssertionError::Jose(JoseError::BadSignature))
        );
        // An asymmetric signature is no use to a secret client.
        let key = TestKey::ec();
        assert_eq!(
            secret_check(&signed(&key, &claims()), SECRET),
            Err(AssertionError::Jose(JoseError::AlgNotAllowed))
        );
        assert_eq!(
            secret_check(&unsecured(Map::new(), &claims()), SECRET),
            Err(AssertionError::Jose(JoseError::AlgNone))
        );
    }

    #[test]
    fn the_client_is_found_by_sub_without_verification() {
        let key = TestKey::ec();
        assert_eq!(
            unverified_client_id(&signed(&key, &claims())).as_deref(),
            Some(CLIENT)
        );
        assert_eq!(unverified_client_id("garbage"), None);
        assert_eq!(
            unverified_client_id(&signed(&key, &with(json!({"sub": 3})))),
            None
        );
    }

    /// Each lenience (a fault mode's) lets exactly its flaw through and nothing else.
    #[test]
    fn each_lenience_bends_exactly_its_rule() {
        let key = TestKey::ec();
        let keys = [key.public()];
        let other = TestKey::ec();
        let flawed = [
            ("alg none", unsecured(Map::new(), &claims())),
            ("other key", signed(&other, &claims())),
            (
                "other audience",
                signed(&key, &with(json!({"aud": "https://other.example"}))),
            ),
            ("no audience", signed(&key, &with(json!({"aud": null})))),
            ("expired", signed(&key, &with(json!({"exp": NOW - 300})))),
            ("no exp", signed(&key, &with(json!({"exp": null})))),
            (
                "hs256",
                hs256(
                    &serde_json::to_vec(&key.public_jwk()).unwrap(),
                    Map::new(),
                    &claims(),
                ),
            ),
        ];
        let cases: [(Lenience, &[&str]); 5] = [
            (Lenience::STRICT, &[]),
            (
                Lenience {
                    accept_alg_none: true,
                    ..Lenience::STRICT
                },
                &["alg none"],
            ),
            (
                Lenience {
                    skip_signature: true,
                    ..Lenience::STRICT
                },
                &["other key"],
            ),
            (
                Lenience {
                    any_audience: true,
                    ..Lenience::STRICT
                },
                &["other audience", "no audience"],
            ),
            (
                Lenience {
                    accept_expired: true,
                    ..Lenience::STRICT
                },
                &["expired"],
            ),
        ];
        for (lenience, accepted) in cases {
            let policy = Policy { lenience, ..POLICY };
            for (name, assertion) in &flawed {
                let result = check(
                    Presented {
                        assertion_type: JWT_BEARER,
                        assertion,
                    },
                    CLIENT,
                    ClientKeys::Public {
                        keys: &keys,
                        algs: Alg::ALL,
                    },
                    audience(),
                    NOW,
                    policy,
                );
                assert_eq!(
                    result.is_ok(),
                    accepted.contains(name),
                    "{lenience:?}: {name}"
                );
            }
        }
        // Secret clients bend the same way.
        let lenient = Policy {
            lenience: Lenience {
                accept_alg_none: true,
                skip_signature: true,
                ..Lenience::STRICT
            },
            ..POLICY
        };
        for assertion in [
            unsecured(Map::new(), &claims()),
            hs256(
                b"another-secret-0123456789abcdef-0123",
                Map::new(),
                &claims(),
            ),
        ] {
            let presented = Presented {
                assertion_type: JWT_BEARER,
                assertion: &assertion,
            };
            let secret = ClientKeys::Secret(SECRET);
            assert!(check(presented, CLIENT, secret, audience(), NOW, POLICY).is_err());
            assert!(check(presented, CLIENT, secret, audience(), NOW, lenient).is_ok());
        }
    }

    /// Hostile input never panics: every truncation of a valid assertion, every single
    /// character changed, and bytes that are not a JWT at all are refused, one way or another.
    #[test]
    fn mangled_assertions_are_refused_without_panicking() {
        let key = TestKey::ec();
        let keys = [key.public()];
        let hmac = hs256(SECRET, Map::new(), &claims());
        for (good, client) in [
            (
                signed(&key, &claims()),
                ClientKeys::Public {
                    keys: &keys,
                    algs: Alg::ALL,
                },
            ),
            (hmac, ClientKeys::Secret(SECRET)),
        ] {
            let check_one = |assertion: &str| {
                check(
                    Presented {
                        assertion_type: JWT_BEARER,
                        assertion,
                    },
                    CLIENT,
                    client,
                    audience(),
                    NOW,
                    POLICY,
                )
            };
            assert!(check_one(&good).is_ok());
            for end in 0..good.len() {
                assert!(check_one(&good[..end]).is_err(), "truncated at {end}");
            }
            let alphabet = b"A_-.=/+\"\\{}0";
            for i in 0..good.len() {
                for &c in alphabet {
                    let mut bytes = good.clone().into_bytes();
                    if bytes[i] == c {
                        continue;
                    }
                    bytes[i] = c;
                    let mangled = String::from_utf8(bytes).unwrap();
                    // A changed character can only pass if it leaves the decoded bytes alike
                    // (the last base64url character's unused bits are refused, so never).
                    assert!(check_one(&mangled).is_err(), "{i}: {mangled}");
                }
            }
        }
        for junk in ["", ".", "..", "...", "a.b.c", "e30.e30.", "\u{0}", "é.é.é"] {
            assert!(unverified_client_id(junk).is_none());
            let presented = Presented {
                assertion_type: JWT_BEARER,
                assertion: junk,
            };
            let keys = ClientKeys::Public {
                keys: &keys,
                algs: Alg::ALL,
            };
            assert!(check(presented, CLIENT, keys, audience(), NOW, POLICY).is_err());
        }
    }

    #[test]
    fn errors_map_to_invalid_client_and_never_show_the_assertion() {
        let key = TestKey::ec();
        let assertion = signed(&key, &claims());
        let presented = Presented {
            assertion_type: JWT_BEARER,
            assertion: &assertion,
        };
        assert!(!format!("{presented:?}").contains(&assertion));
        assert!(!format!("{:?}", ClientKeys::Secret(SECRET)).contains("hmac-secret"));
        for error in [
            AssertionError::Replayed,
            AssertionError::Jose(JoseError::AlgNone),
            AssertionError::AudNotThisServer,
        ] {
            assert_eq!(error.error_code(), "invalid_client");
            assert!(error.to_string().starts_with("client assertion: "));
        }
    }
}
