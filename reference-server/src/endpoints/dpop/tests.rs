use serde_json::{json, Value};

use super::*;
use crate::config::ServerConfig;
use crate::dpop::access_token_hash;
use crate::endpoints::{introspection, resource, token};
use crate::jose::testing::{header, hs256, unsecured, with_changes, TestKey};
use crate::request::testing::{app, TestRequest};

const GRANT: &str = "grant_type=client_credentials";

fn token_url(app: &App) -> String {
    app.endpoint_url(crate::clients::ROOT_REALM, Endpoint::Token)
}

fn claims(app: &App, changes: Value) -> Value {
    let claims = json!({
        "jti": crate::tokens::random_token(12),
        "htm": "POST",
        "htu": token_url(app),
        "iat": unix_now(),
    });
    with_changes(claims, &changes)
}

fn proof(key: &TestKey, claims: &Value) -> String {
    key.sign(
        header(json!({"typ": "dpop+jwt", "jwk": key.public_jwk()})),
        claims,
    )
}

fn ask(app: &App, id: &str, secret: &str, proofs: &[&str]) -> Reply {
    let mut request = TestRequest::post(GRANT).basic(id, secret);
    for p in proofs {
        request = request.dpop(p);
    }
    token::issue(app, &request.at(app))
}

fn my(app: &App, proofs: &[&str]) -> Reply {
    ask(app, "myClient", "forgerock", proofs)
}

fn error(reply: &Reply) -> String {
    reply.json_body()["error"].as_str().unwrap_or("").to_owned()
}

fn introspect(app: &App, token: &str) -> Value {
    let request = TestRequest::post(&format!("token={token}")).basic("rs-client", "rs-secret");
    introspection::introspect(app, &request.at(app)).json_body()
}

#[test]
fn a_proof_binds_the_token_and_introspection_shows_the_key() {
    let app = app(ServerConfig::default());
    let key = TestKey::ec();
    let reply = my(&app, &[&proof(&key, &claims(&app, json!({})))]);
    assert_eq!(reply.status, Status::OK);
    let body = reply.json_body();
    assert_eq!(body["token_type"], "DPoP");
    let answer = introspect(&app, body["access_token"].as_str().unwrap());
    assert_eq!(answer["cnf"]["jkt"], key.public().thumbprint());
    assert_eq!(answer["token_type"], "DPoP");
    // Without a proof the main client gets a bearer token, as before.
    let bearer = my(&app, &[]).json_body();
    assert_eq!(bearer["token_type"], "Bearer");
    let answer = introspect(&app, bearer["access_token"].as_str().unwrap());
    assert!(answer.get("cnf").is_none());
}

#[test]
fn jwt_tokens_carry_cnf_jkt() {
    let app = app(ServerConfig {
        token_format: crate::config::TokenFormat::Jwt,
        ..ServerConfig::default()
    });
    let key = TestKey::ed();
    let body = my(&app, &[&proof(&key, &claims(&app, json!({})))]).json_body();
    let jwt = body["access_token"].as_str().unwrap();
    let jws = crate::jose::Jws::parse(jwt).unwrap();
    assert_eq!(jws.claims()["cnf"]["jkt"], key.public().thumbprint());
}

#[test]
fn bad_proofs_are_invalid_dpop_proof_and_two_headers_too() {
    let app = app(ServerConfig::default());
    let key = TestKey::ec();
    let bad = proof(&key, &claims(&app, json!({"htm": "GET"})));
    let reply = my(&app, &[&bad]);
    assert_eq!(
        (reply.status, error(&reply)),
        (Status::BAD_REQUEST, "invalid_dpop_proof".into())
    );
    assert_eq!(reply.cache_control, Some("no-store"));
    let (a, b) = (
        proof(&key, &claims(&app, json!({}))),
        proof(&key, &claims(&app, json!({}))),
    );
    assert_eq!(error(&my(&app, &[&a, &b])), "invalid_dpop_proof");
    // The same proof twice is a replay.
    let once = proof(&key, &claims(&app, json!({})));
    assert_eq!(my(&app, &[&once]).status, Status::OK);
    assert_eq!(error(&my(&app, &[&once])), "invalid_dpop_proof");
}

