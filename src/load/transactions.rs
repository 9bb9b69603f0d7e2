//! The Goose transactions. Every response is checked, not only counted (`check.rs`), and
//! recorded with its outcome (`recorder.rs`): a wrong answer is a failed request with a short
//! reason, which the reports count by kind. An iteration stops at its first failed request.

use std::sync::Arc;

use goose::goose::{Transaction, TransactionFunction};
use goose::prelude::GooseUser;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use super::check::{self, process_issuance_response};
use super::context::LoadContext;
use super::profile::TransactionKind;
use super::recorder::{Problem, Request};
use super::send::{send, Call, Sent};

const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// The iteration failed here (and is recorded): its next steps are not run.
pub(super) struct Stop;

pub(super) type Step<T = ()> = Result<T, Stop>;

/// A Goose transaction running `kind` with the shared context.
pub fn transaction(kind: TransactionKind, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        Box::pin(async move {
            let _ = run(kind, user, &ctx).await;
            Ok(())
        })
    });
    Transaction::new(function).set_name(kind.name())
}

/// Runs one transaction of `kind`.
pub(super) async fn run(kind: TransactionKind, user: &mut GooseUser, ctx: &LoadContext) -> Step {
    match kind {
        TransactionKind::IssueBasic => issue(user, ctx, Request::IssueBasic, false).await.map(drop),
        TransactionKind::IssuePost => issue(user, ctx, Request::IssuePost, false).await.map(drop),
        TransactionKind::Introspect => {
            let token = ctx.next_pool_token().to_owned();
            introspect(user, ctx, &token, true, Request::Introspect).await
        }
        TransactionKind::Flow => flow(user, ctx).await,
        TransactionKind::BadSecret => bad_secret(user, ctx).await,
        TransactionKind::IssueJwt => super::bound::issue_jwt(user, ctx).await,
        TransactionKind::IssueDpop => super::bound::issue_dpop(user, ctx).await,
        TransactionKind::IssueMtls => super::bound::issue_mtls(user, ctx).await,
    }
}

/// Runs once per user before its load: swaps Goose's default client for grantcheck's (no
/// redirects, the run's TLS trust: `--ca-cert`, `--insecure`) and opens the user's own
/// connections to plain-HTTP endpoints. Every user shares the one
/// client and its connection pool: building a TLS client per user costs each user tens of
/// milliseconds at launch, which would make the first iterations of an arrival-rate run late.
pub fn client_setup(client: reqwest::Client, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        user.client = client.clone();
        let ctx = ctx.clone();
        Box::pin(async move {
            super::send::preconnect(user, &ctx).await;
            if let Some(pacing) = &ctx.pacing {
                pacing.user_ready();
            }
            ctx.user_launched();
            Ok(())
        })
    });
    Transaction::new(function)
        .set_name("setup-client")
        .set_on_start()
}

/// Records `sent` with the outcome of its checks; `Stop` when they failed.
pub(super) fn judge(
    user: &GooseUser,
    ctx: &LoadContext,
    request: Request,
    sent: &Sent,
    outcome: Result<(), Problem>,
) -> Step {
    let failed = outcome.is_err();
    ctx.record(
        user.weighted_users_index,
        request,
        sent.latency_us,
        sent.at,
        outcome,
    );
    if failed {
        Err(Stop)
    } else {
        Ok(())
    }
}

/// Issues a token (`request`: Basic or post) and checks the answer; returns the token when
/// `want_token` (an owned copy is made only then, or for the introspection sample).
async fn issue(
    user: &mut GooseUser,
    ctx: &LoadContext,
    request: Request,
    want_token: bool,
) -> Step<Option<String>> {
    let mut call = Call::post(&ctx.urls.token).header(CONTENT_TYPE, FORM);
    call = if request == Request::IssuePost {
        call.body(ctx.post_body.clone())
    } else {
        call.header(AUTHORIZATION, ctx.main_basic.clone())
            .body(ctx.issue_body.clone())
    };
    let sent = send(user, ctx, request, call).await.ok_or(Stop)?;
    let sample = ctx.introspect_sample > 0
        && ctx.urls.introspection.is_some()
        && ctx
            .issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(ctx.introspect_sample);
    let token = {
        let second = ctx.recorders.second(sent.at);
        let tokens = ctx.unique_tokens.then_some(&ctx.seen);
        let mut recorder = ctx.recorders.stripe(user.weighted_users_index);
        let view = sent.view();
        let token = process_issuance_response(
            &mut recorder,
            request,
            &view,
            sent.latency_us,
            second,
            tokens,
        );
        drop(recorder);
        ctx.sample(request, sent.latency_us);
        match token {
            None => return Err(Stop),
            Some(t) if want_token || sample => Some(t.into_owned()),
            Some(_) => None,
        }
    };
    if let (true, Some(token)) = (sample, &token) {
        introspect(user, ctx, token, true, Request::IntrospectSample).await?;
    }
    Ok(token)
}

