use super::testing::*;
use super::*;
use serde_json::json;

fn claims() -> Value {
    json!({"iss": "c", "sub": "c"})
}

#[test]
fn each_key_type_verifies_its_own_signatures_and_not_others() {
    for key in [TestKey::rsa(), TestKey::ec(), TestKey::ed()] {
        let jws = Jws::parse(&key.sign(Map::new(), &claims())).unwrap();
        let public = key.public();
        let alg = jws
            .verify(Alg::ASYMMETRIC, VerifyingKey::Public(&public))
            .unwrap();
        assert_eq!(alg.name(), key.alg());
        // Same type, other key: the signature does not verify.
        let other = match key {
            TestKey::Rsa(_) => continue, // one RSA fixture; see the tampering test
            TestKey::Ec(_) => TestKey::ec(),
            TestKey::Ed(_) => TestKey::ed(),
        };
        assert_eq!(
            jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&other.public())),
            Err(JoseError::BadSignature)
        );
    }
}

#[test]
fn ps256_and_ed25519_names_verify() {
    let rsa = TestKey::rsa();
    let jws = Jws::parse(&rsa.sign_as("PS256", Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&rsa.public())),
        Ok(Alg::Ps256)
    );
    // A PS256 signature does not pass as RS256.
    let input = jws.signing_input.clone();
    let forged = rsa.sign_as("RS256", Map::new(), &claims());
    let sig = forged.rsplit('.').next().unwrap();
    let mixed = Jws::parse(&format!("{}.{sig}", input)).unwrap();
    assert_eq!(
        mixed.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&rsa.public())),
        Err(JoseError::BadSignature)
    );
    let ed = TestKey::ed();
    let jws = Jws::parse(&ed.sign_as("Ed25519", Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&ed.public())),
        Ok(Alg::Ed25519)
    );
}

#[test]
fn a_tampered_payload_fails() {
    let key = TestKey::rsa();
    let jws = key.sign(Map::new(), &claims());
    let parts: Vec<&str> = jws.split('.').collect();
    let other = URL_SAFE_NO_PAD.encode(json!({"iss": "d", "sub": "d"}).to_string());
    let tampered = format!("{}.{other}.{}", parts[0], parts[2]);
    assert_eq!(
        Jws::parse(&tampered)
            .unwrap()
            .verify(Alg::ASYMMETRIC, VerifyingKey::Public(&key.public())),
        Err(JoseError::BadSignature)
    );
}

#[test]
fn alg_none_is_refused_even_when_listed_nowhere() {
    let jws = Jws::parse(&unsecured(Map::new(), &claims())).unwrap();
    assert_eq!(jws.alg(Alg::ALL), Err(JoseError::AlgNone));
    let upper = unsecured(Map::new(), &claims()).replace(
        &URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        &URL_SAFE_NO_PAD.encode(r#"{"alg":"NONE"}"#),
    );
    assert_eq!(
        Jws::parse(&upper).unwrap().alg(Alg::ALL),
        Err(JoseError::AlgNone)
    );
}

#[test]
fn symmetric_alg_is_refused_where_only_asymmetric_is_allowed() {
    let key = TestKey::ec();
    // The classic confusion: HS256 keyed with the public key's bytes.
    let public_bytes = serde_json::to_vec(&key.public_jwk()).unwrap();
    let jws = Jws::parse(&hs256(&public_bytes, Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&key.public())),
        Err(JoseError::AlgNotAllowed)
    );
    // Even if HS256 were allowed, a public key cannot verify it.
    assert_eq!(
        jws.verify(Alg::ALL, VerifyingKey::Public(&key.public())),
        Err(JoseError::KeyAlgMismatch)
    );
}

#[test]
fn unknown_alg_and_mismatched_key_type_are_refused() {
    let key = TestKey::ec();
    let jws = Jws::parse(&key.sign_as("ES512", Map::new(), &claims())).unwrap();
    assert_eq!(jws.alg(Alg::ALL), Err(JoseError::AlgUnknown));
    let jws = Jws::parse(&key.sign_as("RS256", Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&key.public())),
        Err(JoseError::KeyAlgMismatch)
    );
}

