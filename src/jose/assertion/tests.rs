use super::*;
use crate::jose::key::tests::fixture;
use reference_server::client_assertion::{
    self, AssertionError, Audience, ClientKeys, Presented, JWT_BEARER, POLICY,
};
use reference_server::jose::{Alg as RsAlg, JoseError, PublicJwk};
use reference_server::replay::ReplayCache;
use reference_server::Secret;

const CLIENT: &str = "jwtClient";
const ISSUER: &str = "http://127.0.0.1:9/oauth2";
const TOKEN: &str = "http://127.0.0.1:9/oauth2/access_token";
const SECRET: &str = "hmac-secret-0123456789abcdef0123456789abcdef";
const NOW: u64 = 1_800_000_000;

/// The reference server's verifier: the oracle these assertions are checked against.
struct Verifier {
    keys: Vec<PublicJwk>,
    secret: Option<&'static [u8]>,
    cache: ReplayCache,
}

impl Verifier {
    fn public(key: &SigningKey) -> Verifier {
        let jwk = key.public_jwk().unwrap();
        Verifier {
            keys: vec![PublicJwk::from_json(jwk.as_object().unwrap()).unwrap()],
            secret: None,
            cache: ReplayCache::new(64),
        }
    }

    fn secret() -> Verifier {
        Verifier {
            keys: vec![],
            secret: Some(SECRET.as_bytes()),
            cache: ReplayCache::new(64),
        }
    }

    fn verify(&mut self, jwt: &SignedJwt) -> Result<(), AssertionError> {
        let keys = match self.secret {
            Some(secret) => ClientKeys::Secret(secret),
            None => ClientKeys::Public {
                keys: &self.keys,
                algs: RsAlg::ALL,
            },
        };
        client_assertion::verify(
            Presented {
                assertion_type: JWT_BEARER,
                assertion: jwt.expose(),
            },
            CLIENT,
            keys,
            Audience {
                issuer: ISSUER,
                token_endpoint: TOKEN,
                string_only: false,
            },
            NOW,
            POLICY,
            &mut self.cache,
        )
        .map(|_| ())
    }
}

fn keys() -> Vec<Arc<SigningKey>> {
    let mut keys: Vec<Arc<SigningKey>> = [
        "client-rs256.jwk.json",
        "client-ps256.jwk.json",
        "client-es256.pem",
        "client-ed25519.jwk.json",
    ]
    .iter()
    .map(|f| Arc::new(SigningKey::from_file(&fixture(f), None).unwrap()))
    .collect();
    keys.push(Arc::new(SigningKey::generate(Alg::Es256).unwrap()));
    keys
}

#[test]
fn well_formed_assertions_verify_for_every_key_and_both_audiences() {
    for key in keys() {
        for aud in [TOKEN, ISSUER] {
            let mut verifier = Verifier::public(&key);
            let mut builder = AssertionBuilder::new(key.clone(), CLIENT, aud);
            let jwt = builder.build(&AssertionFlaw::None, NOW).unwrap();
            assert_eq!(verifier.verify(&jwt), Ok(()), "{key:?} {aud}");
        }
    }
    let mut verifier = Verifier::secret();
    let key = Arc::new(SigningKey::hmac(Secret::new(SECRET), None));
    let mut builder = AssertionBuilder::new(key, CLIENT, TOKEN);
    assert_eq!(
        verifier.verify(&builder.build(&AssertionFlaw::None, NOW).unwrap()),
        Ok(())
    );
}

