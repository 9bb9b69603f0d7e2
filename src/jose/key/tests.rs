use super::*;
use reference_server::jose::{Alg as RsAlg, Jws, PublicJwk, VerifyingKey};

/// The fixture key files (test-only: fixtures/keys/README.md).
pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys")
        .join(name)
}

/// Verifies with the reference server's verifier: an independent implementation.
fn verifies(key: &SigningKey, jwt: &SignedJwt) -> Result<RsAlg, reference_server::jose::JoseError> {
    let jws = Jws::parse(jwt.expose())?;
    let public = PublicJwk::from_json(&key.public_jwk_members().unwrap()).unwrap();
    jws.verify(RsAlg::ASYMMETRIC, VerifyingKey::Public(&public))
}

#[test]
fn every_fixture_format_loads_and_signs_verifiably() {
    let cases = [
        ("client-rs256.pem", "RSA", Alg::Rs256),
        ("client-rs256.jwk.json", "RSA", Alg::Rs256),
        ("client-ps256.jwk.json", "RSA", Alg::Ps256),
        ("client-es256.pem", "EC", Alg::Es256),
        ("client-es256.jwk.json", "EC", Alg::Es256),
        ("client-ed25519.pem", "OKP", Alg::EdDsa),
        ("client-ed25519.jwk.json", "OKP", Alg::EdDsa),
    ];
    for (file, kty, alg) in cases {
        let key =
            SigningKey::from_file(&fixture(file), None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!((key.kty(), key.alg()), (kty, alg), "{file}");
        let jwt = key.sign(Map::new(), &json!({"sub": "x"})).unwrap();
        assert_eq!(
            verifies(&key, &jwt).map(|a| a.name()),
            Ok(alg.name()),
            "{file}"
        );
    }
}

#[test]
fn pem_and_jwk_of_the_same_key_agree_and_the_jwk_kid_is_kept() {
    for (pem, jwk, kid) in [
        (
            "client-rs256.pem",
            "client-rs256.jwk.json",
            "grantcheck-rs256",
        ),
        (
            "client-es256.pem",
            "client-es256.jwk.json",
            "grantcheck-es256",
        ),
        (
            "client-ed25519.pem",
            "client-ed25519.jwk.json",
            "grantcheck-ed25519",
        ),
    ] {
        let from_pem = SigningKey::from_file(&fixture(pem), None).unwrap();
        let from_jwk = SigningKey::from_file(&fixture(jwk), None).unwrap();
        assert_eq!(from_pem.thumbprint(), from_jwk.thumbprint(), "{pem}");
        assert_eq!(from_pem.kid(), None);
        assert_eq!(from_jwk.kid(), Some(kid));
        let given = SigningKey::from_file(&fixture(jwk), Some("given")).unwrap();
        assert_eq!(given.kid(), Some("given"));
        let jwt = given.sign(Map::new(), &json!({})).unwrap();
        let jws = Jws::parse(jwt.expose()).unwrap();
        assert_eq!(jws.header.kid.as_deref(), Some("given"));
    }
}

#[test]
fn thumbprints_agree_with_the_reference_servers() {
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256] {
        let key = SigningKey::generate(alg).unwrap();
        let theirs = PublicJwk::from_json(&key.public_jwk_members().unwrap()).unwrap();
        assert_eq!(key.thumbprint().unwrap(), theirs.thumbprint(), "{alg}");
        assert_eq!(key.kid(), key.thumbprint().as_deref());
    }
}

