//! RFC 9068 JWT access tokens: RS256 signing (RFC 9068 §2.1 requires RS256 support) and
//! the JWKS published at `/oauth2/connect/jwk_uri`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use serde_json::{json, Value};

/// The compiled-in signing key (a test key: see fixtures/keys/README.md).
pub const FIXTURE_KEY_PEM: &str = include_str!("../../fixtures/keys/jwt-rs256.pem");

/// Signs access tokens with one RSA key.
pub struct JwtSigner {
    key: RsaKeyPair,
    kid: String,
    jwks: Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner").field("kid", &self.kid).finish()
    }
}

impl JwtSigner {
    pub fn fixture() -> JwtSigner {
        JwtSigner::from_pkcs8_pem(FIXTURE_KEY_PEM).expect("the compiled-in fixture key is valid")
    }

    /// Loads a PKCS#8 `-----BEGIN PRIVATE KEY-----` RSA key.
    pub fn from_pkcs8_pem(pem: &str) -> Result<JwtSigner, String> {
        let b64: String = pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<Vec<_>>()
            .concat();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| format!("signing key is not PEM: {e}"))?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| format!("signing key is not a PKCS#8 RSA key: {e}"))?;
        let public: RsaPublicKeyComponents<Vec<u8>> = key.public().into();
        let n = URL_SAFE_NO_PAD.encode(&public.n);
        let e = URL_SAFE_NO_PAD.encode(&public.e);
        // RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            canonical.as_bytes(),
        ));
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        }]});
        Ok(JwtSigner {
            key,
            kid,
            jwks,
            rng: SystemRandom::new(),
        })
    }

    /// A compact JWS with header `{"alg":"RS256","typ":"at+jwt","kid":…}` (RFC 9068 §2.1).
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_typed(claims, "at+jwt")
    }

    /// [`JwtSigner::sign`] with another `typ` (the legal variant `jwt-typ-jwt`).
    pub fn sign_typed(&self, claims: &Value, typ: &str) -> String {
        let header = json!({"alg": "RS256", "typ": typ, "kid": self.kid});
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                signing_input.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing with a valid key cannot fail");
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    pub fn jwks(&self) -> &Value {
        &self.jwks
    }
}

/// An unsecured JWT (`alg` none, empty signature; RFC 7519 §6): the fault
/// `access-token-alg-none`.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({"alg": "none", "typ": "at+jwt"});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The `iss` claim of a token shaped like a compact JWS, read without verifying anything:
/// no signature, no expiry. It may only choose whom to ask about the token (the resource
/// server asks that realm's introspection, which decides); `None` for opaque tokens.
pub fn unverified_issuer(token: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
    }
    let mut parts = token.split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let claims = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Claims>(&claims)
        .ok()
        .map(|c| c.iss)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::RSA_PKCS1_2048_8192_SHA256;

    #[test]
    fn signature_verifies_with_the_published_key() {
        let signer = JwtSigner::fixture();
        let jwt = signer.sign(&json!({"sub": "x"}));
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["typ"], "at+jwt");
        let key = &signer.jwks()["keys"][0];
        let n = URL_SAFE_NO_PAD.decode(key["n"].as_str().unwrap()).unwrap();
        let e = URL_SAFE_NO_PAD.decode(key["e"].as_str().unwrap()).unwrap();
        let public = RsaPublicKeyComponents { n, e };
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .unwrap();
    }

    #[test]
    fn the_issuer_is_read_from_a_jwt_only() {
        let signer = JwtSigner::fixture();
        let jwt = signer.sign(&json!({"iss": "http://rs.test/oauth2", "sub": "x"}));
        assert_eq!(
            unverified_issuer(&jwt).as_deref(),
            Some("http://rs.test/oauth2")
        );
        // Not verified: any three segments with an `iss` will do, which is why it only
        // chooses whom to ask.
        let payload = URL_SAFE_NO_PAD.encode(r#"{"iss":"forged"}"#);
        assert_eq!(
            unverified_issuer(&format!("e30.{payload}.sig")).as_deref(),
            Some("forged")
        );
        let opaque = crate::tokens::random_token(32);
        for token in [
            opaque.as_str(),
            "a.b.c",
            "",
            &format!("e30.{payload}"),
            &format!("e30.{payload}.sig.more"),
            &signer.sign(&json!({"sub": "no issuer"})),
            &signer.sign(&json!({"iss": 7})),
        ] {
            assert_eq!(unverified_issuer(token), None, "{token}");
        }
    }
}
