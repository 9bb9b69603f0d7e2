use super::*;
use crate::jose::testing::{header, hs256, unsecured, with_changes, TestKey};
use serde_json::{json, Map};

const NOW: u64 = 1_800_000_000;
const URL: &str = "https://server.example.com/token";
const TOKEN: &str = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU";

fn proof_claims() -> Value {
    json!({"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": URL, "iat": NOW})
}

fn with(changes: Value) -> Value {
    with_changes(proof_claims(), &changes)
}

fn dpop_header(key: &TestKey) -> Map<String, Value> {
    header(json!({"typ": "dpop+jwt", "jwk": key.public_jwk()}))
}

fn proof(key: &TestKey, claims: &Value) -> String {
    key.sign(dpop_header(key), claims)
}

fn cx() -> ProofContext<'static> {
    ProofContext {
        method: "POST",
        url: URL,
        algs: Alg::ALL,
        access_token: None,
        bound_jkt: None,
        nonces: None,
        now: NOW,
    }
}

fn run(proof: &str, cx: &ProofContext<'_>) -> Result<CheckedProof, DpopError> {
    verify(proof, cx, POLICY, &mut ReplayCache::new(16))
}

#[test]
fn a_good_proof_passes_with_each_key_type_and_names_its_key() {
    for key in [TestKey::rsa(), TestKey::ec(), TestKey::ed()] {
        let checked = run(&proof(&key, &proof_claims()), &cx()).unwrap();
        assert_eq!(checked.jkt, key.public().thumbprint());
        assert_eq!(checked.alg.name(), key.alg());
    }
}

#[test]
fn typ_must_be_dpop_jwt() {
    let key = TestKey::ec();
    for typ in [Some("JWT"), Some("at+jwt"), Some("dpop"), None] {
        let mut h = dpop_header(&key);
        match typ {
            Some(t) => h.insert("typ".into(), t.into()),
            None => h.remove("typ"),
        };
        assert_eq!(
            run(&key.sign(h, &proof_claims()), &cx()),
            Err(DpopError::WrongTyp),
            "{typ:?}"
        );
    }
    let mut h = dpop_header(&key);
    h.insert("typ".into(), "application/DPoP+JWT".into());
    assert!(run(&key.sign(h, &proof_claims()), &cx()).is_ok());
}

#[test]
fn alg_none_and_mac_algorithms_are_refused() {
    let key = TestKey::ec();
    assert_eq!(
        run(&unsecured(dpop_header(&key), &proof_claims()), &cx()),
        Err(DpopError::Jose(JoseError::AlgNone))
    );
    let secret = b"0123456789abcdef0123456789abcdef";
    assert_eq!(
        run(&hs256(secret, dpop_header(&key), &proof_claims()), &cx()),
        Err(DpopError::Jose(JoseError::AlgNotAllowed))
    );
    // A server that only takes ES256.
    let rsa = TestKey::rsa();
    let only_es = ProofContext {
        algs: &[Alg::Es256],
        ..cx()
    };
    assert_eq!(
        run(&proof(&rsa, &proof_claims()), &only_es),
        Err(DpopError::Jose(JoseError::AlgNotAllowed))
    );
}

#[test]
fn the_jwk_must_be_present_public_and_the_signer() {
    let key = TestKey::ec();
    let mut h = dpop_header(&key);
    h.remove("jwk");
    assert_eq!(
        run(&key.sign(h, &proof_claims()), &cx()),
        Err(DpopError::JwkMissing)
    );
    let mut h = dpop_header(&key);
    h["jwk"]["d"] = "AAAA".into();
    assert_eq!(
        run(&key.sign(h, &proof_claims()), &cx()),
        Err(DpopError::Jose(JoseError::PrivateKeyInJwk))
    );
    // Signed by another key than the one in the header.
    let other = TestKey::ec();
    assert_eq!(
        run(&other.sign(dpop_header(&key), &proof_claims()), &cx()),
        Err(DpopError::Jose(JoseError::BadSignature))
    );
}

