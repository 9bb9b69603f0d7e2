//! DPoP at this server's endpoints (RFC 9449): the proof of a token request (§5) and the
//! nonce a client may be asked for (§8), then the proof that comes with a DPoP-bound token
//! at the resource (§7). Verifying a proof is `crate::dpop`'s (sans-IO); here: which rules
//! apply (each DPoP fault mode bends one), the replay cache, the nonces and the answers; what
//! they remember between requests is `crate::dpop::state`'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::app::App;
use crate::clients::Client;
use crate::config::{Fault, ServerConfig, Variant};
use crate::dpop::{self as proof, DpopError, DpopPolicy, Lenience, ProofContext};
use crate::jose::Alg;
use crate::request::{Header, Method, Request};
use crate::response::{self, Reply, Status};
use crate::router::Endpoint;
use crate::tokens::unix_now;

/// The algorithms this server takes for DPoP proofs (`dpop_signing_alg_values_supported`):
/// asymmetric only (RFC 9449 §4.2). `Ed25519` is the fully-specified name of `EdDSA` with
/// that curve, and is accepted too.
pub const ALGS: &[Alg] = Alg::ASYMMETRIC;

/// The algorithms taken for proofs: [`ALGS`], or FAPI 2.0's (§5.4.1: PS256, ES256, EdDSA).
pub fn algs(config: &ServerConfig) -> &'static [Alg] {
    if config.fapi2 {
        Alg::FAPI2
    } else {
        ALGS
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
        algs: algs(config),
        access_token: None,
        bound_jkt: None,
        // FAPI 2.0 §5.3.2.1 item 10 lets the server use nonces; this one asks every client.
        nonces: (client.dpop_nonce_required
            || (config.fapi2 && !config.uses(Variant::Fapi2NoDpopNonce)))
        .then_some(&nonce_refs[..]),
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
    let checked = checked.and_then(|checked| {
        app.dpop
            .spend(config, &checked, now, request.deferred)
            .map(|()| checked)
    });
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
    // RFC 9449 §9: a resource may ask for a nonce of its own (the variant, and the faults
    // that bend how it does).
    let asks_nonce = config.uses(Variant::ResourceDpopNonce)
        || config.has(Fault::ResourceDpopNonce400)
        || config.has(Fault::ResourceDpopNonceAny);
    // Two MACs per request only where the resource asks for a nonce.
    let nonces = asks_nonce.then(|| app.dpop.resource_accepted(now));
    let nonce_refs = nonces.as_ref().map(|n| [n[0].as_str(), n[1].as_str()]);
    let cx = ProofContext {
        method: method_name(request.method),
        url: &url,
        algs: algs(config),
        access_token: Some(token),
        bound_jkt: bound.as_deref(),
        nonces: nonce_refs.as_ref().map(|n| &n[..]),
        now,
    };
    let mut checked = proof::check(proof, &cx, policy(config));
    if matches!(checked, Err(DpopError::NonceMismatch)) && config.has(Fault::ResourceDpopNonceAny) {
        // The faulty resource wants a nonce, any nonce.
        checked = proof::check(proof, &ProofContext { nonces: None, ..cx }, policy(config));
    }
    let checked =
        checked.and_then(|checked| app.dpop.spend(config, &checked, now, request.deferred));
    if let Err(e @ (DpopError::NonceRequired | DpopError::NonceMismatch)) = &checked {
        return Err(Box::new(nonce_demand(app, e.describe(), now)));
    }
    if checked.is_ok() && bound.is_some() && config.has(Fault::ResourceDpopRefusesBoundTokens) {
        return Err(Box::new(challenge(
            app,
            "invalid_token",
            "this resource does not serve DPoP-bound tokens",
        )));
    }
    checked.map_err(|e| Box::new(challenge(app, "invalid_dpop_proof", e.describe())))
}

/// The resource's demand for its nonce (RFC 9449 §9): 401, a DPoP challenge with
/// `use_dpop_nonce`, and the nonce in `DPoP-Nonce`; 400 without a challenge under the fault.
fn nonce_demand(app: &App, description: &'static str, now: u64) -> Reply {
    let reply = if app.config.has(Fault::ResourceDpopNonce400) {
        response::error_json(Status::BAD_REQUEST, "use_dpop_nonce", description)
    } else {
        challenge(app, "use_dpop_nonce", description)
    };
    Reply {
        dpop_nonce: Some(app.dpop.resource_nonce(now)),
        ..reply.no_store(true)
    }
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
mod tests;
