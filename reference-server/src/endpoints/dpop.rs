//! DPoP at this server's endpoints (RFC 9449): the proof of a token request (§5) and the
//! nonce a client may be asked for (§8), then the proof that comes with a DPoP-bound token
//! at the resource (§7). Verifying a proof is `crate::dpop`'s (sans-IO); here: which rules
//! apply (each DPoP fault mode bends one), the replay cache, the nonces and the answers.

use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SecureRandom;

use crate::app::App;
use crate::clients::Client;
use crate::config::{Fault, ServerConfig, Variant};
use crate::dpop::{self as proof, DpopError, DpopPolicy, Lenience, ProofContext};
use crate::jose::Alg;
use crate::replay::ReplayCache;
use crate::request::{Header, Method, Request};
use crate::response::{self, Reply, Status};
use crate::router::Endpoint;
use crate::tokens::unix_now;

/// The algorithms this server takes for DPoP proofs (`dpop_signing_alg_values_supported`):
/// asymmetric only (RFC 9449 §4.2). `Ed25519` is the fully-specified name of `EdDSA` with
/// that curve, and is accepted too.
pub const ALGS: &[Alg] = Alg::ASYMMETRIC;

/// How long one nonce is handed out, in seconds; the previous one is still accepted, so a
/// nonce lives between one and two periods.
const NONCE_PERIOD: u64 = 60;

/// The state DPoP needs: the `jti`s of proofs already used, and the key nonces are made
/// with.
pub struct DpopState {
    replay: Mutex<ReplayCache>,
    nonce_key: ring::hmac::Key,
    /// Under `dpop-nonce-not-enforced` only: the keys (`jkt`) that have sent a nonce, whose
    /// proofs the faulty server then takes without one.
    nonce_users: Mutex<std::collections::HashSet<String>>,
}

impl Default for DpopState {
    fn default() -> DpopState {
        let mut secret = [0u8; 32];
        // Without OS randomness the nonces are still unpredictable enough for a test server
        // that does not outlive the process: mixed with the clock and the address of a local.
        if ring::rand::SystemRandom::new().fill(&mut secret).is_err() {
            let mixed = format!("{:?}{:p}", std::time::SystemTime::now(), &secret);
            secret.copy_from_slice(
                ring::digest::digest(&ring::digest::SHA256, mixed.as_bytes()).as_ref(),
            );
        }
        DpopState {
            replay: Mutex::new(ReplayCache::default()),
            nonce_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            nonce_users: Mutex::default(),
        }
    }
}

impl DpopState {
    /// The nonce of the period `now` falls in: stateless, a MAC of the period's number.
    fn nonce_for(&self, period: u64) -> String {
        let tag = ring::hmac::sign(&self.nonce_key, &period.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&tag.as_ref()[..18])
    }

    /// The nonce to hand out now (`DPoP-Nonce`).
    pub fn nonce(&self, now: u64) -> String {
        self.nonce_for(now / NONCE_PERIOD)
    }

    /// The nonces accepted now: this period's and the previous one's.
    fn accepted(&self, now: u64) -> [String; 2] {
        let period = now / NONCE_PERIOD;
        [
            self.nonce_for(period),
            self.nonce_for(period.saturating_sub(1)),
        ]
    }

    /// Spends a proof's `jti`, unless a fault mode switched replay detection off.
    fn spend(
        &self,
        config: &ServerConfig,
        checked: &proof::CheckedProof,
        now: u64,
    ) -> Result<(), DpopError> {
        if config.has(Fault::DpopNoReplayCheck) {
            return Ok(());
        }
        let mut cache = self.replay.lock().unwrap_or_else(|e| e.into_inner());
        checked.record_use(&mut cache, now)
    }
}