#[test]
fn a_bound_client_needs_a_proof_with_the_servers_nonce() {
    let app = app(ServerConfig::default());
    let key = TestKey::ec();
    let none = ask(&app, "dpopClient", "dpop-secret", &[]);
    assert_eq!(
        (none.status, error(&none)),
        (Status::BAD_REQUEST, "invalid_dpop_proof".into())
    );
    let first = ask(
        &app,
        "dpopClient",
        "dpop-secret",
        &[&proof(&key, &claims(&app, json!({})))],
    );
    assert_eq!(error(&first), "use_dpop_nonce");
    let nonce = first.dpop_nonce.clone().unwrap();
    let wrong = ask(
        &app,
        "dpopClient",
        "dpop-secret",
        &[&proof(&key, &claims(&app, json!({"nonce": "stale"})))],
    );
    assert_eq!(error(&wrong), "use_dpop_nonce");
    assert!(wrong.dpop_nonce.is_some());
    let good = ask(
        &app,
        "dpopClient",
        "dpop-secret",
        &[&proof(&key, &claims(&app, json!({"nonce": nonce})))],
    );
    assert_eq!(good.status, Status::OK, "{:?}", good.body);
    assert_eq!(good.json_body()["token_type"], "DPoP");
}

/// Each token-endpoint fault lets exactly its flawed proof through.
#[test]
fn each_token_endpoint_fault_bends_its_rule() {
    let key = TestKey::ec();
    let secret_jwk = |app: &App| {
        let jwk = Value::Object(key.public_jwk()).to_string();
        hs256(
            jwk.as_bytes(),
            header(json!({"typ": "dpop+jwt", "jwk": key.public_jwk()})),
            &claims(app, json!({})),
        )
    };
    type Make<'k> = Box<dyn Fn(&App) -> String + 'k>;
    let cases: Vec<(Fault, Make)> = vec![
        (
            Fault::DpopAnyTyp,
            Box::new(|app: &App| {
                key.sign(
                    header(json!({"typ": "JWT", "jwk": key.public_jwk()})),
                    &claims(app, json!({})),
                )
            }),
        ),
        (
            Fault::DpopAcceptAlgNone,
            Box::new(|app: &App| {
                unsecured(
                    header(json!({"typ": "dpop+jwt", "jwk": key.public_jwk()})),
                    &claims(app, json!({})),
                )
            }),
        ),
        (Fault::DpopAcceptHs256, Box::new(secret_jwk)),
        (
            Fault::DpopAnyHtm,
            Box::new(|app: &App| proof(&key, &claims(app, json!({"htm": "GET"})))),
        ),
        (
            Fault::DpopAnyHtu,
            Box::new(|app: &App| {
                proof(
                    &key,
                    &claims(app, json!({"htu": "http://elsewhere.invalid/token"})),
                )
            }),
        ),
        (
            Fault::DpopAnyIat,
            Box::new(|app: &App| proof(&key, &claims(app, json!({"iat": unix_now() - 600})))),
        ),
    ];
    for (fault, make) in cases {
        let strict = app(ServerConfig::default());
        let refused = my(&strict, &[&make(&strict)]);
        assert_eq!(error(&refused), "invalid_dpop_proof", "{fault}");
        let faulty = app(ServerConfig::default().with_fault(fault));
        let reply = my(&faulty, &[&make(&faulty)]);
        assert_eq!(reply.status, Status::OK, "{fault}: {:?}", reply.body);
    }
    // The server takes an htu with a query (it ignores it, §4.3 item 9).
    let strict = app(ServerConfig::default());
    let htu = format!("{}?x=1", token_url(&strict));
    let with_query = proof(&key, &claims(&strict, json!({"htu": htu})));
    assert_eq!(my(&strict, &[&with_query]).status, Status::OK);
    // The wrong error code.
    let faulty = app(ServerConfig::default().with_fault(Fault::DpopInvalidRequestError));
    let bad = proof(&key, &claims(&faulty, json!({"htm": "GET"})));
    assert_eq!(error(&my(&faulty, &[&bad])), "invalid_request");
    // No replay check: the same proof twice.
    let faulty = app(ServerConfig::default().with_fault(Fault::DpopNoReplayCheck));
    let once = proof(&key, &claims(&faulty, json!({})));
    assert_eq!(my(&faulty, &[&once]).status, Status::OK);
    assert_eq!(my(&faulty, &[&once]).status, Status::OK);
    // Two headers: a bearer token.
    let faulty = app(ServerConfig::default().with_fault(Fault::DpopIgnoreRepeatedHeader));
    let (a, b) = (
        proof(&key, &claims(&faulty, json!({}))),
        proof(&key, &claims(&faulty, json!({}))),
    );
    assert_eq!(my(&faulty, &[&a, &b]).json_body()["token_type"], "Bearer");
}

