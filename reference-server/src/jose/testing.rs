use super::*;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use serde_json::json;

/// The reference server's own fixture RSA key, reused as a client key in tests.
fn rsa_pkcs8() -> Vec<u8> {
    let pem = crate::jwt::FIXTURE_KEY_PEM;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
}

pub enum TestKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl TestKey {
    pub fn rsa() -> TestKey {
        TestKey::Rsa(RsaKeyPair::from_pkcs8(&rsa_pkcs8()).unwrap())
    }

    /// The client key registered for `jwtClient` in fixtures/clients.toml (test-only:
    /// fixtures/keys/README.md).
    pub fn fixture_es256() -> TestKey {
        let pem = include_str!("../../../fixtures/keys/client-es256.pem");
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        TestKey::Ec(EcdsaKeyPair::from_pkcs8(alg, &der, &SystemRandom::new()).unwrap())
    }

    pub fn ec() -> TestKey {
        let rng = SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        TestKey::Ec(EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).unwrap())
    }

    pub fn ed() -> TestKey {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        TestKey::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    /// The default algorithm for the key type.
    pub fn alg(&self) -> &'static str {
        match self {
            TestKey::Rsa(_) => "RS256",
            TestKey::Ec(_) => "ES256",
            TestKey::Ed(_) => "EdDSA",
        }
    }

    pub fn public_jwk(&self) -> Map<String, Value> {
        let enc = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        let value = match self {
            TestKey::Rsa(k) => {
                let c: RsaPublicKeyComponents<Vec<u8>> = k.public().into();
                json!({"kty": "RSA", "n": enc(&c.n), "e": enc(&c.e)})
            }
            TestKey::Ec(k) => {
                let p = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": enc(&p[1..33]), "y": enc(&p[33..])})
            }
            TestKey::Ed(k) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": enc(k.public_key().as_ref())})
            }
        };
        match value {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    pub fn public(&self) -> PublicJwk {
        PublicJwk::from_json(&self.public_jwk()).unwrap()
    }

    /// Signs `header` (with `alg` set to `alg`) and `claims` into a compact JWS.
    pub fn sign_as(&self, alg: &str, mut header: Map<String, Value>, claims: &Value) -> String {
        header.insert("alg".into(), alg.into());
        let input = signing_input(&Value::Object(header), claims);
        let rng = SystemRandom::new();
        let sig = match self {
            TestKey::Rsa(k) => {
                let enc: &dyn signature::RsaEncoding = if alg == "PS256" {
                    &signature::RSA_PSS_SHA256
                } else {
                    &signature::RSA_PKCS1_SHA256
                };
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(enc, &rng, input.as_bytes(), &mut sig).unwrap();
                sig
            }
            TestKey::Ec(k) => k.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            TestKey::Ed(k) => k.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    pub fn sign(&self, header: Map<String, Value>, claims: &Value) -> String {
        self.sign_as(self.alg(), header, claims)
    }
}

pub fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub fn hs256(secret: &[u8], mut header: Map<String, Value>, claims: &Value) -> String {
    header.insert("alg".into(), "HS256".into());
    let input = signing_input(&Value::Object(header), claims);
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// `alg: none` with an empty signature (RFC 7519 §6.1).
pub fn unsecured(mut header: Map<String, Value>, claims: &Value) -> String {
    header.insert("alg".into(), "none".into());
    format!("{}.", signing_input(&Value::Object(header), claims))
}

pub fn header(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => panic!("a header is an object"),
    }
}

/// `claims` with `changes` applied: each member set, or removed where its value is null.
pub fn with_changes(mut claims: Value, changes: &Value) -> Value {
    for (k, v) in changes.as_object().unwrap() {
        if v.is_null() {
            claims.as_object_mut().unwrap().remove(k);
        } else {
            claims[k] = v.clone();
        }
    }
    claims
}
