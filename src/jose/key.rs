//! A client's signing key: loaded from a file (PEM PKCS#8 RSA, EC P-256 or Ed25519; PKCS#1
//! RSA; or a private JWK, RFC 7517/7518 §6, RFC 8037), made from a client secret (HS256),
//! or generated for one run (DPoP). Prints as its kind, algorithm and `kid` only.

use std::fmt;
use std::io::Read;
use std::path::Path;

use reference_server::Secret;
use ring::rand::SystemRandom;
use ring::rsa::{KeyPairComponents, PublicKeyComponents};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use serde_json::{json, Map, Value};

use super::{b64, signing_input, Alg, SignedJwt};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Key files larger than this are refused unread.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a key could not be loaded, made or used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The file could not be read.
    Io(String),
    /// Neither a PEM private key nor a JWK.
    Format(String),
    /// A well-formed key this harness cannot sign with.
    Unsupported(String),
    /// ring refused the key (inconsistent components, wrong curve, too small).
    Rejected(String),
    /// The key cannot sign with the algorithm asked for.
    AlgMismatch { key: &'static str, alg: Alg },
    /// Key generation or signing failed in the crypto library.
    Crypto(&'static str),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Io(e) => write!(f, "cannot read the key file: {e}"),
            KeyError::Format(e) => write!(f, "not a private key: {e}"),
            KeyError::Unsupported(e) => write!(f, "unsupported key: {e}"),
            KeyError::Rejected(e) => write!(f, "the key was rejected: {e}"),
            KeyError::AlgMismatch { key, alg } => write!(f, "a {key} key cannot sign {alg}"),
            KeyError::Crypto(what) => write!(f, "{what} failed"),
        }
    }
}

impl std::error::Error for KeyError {}

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Secret),
}

/// A key that signs JWS compact serializations.
pub struct SigningKey {
    inner: Inner,
    alg: Alg,
    kid: Option<String>,
    /// The private JWK members (`d`, and RSA's primes), when known: loaded from a JWK or
    /// generated here. Only the DPoP flaw "private key in jwk" sends them.
    private_members: Option<Map<String, Value>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kty", &self.kty())
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn rejected(e: ring::error::KeyRejected) -> KeyError {
    KeyError::Rejected(e.to_string())
}

impl SigningKey {
    /// Loads a private key from `path`: a JSON file is read as a JWK (or a JWK Set with one
    /// key), anything else as PEM. `kid` overrides the JWK's `kid`; a generated `kid` is
    /// never invented for loaded keys (a server matches it against the registration).
    pub fn from_file(path: &Path, kid: Option<&str>) -> Result<SigningKey, KeyError> {
        let io = |e: std::io::Error| KeyError::Io(format!("{}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_KEY_FILE + 1)
            .read_to_end(&mut bytes)
            .map_err(io)?;
        if bytes.len() as u64 > MAX_KEY_FILE {
            return Err(KeyError::Format(format!(
                "{} is larger than {MAX_KEY_FILE} bytes",
                path.display()
            )));
        }
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| KeyError::Format("the JWK is not UTF-8".into()))?;
            SigningKey::from_jwk(text, kid)
        } else {
            SigningKey::from_pem(&bytes, kid)
        }
    }