/// The rules the fault modes switch off, at the token endpoint and at the resource.
fn policy(config: &ServerConfig) -> DpopPolicy {
    DpopPolicy {
        lenience: Lenience {
            any_typ: config.has(Fault::DpopAnyTyp),
            accept_alg_none: config.has(Fault::DpopAcceptAlgNone),
            accept_hs256: config.has(Fault::DpopAcceptHs256),
            accept_private_jwk: config.has(Fault::DpopAcceptPrivateJwk),
            any_htm: config.has(Fault::DpopAnyHtm),
            any_htu: config.has(Fault::DpopAnyHtu),
            any_iat: config.has(Fault::DpopAnyIat),
            any_ath: config.has(Fault::ResourceDpopAnyAth),
            any_key: config.has(Fault::ResourceDpopAnyKey),
            accept_missing_jti: config.has(Fault::DpopAcceptMissingJti),
            accept_oct_jwk: config.has(Fault::DpopAcceptSymmetricJwk),
        },
        ..proof::POLICY
    }
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Post => "POST",
        Method::Other => "OTHER",
    }
}

/// The names of [`ALGS`], space-separated (the `algs` of a DPoP challenge, RFC 9449 §7.1).
pub fn alg_names() -> String {
    let names: Vec<&str> = ALGS.iter().map(|a| a.name()).collect();
    names.join(" ")
}

/// The token endpoint's answer to a request's `DPoP` header (RFC 9449 §5): the thumbprint
/// of the key to bind the token to, `None` for a bearer token, or the refusal (400
/// `invalid_dpop_proof`, or `use_dpop_nonce` with a `DPoP-Nonce` header).
pub fn token_request(
    app: &App,
    request: &Request<'_>,
    client: &Client,
) -> Result<Option<String>, Box<Reply>> {
    let config = &app.config;
    let proof = match request.dpop {
        Header::Absent => {
            if client.dpop_bound_access_tokens && !config.has(Fault::DpopBoundClientWithoutProof) {
                return Err(Box::new(invalid_proof_reply(
                    config,
                    "this client must send a DPoP proof with every token request",
                )));
            }
            return Ok(None);
        }
        Header::Repeated if config.has(Fault::DpopIgnoreRepeatedHeader) => return Ok(None),
        Header::Repeated => {
            return Err(Box::new(invalid_proof_reply(
                config,
                "a request carries at most one DPoP header",
            )))
        }
        Header::Unreadable => {
            return Err(Box::new(invalid_proof_reply(
                config,
                "the DPoP header is not a JWT",
            )))
        }
        Header::One(proof) => proof,
    };
    let now = unix_now();
    let url = app.endpoint_url(&request.realm.name, Endpoint::Token);
    let nonces = app.dpop.accepted(now);
    let nonce_refs = [nonces[0].as_str(), nonces[1].as_str()];
    let cx = ProofContext {
        method: method_name(request.method),
        url: &url,
        algs: ALGS,
        access_token: None,
        bound_jkt: None,
        nonces: client.dpop_nonce_required.then_some(&nonce_refs[..]),
        now,
    };
    let mut checked = proof::check(proof, &cx, policy(config));
    let nonce_not_enforced = config.has(Fault::DpopNonceNotEnforced) && cx.nonces.is_some();
    if nonce_not_enforced {
        let users = &app.dpop.nonce_users;
        match &checked {
            // The faulty server remembers the keys that sent a nonce...
            Ok(c) => {
                let mut users = users.lock().unwrap_or_else(|e| e.into_inner());
                if users.len() > 10_000 {
                    users.clear();
                }
                users.insert(c.jkt.clone());
            }
            // ...and takes their proofs without one from then on (RFC 9449 §11.3 forbids it).
            Err(DpopError::NonceRequired) => {
                let again =
                    proof::check(proof, &ProofContext { nonces: None, ..cx }, policy(config));
                let known = |c: &proof::CheckedProof| {
                    users
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains(&c.jkt)
                };
                if again.as_ref().is_ok_and(known) {
                    checked = again;
                }
            }
            Err(_) => {}
        }
    }
    let checked =
        checked.and_then(|checked| app.dpop.spend(config, &checked, now).map(|()| checked));
    match checked {
        // The proof is valid; this server chooses not to bind (RFC 9449 §5: MAY).
        Ok(_) if config.uses(Variant::DpopBindingDeclined) => Ok(None),
        Ok(checked) if config.has(Fault::DpopJktHex) => Ok(Some(hex(&checked.jkt))),
        Ok(checked) => Ok(Some(checked.jkt)),
        Err(e @ (DpopError::NonceRequired | DpopError::NonceMismatch)) => {
            let code = if config.has(Fault::DpopNonceWrongError) {
                "invalid_dpop_proof"
            } else {
                e.error_code()
            };
            Err(Box::new(Reply {
                dpop_nonce: Some(app.dpop.nonce(now)),
                ..response::error_json(Status::BAD_REQUEST, code, e.describe()).no_store(true)
            }))
        }
        Err(DpopError::ReplayCacheFull) => Err(Box::new(Reply {
            retry_after: Some(proof::POLICY.max_age),
            ..response::error_json(
                Status::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                DpopError::ReplayCacheFull.describe(),
            )
            .no_store(true)
        })),
        Err(e) => Err(Box::new(invalid_proof_reply(config, e.describe()))),
    }
}