#[test]
fn each_claim_rule_refuses_exactly_its_flaw() {
    let key = TestKey::ec();
    let cases = [
        (json!({"jti": null}), DpopError::MissingClaim("jti")),
        (json!({"jti": ""}), DpopError::MissingClaim("jti")),
        (json!({"htm": null}), DpopError::MissingClaim("htm")),
        (json!({"htu": null}), DpopError::MissingClaim("htu")),
        (json!({"iat": null}), DpopError::MissingClaim("iat")),
        (json!({"iat": "now"}), DpopError::BadTimeClaim),
        (json!({"htm": "GET"}), DpopError::HtmMismatch),
        (json!({"htm": "post"}), DpopError::HtmMismatch),
        (
            json!({"htu": "https://other.example.com/token"}),
            DpopError::HtuMismatch,
        ),
        (
            json!({"htu": "https://server.example.com/token2"}),
            DpopError::HtuMismatch,
        ),
        (
            json!({"htu": "http://server.example.com/token"}),
            DpopError::HtuMismatch,
        ),
        (
            json!({"htu": "https://server.example.com:8443/token"}),
            DpopError::HtuMismatch,
        ),
        (json!({"htu": "/token"}), DpopError::HtuMismatch),
        (json!({"iat": NOW - 121}), DpopError::IatTooOld),
        (json!({"iat": NOW + 61}), DpopError::IatInFuture),
    ];
    for (change, expected) in cases {
        assert_eq!(
            run(&proof(&key, &with(change.clone())), &cx()),
            Err(expected),
            "{change}"
        );
    }
    for change in [json!({"iat": NOW - 120}), json!({"iat": NOW + 60})] {
        assert!(
            run(&proof(&key, &with(change.clone())), &cx()).is_ok(),
            "{change}"
        );
    }
}

#[test]
fn htu_ignores_query_fragment_and_equivalent_spellings() {
    let key = TestKey::ec();
    for htu in [
        "https://server.example.com/token?x=1",
        "https://server.example.com/token#frag",
        "HTTPS://Server.Example.COM:443/token",
        "https://server.example.com/%74oken",
        "https://server.example.com/a/../token",
        "https://server.example.com/./token",
    ] {
        assert!(
            run(&proof(&key, &with(json!({"htu": htu}))), &cx()).is_ok(),
            "{htu}"
        );
    }
    // The request URL's own query is ignored too.
    let cx_query = ProofContext {
        url: "https://server.example.com/token?a=b",
        ..cx()
    };
    assert!(run(&proof(&key, &proof_claims()), &cx_query).is_ok());
}

#[test]
fn normalization_details() {
    assert_eq!(
        normalize_htu("http://a.example").as_deref(),
        Some("http://a.example/")
    );
    assert_eq!(
        normalize_htu("http://a.example:80/x").as_deref(),
        Some("http://a.example/x")
    );
    assert_eq!(
        normalize_htu("http://a.example:8080/x").as_deref(),
        Some("http://a.example:8080/x")
    );
    assert_eq!(
        normalize_htu("http://[::1]:8080/x/").as_deref(),
        Some("http://[::1]:8080/x/")
    );
    assert_eq!(
        normalize_htu("http://a.example/%2f%7e").as_deref(),
        Some("http://a.example/%2F~")
    );
    assert_eq!(
        normalize_htu("http://a.example/a/b/../../..").as_deref(),
        Some("http://a.example/")
    );
    for bad in [
        "ftp://a.example/",
        "http://user@a.example/",
        "http:///x",
        "http://a.example:x/",
        "http://a.example/%zz",
        "http://a.example/%4",
        "http://[::1/",
        "no scheme",
    ] {
        assert_eq!(normalize_htu(bad), None, "{bad}");
    }
}

