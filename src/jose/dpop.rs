//! DPoP proofs (RFC 9449 §4.2), well-formed or with one deliberate flaw a case names.
//!
//! A well-formed proof: header `typ: dpop+jwt`, `alg`, `jwk` (the public key's required
//! members); claims `jti` (fresh), `htm`, `htu` (the request URL without query and
//! fragment), `iat` = now, `nonce` when the server gave one, `ath` when an access token is
//! presented. Each flaw changes exactly one thing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::assertion::BuildError;
use super::key::hmac_sha256;
use super::{b64, random_id, signing_input, Alg, SignedJwt, SigningKey};

/// A host that is not the server's (RFC 6761 §6.4).
pub const OTHER_HOST: &str = "rs.grantcheck.invalid";

/// One deliberate defect in a DPoP proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DpopFlaw {
    /// A well-formed proof.
    None,
    /// `typ: JWT` instead of `dpop+jwt`.
    WrongTyp,
    /// `alg: none`, no signature.
    AlgNone,
    /// HS256 (keyed with the public JWK), with the public key in `jwk`.
    Hs256,
    /// HS256 with a symmetric key that the `jwk` header carries (`kty: oct`): a MAC anyone
    /// who sees the proof can recompute.
    Hs256OctJwk,
    /// The `jwk` header carries the private key too (`d`).
    PrivateKeyInJwk,
    /// `htm` is another method.
    WrongHtm,
    /// `htu` with the request's query and a fragment added. RFC 9449 §4.3 has the server
    /// ignore both, so a server should accept it: a case for tolerance, not refusal.
    HtuWithQuery,
    /// `htu` names another host.
    HtuOtherHost,
    /// `htu` names another path on the same host.
    HtuOtherPath,
    /// `iat` ten minutes ago, without a nonce (a server nonce would time the proof instead).
    StaleIat,
    /// `iat` ten minutes ahead.
    FutureIat,
    /// `iat` a day ago, without a nonce.
    DayOldIat,
    /// The `jti` of the previous proof this builder made.
    ReusedJti,
    /// No `jti`.
    MissingJti,
    /// No `nonce`, although the server asked for one.
    MissingNonce,
    /// A `nonce` the server did not give.
    WrongNonce,
    /// No `ath` although a token is presented.
    MissingAth,
    /// `ath` of another access token: a proof made for another token.
    WrongAth,
    /// Signed (with its own `jwk`) by another key than the one the token is bound to.
    OtherKey,
    /// A well-formed proof signed RS256 with an RSA key made for it: legal under RFC 9449,
    /// refused under FAPI 2.0 (§5.4.1: PS256, ES256 or EdDSA only).
    Rs256Key,
}

const FLAWS: &[(DpopFlaw, &str)] = &[
    (DpopFlaw::None, "none"),
    (DpopFlaw::WrongTyp, "wrong_typ"),
    (DpopFlaw::AlgNone, "alg_none"),
    (DpopFlaw::Hs256, "hs256"),
    (DpopFlaw::Hs256OctJwk, "hs256_oct_jwk"),
    (DpopFlaw::PrivateKeyInJwk, "private_key_in_jwk"),
    (DpopFlaw::WrongHtm, "wrong_htm"),
    (DpopFlaw::HtuWithQuery, "htu_with_query"),
    (DpopFlaw::HtuOtherHost, "htu_other_host"),
    (DpopFlaw::HtuOtherPath, "htu_other_path"),
    (DpopFlaw::StaleIat, "stale_iat"),
    (DpopFlaw::FutureIat, "future_iat"),
    (DpopFlaw::DayOldIat, "day_old_iat"),
    (DpopFlaw::ReusedJti, "reused_jti"),
    (DpopFlaw::MissingJti, "missing_jti"),
    (DpopFlaw::MissingNonce, "missing_nonce"),
    (DpopFlaw::WrongNonce, "wrong_nonce"),
    (DpopFlaw::MissingAth, "missing_ath"),
    (DpopFlaw::WrongAth, "wrong_ath"),
    (DpopFlaw::OtherKey, "other_key"),
    (DpopFlaw::Rs256Key, "rs256_key"),
];