    /// A PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`: RSA, EC P-256, Ed25519) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`). RSA keys sign RS256 (see [`SigningKey::with_alg`]).
    pub fn from_pem(pem: &[u8], kid: Option<&str>) -> Result<SigningKey, KeyError> {
        let der = PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
            KeyError::Format(format!(
                "no unencrypted PEM private key found ({e}); expected BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY"
            ))
        })?;
        let inner = match &der {
            PrivateKeyDer::Pkcs1(der) => {
                Inner::Rsa(RsaKeyPair::from_der(der.secret_pkcs1_der()).map_err(rejected)?)
            }
            PrivateKeyDer::Pkcs8(der) => {
                let der = der.secret_pkcs8_der();
                let rng = SystemRandom::new();
                if let Ok(key) = RsaKeyPair::from_pkcs8(der) {
                    Inner::Rsa(key)
                } else if let Ok(key) =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                {
                    Inner::Ec(key)
                } else if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    Inner::Ed(key)
                } else {
                    return Err(KeyError::Unsupported(
                        "a PKCS#8 key that is not RSA (2048 bits or more), EC P-256 or Ed25519"
                            .into(),
                    ));
                }
            }
            PrivateKeyDer::Sec1(_) => {
                return Err(KeyError::Unsupported(
                    "a SEC1 EC key (BEGIN EC PRIVATE KEY): convert it to PKCS#8 with \
                     `openssl pkcs8 -topk8 -nocrypt -in KEY`"
                        .into(),
                ))
            }
            _ => return Err(KeyError::Unsupported("an unknown PEM key type".into())),
        };
        Ok(SigningKey::new(inner, None, kid.map(str::to_owned)))
    }

    /// A private JWK (or a JWK Set holding exactly one): RSA with `n`, `e`, `d`, `p`, `q`,
    /// `dp`, `dq`, `qi`; EC P-256 with `x`, `y`, `d`; OKP Ed25519 with `x`, `d`. Its `alg`,
    /// when present, picks the algorithm (RS256 or PS256 for RSA).
    pub fn from_jwk(json: &str, kid: Option<&str>) -> Result<SigningKey, KeyError> {
        let value: Value = serde_json::from_str(json)
            .map_err(|e| KeyError::Format(format!("the JWK is not JSON: {e}")))?;
        let jwk = match value.get("keys") {
            Some(Value::Array(keys)) if keys.len() == 1 => &keys[0],
            Some(_) => {
                return Err(KeyError::Format(
                    "a JWK Set must hold exactly one key here".into(),
                ))
            }
            None => &value,
        };
        let jwk = jwk
            .as_object()
            .ok_or_else(|| KeyError::Format("the JWK is not a JSON object".into()))?;
        let text = |name: &str| jwk.get(name).and_then(Value::as_str);
        let member = |name: &str| -> Result<Vec<u8>, KeyError> {
            let value = text(name).ok_or_else(|| {
                KeyError::Format(format!("the JWK has no '{name}' (a private key needs it)"))
            })?;
            URL_SAFE_NO_PAD
                .decode(value)
                .map_err(|_| KeyError::Format(format!("the JWK's '{name}' is not base64url")))
        };
        let inner = match (text("kty"), text("crv")) {
            (Some("RSA"), _) => {
                let components = KeyPairComponents {
                    public_key: PublicKeyComponents {
                        n: member("n")?,
                        e: member("e")?,
                    },
                    d: member("d")?,
                    p: member("p")?,
                    q: member("q")?,
                    dP: member("dp")?,
                    dQ: member("dq")?,
                    qInv: member("qi")?,
                };
                Inner::Rsa(RsaKeyPair::from_components(&components).map_err(rejected)?)
            }
            (Some("EC"), Some("P-256")) => {
                let mut public = vec![4];
                public.extend(member("x")?);
                public.extend(member("y")?);
                let key = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &member("d")?,
                    &public,
                    &SystemRandom::new(),
                )
                .map_err(rejected)?;
                Inner::Ec(key)
            }
            (Some("OKP"), Some("Ed25519")) => Inner::Ed(
                Ed25519KeyPair::from_seed_and_public_key(&member("d")?, &member("x")?)
                    .map_err(rejected)?,
            ),
            (Some("oct"), _) => {
                return Err(KeyError::Unsupported(
                    "a symmetric JWK: client_secret_jwt signs with the client secret".into(),
                ))
            }
            (kty, crv) => {
                return Err(KeyError::Unsupported(format!(
                    "kty {} crv {} (RSA, EC P-256 and OKP Ed25519 are supported)",
                    kty.unwrap_or("(none)"),
                    crv.unwrap_or("(none)")
                )))
            }
        };
        let alg = match text("alg") {
            Some(name) => Some(name.parse::<Alg>().map_err(KeyError::Unsupported)?),
            None => None,
        };
        let kid = kid.or(text("kid")).map(str::to_owned);
        let mut key = SigningKey::new(inner, None, kid);
        key.private_members = Some(
            ["d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .filter_map(|m| Some(((*m).to_owned(), jwk.get(*m)?.clone())))
                .collect(),
        );
        match alg {
            Some(alg) => key.with_alg(alg),
            None => Ok(key),
        }
    }

    /// `client_secret_jwt`: HS256 keyed with the client secret (RFC 7518 §3.2).
    pub fn hmac(secret: Secret, kid: Option<&str>) -> SigningKey {
        SigningKey::new(
            Inner::Hmac(secret),
            Some(Alg::Hs256),
            kid.map(str::to_owned),
        )
    }

    /// A new key for this run, for `alg` (RSA keys have 2048 bits); its `kid` is its
    /// thumbprint. HS256 gets 256 random bits. aws-lc-rs generates (ring cannot make RSA
    /// keys, nor give back an EC or Ed25519 private key), ring signs.
    pub fn generate(alg: Alg) -> Result<SigningKey, KeyError> {
        use aws_lc_rs::encoding::{
            AsBigEndian, AsDer, Curve25519SeedBin, EcPrivateKeyBin, Pkcs8V1Der,
        };
        use aws_lc_rs::signature::KeyPair as _;
        let failed = |what| move |_| KeyError::Crypto(what);
        let mut private = Map::new();
        let inner = match alg {
            Alg::Es256 => {
                let generated = aws_lc_rs::signature::EcdsaKeyPair::generate(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                )
                .map_err(failed("EC key generation"))?;
                let d: EcPrivateKeyBin<'static> = generated
                    .private_key()
                    .as_be_bytes()
                    .map_err(failed("EC key encoding"))?;
                private.insert("d".into(), b64(d.as_ref()).into());
                Inner::Ec(
                    EcdsaKeyPair::from_private_key_and_public_key(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        d.as_ref(),
                        generated.public_key().as_ref(),
                        &SystemRandom::new(),
                    )
                    .map_err(rejected)?,
                )
            }
            Alg::EdDsa => {
                let generated = aws_lc_rs::signature::Ed25519KeyPair::generate()
                    .map_err(failed("Ed25519 key generation"))?;
                let seed: Curve25519SeedBin<'static> = generated
                    .seed()
                    .and_then(|seed| seed.as_be_bytes())
                    .map_err(failed("Ed25519 key encoding"))?;
                private.insert("d".into(), b64(seed.as_ref()).into());
                Inner::Ed(
                    Ed25519KeyPair::from_seed_and_public_key(
                        seed.as_ref(),
                        generated.public_key().as_ref(),
                    )
                    .map_err(rejected)?,
                )
            }
            Alg::Rs256 | Alg::Ps256 => {
                let generated = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(failed("RSA key generation"))?;
                let der: Pkcs8V1Der<'static> =
                    generated.as_der().map_err(failed("RSA key encoding"))?;
                // aws-lc-rs does not give RSA's private components back: no `d` for RSA.
                private.clear();
                Inner::Rsa(RsaKeyPair::from_pkcs8(der.as_ref()).map_err(rejected)?)
            }
            Alg::Hs256 => {
                use ring::rand::SecureRandom;
                let mut bytes = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut bytes)
                    .map_err(|_| KeyError::Crypto("secret generation"))?;
                Inner::Hmac(Secret::new(b64(bytes)))
            }
        };
        let mut key = SigningKey::new(inner, Some(alg), None);
        key.kid = key.thumbprint();
        if !private.is_empty() {
            key.private_members = Some(private);
        }
        Ok(key)
    }

    fn new(inner: Inner, alg: Option<Alg>, kid: Option<String>) -> SigningKey {
        let alg = alg.unwrap_or(match inner {
            Inner::Rsa(_) => Alg::Rs256,
            Inner::Ec(_) => Alg::Es256,
            Inner::Ed(_) => Alg::EdDsa,
            Inner::Hmac(_) => Alg::Hs256,
        });
        SigningKey {
            inner,
            alg,
            kid,
            private_members: None,
        }
    }

    /// The same key signing with `alg` (RS256 or PS256 for RSA keys; the others have one).
    pub fn with_alg(mut self, alg: Alg) -> Result<SigningKey, KeyError> {
        if !self.can_sign(alg) {
            return Err(KeyError::AlgMismatch {
                key: self.kty(),
                alg,
            });
        }
        self.alg = alg;
        Ok(self)
    }

    pub fn can_sign(&self, alg: Alg) -> bool {
        matches!(
            (&self.inner, alg),
            (Inner::Rsa(_), Alg::Rs256 | Alg::Ps256)
                | (Inner::Ec(_), Alg::Es256)
                | (Inner::Ed(_), Alg::EdDsa)
                | (Inner::Hmac(_), Alg::Hs256)
        )
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// `RSA`, `EC`, `OKP` or `oct`.
    pub fn kty(&self) -> &'static str {
        match self.inner {
            Inner::Rsa(_) => "RSA",
            Inner::Ec(_) => "EC",
            Inner::Ed(_) => "OKP",
            Inner::Hmac(_) => "oct",
        }
    }

    pub fn is_symmetric(&self) -> bool {
        matches!(self.inner, Inner::Hmac(_))
    }

    /// The public key's required members (RFC 7638 §3.2), as in a DPoP `jwk` header;
    /// `None` for a secret.
    pub fn public_jwk_members(&self) -> Option<Map<String, Value>> {
        let value = match &self.inner {
            Inner::Rsa(key) => {
                let public: ring::rsa::PublicKeyComponents<Vec<u8>> = key.public().into();
                json!({"kty": "RSA", "n": b64(&public.n), "e": b64(&public.e)})
            }
            Inner::Ec(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Inner::Ed(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref())})
            }
            Inner::Hmac(_) => return None,
        };
        value.as_object().cloned()
    }

    /// The whole private JWK (public and private members), when this key knows its private
    /// members: for the DPoP flaw that leaks it in the `jwk` header.
    pub(super) fn private_jwk_members(&self) -> Option<Map<String, Value>> {
        let mut jwk = self.public_jwk_members()?;
        jwk.extend(self.private_members.clone()?);
        Some(jwk)
    }

    /// The public JWK to register (a JWKS entry): the key, `kid`, `alg` and `use: sig`.
    pub fn public_jwk(&self) -> Option<Value> {
        let mut jwk = self.public_jwk_members()?;
        if let Some(kid) = &self.kid {
            jwk.insert("kid".into(), kid.clone().into());
        }
        jwk.insert("alg".into(), self.alg.name().into());
        jwk.insert("use".into(), "sig".into());
        Some(Value::Object(jwk))
    }

    /// The RFC 7638 thumbprint of the public key; `None` for a secret.
    pub fn thumbprint(&self) -> Option<String> {
        Some(jwk_thumbprint(&self.public_jwk_members()?))
    }

    /// Signs `claims` with this key's algorithm; the header gets `alg`, and `kid` when the
    /// key has one and the header does not say otherwise.
    pub fn sign(&self, header: Map<String, Value>, claims: &Value) -> Result<SignedJwt, KeyError> {
        self.sign_as(self.alg, header, claims)
    }

    /// Signs with `alg`, which this key must be able to produce.
    pub fn sign_as(
        &self,
        alg: Alg,
        header: Map<String, Value>,
        claims: &Value,
    ) -> Result<SignedJwt, KeyError> {
        self.sign_inner(alg, header, claims, true)
    }

    /// Signs without adding `kid`: for JWTs that carry their key (a DPoP proof's `jwk`).
    pub fn sign_without_kid(
        &self,
        header: Map<String, Value>,
        claims: &Value,
    ) -> Result<SignedJwt, KeyError> {
        self.sign_inner(self.alg, header, claims, false)
    }

    fn sign_inner(
        &self,
        alg: Alg,
        mut header: Map<String, Value>,
        claims: &Value,
        add_kid: bool,
    ) -> Result<SignedJwt, KeyError> {
        if !self.can_sign(alg) {
            return Err(KeyError::AlgMismatch {
                key: self.kty(),
                alg,
            });
        }
        header.insert("alg".into(), alg.name().into());
        if let (Some(kid), true) = (&self.kid, add_kid) {
            header.entry("kid").or_insert_with(|| kid.clone().into());
        }
        let input = signing_input(&Value::Object(header), claims);
        let signature = self.raw_sign(alg, input.as_bytes())?;
        Ok(SignedJwt(format!("{input}.{}", b64(signature))))
    }

    fn raw_sign(&self, alg: Alg, input: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.inner {
            Inner::Rsa(key) => {
                let padding: &dyn signature::RsaEncoding = if alg == Alg::Ps256 {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0; key.public().modulus_len()];
                key.sign(padding, &rng, input, &mut sig)
                    .map_err(|_| KeyError::Crypto("RSA signing"))?;
                Ok(sig)
            }
            Inner::Ec(key) => key
                .sign(&rng, input)
                .map(|sig| sig.as_ref().to_vec())
                .map_err(|_| KeyError::Crypto("ECDSA signing")),
            Inner::Ed(key) => Ok(key.sign(input).as_ref().to_vec()),
            Inner::Hmac(secret) => Ok(hmac_sha256(secret.expose().as_bytes(), input)),
        }
    }
}

/// The RFC 7638 thumbprint of a JWK's required members: base64url(SHA-256) of them as a
/// JSON object in lexicographic order, without whitespace.
pub fn jwk_thumbprint(members: &Map<String, Value>) -> String {
    // serde_json's map keeps insertion order with `preserve_order`; sort explicitly.
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let body: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String((*k).clone()), v))
        .collect();
    b64(ring::digest::digest(
        &ring::digest::SHA256,
        format!("{{{}}}", body.join(",")).as_bytes(),
    ))
}

/// HMAC-SHA256 with any key bytes (also a public key's, for the alg-confusion flaw).
pub(super) fn hmac_sha256(key: &[u8], input: &[u8]) -> Vec<u8> {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    ring::hmac::sign(&key, input).as_ref().to_vec()
}

#[cfg(test)]
pub(crate) mod tests;