fn expected(flaw: &AssertionFlaw) -> Option<AssertionError> {
    Some(match flaw {
        AssertionFlaw::None => return None,
        AssertionFlaw::WrongType(_) => AssertionError::TypNotAllowed,
        AssertionFlaw::SignedByOtherKey => AssertionError::Jose(JoseError::BadSignature),
        AssertionFlaw::AlgNone => AssertionError::Jose(JoseError::AlgNone),
        AssertionFlaw::Hs256WithPublicKey => AssertionError::Jose(JoseError::AlgNotAllowed),
        AssertionFlaw::Expired => AssertionError::Expired,
        AssertionFlaw::MissingExp => AssertionError::ExpMissing,
        AssertionFlaw::FarFutureExp => AssertionError::ExpTooFarAhead,
        AssertionFlaw::NbfInFuture => AssertionError::NbfInFuture,
        AssertionFlaw::IatFarPast => AssertionError::IatTooOld,
        AssertionFlaw::IatInFuture => AssertionError::IatInFuture,
        AssertionFlaw::MissingJti => AssertionError::JtiMissing,
        AssertionFlaw::Replayed => AssertionError::Replayed,
        AssertionFlaw::IssNotClient => AssertionError::IssNotClient,
        AssertionFlaw::SubNotClient => AssertionError::SubNotClient,
        AssertionFlaw::AudOtherServer => AssertionError::AudNotThisServer,
        AssertionFlaw::AudMissing => AssertionError::AudMissing,
        // RFC 7523 alone takes an array of its audiences, the token endpoint URL and a
        // few seconds of skew; FAPI 2.0 refuses the first two (see the FAPI test below).
        AssertionFlaw::AudArray
        | AssertionFlaw::AudTokenEndpoint
        | AssertionFlaw::IatNearFuture => return None,
        // nbf is checked before iat.
        AssertionFlaw::IatBeyondFapiSkew => AssertionError::NbfInFuture,
    })
}

fn all_flaws() -> Vec<AssertionFlaw> {
    FLAW_NAMES
        .iter()
        .map(|name| name.trim_end_matches("[:TYP]").parse().unwrap())
        .collect()
}

#[test]
fn each_flaw_is_refused_by_the_reference_verifier_for_its_own_reason() {
    for key in keys() {
        for flaw in all_flaws() {
            let mut verifier = Verifier::public(&key);
            let mut builder =
                AssertionBuilder::new(key.clone(), CLIENT, ISSUER).with_token_endpoint(TOKEN);
            if flaw == AssertionFlaw::Replayed {
                // The first use is fine; the second, with the same jti, is the flaw.
                let first = builder.build(&AssertionFlaw::None, NOW).unwrap();
                assert_eq!(verifier.verify(&first), Ok(()));
            }
            let jwt = builder.build(&flaw, NOW).unwrap();
            assert_eq!(
                verifier.verify(&jwt).err(),
                expected(&flaw),
                "{flaw} with {key:?}"
            );
        }
    }
}

#[test]
fn each_flaw_is_refused_for_a_client_secret_jwt_client_too() {
    for flaw in all_flaws() {
        let key = Arc::new(SigningKey::hmac(Secret::new(SECRET), None));
        let mut verifier = Verifier::secret();
        let mut builder = AssertionBuilder::new(key, CLIENT, ISSUER).with_token_endpoint(TOKEN);
        if flaw == AssertionFlaw::Hs256WithPublicKey {
            let err = builder.build(&flaw, NOW).unwrap_err();
            assert!(matches!(err, BuildError::NotApplicable(_)), "{err}");
            continue;
        }
        if flaw == AssertionFlaw::Replayed {
            assert_eq!(
                verifier.verify(&builder.build(&AssertionFlaw::None, NOW).unwrap()),
                Ok(())
            );
        }
        let jwt = builder.build(&flaw, NOW).unwrap();
        assert_eq!(verifier.verify(&jwt).err(), expected(&flaw), "{flaw}");
    }
}

