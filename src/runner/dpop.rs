//! DPoP proofs on a step's request (RFC 9449): the case's proof builder (one per case, so
//! a nonce the server gave and the last `jti` carry over between its steps), the `DPoP`
//! header(s) a step asks for, and the one resend with the server's nonce that a client
//! makes when the answer asks for it (§8).

use super::state::CaseState;
use super::Stop;
use crate::case::Step;
use crate::exchange::Response;
use crate::http::BuiltRequest;
use crate::jose::assertion::BuildError;
use crate::jose::dpop::ProofTarget;
use crate::jose::{unix_now, DpopFlaw, DpopProofBuilder};
use crate::target::Target;
use crate::template::expand;

/// Why the DPoP cases cannot run on `target`, if they cannot: no key (and what the
/// metadata advertises), metadata that does not advertise DPoP (RFC 9449 §5.1), or a key
/// whose algorithm the metadata does not list.
pub(super) fn unmet(target: &Target) -> Option<String> {
    let listed = target.dpop_algs.as_deref();
    let Some(key) = &target.dpop else {
        return Some(match listed {
            Some(algs) if !algs.is_empty() => format!(
                "the target advertises DPoP (dpop_signing_alg_values_supported: {}) but the run has no DPoP key: pass --dpop ALG to test it",
                algs.join(", ")
            ),
            _ => "not configured for this run: no DPoP key (pass --dpop ES256|RS256|PS256|EdDSA to test RFC 9449)"
                .into(),
        });
    };
    let alg = key.key.alg().name();
    match listed {
        Some(algs) if !algs.iter().any(|a| a == alg) => Some(format!(
            "the target's dpop_signing_alg_values_supported ({}) does not list {alg}: pass --dpop with one of them",
            algs.join(", ")
        )),
        None if target.metadata_url.is_some() => Some(
            "the target's metadata does not advertise DPoP (no dpop_signing_alg_values_supported, RFC 9449 §5.1)"
                .into(),
        ),
        _ => None,
    }
}

/// Why the case's proofs cannot come from the client that would send them: a mutual-TLS
/// client's tokens are bound to its certificate (RFC 8705 §3), and a server may refuse a
/// second proof-of-possession mechanism beside it (node-oidc-provider: "multiple
/// proof-of-possession mechanisms are not allowed"), which says nothing about DPoP.
pub(super) fn client_unfit(target: &Target, case: &crate::case::Case) -> Option<String> {
    case.steps
        .iter()
        .filter(|step| step.dpop.is_some() || step.dpop_token.is_some())
        .filter_map(|step| target.client(super::request::step_role(step)))
        .find(|client| client.method.cert().is_some())
        .map(|client| {
            format!(
                "the proofs would come from {}, which authenticates with {} (certificate-bound tokens, RFC 8705 §3); a server may refuse DPoP beside that, so the dpop cases need a client that authenticates otherwise (--dpop-client-id, or another --client-auth)",
                client.id,
                client.method.as_str()
            )
        })
}

/// Adds the step's `DPoP` header(s) with `flaw` (the step's, or a well-formed proof for a
/// DPoP-bound client) to `request` (replacing any from an earlier attempt).
/// A proof the step's flaw cannot be made for here skips the case with the reason.
pub(super) fn attach(
    step: &Step,
    flaw: Option<DpopFlaw>,
    request: &mut BuiltRequest,
    target: &Target,
    state: &mut CaseState,
) -> Option<Stop> {
    let flaw = flaw?;
    request.headers.retain(|(name, _)| name != "dpop");
    let Some(key) = &target.dpop else {
        return Some(Stop::Skipped(
            "not configured for this run: no DPoP key (pass --dpop ES256|RS256|PS256|EdDSA)".into(),
        ));
    };
    let ath_token = match step.dpop_ath_token.as_ref().or(step.dpop_token.as_ref()) {
        Some(template) => match expand(template, &state.vars) {
            Ok(token) => Some(token),
            Err(e) => return Some(super::template_stop("DPoP proof", e)),
        },
        None => None,
    };
    if state.dpop.is_none() {
        match DpopProofBuilder::new(key.key.clone()) {
            Ok(builder) => state.dpop = Some(builder),
            Err(e) => return Some(Stop::Errored(e.to_string())),
        }
    }
    let builder = state.dpop.as_mut()?;
    // The nonce of the server this request goes to.
    builder.set_nonce(state.dpop_nonces.of(step.endpoint).as_deref());
    let method = request.method.to_string();
    let proof_target = ProofTarget {
        method: &method,
        url: &request.url,
        access_token: ath_token.as_deref(),
    };
    let now = unix_now();
    let mut proofs = Vec::new();
    let flaws = if step.dpop_twice {
        vec![flaw, DpopFlaw::None]
    } else {
        vec![flaw]
    };
    for flaw in flaws {
        match builder.build(flaw, proof_target, now) {
            Ok(proof) => proofs.push(proof),
            Err(BuildError::NotApplicable(_))
                if matches!(flaw, DpopFlaw::MissingNonce | DpopFlaw::WrongNonce) =>
            {
                return Some(Stop::Skipped(
                    "the server did not ask for a DPoP nonce (RFC 9449 §8), so there is none to leave out".into(),
                ))
            }
            Err(BuildError::NotApplicable(why)) => return Some(Stop::Skipped(why)),
            Err(e) => return Some(Stop::Errored(format!("cannot make the DPoP proof: {e}"))),
        }
    }
    for proof in proofs {
        request
            .headers
            .push(("dpop".into(), proof.expose().to_owned()));
    }
    None
}

/// Remembers a `DPoP-Nonce` the server sent (RFC 9449 §8.2: any answer may carry the next
/// one), and says whether the step should be sent again with it: the answer refused the
/// request (400 or 401) with a nonce the proof did not carry, and the step's proof is not
/// about the nonce. Any refusal with a new nonce counts, not only `use_dpop_nonce`, so that
/// a server that names the error wrongly still gets its nonce, and only the case about the
/// error code fails.
pub(super) fn resend_with_nonce(
    flaw: Option<DpopFlaw>,
    endpoint: crate::case::Endpoint,
    response: &Response,
    state: &mut CaseState,
) -> bool {
    let (Some(flaw), Some(builder)) = (flaw, state.dpop.as_mut()) else {
        return false;
    };
    let Some(nonce) = response.header("dpop-nonce") else {
        return false;
    };
    let fresh = builder.nonce() != Some(nonce);
    builder.set_nonce(Some(nonce));
    *state.dpop_nonces.of(endpoint) = Some(nonce.to_owned());
    // A proof with an old `iat` is judged as sent: with the server's nonce its time would be
    // the nonce's (RFC 9449 §4.3 item 11), and accepting it then is no fault.
    fresh
        && matches!(response.status, 400 | 401)
        && !matches!(
            flaw,
            DpopFlaw::MissingNonce
                | DpopFlaw::WrongNonce
                | DpopFlaw::StaleIat
                | DpopFlaw::DayOldIat
        )
}