#[test]
fn nonce_is_required_when_the_server_asks_and_maps_to_use_dpop_nonce() {
    let key = TestKey::ec();
    let nonces = ["n-1", "n-2"];
    let with_nonces = ProofContext {
        nonces: Some(&nonces),
        ..cx()
    };
    let missing = run(&proof(&key, &proof_claims()), &with_nonces);
    assert_eq!(missing, Err(DpopError::NonceRequired));
    assert_eq!(DpopError::NonceRequired.error_code(), "use_dpop_nonce");
    let wrong = run(&proof(&key, &with(json!({"nonce": "n-0"}))), &with_nonces);
    assert_eq!(wrong, Err(DpopError::NonceMismatch));
    assert!(run(&proof(&key, &with(json!({"nonce": "n-2"}))), &with_nonces).is_ok());
    // Without a nonce requirement, a nonce in the proof is harmless.
    assert!(run(&proof(&key, &with(json!({"nonce": "n-0"}))), &cx()).is_ok());
}

#[test]
fn ath_and_key_binding_with_an_access_token() {
    let key = TestKey::ec();
    let jkt = key.public().thumbprint();
    let presenting = ProofContext {
        method: "GET",
        url: "https://resource.example.org/protectedresource",
        access_token: Some(TOKEN),
        bound_jkt: Some(&jkt),
        ..cx()
    };
    let base = json!({
        "jti": "e1j3V_bKic8-LAEB", "htm": "GET",
        "htu": "https://resource.example.org/protectedresource", "iat": NOW,
    });
    let with_ath = |ath: Option<&str>| {
        let mut c = base.clone();
        if let Some(ath) = ath {
            c["ath"] = ath.into();
        }
        c
    };
    // RFC 9449 §7.1's example: this token's ath.
    assert_eq!(
        access_token_hash(TOKEN),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
    let good = with_ath(Some(&access_token_hash(TOKEN)));
    assert_eq!(run(&proof(&key, &good), &presenting).unwrap().jkt, jkt);
    assert_eq!(
        run(&proof(&key, &with_ath(None)), &presenting),
        Err(DpopError::MissingClaim("ath"))
    );
    let other_token = with_ath(Some(&access_token_hash("another-token")));
    assert_eq!(
        run(&proof(&key, &other_token), &presenting),
        Err(DpopError::AthMismatch)
    );
    // The right ath, but signed with a key the token is not bound to.
    let other = TestKey::ec();
    assert_eq!(
        run(&proof(&other, &good), &presenting),
        Err(DpopError::KeyNotBound)
    );
}

#[test]
fn a_jti_is_used_once_per_key_and_refused_proofs_do_not_spend_it() {
    let key = TestKey::ec();
    let mut cache = ReplayCache::new(16);
    let stale = proof(&key, &with(json!({"iat": NOW - 1000})));
    assert_eq!(
        verify(&stale, &cx(), POLICY, &mut cache),
        Err(DpopError::IatTooOld)
    );
    let good = proof(&key, &proof_claims());
    assert!(verify(&good, &cx(), POLICY, &mut cache).is_ok());
    assert_eq!(
        verify(&good, &cx(), POLICY, &mut cache),
        Err(DpopError::Replayed)
    );
    // Another key's proof with the same jti is its own.
    assert!(verify(
        &proof(&TestKey::ec(), &proof_claims()),
        &cx(),
        POLICY,
        &mut cache
    )
    .is_ok());
    let mut full = ReplayCache::new(0);
    assert_eq!(
        verify(&good, &cx(), POLICY, &mut full),
        Err(DpopError::ReplayCacheFull)
    );
}

#[test]
fn errors_are_invalid_dpop_proof_and_never_show_the_token() {
    assert_eq!(DpopError::AthMismatch.error_code(), "invalid_dpop_proof");
    assert_eq!(
        DpopError::Jose(JoseError::AlgNone).error_code(),
        "invalid_dpop_proof"
    );
    let presenting = ProofContext {
        access_token: Some(TOKEN),
        ..cx()
    };
    assert!(!format!("{presenting:?}").contains(TOKEN));
}
