//! The Goose transactions. Every response is checked, not only counted: a wrong answer is
//! marked failed with a short reason, which Goose's error tables then count by kind.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use goose::goose::{GooseRequest, GooseResponse, Transaction, TransactionFunction};
use goose::metrics::GooseRequestMetric;
use goose::prelude::{GooseUser, TransactionResult};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use url::Url;

use super::profile::TransactionKind;

const FORM: &str = "application/x-www-form-urlencoded";

/// Endpoint URLs, parsed once: cloning a `Url` is cheaper than parsing a string per request.
pub struct Urls {
    pub token: Url,
    pub introspection: Option<Url>,
    pub revocation: Option<Url>,
    pub resource: Option<Url>,
}

/// What every transaction needs, shared by all users.
pub struct LoadContext {
    pub urls: Urls,
    /// `Basic …` of the main client, of the introspection client, and with a wrong secret.
    pub main_basic: String,
    pub introspector_basic: String,
    pub wrong_basic: String,
    pub main_id: String,
    /// `grant_type=client_credentials[&scope=…]`, and the same with the client's credentials.
    pub issue_body: String,
    pub post_body: String,
    /// Tokens issued before the run, for the introspection transaction.
    pub pool: Vec<String>,
    pub seen: TokenSet,
    pub unique_tokens: bool,
    pub introspect_sample: u64,
    issued: AtomicU64,
    /// Requests and failures seen by the transactions, for progress lines.
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    /// Every request's name and latency in µs, when `--sample-log` asks for them.
    samples: Option<Mutex<Vec<(String, u64)>>>,
    /// Requests, errors and latency per second, for the report's charts.
    pub timeline: super::timeline::Timeline,
    /// The most of a response body read; a longer body is an error of its own kind.
    pub max_body: usize,
    /// When every request must be done: the end of `--run-time` plus a grace period (an
    /// arrival-rate run's comes from its timetable instead).
    pub hard_stop: Option<std::time::Instant>,
    /// The timetables of an arrival-rate run (`--rate`, `--rate-plan`).
    pub pacing: Option<super::arrival::Pacing>,
    /// The `private_key_jwt` client for `issue_jwt`: it signs a new assertion per request.
    pub jwt: Option<JwtSigner>,
    /// The run's DPoP key for `issue_dpop` (RFC 9449).
    pub dpop_key: Option<Arc<crate::jose::SigningKey>>,
}

/// Signs the client assertions of `issue_jwt` (RFC 7523 §2.2).
pub struct JwtSigner {
    pub key: Arc<crate::jose::SigningKey>,
    pub client_id: String,
    /// The assertion's `aud`: the token endpoint URL or the issuer, as the target takes it.
    pub audience: String,
}

impl LoadContext {
    pub fn new(
        urls: Urls,
        main: (&str, &str),
        introspector: (&str, &str),
        scope: Option<&str>,
        pool: Vec<String>,
        profile: &super::profile::Profile,
        keep_samples: bool,
    ) -> LoadContext {
        use crate::form::encode as enc;
        let basic = |id: &str, secret: &str| {
            use base64::Engine;
            let pair = format!("{}:{}", enc(id), enc(secret));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let mut issue_body = "grant_type=client_credentials".to_owned();
        if let Some(scope) = scope {
            issue_body.push_str(&format!("&scope={}", enc(scope)));
        }
        LoadContext {
            post_body: format!(
                "{issue_body}&client_id={}&client_secret={}",
                enc(main.0),
                enc(main.1)
            ),
            issue_body,
            main_basic: basic(main.0, main.1),
            introspector_basic: basic(introspector.0, introspector.1),
            wrong_basic: basic(main.0, &format!("wrong-{}", main.1)),
            main_id: main.0.to_owned(),
            urls,
            pool,
            seen: TokenSet::default(),
            unique_tokens: profile.unique_tokens,
            introspect_sample: profile.introspect_sample,
            issued: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            samples: keep_samples.then(|| Mutex::new(Vec::new())),
            timeline: super::timeline::Timeline::new(),
            max_body: super::DEFAULT_MAX_BODY,
            hard_stop: None,
            pacing: None,
            jwt: None,
            dpop_key: None,
        }
    }

    /// Writes the kept samples as `name<TAB>µs` lines.
    pub fn write_samples(&self, path: &std::path::Path) -> std::io::Result<()> {
        let Some(samples) = &self.samples else {
            return Ok(());
        };
        let samples = samples.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::with_capacity(samples.len() * 32);
        for (name, us) in samples.iter() {
            text.push_str(&format!("{name}\t{us}\n"));
        }
        std::fs::write(path, text)
    }
}

impl LoadContext {
    /// Round-robin over the pool: every token gets introspected, no RNG needed.
    fn next_pool_index(&self) -> usize {
        (self.requests.load(Ordering::Relaxed) as usize) % self.pool.len().max(1)
    }
}

/// Hashes of every token seen in the run, to catch a token issued twice. 64-bit hashes keep
/// memory small; a false duplicate needs a collision (≈ n²/2⁶⁵: none in any real run).
#[derive(Default)]
pub struct TokenSet {
    shards: [Mutex<HashSet<u64>>; 16],
}

impl TokenSet {
    /// Records `token`; false if it was seen before.
    pub fn insert(&self, token: &str) -> bool {
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(token);
        let shard = &self.shards[(hash % 16) as usize];
        shard.lock().unwrap_or_else(|p| p.into_inner()).insert(hash)
    }
}

/// A Goose transaction running `kind` with the shared context.
pub fn transaction(kind: TransactionKind, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        Box::pin(async move { run(kind, user, &ctx).await })
    });
    Transaction::new(function).set_name(kind.name())
}