/// The legal variants: a bad proof refused with 403, and a good one taken without
/// binding (token_type Bearer, no cnf in introspection, unlike `dpop-token-type-bearer`).
#[test]
fn the_dpop_variants_refuse_with_403_or_decline_to_bind() {
    let key = TestKey::ec();
    let refusing = app(ServerConfig::default().with_variant(Variant::DpopRefusal403));
    let bad = proof(&key, &claims(&refusing, json!({"htm": "GET"})));
    let reply = my(&refusing, &[&bad]);
    assert_eq!(
        (reply.status, error(&reply)),
        (Status::FORBIDDEN, "invalid_dpop_proof".into())
    );
    let declining = app(ServerConfig::default().with_variant(Variant::DpopBindingDeclined));
    let bad = proof(&key, &claims(&declining, json!({"htm": "GET"})));
    assert_eq!(error(&my(&declining, &[&bad])), "invalid_dpop_proof");
    let good = proof(&key, &claims(&declining, json!({})));
    let body = my(&declining, &[&good]).json_body();
    assert_eq!(body["token_type"], "Bearer");
    let answer = introspect(&declining, body["access_token"].as_str().unwrap());
    assert!(answer.get("cnf").is_none(), "{answer}");
    assert_ne!(answer["token_type"], "DPoP");
}

/// `dpop-accept-symmetric-jwk` takes an HS256 proof MACed with the oct key in its jwk;
/// the strict server and `dpop-accept-hs256` refuse it.
#[test]
fn an_oct_jwk_is_taken_only_by_its_fault() {
    let secret = b"a-symmetric-key-anyone-can-read!";
    let make = |app: &App| {
        let k = URL_SAFE_NO_PAD.encode(secret);
        hs256(
            secret,
            header(json!({"typ": "dpop+jwt", "jwk": {"kty": "oct", "k": k}})),
            &claims(app, json!({})),
        )
    };
    for strict in [
        ServerConfig::default(),
        ServerConfig::default().with_fault(Fault::DpopAcceptHs256),
    ] {
        let strict = app(strict);
        assert_eq!(error(&my(&strict, &[&make(&strict)])), "invalid_dpop_proof");
    }
    let faulty = app_with(Fault::DpopAcceptSymmetricJwk);
    assert_eq!(my(&faulty, &[&make(&faulty)]).status, Status::OK);
}

#[test]
fn a_private_jwk_is_refused_unless_the_fault_reads_its_public_part() {
    let key = TestKey::ec();
    let mut jwk = key.public_jwk();
    jwk.insert("d".into(), "AAAA".into());
    let make = |app: &App| {
        key.sign(
            header(json!({"typ": "dpop+jwt", "jwk": jwk.clone()})),
            &claims(app, json!({})),
        )
    };
    let strict = app(ServerConfig::default());
    assert_eq!(error(&my(&strict, &[&make(&strict)])), "invalid_dpop_proof");
    let faulty = app(ServerConfig::default().with_fault(Fault::DpopAcceptPrivateJwk));
    assert_eq!(my(&faulty, &[&make(&faulty)]).status, Status::OK);
}

#[test]
fn binding_faults_change_only_what_they_name() {
    let key = TestKey::ec();
    let faulty = app(ServerConfig::default().with_fault(Fault::DpopTokenTypeBearer));
    let body = my(&faulty, &[&proof(&key, &claims(&faulty, json!({})))]).json_body();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(
        introspect(&faulty, token)["cnf"]["jkt"],
        key.public().thumbprint()
    );

    let faulty = app(ServerConfig::default().with_fault(Fault::DpopOmitCnf));
    let body = my(&faulty, &[&proof(&key, &claims(&faulty, json!({})))]).json_body();
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    assert!(introspect(&faulty, token).get("cnf").is_none());

    let faulty = app(ServerConfig::default().with_fault(Fault::DpopBoundClientWithoutProof));
    let body = ask(&faulty, "dpopClient", "dpop-secret", &[]).json_body();
    assert_eq!(body["token_type"], "Bearer");

    let faulty = app(ServerConfig::default().with_fault(Fault::DpopNonceWrongError));
    let reply = ask(
        &faulty,
        "dpopClient",
        "dpop-secret",
        &[&proof(&key, &claims(&faulty, json!({})))],
    );
    assert_eq!(error(&reply), "invalid_dpop_proof");
    assert!(reply.dpop_nonce.is_some());
}

/// A resource request as the server hands it over after introspection.
fn at_resource(app: &App, authorization: &str, proofs: &[&str], introspected: Value) -> Reply {
    let mut request = TestRequest::post("").method(Method::Get);
    request.authorization = Some(authorization.into());
    for p in proofs {
        request = request.dpop(p);
    }
    let request = request;
    let parsed = request.at(app);
    let presented = resource::presented_token(app, &parsed).unwrap();
    resource::serve_presented(app, &parsed, presented, Ok(introspected))
}