#[test]
fn hmac_verifies_with_the_secret_only_and_needs_256_bits() {
    let secret = b"0123456789abcdef0123456789abcdef";
    let jws = Jws::parse(&hs256(secret, Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(&[Alg::Hs256], VerifyingKey::Secret(secret)),
        Ok(Alg::Hs256)
    );
    assert_eq!(
        jws.verify(
            &[Alg::Hs256],
            VerifyingKey::Secret(b"0123456789abcdef0123456789abcdeX")
        ),
        Err(JoseError::BadSignature)
    );
    let short = b"short-secret";
    let jws = Jws::parse(&hs256(short, Map::new(), &claims())).unwrap();
    assert_eq!(
        jws.verify(&[Alg::Hs256], VerifyingKey::Secret(short)),
        Err(JoseError::KeyAlgMismatch)
    );
}

#[test]
fn malformed_input_is_refused_without_panicking() {
    let good = TestKey::ec().sign(Map::new(), &claims());
    let cases: Vec<(String, JoseError)> = vec![
        ("".into(), JoseError::NotCompact),
        ("a.b".into(), JoseError::NotCompact),
        (format!("{good}.x"), JoseError::NotCompact),
        (".e30.".into(), JoseError::NotCompact),
        ("e30=.e30.".into(), JoseError::BadEncoding),
        ("e30.e30.a+b".into(), JoseError::BadEncoding),
        (
            format!("{}.e30.", URL_SAFE_NO_PAD.encode("[1]")),
            JoseError::BadHeader,
        ),
        (
            format!("{}.e30.", URL_SAFE_NO_PAD.encode("{}")),
            JoseError::BadHeader,
        ),
        (
            format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":7}"#)),
            JoseError::BadHeader,
        ),
        (
            format!(
                "{}.e30.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","jwk":"x"}"#)
            ),
            JoseError::BadHeader,
        ),
        (
            format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
                URL_SAFE_NO_PAD.encode("\"s\"")
            ),
            JoseError::BadPayload,
        ),
        (
            format!(
                "{}.e30.",
                URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256","crit":["exp"]}"#)
            ),
            JoseError::CritUnsupported,
        ),
        ("a".repeat(MAX_JWS_LEN + 1), JoseError::TooLong),
    ];
    for (input, expected) in cases {
        assert_eq!(Jws::parse(&input).map(|_| ()), Err(expected), "{input:.60}");
    }
}

#[test]
fn private_and_unsupported_jwks_are_refused() {
    let public = TestKey::ec().public_jwk();
    for member in PRIVATE_MEMBERS {
        let mut jwk = public.clone();
        jwk.insert((*member).into(), "AAAA".into());
        assert_eq!(
            PublicJwk::from_json(&jwk),
            Err(JoseError::PrivateKeyInJwk),
            "{member}"
        );
    }
    for (name, value) in [
        ("kty", json!("oct")),
        ("crv", json!("P-384")),
        ("x", json!("AAAA")),
        ("y", json!(7)),
    ] {
        let mut jwk = public.clone();
        jwk.insert(name.into(), value);
        assert_eq!(
            PublicJwk::from_json(&jwk),
            Err(JoseError::KeyUnsupported),
            "{name}"
        );
    }
    let mut rsa = TestKey::rsa().public_jwk();
    let n = rsa["n"].as_str().unwrap().to_owned();
    let mut padded = vec![0u8];
    padded.extend(URL_SAFE_NO_PAD.decode(&n).unwrap());
    rsa.insert("n".into(), URL_SAFE_NO_PAD.encode(padded).into());
    assert_eq!(PublicJwk::from_json(&rsa), Err(JoseError::KeyUnsupported));
}