async fn run(kind: TransactionKind, user: &mut GooseUser, ctx: &LoadContext) -> TransactionResult {
    match kind {
        TransactionKind::IssueBasic => issue(user, ctx, false).await.map(|_| ()),
        TransactionKind::IssuePost => issue(user, ctx, true).await.map(|_| ()),
        TransactionKind::Introspect => {
            let token = &ctx.pool[ctx.next_pool_index()];
            introspect(user, ctx, token, true, "introspect").await
        }
        TransactionKind::Flow => flow(user, ctx).await,
        TransactionKind::BadSecret => bad_secret(user, ctx).await,
        TransactionKind::IssueJwt => issue_jwt(user, ctx).await,
        TransactionKind::IssueDpop => issue_dpop(user, ctx).await,
    }
}

/// In arrival-rate mode, one iteration of scenario `scenario` (its transactions in order)
/// at the time its timetable gives, whatever the server does; a user with no iteration left
/// idles until Goose ends the run.
pub fn paced(scenario: usize, kinds: Vec<TransactionKind>, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        let ctx = ctx.clone();
        let kinds = kinds.clone();
        Box::pin(async move {
            let Some(pacing) = &ctx.pacing else {
                return Ok(());
            };
            let Some(start) = pacing.start() else {
                // Not every user is launched yet (the plan starts 50 ms after the last is).
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                return Ok(());
            };
            let Some(due) = pacing.timetables[scenario].take(start) else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                return Ok(());
            };
            pacing.taken(due);
            tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await;
            pacing.started(due);
            let mut result = Ok(());
            for kind in kinds {
                result = run(kind, user, &ctx).await;
                if result.is_err() {
                    break;
                }
            }
            pacing.finished(due);
            ctx.timeline.intended(due.elapsed().as_micros() as u64);
            result
        })
    });
    Transaction::new(function).set_name("paced iteration")
}

/// Runs once per user before its load: swaps Goose's default client for grantcheck's (no
/// redirects, the run's TLS trust: `--ca-cert`, `--insecure`). Every user shares the one
/// client and its connection pool: building a TLS client per user costs each user tens of
/// milliseconds at launch, which would make the first iterations of an arrival-rate run late.
pub fn client_setup(client: reqwest::Client, ctx: Arc<LoadContext>) -> Transaction {
    let function: TransactionFunction = Arc::new(move |user| {
        user.client = client.clone();
        if let Some(pacing) = &ctx.pacing {
            pacing.user_ready();
        }
        Box::pin(async move { Ok(()) })
    });
    Transaction::new(function)
        .set_name("setup-client")
        .set_on_start()
}

/// A response, read whole, with the request metric to mark.
struct Answer {
    request: GooseRequestMetric,
    status: u16,
    has_challenge: bool,
    json: Option<Value>,
}

