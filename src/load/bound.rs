//! The issuance transactions that act as a configured client (`client.rs`) rather than with
//! a fixed secret: `issue_jwt` (a client assertion per request), `issue_dpop` (a DPoP-bound
//! token, then the resource with its proof) and `issue_mtls` (a certificate-bound token,
//! then the resource over the same certificate). Proofs carry the nonce the server last
//! gave; an answer that asks for a new one (RFC 9449 §8, §9) is recorded as the correct
//! answer it is and the request is sent once more, with a fresh proof and, at the token
//! endpoint, a fresh client assertion (a server may spend the first one's `jti` before it
//! reads the proof).

use std::sync::Arc;

use goose::prelude::GooseUser;
use reqwest::header::{HeaderName, AUTHORIZATION};

use super::check::{self, process_token_response};
use super::client::{proof, LoadClient, NonceSlot};
use super::context::{Endpoint, LoadContext};
use super::recorder::{Problem, Request};
use super::send::{send, Call, Sent};
use super::transactions::{judge, Step, Stop};
use crate::jose::SigningKey;

const DPOP: HeaderName = HeaderName::from_static("dpop");

/// A token from the JWT client (the main client when it authenticates with an assertion),
/// DPoP-bound when that client is.
pub(super) async fn issue_jwt(user: &mut GooseUser, ctx: &LoadContext) -> Step {
    let Some(client) = &ctx.jwt_client else {
        return Ok(());
    };
    issue_as(user, ctx, Request::IssueJwt, client)
        .await
        .map(drop)
}

/// A DPoP-bound token for the main client, then the resource with `Authorization: DPoP`
/// and a proof carrying the token's `ath`.
pub(super) async fn issue_dpop(user: &mut GooseUser, ctx: &LoadContext) -> Step {
    let Some(client) = &ctx.dpop_client else {
        return Ok(());
    };
    let token = issue_as(user, ctx, Request::IssueDpop, client).await?;
    let (Some(resource), Some(key)) = (&ctx.urls.resource, &client.dpop) else {
        return Ok(());
    };
    let authorization = format!("DPoP {token}");
    let proofs = Proofs {
        key,
        slot: &ctx.nonces.resource,
        method: "GET",
        endpoint: resource,
        token: Some(&token),
    };
    let sent = send_with_proof(user, ctx, Request::ResourceDpop, Some(proofs), || {
        Ok(Call::get(resource)
            .header_text(AUTHORIZATION, &authorization)
            .via(client.http.as_ref()))
    })
    .await?;
    let outcome = check::accepted(
        &sent.view(),
        "resource: refused a DPoP-bound token with its proof",
    );
    judge(user, ctx, Request::ResourceDpop, &sent, outcome)
}

/// A token for the mutual-TLS client over its certificate (RFC 8705 §2), then the resource
/// with that token over the same certificate (§3: the token is bound to it).
pub(super) async fn issue_mtls(user: &mut GooseUser, ctx: &LoadContext) -> Step {
    let Some(client) = &ctx.mtls_client else {
        return Ok(());
    };
    let token = issue_as(user, ctx, Request::IssueMtls, client).await?;
    let Some(resource) = &ctx.urls.resource else {
        return Ok(());
    };
    let call = Call::get(resource)
        .header_text(AUTHORIZATION, &format!("Bearer {token}"))
        .via(client.http.as_ref());
    let sent = send(user, ctx, Request::ResourceMtls, call)
        .await
        .ok_or(Stop)?;
    let outcome = check::accepted(
        &sent.view(),
        "resource: refused a certificate-bound token over its certificate",
    );
    judge(user, ctx, Request::ResourceMtls, &sent, outcome)
}

/// Issues a token as `client` and checks the answer as `issue` does (status, members, the
/// `token_type` its binding gives, a token never issued before); the token, owned.
async fn issue_as(
    user: &mut GooseUser,
    ctx: &LoadContext,
    request: Request,
    client: &LoadClient,
) -> Step<String> {
    let proofs = client.dpop.as_ref().map(|key| Proofs {
        key,
        slot: &ctx.nonces.token,
        method: "POST",
        endpoint: &ctx.urls.token,
        token: None,
    });
    let sent = send_with_proof(user, ctx, request, proofs, || {
        client.token_call(&ctx.urls.token)
    })
    .await?;
    let second = ctx.recorders.second(sent.at);
    let tokens = ctx.unique_tokens.then_some(&ctx.seen);
    let mut recorder = ctx.recorders.stripe(user.weighted_users_index);
    let token = process_token_response(
        &mut recorder,
        request,
        &sent.view(),
        sent.latency_us,
        second,
        tokens,
        client.token_type(),
    )
    .map(|t| t.into_owned());
    drop(recorder);
    ctx.sample(request, sent.latency_us);
    token.ok_or(Stop)
}

/// The DPoP proofs of one request: made with `key` for `method` and the endpoint's URL,
/// with the `ath` of `token`, carrying the nonce in `slot`.
struct Proofs<'a> {
    key: &'a Arc<SigningKey>,
    slot: &'a NonceSlot,
    method: &'static str,
    endpoint: &'a Endpoint,
    token: Option<&'a str>,
}

/// Sends the request `build` makes, with a fresh proof when `proofs` is given. An answer
/// that asks for a nonce it did not carry is recorded as a correct answer (it is one) and
/// the request is built and sent once more, with the nonce; any other answer is returned
/// for the caller to check. Every nonce an answer gives is kept for the next request.
async fn send_with_proof<'a>(
    user: &mut GooseUser,
    ctx: &LoadContext,
    request: Request,
    proofs: Option<Proofs<'_>>,
    build: impl Fn() -> Result<Call<'a>, Problem>,
) -> Step<Sent> {
    let mut retried = false;
    loop {
        let mut call = build().map_err(|why| unsendable(user, ctx, request, why))?;
        let carried = proofs.as_ref().and_then(|p| p.slot.get());
        if let Some(p) = &proofs {
            let proof = proof(
                p.key,
                p.method,
                &p.endpoint.url,
                p.token,
                carried.as_deref(),
            )
            .ok_or_else(|| unsendable(user, ctx, request, "cannot sign the DPoP proof".into()))?;
            call = call.header_text(DPOP, &proof);
        }
        let sent = send(user, ctx, request, call).await.ok_or(Stop)?;
        let Some(p) = &proofs else {
            return Ok(sent);
        };
        p.slot.offer(&sent.headers);
        // Another user may have kept this nonce already: what counts is whether this
        // request carried it.
        let given = sent.headers.get("dpop-nonce").map(|v| v.as_bytes());
        let news = given.is_some() && given != carried.as_deref().map(str::as_bytes);
        if retried || !news || !check::asks_for_nonce(&sent.view()) {
            return Ok(sent);
        }
        judge(user, ctx, request, &sent, Ok(()))?;
        retried = true;
    }
}

/// Records a request that could not be made, and stops the iteration.
fn unsendable(user: &GooseUser, ctx: &LoadContext, request: Request, why: Problem) -> Stop {
    let at = std::time::Instant::now();
    ctx.record(user.weighted_users_index, request, 0, at, Err(why));
    Stop
}