#[test]
fn rfc_7638_example_thumbprint() {
    // RFC 7638 §3.1, members given in another order than the canonical one.
    let jwk = json!({
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "kty": "RSA",
        "e": "AQAB",
    });
    assert_eq!(
        jwk_thumbprint(jwk.as_object().unwrap()),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn generated_keys_sign_verifiably_for_each_algorithm() {
    for alg in [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256] {
        let key = SigningKey::generate(alg).unwrap();
        let jwt = key.sign(Map::new(), &json!({"n": 1})).unwrap();
        assert_eq!(verifies(&key, &jwt).map(|a| a.name()), Ok(alg.name()));
    }
    let a = SigningKey::generate(Alg::Es256).unwrap();
    let b = SigningKey::generate(Alg::Es256).unwrap();
    assert_ne!(a.thumbprint(), b.thumbprint());
}

#[test]
fn hs256_signs_with_the_secret() {
    let secret = "hmac-secret-0123456789abcdef0123456789abcdef";
    let key = SigningKey::hmac(Secret::new(secret), None);
    assert!(key.public_jwk().is_none() && key.thumbprint().is_none());
    let jwt = key.sign(Map::new(), &json!({"sub": "x"})).unwrap();
    let jws = Jws::parse(jwt.expose()).unwrap();
    assert_eq!(
        jws.verify(&[RsAlg::Hs256], VerifyingKey::Secret(secret.as_bytes())),
        Ok(RsAlg::Hs256)
    );
    assert!(jws
        .verify(
            &[RsAlg::Hs256],
            VerifyingKey::Secret(b"another-secret-0123456789abcdef-012345")
        )
        .is_err());
}

#[test]
fn keys_refuse_algorithms_they_cannot_sign() {
    let ec = SigningKey::generate(Alg::Es256).unwrap();
    assert_eq!(
        ec.sign_as(Alg::Rs256, Map::new(), &json!({})),
        Err(KeyError::AlgMismatch {
            key: "EC",
            alg: Alg::Rs256
        })
    );
    let rsa = SigningKey::from_file(&fixture("client-rs256.pem"), None).unwrap();
    assert_eq!(rsa.with_alg(Alg::Ps256).unwrap().alg(), Alg::Ps256);
    let rsa = SigningKey::from_file(&fixture("client-rs256.pem"), None).unwrap();
    assert!(rsa.with_alg(Alg::Es256).is_err());
}

#[test]
fn bad_key_files_say_what_is_wrong_without_showing_the_key() {
    let dir = std::env::temp_dir().join(format!("grantcheck-jose-{}", super::super::random_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.join(name);
        std::fs::write(&path, body).unwrap();
        path
    };
    let es = std::fs::read_to_string(fixture("client-es256.jwk.json")).unwrap();
    let mut no_d: Value = serde_json::from_str(&es).unwrap();
    let d = no_d["d"].as_str().unwrap().to_owned();
    no_d.as_object_mut().unwrap().remove("d");
    let mut wrong_d: Value = serde_json::from_str(&es).unwrap();
    wrong_d["d"] = b64([7u8; 32]).into();
    let cases = [
        (write("empty.pem", ""), "no unencrypted PEM private key"),
        (
            write(
                "cert.pem",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            "no unencrypted PEM private key",
        ),
        (write("garbage.json", "{not json"), "not JSON"),
        (write("public.json", &no_d.to_string()), "has no 'd'"),
        (write("mismatch.json", &wrong_d.to_string()), "rejected"),
        (
            write("oct.json", r#"{"kty":"oct","k":"AAAA"}"#),
            "symmetric",
        ),
        (write("p384.json", r#"{"kty":"EC","crv":"P-384"}"#), "P-384"),
        (write("two.json", r#"{"keys":[{},{}]}"#), "exactly one key"),
        (write("alg.json", &es.replace("ES256", "ES384")), "ES384"),
        (dir.join("missing.pem"), "cannot read"),
    ];
    for (path, expected) in cases {
        let err = SigningKey::from_file(&path, None).unwrap_err().to_string();
        assert!(err.contains(expected), "{}: {err}", path.display());
        assert!(!err.contains(&d), "{err}");
    }
    let big = write("big.pem", &"A".repeat(MAX_KEY_FILE as usize + 1));
    assert!(SigningKey::from_file(&big, None)
        .unwrap_err()
        .to_string()
        .contains("larger"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Hostile key files never panic: every truncation of each fixture is refused (or, for a
/// JWK cut after its last member, still the same key).
#[test]
fn truncated_key_files_are_refused_without_panicking() {
    for name in [
        "client-rs256.jwk.json",
        "client-es256.jwk.json",
        "client-ed25519.jwk.json",
        "client-rs256.pem",
        "client-es256.pem",
        "client-ed25519.pem",
    ] {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        let whole = SigningKey::from_file(&fixture(name), None).unwrap();
        for end in 0..text.len() {
            let cut = &text[..end];
            let loaded = if name.ends_with(".json") {
                SigningKey::from_jwk(cut, None)
            } else {
                SigningKey::from_pem(cut.as_bytes(), None)
            };
            if let Ok(key) = loaded {
                // Only the trailing newline or PEM footer may go and leave the key intact.
                assert_eq!(key.thumbprint(), whole.thumbprint(), "{name} cut at {end}");
            }
        }
    }
}

#[test]
fn debug_shows_no_key_material() {
    let key = SigningKey::from_file(&fixture("client-es256.jwk.json"), None).unwrap();
    let es = std::fs::read_to_string(fixture("client-es256.jwk.json")).unwrap();
    let d: Value = serde_json::from_str(&es).unwrap();
    let shown = format!("{key:?}");
    assert!(
        shown.contains("grantcheck-es256") && shown.contains("Es256"),
        "{shown}"
    );
    assert!(!shown.contains(d["d"].as_str().unwrap()));
    let secret = SigningKey::hmac(Secret::new("hmac-secret-0123456789abcdef"), None);
    assert!(!format!("{secret:?}").contains("hmac-secret"));
}

/// Each fixture private JWK loads with its `kid` and signs what the public JWKS a server
/// registers for it (`fixtures/keys/clients.public.jwks.json`, written independently)
/// verifies.
#[test]
fn fixture_client_keys_sign_what_their_registered_jwks_verifies() {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("clients.public.jwks.json")).unwrap(),
    )
    .unwrap();
    let registered = reference_server::jose::parse_jwks(&jwks).unwrap();
    for (file, kty, alg, kid, rs_alg) in [
        (
            "client-es256.jwk.json",
            "EC",
            Alg::Es256,
            "grantcheck-es256",
            RsAlg::Es256,
        ),
        (
            "client-rs256.jwk.json",
            "RSA",
            Alg::Rs256,
            "grantcheck-rs256",
            RsAlg::Rs256,
        ),
        (
            "client-ps256.jwk.json",
            "RSA",
            Alg::Ps256,
            "grantcheck-ps256",
            RsAlg::Ps256,
        ),
        (
            "client-ed25519.jwk.json",
            "OKP",
            Alg::EdDsa,
            "grantcheck-ed25519",
            RsAlg::EdDsa,
        ),
    ] {
        let key = SigningKey::from_file(&fixture(file), None).unwrap();
        assert_eq!(
            (key.kty(), key.alg(), key.kid()),
            (kty, alg, Some(kid)),
            "{file}"
        );
        let jwt = key.sign(Map::new(), &json!({"sub": "jwtClient"})).unwrap();
        let jws = Jws::parse(jwt.expose()).unwrap();
        let chosen = jws.select_key(&registered, RsAlg::ASYMMETRIC).unwrap();
        assert_eq!(
            jws.verify(RsAlg::ASYMMETRIC, VerifyingKey::Public(chosen)),
            Ok(rs_alg),
            "{file}"
        );
    }
}