fn resource_claims(app: &App, token: &str) -> Value {
    json!({
        "jti": crate::tokens::random_token(12),
        "htm": "GET",
        "htu": app.endpoint_url(crate::clients::ROOT_REALM, Endpoint::Resource),
        "iat": unix_now(),
        "ath": access_token_hash(token),
    })
}

#[test]
fn the_resource_wants_the_dpop_scheme_and_a_proof_by_the_bound_key() {
    let key = TestKey::ec();
    let other = TestKey::ec();
    let token = "a-dpop-bound-token";
    let bound = |_: &App| {
        json!({"active": true, "scope": "write", "client_id": "myClient",
               "cnf": {"jkt": key.public().thumbprint()}})
    };
    let app = app(ServerConfig::default());
    let good = proof(&key, &resource_claims(&app, token));
    let reply = at_resource(&app, &format!("DPoP {token}"), &[&good], bound(&app));
    assert_eq!(reply.status, Status::OK, "{:?}", reply.body);
    // The same proof again: replayed.
    let again = at_resource(&app, &format!("DPoP {token}"), &[&good], bound(&app));
    assert_eq!(again.status, Status::UNAUTHORIZED);
    let challenge = again.www_authenticate.unwrap();
    assert!(
        challenge.starts_with("DPoP error=\"invalid_dpop_proof\"")
            && challenge.contains("algs=\"RS256 PS256 ES256 EdDSA Ed25519\""),
        "{challenge}"
    );
    let as_bearer = at_resource(&app, &format!("Bearer {token}"), &[], bound(&app));
    assert_eq!(as_bearer.status, Status::UNAUTHORIZED);
    assert!(as_bearer
        .www_authenticate
        .unwrap()
        .starts_with("DPoP error=\"invalid_token\""));
    let by_other = proof(&other, &resource_claims(&app, token));
    let reply = at_resource(&app, &format!("DPoP {token}"), &[&by_other], bound(&app));
    assert_eq!(reply.status, Status::UNAUTHORIZED);
    let for_other = proof(&key, &resource_claims(&app, "another-token"));
    let reply = at_resource(&app, &format!("DPoP {token}"), &[&for_other], bound(&app));
    assert_eq!(reply.status, Status::UNAUTHORIZED);
    let reply = at_resource(&app, &format!("DPoP {token}"), &[], bound(&app));
    assert_eq!(reply.status, Status::UNAUTHORIZED);
    // An unbound token as Bearer is served as before.
    let unbound = json!({"active": true, "scope": "write", "client_id": "myClient"});
    let reply = at_resource(&app, &format!("Bearer {token}"), &[], unbound);
    assert_eq!(reply.status, Status::OK);

    // Each resource fault lets its flaw through, and only it.
    let with = |fault| app_with(fault);
    let faulty = with(Fault::ResourceDpopAcceptsBearer);
    let reply = at_resource(&faulty, &format!("Bearer {token}"), &[], bound(&faulty));
    assert_eq!(reply.status, Status::OK);
    let faulty = with(Fault::ResourceDpopAnyKey);
    let by_other = proof(&other, &resource_claims(&faulty, token));
    let reply = at_resource(
        &faulty,
        &format!("DPoP {token}"),
        &[&by_other],
        bound(&faulty),
    );
    assert_eq!(reply.status, Status::OK);
    let faulty = with(Fault::ResourceDpopAnyAth);
    let for_other = proof(&key, &resource_claims(&faulty, "another-token"));
    let reply = at_resource(
        &faulty,
        &format!("DPoP {token}"),
        &[&for_other],
        bound(&faulty),
    );
    assert_eq!(reply.status, Status::OK);
    let faulty = with(Fault::ResourceDpopBearerChallenge);
    let reply = at_resource(&faulty, &format!("DPoP {token}"), &[], bound(&faulty));
    assert!(reply.www_authenticate.unwrap().starts_with("Bearer "));
}

fn app_with(fault: Fault) -> App {
    app(ServerConfig::default().with_fault(fault))
}

#[test]
fn metadata_lists_the_asymmetric_algorithms_only() {
    let app = app(ServerConfig::default());
    let request = TestRequest::post("").method(Method::Get);
    let body = crate::endpoints::metadata::metadata(&app, &request.at(&app)).json_body();
    let algs = body["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("ES256")) && !algs.contains(&json!("HS256")));
    let faulty = app_with(Fault::DpopMetadataSymmetric);
    let body = crate::endpoints::metadata::metadata(&faulty, &request.at(&faulty)).json_body();
    let algs = body["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&json!("HS256")) && algs.contains(&json!("none")));
}