/// Under `dpop-nonce-not-enforced`, a token issued to a request with a proof comes with the
/// next nonce (`DPoP-Nonce`, as RFC 9449 §8.2 allows): the faulty server hands nonces out
/// while taking proofs without them. Otherwise `reply` as it is.
pub fn with_next_nonce(app: &App, request: &Request<'_>, reply: Reply) -> Reply {
    let proof = matches!(request.dpop, Header::One(_));
    if !(app.config.has(Fault::DpopNonceNotEnforced) && proof && reply.status == Status::OK) {
        return reply;
    }
    Reply {
        dpop_nonce: Some(app.dpop.nonce(unix_now())),
        ..reply
    }
}

/// 400 `invalid_dpop_proof` (RFC 9449 §5); `invalid_request` under the fault that names the
/// error wrongly, 403 under the legal variant that refuses with it.
fn invalid_proof_reply(config: &ServerConfig, description: &'static str) -> Reply {
    let code = if config.has(Fault::DpopInvalidRequestError) {
        "invalid_request"
    } else {
        "invalid_dpop_proof"
    };
    let status = if config.uses(Variant::DpopRefusal403) {
        Status::FORBIDDEN
    } else {
        Status::BAD_REQUEST
    };
    response::error_json(status, code, description).no_store(true)
}