async fn send(
    user: &mut GooseUser,
    ctx: &LoadContext,
    name: &str,
    mut builder: reqwest::RequestBuilder,
    expect: u16,
) -> Result<Option<Answer>, Box<goose::goose::TransactionError>> {
    // Nothing outlives the run: a request still going at the hard stop times out then (the
    // timeout covers the body too), so a hung target cannot stretch `--run-time`.
    let stop = ctx
        .hard_stop
        .or_else(|| ctx.pacing.as_ref().and_then(|p| p.hard_stop()));
    if let Some(stop) = stop {
        let left = stop.saturating_duration_since(std::time::Instant::now());
        builder = builder.timeout(left.max(std::time::Duration::from_millis(1)));
    }
    let request = GooseRequest::builder()
        .name(name)
        .expect_status_code(expect)
        .set_request_builder(builder)
        .build();
    let GooseResponse {
        mut request,
        response,
    } = user.request(request).await?;
    ctx.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(samples) = &ctx.samples {
        let label = format!("{} {}", request.raw.method, request.name);
        samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((label, request.response_time_micros()));
    }
    ctx.timeline.request(request.response_time_micros());
    let Ok(mut response) = response else {
        // Goose has recorded the transport error already.
        ctx.failures.fetch_add(1, Ordering::Relaxed);
        ctx.timeline.error();
        return Ok(None);
    };
    let status = response.status().as_u16();
    let has_challenge = response
        .headers()
        .contains_key(reqwest::header::WWW_AUTHENTICATE);
    let body = match read_body(&mut response, ctx.max_body).await {
        Ok(body) => body,
        Err(problem) => {
            ctx.failures.fetch_add(1, Ordering::Relaxed);
            ctx.timeline.error();
            user.set_failure(&problem, &mut request, None, None)?;
            return Ok(None);
        }
    };
    let json = serde_json::from_slice(&body).ok();
    Ok(Some(Answer {
        request,
        status,
        has_challenge,
        json,
    }))
}

/// The body, up to `max` bytes (`crate::http::read_body`, as `conform` reads): a target that
/// sends more, or forever, costs at most `max` of memory. The request's own timeout (and the
/// run's hard stop) bounds the time.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, String> {
    const NO_EXTRA_BOUND: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
    crate::http::read_body(
        response,
        "the response body (--max-body)",
        max,
        std::time::Instant::now(),
        NO_EXTRA_BOUND,
    )
    .await
}

fn fail(
    user: &mut GooseUser,
    ctx: &LoadContext,
    answer: &mut Answer,
    reason: &str,
) -> TransactionResult {
    ctx.failures.fetch_add(1, Ordering::Relaxed);
    ctx.timeline.error();
    user.set_failure(reason, &mut answer.request, None, None)
}