impl DpopFlaw {
    pub const ALL: &'static [DpopFlaw] = &[
        DpopFlaw::None,
        DpopFlaw::WrongTyp,
        DpopFlaw::AlgNone,
        DpopFlaw::Hs256,
        DpopFlaw::Hs256OctJwk,
        DpopFlaw::PrivateKeyInJwk,
        DpopFlaw::WrongHtm,
        DpopFlaw::HtuWithQuery,
        DpopFlaw::HtuOtherHost,
        DpopFlaw::HtuOtherPath,
        DpopFlaw::StaleIat,
        DpopFlaw::FutureIat,
        DpopFlaw::DayOldIat,
        DpopFlaw::ReusedJti,
        DpopFlaw::MissingJti,
        DpopFlaw::MissingNonce,
        DpopFlaw::WrongNonce,
        DpopFlaw::MissingAth,
        DpopFlaw::WrongAth,
        DpopFlaw::OtherKey,
        DpopFlaw::Rs256Key,
    ];

    pub fn name(self) -> &'static str {
        FLAWS
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("none", |(_, name)| name)
    }
}

impl fmt::Display for DpopFlaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DpopFlaw {
    type Err = String;
    fn from_str(s: &str) -> Result<DpopFlaw, String> {
        FLAWS
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(flaw, _)| *flaw)
            .ok_or_else(|| {
                let names: Vec<&str> = FLAWS.iter().map(|(_, n)| *n).collect();
                format!(
                    "unknown DPoP proof flaw '{s}' (one of: {})",
                    names.join(", ")
                )
            })
    }
}

impl<'de> serde::Deserialize<'de> for DpopFlaw {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The request a proof is for.
#[derive(Clone, Copy)]
pub struct ProofTarget<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The access token sent with the proof, if any (it is hashed into `ath`).
    pub access_token: Option<&'a str>,
}

impl fmt::Debug for ProofTarget<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProofTarget")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("access_token", &self.access_token.map(|_| "<redacted>"))
            .finish()
    }
}

/// `ath`: base64url(SHA-256(the access token)) (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    b64(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// One day, in seconds: a proof this old was made long before any "relatively brief period".
const DAY: u64 = 24 * 60 * 60;

/// A proof MACed with HS256 under a fresh random key that its `jwk` header carries as an
/// `oct` JWK (RFC 7518 §6.4): what a server that takes the header's key for whatever `alg`
/// it names would verify, and anyone who sees the proof could forge.
fn symmetric_proof(claims: &Value) -> SignedJwt {
    let secret = format!("{}{}", random_id(), random_id()).into_bytes();
    let header = json!({
        "typ": "dpop+jwt",
        "alg": Alg::Hs256.name(),
        "jwk": { "kty": "oct", "k": URL_SAFE_NO_PAD.encode(&secret) },
    });
    let input = signing_input(&header, claims);
    let mac = hmac_sha256(&secret, input.as_bytes());
    SignedJwt(format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac)))
}

/// The request URL without query and fragment (RFC 9449 §4.2 `htu`).
fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Makes one key's proofs; remembers the server's nonce and the last `jti`.
#[derive(Debug, Clone)]
pub struct DpopProofBuilder {
    key: Arc<SigningKey>,
    nonce: Option<String>,
    last_jti: Option<String>,
}

impl DpopProofBuilder {
    /// A builder for `key`, which must be asymmetric.
    pub fn new(key: Arc<SigningKey>) -> Result<DpopProofBuilder, BuildError> {
        if key.is_symmetric() {
            return Err(BuildError::NotApplicable(
                "a DPoP key must be asymmetric (RFC 9449 §4.2)".into(),
            ));
        }
        Ok(DpopProofBuilder {
            key,
            nonce: None,
            last_jti: None,
        })
    }

    /// The RFC 7638 thumbprint of the proof key (a token bound to it has `cnf.jkt` = this).
    pub fn jkt(&self) -> String {
        self.key.thumbprint().unwrap_or_default()
    }

    /// Remembers the nonce a server sent (`DPoP-Nonce`, RFC 9449 §8).
    pub fn set_nonce(&mut self, nonce: Option<&str>) {
        self.nonce = nonce.map(str::to_owned);
    }

    /// The nonce the builder puts in its proofs, if a server gave one.
    pub fn nonce(&self) -> Option<&str> {
        self.nonce.as_deref()
    }