/// FAPI 2.0 §5.3.2.1 item 8: the issuer alone, as a string; the token endpoint URL as
/// `aud` is not made where it is the usual audience already.
#[test]
fn the_fapi_audience_flaws_are_refused_where_only_the_issuer_string_counts() {
    let key = keys().remove(0);
    let fapi = Audience {
        issuer: ISSUER,
        token_endpoint: ISSUER,
        string_only: true,
    };
    let jwk = key.public_jwk().unwrap();
    let public = vec![PublicJwk::from_json(jwk.as_object().unwrap()).unwrap()];
    for (flaw, refused) in [
        (AssertionFlaw::None, false),
        (AssertionFlaw::AudArray, true),
        (AssertionFlaw::AudTokenEndpoint, true),
    ] {
        let mut builder =
            AssertionBuilder::new(key.clone(), CLIENT, ISSUER).with_token_endpoint(TOKEN);
        let jwt = builder.build(&flaw, NOW).unwrap();
        let result = client_assertion::check(
            Presented {
                assertion_type: JWT_BEARER,
                assertion: jwt.expose(),
            },
            CLIENT,
            ClientKeys::Public {
                keys: &public,
                algs: RsAlg::ALL,
            },
            fapi,
            NOW,
            POLICY,
        );
        assert_eq!(result.is_err(), refused, "{flaw}: {result:?}");
    }
    let mut same = AssertionBuilder::new(key, CLIENT, TOKEN).with_token_endpoint(TOKEN);
    assert!(matches!(
        same.build(&AssertionFlaw::AudTokenEndpoint, NOW),
        Err(BuildError::NotApplicable(_))
    ));
}

#[test]
fn replayed_reuses_the_last_jti_and_fresh_builds_do_not() {
    let key = Arc::new(SigningKey::generate(Alg::Es256).unwrap());
    let mut builder = AssertionBuilder::new(key, CLIENT, TOKEN);
    let jti = |jwt: &SignedJwt| {
        let jws = reference_server::jose::Jws::parse(jwt.expose()).unwrap();
        jws.claims()["jti"].as_str().unwrap().to_owned()
    };
    let a = builder.build(&AssertionFlaw::None, NOW).unwrap();
    let b = builder.build(&AssertionFlaw::None, NOW).unwrap();
    assert_ne!(jti(&a), jti(&b));
    let c = builder.build(&AssertionFlaw::Replayed, NOW + 1).unwrap();
    assert_eq!(jti(&b), jti(&c));
    assert_ne!(
        b, c,
        "a replayed jti in a new assertion, not the same assertion"
    );
}

#[test]
fn flaw_names_round_trip_and_unknown_names_are_explained() {
    for flaw in all_flaws() {
        assert_eq!(flaw.name().parse::<AssertionFlaw>(), Ok(flaw.clone()));
    }
    assert_eq!(
        "wrong_type:dpop+jwt".parse(),
        Ok(AssertionFlaw::WrongType("dpop+jwt".into()))
    );
    assert_eq!(
        "wrong_type".parse(),
        Ok(AssertionFlaw::WrongType("at+jwt".into()))
    );
    let err = "expird".parse::<AssertionFlaw>().unwrap_err();
    assert!(
        err.contains("'expird'") && err.contains("expired, missing_exp"),
        "{err}"
    );
    assert!("wrong_type:".parse::<AssertionFlaw>().is_err());
}

/// Assertions from every fixture client key verify against the public JWKS a server
/// registers for them (`fixtures/keys/clients.public.jwks.json`), the key chosen by `kid`;
/// one signed by another key does not.
#[test]
fn fixture_keys_make_assertions_their_registered_jwks_verifies() {
    let jwks: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("clients.public.jwks.json")).unwrap(),
    )
    .unwrap();
    for name in [
        "client-rs256.jwk.json",
        "client-ps256.jwk.json",
        "client-es256.jwk.json",
        "client-ed25519.jwk.json",
    ] {
        let key = Arc::new(SigningKey::from_file(&fixture(name), None).unwrap());
        let mut verifier = Verifier {
            keys: reference_server::jose::parse_jwks(&jwks).unwrap(),
            secret: None,
            cache: ReplayCache::new(8),
        };
        let mut builder = AssertionBuilder::new(key, CLIENT, TOKEN);
        assert_eq!(
            verifier.verify(&builder.build(&AssertionFlaw::None, NOW).unwrap()),
            Ok(()),
            "{name}"
        );
        assert_eq!(
            verifier.verify(
                &builder
                    .build(&AssertionFlaw::SignedByOtherKey, NOW)
                    .unwrap()
            ),
            Err(AssertionError::Jose(JoseError::BadSignature)),
            "{name}"
        );
    }
}