/// The access token of a token response already judged right.
fn access_token(answer: &Answer) -> String {
    answer
        .json
        .as_ref()
        .and_then(|j| j["access_token"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// Why a token response is wrong, if it is.
fn token_problem(answer: &Answer) -> Option<&'static str> {
    token_problem_of_type(answer, "bearer")
}

/// [`token_problem`] for a `token_type` other than Bearer (DPoP).
fn token_problem_of_type(answer: &Answer, token_type: &str) -> Option<&'static str> {
    if answer.status != 200 {
        return Some("token request: unexpected status");
    }
    let Some(Value::Object(body)) = &answer.json else {
        return Some("token response is not a JSON object");
    };
    match body.get("access_token") {
        Some(Value::String(t)) if !t.is_empty() => {}
        _ => return Some("token response lacks a non-empty access_token"),
    }
    match body.get("token_type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case(token_type) => {}
        _ if token_type == "dpop" => return Some("token_type is not DPoP"),
        _ => return Some("token_type is not Bearer"),
    }
    match body.get("expires_in") {
        None => {}
        Some(v) if v.as_u64().is_some_and(|n| n > 0) => {}
        Some(_) => return Some("expires_in is not a positive JSON integer"),
    }
    None
}

/// Issues a token and checks the answer; returns the token when it is right.
async fn issue(
    user: &mut GooseUser,
    ctx: &LoadContext,
    post: bool,
) -> Result<Option<String>, Box<goose::goose::TransactionError>> {
    let (name, body) = if post {
        ("issue (client_secret_post)", &ctx.post_body)
    } else {
        ("issue (client_secret_basic)", &ctx.issue_body)
    };
    let mut builder = user
        .client
        .post(ctx.urls.token.clone())
        .header(CONTENT_TYPE, FORM)
        .body(body.clone());
    if !post {
        builder = builder.header(AUTHORIZATION, &ctx.main_basic);
    }
    let Some(mut answer) = send(user, ctx, name, builder, 200).await? else {
        return Ok(None);
    };
    if let Some(problem) = token_problem(&answer) {
        fail(user, ctx, &mut answer, problem)?;
        return Ok(None);
    }
    let token = access_token(&answer);
    if ctx.unique_tokens && !ctx.seen.insert(&token) {
        fail(
            user,
            ctx,
            &mut answer,
            "the same access_token was issued twice",
        )?;
        return Ok(None);
    }
    let n = ctx.issued.fetch_add(1, Ordering::Relaxed);
    if ctx.introspect_sample > 0
        && n.is_multiple_of(ctx.introspect_sample)
        && ctx.urls.introspection.is_some()
    {
        introspect(
            user,
            ctx,
            &token,
            true,
            "introspect (sample of issued tokens)",
        )
        .await?;
    }
    Ok(Some(token))
}

/// Issues a token with a client assertion signed for this request alone (its own `jti`, so a
/// replay cache never refuses it) and checks the answer as `issue` does.
async fn issue_jwt(user: &mut GooseUser, ctx: &LoadContext) -> TransactionResult {
    use crate::jose::{AssertionBuilder, AssertionFlaw};
    let Some(signer) = &ctx.jwt else {
        return Ok(());
    };
    let assertion = AssertionBuilder::new(signer.key.clone(), &signer.client_id, &signer.audience)
        .build(&AssertionFlaw::None, unix_now());
    let Ok(assertion) = assertion else {
        ctx.failures.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let body = format!(
        "{}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        ctx.issue_body,
        assertion.expose()
    );
    let builder = user
        .client
        .post(ctx.urls.token.clone())
        .header(CONTENT_TYPE, FORM)
        .body(body);
    let Some(mut answer) = send(user, ctx, "issue (private_key_jwt)", builder, 200).await? else {
        return Ok(());
    };
    match token_problem(&answer) {
        Some(problem) => fail(user, ctx, &mut answer, problem),
        None => Ok(()),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A DPoP proof for one request (RFC 9449 §4.2), fresh `jti` each time.
fn dpop_proof(
    key: &Arc<crate::jose::SigningKey>,
    method: &str,
    url: &Url,
    token: Option<&str>,
) -> Option<String> {
    use crate::jose::dpop::ProofTarget;
    use crate::jose::{DpopFlaw, DpopProofBuilder};
    let target = ProofTarget {
        method,
        url: url.as_str(),
        access_token: token,
    };
    DpopProofBuilder::new(key.clone())
        .and_then(|mut b| b.build(DpopFlaw::None, target, unix_now()))
        .ok()
        .map(|proof| proof.expose().to_owned())
}

/// Issues a DPoP-bound token (`token_type` DPoP) with a proof made for this request, then
/// calls the resource with `Authorization: DPoP` and a proof carrying the token's `ath`.
async fn issue_dpop(user: &mut GooseUser, ctx: &LoadContext) -> TransactionResult {
    let Some(key) = &ctx.dpop_key else {
        return Ok(());
    };
    let Some(proof) = dpop_proof(key, "POST", &ctx.urls.token, None) else {
        ctx.failures.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let builder = user
        .client
        .post(ctx.urls.token.clone())
        .header(CONTENT_TYPE, FORM)
        .header(AUTHORIZATION, &ctx.main_basic)
        .header("DPoP", proof)
        .body(ctx.issue_body.clone());
    let Some(mut answer) = send(user, ctx, "issue (DPoP)", builder, 200).await? else {
        return Ok(());
    };
    if let Some(problem) = token_problem_of_type(&answer, "dpop") {
        return fail(user, ctx, &mut answer, problem);
    }
    let token = access_token(&answer);
    let Some(url) = &ctx.urls.resource else {
        return Ok(());
    };
    let Some(proof) = dpop_proof(key, "GET", url, Some(&token)) else {
        ctx.failures.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let builder = user
        .client
        .get(url.clone())
        .header(AUTHORIZATION, format!("DPoP {token}"))
        .header("DPoP", proof);
    if let Some(mut answer) = send(user, ctx, "call the resource (DPoP)", builder, 200).await? {
        if answer.status != 200 {
            return fail(
                user,
                ctx,
                &mut answer,
                "resource: refused a DPoP-bound token with its proof",
            );
        }
    }
    Ok(())
}

/// Introspects `token` as the resource server's client and checks `active`.
async fn introspect(
    user: &mut GooseUser,
    ctx: &LoadContext,
    token: &str,
    active: bool,
    name: &str,
) -> TransactionResult {
    let Some(url) = &ctx.urls.introspection else {
        return Ok(());
    };
    let body = format!("token={}", crate::form::encode(token));
    let builder = user
        .client
        .post(url.clone())
        .header(CONTENT_TYPE, FORM)
        .header(AUTHORIZATION, &ctx.introspector_basic)
        .body(body);
    let Some(mut answer) = send(user, ctx, name, builder, 200).await? else {
        return Ok(());
    };
    let body = answer.json.as_ref();
    let problem = match body.and_then(|j| j.get("active")) {
        _ if answer.status != 200 => Some("introspection: unexpected status"),
        Some(Value::Bool(a)) if *a != active => Some(if active {
            "introspection: an issued token is not active"
        } else {
            "introspection: a revoked token is still active"
        }),
        Some(Value::Bool(_)) => None,
        _ => Some("introspection: active is not a JSON boolean"),
    };
    let problem = problem.or_else(|| {
        let client = body
            .and_then(|j| j.get("client_id"))
            .and_then(Value::as_str);
        (active && client.is_some_and(|c| c != ctx.main_id))
            .then_some("introspection: client_id differs from the token's client")
    });
    match problem {
        Some(p) => fail(user, ctx, &mut answer, p),
        None => Ok(()),
    }
}

/// The brief's six steps, each request named and checked.
async fn flow(user: &mut GooseUser, ctx: &LoadContext) -> TransactionResult {
    let Some(token) = issue(user, ctx, false).await? else {
        return Ok(());
    };
    if let Some(url) = &ctx.urls.resource {
        let builder = user
            .client
            .get(url.clone())
            .header(AUTHORIZATION, format!("Bearer {token}"));
        if let Some(mut answer) = send(user, ctx, "call the resource", builder, 200).await? {
            if answer.status != 200 {
                return fail(user, ctx, &mut answer, "resource: refused a fresh token");
            }
        }
    }
    introspect(user, ctx, &token, true, "introspect (flow)").await?;
    if let Some(url) = &ctx.urls.revocation {
        let body = format!("token={}", crate::form::encode(&token));
        let builder = user
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, FORM)
            .header(AUTHORIZATION, &ctx.main_basic)
            .body(body);
        if let Some(mut answer) = send(user, ctx, "revoke", builder, 200).await? {
            if answer.status != 200 {
                return fail(user, ctx, &mut answer, "revocation: unexpected status");
            }
        }
        introspect(user, ctx, &token, false, "introspect (after revocation)").await?;
    }
    Ok(())
}

/// A wrong secret must be refused: 401, `invalid_client`, a challenge, and no token.
async fn bad_secret(user: &mut GooseUser, ctx: &LoadContext) -> TransactionResult {
    let builder = user
        .client
        .post(ctx.urls.token.clone())
        .header(CONTENT_TYPE, FORM)
        .header(AUTHORIZATION, &ctx.wrong_basic)
        .body(ctx.issue_body.clone());
    let Some(mut answer) = send(user, ctx, "wrong secret", builder, 401).await? else {
        return Ok(());
    };
    let body = answer.json.as_ref();
    let problem = if body.and_then(|j| j.get("access_token")).is_some() {
        Some("a wrong secret got a token")
    } else if answer.status != 401 {
        Some("wrong secret: status is not 401")
    } else if body.and_then(|j| j.get("error")).and_then(Value::as_str) != Some("invalid_client") {
        Some("wrong secret: error is not invalid_client")
    } else if !answer.has_challenge {
        Some("wrong secret: 401 without WWW-Authenticate")
    } else {
        None
    };
    match problem {
        Some(p) => fail(user, ctx, &mut answer, p),
        None => Ok(()),
    }
}