#[test]
fn a_jwk_restricted_to_another_alg_or_use_does_not_fit() {
    let key = TestKey::rsa();
    let jws = Jws::parse(&key.sign(Map::new(), &claims())).unwrap();
    for (member, value) in [("alg", "PS256"), ("use", "enc")] {
        let mut jwk = key.public_jwk();
        jwk.insert(member.into(), value.into());
        let public = PublicJwk::from_json(&jwk).unwrap();
        assert_eq!(
            jws.verify(Alg::ASYMMETRIC, VerifyingKey::Public(&public)),
            Err(JoseError::KeyAlgMismatch),
            "{member}"
        );
    }
}

#[test]
fn thumbprints_match_rfc_7638_and_rfc_8037_examples() {
    // RFC 7638 §3.1.
    let rsa = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let key = PublicJwk::from_json(rsa.as_object().unwrap()).unwrap();
    assert_eq!(
        key.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    // RFC 8037 Appendix A.3.
    let ed =
        json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
    let key = PublicJwk::from_json(ed.as_object().unwrap()).unwrap();
    assert_eq!(
        key.thumbprint(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn keys_are_selected_by_kid_or_as_the_only_fit() {
    let (a, b) = (TestKey::ec(), TestKey::ec());
    let with_kid = |key: &TestKey, kid: &str| {
        let mut jwk = key.public_jwk();
        jwk.insert("kid".into(), kid.into());
        PublicJwk::from_json(&jwk).unwrap()
    };
    let keys = vec![
        with_kid(&a, "a"),
        with_kid(&b, "b"),
        TestKey::rsa().public(),
    ];
    let jws = Jws::parse(&b.sign(header(json!({"kid": "b"})), &claims())).unwrap();
    let key = jws.select_key(&keys, Alg::ASYMMETRIC).unwrap();
    assert_eq!(key.kid.as_deref(), Some("b"));
    assert!(jws
        .verify(Alg::ASYMMETRIC, VerifyingKey::Public(key))
        .is_ok());
    let unknown = Jws::parse(&b.sign(header(json!({"kid": "z"})), &claims())).unwrap();
    assert_eq!(
        unknown.select_key(&keys, Alg::ASYMMETRIC).map(|_| ()),
        Err(JoseError::NoMatchingKey)
    );
    // Without kid: two EC keys are ambiguous, the one RSA key is not.
    let no_kid = Jws::parse(&a.sign(Map::new(), &claims())).unwrap();
    assert_eq!(
        no_kid.select_key(&keys, Alg::ASYMMETRIC).map(|_| ()),
        Err(JoseError::NoMatchingKey)
    );
    let rsa = Jws::parse(&TestKey::rsa().sign(Map::new(), &claims())).unwrap();
    assert_eq!(rsa.select_key(&keys, Alg::ASYMMETRIC).unwrap().kty(), "RSA");
}

#[test]
fn jwks_with_a_private_key_is_refused() {
    let mut private = TestKey::ec().public_jwk();
    private.insert("d".into(), "AAAA".into());
    let jwks = json!({"keys": [TestKey::ec().public_jwk(), private]});
    assert_eq!(parse_jwks(&jwks), Err(JoseError::PrivateKeyInJwk));
    assert_eq!(
        parse_jwks(&json!({"keys": {}})),
        Err(JoseError::KeyUnsupported)
    );
    assert_eq!(
        parse_jwks(&json!({"keys": [TestKey::ed().public_jwk()]}))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn numeric_dates_round_towards_refusal() {
    let claims = json!({"a": 10, "b": 10.5, "c": "10", "d": -1, "e": 1e300});
    let c = claims.as_object().unwrap();
    assert_eq!(numeric_date(c, "a", false), Ok(Some(10)));
    assert_eq!(numeric_date(c, "b", false), Ok(Some(10)));
    assert_eq!(numeric_date(c, "b", true), Ok(Some(11)));
    assert_eq!(numeric_date(c, "c", false), Err(NotNumericDate));
    assert_eq!(numeric_date(c, "d", false), Err(NotNumericDate));
    assert_eq!(numeric_date(c, "e", false), Err(NotNumericDate));
    assert_eq!(numeric_date(c, "z", false), Ok(None));
}