    /// A proof for `target` with `flaw`, made at `now`.
    pub fn build(
        &mut self,
        flaw: DpopFlaw,
        target: ProofTarget<'_>,
        now: u64,
    ) -> Result<SignedJwt, BuildError> {
        let jti = match (flaw, &self.last_jti) {
            (DpopFlaw::ReusedJti, Some(last)) => last.clone(),
            _ => random_id(),
        };
        let htu = without_query(target.url);
        let mut claims = Map::new();
        claims.insert("jti".into(), jti.clone().into());
        claims.insert("htm".into(), target.method.into());
        claims.insert("htu".into(), htu.into());
        claims.insert("iat".into(), now.into());
        if let Some(nonce) = &self.nonce {
            claims.insert("nonce".into(), nonce.clone().into());
        }
        if let Some(token) = target.access_token {
            claims.insert("ath".into(), access_token_hash(token).into());
        }
        let needs = |what: &str| BuildError::NotApplicable(format!("{flaw} needs {what}"));
        match flaw {
            DpopFlaw::WrongHtm => {
                let other = if target.method == "GET" {
                    "POST"
                } else {
                    "GET"
                };
                claims.insert("htm".into(), other.into());
            }
            DpopFlaw::HtuWithQuery => {
                claims.insert("htu".into(), format!("{htu}?grantcheck=1#proof").into());
            }
            DpopFlaw::HtuOtherHost => {
                let (scheme, rest) = htu
                    .split_once("://")
                    .ok_or_else(|| needs("an absolute URL"))?;
                let path = rest.find('/').map_or("/", |i| &rest[i..]);
                claims.insert(
                    "htu".into(),
                    format!("{scheme}://{OTHER_HOST}{path}").into(),
                );
            }
            DpopFlaw::HtuOtherPath => {
                let other = format!("{}/grantcheck-other", htu.trim_end_matches('/'));
                claims.insert("htu".into(), other.into());
            }
            // An old `iat` goes without a nonce: a server nonce is "a server managed
            // timestamp" that may stand for the creation time instead (RFC 9449 §4.3 item
            // 11), so a proof with a fresh one is recent whatever its `iat` says.
            DpopFlaw::StaleIat => {
                claims.remove("nonce");
                claims.insert("iat".into(), now.saturating_sub(600).into());
            }
            DpopFlaw::FutureIat => {
                claims.insert("iat".into(), (now + 600).into());
            }
            DpopFlaw::DayOldIat => {
                claims.remove("nonce");
                claims.insert("iat".into(), now.saturating_sub(DAY).into());
            }
            DpopFlaw::MissingJti => {
                claims.remove("jti");
            }
            // The guards remove the member; they fail (and the build goes on without it)
            // only when it was there to remove.
            DpopFlaw::MissingNonce if claims.remove("nonce").is_none() => {
                return Err(needs("a nonce from the server"));
            }
            DpopFlaw::WrongNonce => {
                claims.insert("nonce".into(), format!("grantcheck-{}", random_id()).into());
            }
            DpopFlaw::MissingAth if claims.remove("ath").is_none() => {
                return Err(needs("an access token"));
            }
            DpopFlaw::WrongAth => {
                if target.access_token.is_none() {
                    return Err(needs("an access token"));
                }
                let other = format!("grantcheck-other-token-{}", random_id());
                claims.insert("ath".into(), access_token_hash(&other).into());
            }
            _ => {}
        }
        let claims = Value::Object(claims);
        if flaw == DpopFlaw::Hs256OctJwk {
            let jwt = symmetric_proof(&claims);
            self.last_jti = Some(jti);
            return Ok(jwt);
        }
        let signer = match flaw {
            DpopFlaw::OtherKey => Arc::new(SigningKey::generate(self.key.alg())?),
            DpopFlaw::Rs256Key => Arc::new(SigningKey::generate(Alg::Rs256)?),
            _ => self.key.clone(),
        };
        let jwk = match flaw {
            DpopFlaw::PrivateKeyInJwk => signer.private_jwk_members().ok_or_else(|| {
                needs("a key whose private members are known (a generated EC or Ed25519 key, or a JWK file)")
            })?,
            _ => signer
                .public_jwk_members()
                .ok_or_else(|| needs("an asymmetric key"))?,
        };
        let mut header = Map::new();
        header.insert(
            "typ".into(),
            if flaw == DpopFlaw::WrongTyp {
                "JWT"
            } else {
                "dpop+jwt"
            }
            .into(),
        );
        header.insert("jwk".into(), Value::Object(jwk.clone()));
        let jwt = match flaw {
            DpopFlaw::AlgNone => {
                header.insert("alg".into(), "none".into());
                SignedJwt(format!(
                    "{}.",
                    signing_input(&Value::Object(header), &claims)
                ))
            }
            DpopFlaw::Hs256 => {
                header.insert("alg".into(), Alg::Hs256.name().into());
                let input = signing_input(&Value::Object(header), &claims);
                let secret = json!(jwk).to_string();
                let mac = hmac_sha256(secret.as_bytes(), input.as_bytes());
                SignedJwt(format!("{input}.{}", URL_SAFE_NO_PAD.encode(mac)))
            }
            // A DPoP proof carries its key, not a `kid`.
            _ => signer.sign_without_kid(header, &claims)?,
        };
        if flaw != DpopFlaw::MissingJti {
            self.last_jti = Some(jti);
        }
        Ok(jwt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reference_server::dpop::{self as rs, DpopError, ProofContext, POLICY};
    use reference_server::jose::{Alg as RsAlg, JoseError};
    use reference_server::replay::ReplayCache;

    const NOW: u64 = 1_800_000_000;
    const URL: &str = "https://server.example.com/token";
    const RESOURCE: &str = "https://resource.example.org/api/resource?x=1";
    const TOKEN: &str = "an-access-token-0123456789";
    const NONCE: &str = "server-nonce-1";

    fn target(token: Option<&'static str>) -> ProofTarget<'static> {
        match token {
            Some(t) => ProofTarget {
                method: "GET",
                url: RESOURCE,
                access_token: Some(t),
            },
            None => ProofTarget {
                method: "POST",
                url: URL,
                access_token: None,
            },
        }
    }

    /// Verifies with the reference server's (independent) verifier.
    fn verify(
        jwt: &SignedJwt,
        builder: &DpopProofBuilder,
        target: ProofTarget<'_>,
        nonce: bool,
        cache: &mut ReplayCache,
    ) -> Result<String, DpopError> {
        let nonces = [NONCE];
        let jkt = builder.jkt();
        let cx = ProofContext {
            method: target.method,
            url: target.url,
            algs: RsAlg::ALL,
            access_token: target.access_token,
            bound_jkt: target.access_token.map(|_| jkt.as_str()),
            nonces: nonce.then_some(&nonces[..]),
            now: NOW,
        };
        rs::verify(jwt.expose(), &cx, POLICY, cache).map(|c| c.jkt)
    }

    fn expected(flaw: DpopFlaw) -> Option<DpopError> {
        Some(match flaw {
            DpopFlaw::None | DpopFlaw::HtuWithQuery | DpopFlaw::Rs256Key => return None,
            DpopFlaw::WrongTyp => DpopError::WrongTyp,
            DpopFlaw::AlgNone => DpopError::Jose(JoseError::AlgNone),
            DpopFlaw::Hs256 | DpopFlaw::Hs256OctJwk => DpopError::Jose(JoseError::AlgNotAllowed),
            DpopFlaw::PrivateKeyInJwk => DpopError::Jose(JoseError::PrivateKeyInJwk),
            DpopFlaw::WrongHtm => DpopError::HtmMismatch,
            DpopFlaw::HtuOtherHost | DpopFlaw::HtuOtherPath => DpopError::HtuMismatch,
            DpopFlaw::StaleIat | DpopFlaw::DayOldIat => DpopError::IatTooOld,
            DpopFlaw::FutureIat => DpopError::IatInFuture,
            DpopFlaw::ReusedJti => DpopError::Replayed,
            DpopFlaw::MissingJti => DpopError::MissingClaim("jti"),
            DpopFlaw::MissingNonce => DpopError::NonceRequired,
            DpopFlaw::WrongNonce => DpopError::NonceMismatch,
            DpopFlaw::MissingAth => DpopError::MissingClaim("ath"),
            DpopFlaw::WrongAth => DpopError::AthMismatch,
            DpopFlaw::OtherKey => DpopError::KeyNotBound,
        })
    }

    #[test]
    fn good_proofs_verify_and_name_the_key_for_each_algorithm() {
        for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256] {
            let key = Arc::new(SigningKey::generate(alg).unwrap());
            let mut builder = DpopProofBuilder::new(key).unwrap();
            for token in [None, Some(TOKEN)] {
                let jwt = builder.build(DpopFlaw::None, target(token), NOW).unwrap();
                let jkt = verify(
                    &jwt,
                    &builder,
                    target(token),
                    false,
                    &mut ReplayCache::new(8),
                );
                assert_eq!(jkt, Ok(builder.jkt()), "{alg}");
                let jws = reference_server::jose::Jws::parse(jwt.expose()).unwrap();
                assert_eq!(jws.header.kid, None, "a proof names its key by jwk only");
                let htu = if token.is_some() {
                    "https://resource.example.org/api/resource"
                } else {
                    URL
                };
                assert_eq!(jws.claims()["htu"], htu, "htu without the query");
            }
        }
    }

    #[test]
    fn each_flaw_is_refused_by_the_reference_verifier_for_its_own_reason() {
        for flaw in DpopFlaw::ALL.iter().copied() {
            let key = Arc::new(SigningKey::generate(Alg::Es256).unwrap());
            let mut builder = DpopProofBuilder::new(key).unwrap();
            builder.set_nonce(Some(NONCE));
            let token = match flaw {
                DpopFlaw::MissingAth | DpopFlaw::WrongAth | DpopFlaw::OtherKey => Some(TOKEN),
                _ => None,
            };
            let mut cache = ReplayCache::new(8);
            if flaw == DpopFlaw::ReusedJti {
                let first = builder.build(DpopFlaw::None, target(token), NOW).unwrap();
                assert!(verify(&first, &builder, target(token), true, &mut cache).is_ok());
            }
            let jwt = builder.build(flaw, target(token), NOW).unwrap();
            // An old iat goes without the nonce (which would time the proof instead).
            let nonce = !matches!(flaw, DpopFlaw::StaleIat | DpopFlaw::DayOldIat);
            let result = verify(&jwt, &builder, target(token), nonce, &mut cache);
            assert_eq!(result.err(), expected(flaw), "{flaw}");
        }
    }

    #[test]
    fn flaws_that_need_a_nonce_or_a_token_say_so() {
        let key = Arc::new(SigningKey::generate(Alg::EdDsa).unwrap());
        let mut builder = DpopProofBuilder::new(key).unwrap();
        for flaw in [
            DpopFlaw::MissingNonce,
            DpopFlaw::MissingAth,
            DpopFlaw::WrongAth,
        ] {
            let err = builder.build(flaw, target(None), NOW).unwrap_err();
            assert!(matches!(err, BuildError::NotApplicable(_)), "{flaw}: {err}");
        }
        let rsa = Arc::new(SigningKey::generate(Alg::Rs256).unwrap());
        let err = DpopProofBuilder::new(rsa)
            .unwrap()
            .build(DpopFlaw::PrivateKeyInJwk, target(None), NOW)
            .unwrap_err();
        assert!(err.to_string().contains("private members"), "{err}");
        let hmac = Arc::new(SigningKey::generate(Alg::Hs256).unwrap());
        assert!(DpopProofBuilder::new(hmac).is_err());
    }

    #[test]
    fn the_private_jwk_flaw_carries_the_real_private_key() {
        // A server must refuse it for carrying `d`; the `d` is the real one, so a server
        // that reads it as a private JWK finds it consistent.
        let key = Arc::new(SigningKey::generate(Alg::Es256).unwrap());
        let mut builder = DpopProofBuilder::new(key.clone()).unwrap();
        let jwt = builder
            .build(DpopFlaw::PrivateKeyInJwk, target(None), NOW)
            .unwrap();
        let jws = reference_server::jose::Jws::parse(jwt.expose()).unwrap();
        let jwk = jws.header.jwk.unwrap();
        let reloaded = SigningKey::from_jwk(&Value::Object(jwk).to_string(), None).unwrap();
        assert_eq!(reloaded.thumbprint(), key.thumbprint());
    }

    #[test]
    fn flaw_names_round_trip_and_unknown_names_are_explained() {
        for flaw in DpopFlaw::ALL {
            assert_eq!(flaw.name().parse::<DpopFlaw>(), Ok(*flaw));
        }
        assert_eq!(DpopFlaw::ALL.len(), FLAWS.len());
        let err = "stale".parse::<DpopFlaw>().unwrap_err();
        assert!(
            err.contains("'stale'") && err.contains("stale_iat"),
            "{err}"
        );
    }

    #[test]
    fn ath_matches_rfc_9449s_example() {
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }
}
