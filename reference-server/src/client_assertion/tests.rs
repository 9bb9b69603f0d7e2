use super::*;
use crate::jose::testing::{header, hs256, unsecured, with_changes, TestKey};
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
        string_only: false,
    }
}

fn claims() -> Value {
    json!({
        "iss": CLIENT, "sub": CLIENT, "aud": TOKEN,
        "exp": NOW + 60, "iat": NOW, "jti": "jti-1",
    })
}

fn with(changes: Value) -> Value {
    with_changes(claims(), &changes)
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

/// FAPI 2.0 §5.3.2.1 item 8: the issuer alone, and as a string: an array of it is refused
/// there, and taken where RFC 7523 alone applies.
#[test]
fn a_string_only_audience_refuses_arrays_and_the_token_endpoint() {
    let key = TestKey::ec();
    let fapi = Audience {
        issuer: ISSUER,
        token_endpoint: ISSUER,
        string_only: true,
    };
    let keys = [key.public()];
    let check_with = |aud: Value, audience: Audience<'static>| {
        let assertion = signed(&key, &with(json!({ "aud": aud })));
        check(
            Presented {
                assertion_type: JWT_BEARER,
                assertion: &assertion,
            },
            CLIENT,
            ClientKeys::Public {
                keys: &keys,
                algs: Alg::ALL,
            },
            audience,
            NOW,
            POLICY,
        )
        .map(|_| ())
    };
    let refused = Err(AssertionError::AudNotThisServer);
    assert_eq!(check_with(json!([ISSUER]), fapi), refused);
    assert_eq!(check_with(json!(TOKEN), fapi), refused);
    assert_eq!(check_with(json!(ISSUER), fapi), Ok(()));
    assert_eq!(check_with(json!([ISSUER]), audience()), Ok(()));
}