/// A base64url thumbprint as hex: how `dpop-jkt-hex` shows it (and stores it).
fn hex(jkt: &str) -> String {
    let bytes = URL_SAFE_NO_PAD.decode(jkt).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The base64url thumbprint back from [`hex`]; anything else as it is.
fn unhex(bound: &str) -> String {
    let bytes: Option<Vec<u8>> = bound
        .len()
        .is_multiple_of(2)
        .then(|| {
            (0..bound.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(bound.get(i..i + 2)?, 16).ok())
                .collect()
        })
        .flatten();
    bytes.map_or_else(|| bound.to_owned(), |b| URL_SAFE_NO_PAD.encode(b))
}

/// How the resource request presented its token (RFC 6750 §2.1, RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The resource server's check of a presented token that introspection called active
/// (RFC 9449 §7.1): a token bound to a key (`cnf.jkt`) needs the DPoP scheme and a proof
/// by that key, for this request and this token; a DPoP-scheme request needs a proof
/// whatever the token. `Err` is the 401 to answer.
pub fn resource_request(
    app: &App,
    request: &Request<'_>,
    token: &str,
    scheme: Scheme,
    bound_jkt: Option<&str>,
) -> Result<(), Box<Reply>> {
    let config = &app.config;
    let proof = match (scheme, request.dpop) {
        (Scheme::Bearer, _) if bound_jkt.is_none() => return Ok(()),
        (Scheme::Bearer, _) if config.has(Fault::ResourceDpopAcceptsBearer) => return Ok(()),
        (Scheme::Bearer, _) => {
            return Err(Box::new(challenge(
                app,
                "invalid_token",
                "a DPoP-bound token is presented with the DPoP scheme and a proof",
            )))
        }
        (Scheme::Dpop, Header::One(proof)) => proof,
        (Scheme::Dpop, Header::Absent) => {
            return Err(Box::new(challenge(
                app,
                "invalid_dpop_proof",
                "a DPoP proof is required",
            )))
        }
        (Scheme::Dpop, Header::Repeated) => {
            return Err(Box::new(challenge(
                app,
                "invalid_dpop_proof",
                "a request carries at most one DPoP header",
            )))
        }
        (Scheme::Dpop, Header::Unreadable) => {
            return Err(Box::new(challenge(
                app,
                "invalid_dpop_proof",
                "the DPoP header is not a JWT",
            )))
        }
    };
    let now = unix_now();
    let url = app.endpoint_url(crate::clients::ROOT_REALM, Endpoint::Resource);
    // The hex thumbprint `dpop-jkt-hex` stored is read back as it was meant: the fault is
    // in what clients see, not in the binding.
    let bound = bound_jkt.map(|b| {
        if config.has(Fault::DpopJktHex) {
            unhex(b)
        } else {
            b.to_owned()
        }
    });
    let cx = ProofContext {
        method: method_name(request.method),
        url: &url,
        algs: ALGS,
        access_token: Some(token),
        bound_jkt: bound.as_deref(),
        nonces: None,
        now,
    };
    let checked = proof::check(proof, &cx, policy(config))
        .and_then(|checked| app.dpop.spend(config, &checked, now));
    if checked.is_ok() && bound.is_some() && config.has(Fault::ResourceDpopRefusesBoundTokens) {
        return Err(Box::new(challenge(
            app,
            "invalid_token",
            "this resource does not serve DPoP-bound tokens",
        )));
    }
    checked.map_err(|e| Box::new(challenge(app, "invalid_dpop_proof", e.describe())))
}

/// 401 with a DPoP challenge naming the error and the algorithms taken (RFC 9449 §7.1).
fn challenge(app: &App, error: &'static str, description: &'static str) -> Reply {
    if app.config.has(Fault::ResourceDpopRefusesWith403) {
        return response::error_json(Status::FORBIDDEN, error, description);
    }
    let value = if app.config.has(Fault::ResourceDpopBearerChallenge) {
        format!("Bearer realm=\"grantcheck\", error=\"invalid_token\", error_description=\"{description}\"")
    } else {
        format!(
            "DPoP error=\"{error}\", error_description=\"{description}\", algs=\"{}\"",
            alg_names()
        )
    };
    Reply {
        www_authenticate: Some(value),
        ..response::error_json(Status::UNAUTHORIZED, error, description)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::config::ServerConfig;
    use crate::dpop::access_token_hash;
    use crate::endpoints::{introspection, resource, token};
    use crate::jose::testing::{header, hs256, unsecured, TestKey};
    use crate::request::testing::{app, TestRequest};

    const GRANT: &str = "grant_type=client_credentials";

    fn token_url(app: &App) -> String {
        app.endpoint_url(crate::clients::ROOT_REALM, Endpoint::Token)
    }

    fn claims(app: &App, changes: Value) -> Value {
        let mut claims = json!({
            "jti": crate::tokens::random_token(12),
            "htm": "POST",
            "htu": token_url(app),
            "iat": unix_now(),
        });
        for (k, v) in changes.as_object().unwrap() {
            if v.is_null() {
                claims.as_object_mut().unwrap().remove(k);
            } else {
                claims[k] = v.clone();
            }
        }
        claims
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

    #[test]
    fn the_previous_periods_nonce_is_still_accepted_and_older_ones_are_not() {
        let state = DpopState::default();
        let now = 1_800_000_000;
        let accepted = state.accepted(now);
        assert_eq!(accepted[0], state.nonce(now));
        assert_eq!(accepted[1], state.nonce(now - NONCE_PERIOD));
        assert!(!accepted.contains(&state.nonce(now - 2 * NONCE_PERIOD)));
        assert_ne!(DpopState::default().nonce(now), state.nonce(now));
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
}