/// Introspects `token` as the resource server's client and checks `active`.
pub(super) async fn introspect(
    user: &mut GooseUser,
    ctx: &LoadContext,
    token: &str,
    active: bool,
    request: Request,
) -> Step {
    let Some(endpoint) = &ctx.urls.introspection else {
        return Ok(());
    };
    let sent = send_introspection(user, ctx, endpoint, token, request).await?;
    let outcome = check::introspection_response(&sent.view(), active, &ctx.main_id);
    judge(user, ctx, request, &sent, outcome)
}

/// Sends an introspection of `token` to `endpoint` as the resource server's client.
async fn send_introspection(
    user: &mut GooseUser,
    ctx: &LoadContext,
    endpoint: &super::context::Endpoint,
    token: &str,
    request: Request,
) -> Step<Sent> {
    let body = format!("token={}", crate::form::encode(token));
    let call = Call::post(endpoint)
        .header(CONTENT_TYPE, FORM)
        .header(AUTHORIZATION, ctx.introspector_basic.clone())
        .body(body);
    send(user, ctx, request, call).await.ok_or(Stop)
}

/// Every other node (`--node`) must refuse a token from the moment its revocation returned
/// (RFC 7009 §2.1, "The invalidation takes place immediately"): a node that still says
/// active is an error naming the node, so a soak finds a lagging replica at scale.
async fn introspect_revoked_on_nodes(user: &mut GooseUser, ctx: &LoadContext, token: &str) -> Step {
    let request = Request::IntrospectRevokedOnNode;
    for (node, endpoint) in &ctx.urls.node_introspection {
        let sent = send_introspection(user, ctx, endpoint, token, request).await?;
        let outcome = check::introspection_response(&sent.view(), false, &ctx.main_id)
            .map_err(|problem| format!("{problem} (on node {node})").into());
        judge(user, ctx, request, &sent, outcome)?;
    }
    Ok(())
}

/// The brief's six steps, each request named and checked.
async fn flow(user: &mut GooseUser, ctx: &LoadContext) -> Step {
    let Some(token) = issue(user, ctx, Request::IssueBasic, true).await? else {
        return Ok(());
    };
    if let Some(resource) = &ctx.urls.resource {
        let call = Call::get(resource).header_text(AUTHORIZATION, &format!("Bearer {token}"));
        let sent = send(user, ctx, Request::Resource, call).await.ok_or(Stop)?;
        let outcome = check::accepted(&sent.view(), "resource: refused a fresh token");
        judge(user, ctx, Request::Resource, &sent, outcome)?;
    }
    introspect(user, ctx, &token, true, Request::IntrospectFlow).await?;
    if let Some(revocation) = &ctx.urls.revocation {
        let body = format!("token={}", crate::form::encode(&token));
        let call = Call::post(revocation)
            .header(CONTENT_TYPE, FORM)
            .header(AUTHORIZATION, ctx.main_basic.clone())
            .body(body);
        let sent = send(user, ctx, Request::Revoke, call).await.ok_or(Stop)?;
        let outcome = check::accepted(&sent.view(), "revocation: unexpected status");
        judge(user, ctx, Request::Revoke, &sent, outcome)?;
        introspect(user, ctx, &token, false, Request::IntrospectRevoked).await?;
        introspect_revoked_on_nodes(user, ctx, &token).await?;
    }
    Ok(())
}

/// A wrong secret must be refused: 401, `invalid_client`, a challenge, and no token.
async fn bad_secret(user: &mut GooseUser, ctx: &LoadContext) -> Step {
    let call = Call::post(&ctx.urls.token)
        .header(CONTENT_TYPE, FORM)
        .header(AUTHORIZATION, ctx.wrong_basic.clone())
        .body(ctx.issue_body.clone());
    let sent = send(user, ctx, Request::WrongSecret, call)
        .await
        .ok_or(Stop)?;
    let outcome = check::refusal_response(&sent.view());
    judge(user, ctx, Request::WrongSecret, &sent, outcome)
}
