//! Runs cases against a target: builds each step's request, sends it, records the redacted
//! exchange and judges the response. The runner reports each finished case to an observer;
//! reporters render those results (they never run anything themselves).
//!
//! A case judges one behaviour. Its `setup` steps only prepare it; when one of them does not
//! give what the case needs, the case is *blocked* (with the step and what came back), never
//! failed. A target's rate limit is its policy: the runner waits once, then blocks.

mod send;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reference_server::form::encode_component;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::checks::{challenge_param, challenge_scheme, Context, Verdict};
use crate::exchange::{Exchange, Redactor, RequestRecord, Response};
use crate::scenario::{Auth, Case, Endpoint, Level, Requirement, Role, Step};
use crate::target::Target;
use crate::template::{expand, Vars};

pub use send::{describe_response, exchange, rate_limit, BuiltRequest, Pacer, SendError};

/// The result of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    /// A setup step did not give what the case needed (or the target rate-limited it):
    /// the behaviour the case judges was never reached.
    Blocked,
    Skip,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Warn => "warn",
            Outcome::Blocked => "blocked",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }
}

/// One case's verdict with its evidence, as every reporter sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub title: String,
    pub spec: String,
    pub level: Level,
    pub area: String,
    pub tags: Vec<String>,
    pub outcome: Outcome,
    /// Why it failed, warned, was blocked, skipped or errored; for INFO cases, what differed.
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub source: String,
    pub duration_ms: u64,
    pub exchanges: Vec<Exchange>,
}

/// How the runner behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `rfc6749`, `oauth21` or `strict`.
    pub profile: String,
    /// Longest a case may wait for a token to expire, or for a rate limit to lift.
    pub max_wait: Duration,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Largest response body read.
    pub max_body_bytes: usize,
    /// When the whole run must end: cases not started by then (and expiry waits that would
    /// pass it) end as errors, so a run against a slow target still finishes in bounded time.
    pub deadline: Option<Instant>,
    /// Least time between two requests (`--pace`), for targets that throttle.
    pub pace: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            profile: "rfc6749".into(),
            max_wait: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            max_body_bytes: 1024 * 1024,
            deadline: None,
            pace: None,
        }
    }
}

/// A client with the system roots only (see [`crate::http`] for `--ca-cert`/`--insecure`).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    crate::http::client(timeout, &crate::http::TlsTrust::default())
        .expect("a client with static settings and no extra roots builds")
}

/// What every case of a run shares.
pub struct Run<'a> {
    pub target: &'a Target,
    pub settings: &'a Settings,
    pub http: &'a reqwest::Client,
    pub pacer: &'a Pacer,
}

/// Runs `cases`, calling `observe` as each finishes, and returns the results in case order.
/// Cases that wait for a token to expire run alongside the others, so their waits overlap
/// instead of adding up.
pub async fn run_cases(
    target: &Target,
    cases: &[Case],
    settings: &Settings,
    http: &reqwest::Client,
    observe: impl FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let pacer = Pacer::new(settings.pace);
    let run = Run {
        target,
        settings,
        http,
        pacer: &pacer,
    };
    let base = run.redactor();
    let observe = std::cell::RefCell::new(observe);
    let waits = |c: &Case| c.steps.iter().any(|s| s.wait_for_expiry);
    let one = |index: usize| {
        let mut redactor = base.clone();
        let observe = &observe;
        let run = &run;
        async move {
            let result = run.case(&cases[index], &mut redactor).await;
            (observe.borrow_mut())(&result);
            (index, result)
        }
    };
    let slow =
        futures_util::future::join_all((0..cases.len()).filter(|&i| waits(&cases[i])).map(one));
    let fast = async {
        let mut done = Vec::new();
        for index in (0..cases.len()).filter(|&i| !waits(&cases[i])) {
            done.push(one(index).await);
        }
        done
    };
    let (slow, fast) = tokio::join!(slow, fast);
    let mut results: Vec<(usize, CaseResult)> = slow.into_iter().chain(fast).collect();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

/// What ended a case early, or `None` when every step ran.
enum Stop {
    /// The case's point is proven before its last step (a plain-HTTP request was refused).
    Passed(String),
    Failed(String),
    Blocked(String),
    Skipped(String),
    Errored(String),
}

impl Run<'_> {
    /// A redactor that knows every configured secret.
    pub fn redactor(&self) -> Redactor {
        let mut redactor = Redactor::default();
        for client in self.target.clients.values() {
            if let Some(secret) = &client.secret {
                redactor.add(secret.expose());
            }
        }
        redactor
    }

    async fn case(&self, case: &Case, redactor: &mut Redactor) -> CaseResult {
        let started = Instant::now();
        let level = case.level_for(&self.settings.profile);
        let mut exchanges = Vec::new();
        let past_deadline = self.settings.deadline.is_some_and(|d| started >= d);
        let stop = match unmet_requirement(self.target, case) {
            _ if past_deadline => Some(Stop::Errored(
                "the run's --deadline passed before this case started".into(),
            )),
            Some(reason) => Some(Stop::Skipped(reason)),
            None => {
                let mut state = CaseState::new(self.target);
                let mut stop = None;
                for (index, step) in case.steps.iter().enumerate() {
                    let label = step
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("step {}", index + 1));
                    if !condition_holds(step, &state.vars) {
                        break;
                    }
                    let mut io = StepIo {
                        label: &label,
                        redactor,
                        state: &mut state,
                        exchanges: &mut exchanges,
                    };
                    if let Some(s) = self.step(step, &mut io).await {
                        stop = Some(s);
                        break;
                    }
                }
                stop
            }
        };
        let (outcome, detail) = match stop {
            None => (Outcome::Pass, String::new()),
            Some(Stop::Passed(reason)) => (Outcome::Pass, reason),
            Some(Stop::Blocked(reason)) => (Outcome::Blocked, reason),
            Some(Stop::Skipped(reason)) => (Outcome::Skip, reason),
            Some(Stop::Errored(reason)) => (Outcome::Error, reason),
            Some(Stop::Failed(reason)) => match level {
                Level::Must => (Outcome::Fail, reason),
                Level::Should => (Outcome::Warn, reason),
                Level::Info => (Outcome::Pass, format!("observed: {reason}")),
            },
        };
        CaseResult {
            id: case.id.clone(),
            title: case.title.clone(),
            spec: case.spec.clone(),
            level,
            area: case.area.clone(),
            tags: case.tags.clone(),
            outcome,
            detail: redactor.text(&detail),
            note: case.note.clone(),
            source: case.source.clone(),
            duration_ms: started.elapsed().as_millis() as u64,
            exchanges,
        }
    }

    async fn step(&self, step: &Step, io: &mut StepIo<'_>) -> Option<Stop> {
        let (target, settings) = (self.target, self.settings);
        let label = io.label;
        let role = step_role(step);
        let Some(client) = target.client(role) else {
            return Some(Stop::Skipped(format!(
                "the target has no '{}' client",
                role.as_str()
            )));
        };
        let Some(mut base_url) = endpoint_url(target, step.endpoint) else {
            return Some(Stop::Skipped(format!(
                "the target has no {} endpoint",
                step.endpoint.as_str()
            )));
        };
        if step.plain_http {
            match cleartext_url(&base_url) {
                Some(url) => base_url = url,
                None => {
                    return Some(Stop::Skipped(format!(
                        "the {} endpoint is not HTTPS",
                        step.endpoint.as_str()
                    )))
                }
            }
        }
        let state = &mut *io.state;
        state.vars.insert("client.id".into(), client.id.clone());
        match &client.secret {
            Some(secret) => state
                .vars
                .insert("client.secret".into(), secret.expose().to_owned()),
            None => state.vars.remove("client.secret"),
        };

        if step.wait_for_expiry {
            if let Some(stop) = wait_for_expiry(label, settings, state).await {
                return Some(stop);
            }
        }

        // The preflight's scope is the main client's; the short-lived client stands in for
        // it. Other clients may not have that scope.
        let scope = target
            .baseline
            .token_scope
            .as_deref()
            .filter(|_| matches!(role, Role::Main | Role::Short));
        let request = match build_request(step, &base_url, &state.vars, scope) {
            Ok(r) => r,
            Err(e) => return Some(Stop::Errored(format!("{label}: {e}"))),
        };
        let redactor = &mut *io.redactor;
        let mut record = RequestRecord {
            method: request.method.to_string(),
            url: redactor.text(&request.url),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), redactor.header(n, v)))
                .collect(),
            body: redactor.form(&request.body),
        };
        let response = match exchange(self.http, &request, settings, self.pacer).await {
            Ok(r) => r,
            Err(error) => {
                let (SendError::Transport(e) | SendError::RateLimited(e)) = &error;
                io.exchanges.push(Exchange {
                    step: label.into(),
                    request: record,
                    response: None,
                    error: Some(e.clone()),
                });
                return Some(match error {
                    SendError::RateLimited(e) => Stop::Blocked(format!("{label}: {e}")),
                    SendError::Transport(e) if step.plain_http => {
                        Stop::Passed(format!("{label}: plain HTTP refused ({e})"))
                    }
                    SendError::Transport(e) => Stop::Errored(format!("{label}: {e}")),
                });
            }
        };
        if step.endpoint == Endpoint::Token && response.status == 200 {
            if let Some(token) = response
                .json
                .as_ref()
                .and_then(|j| j.get("access_token"))
                .and_then(Value::as_str)
            {
                redactor.add(token);
                record.url = redactor.text(&record.url);
                remember_issuance(state, &request, &response, &client.id, token);
            }
        }
        io.exchanges.push(Exchange {
            step: label.into(),
            request: record,
            response: Some(redactor.response(&response)),
            error: None,
        });
        if step.setup {
            if let Some(missing) = setup_shortfall(step, &response) {
                return Some(Stop::Blocked(format!(
                    "setup step '{label}' needed {missing}, got {}",
                    describe_response(&response)
                )));
            }
        }
        for (name, pointer) in &step.capture {
            match response.json.as_ref().and_then(|j| j.pointer(pointer)) {
                Some(Value::String(s)) => {
                    state.vars.insert(name.clone(), s.clone());
                }
                Some(Value::Number(n)) => {
                    state.vars.insert(name.clone(), n.to_string());
                }
                Some(other @ (Value::Array(_) | Value::Object(_) | Value::Bool(_))) => {
                    state.vars.insert(name.clone(), other.to_string());
                }
                None if step.capture_default.contains_key(name) => {
                    state
                        .vars
                        .insert(name.clone(), step.capture_default[name].clone());
                }
                other => {
                    let got = other.map_or("nothing".to_owned(), |v| v.to_string());
                    let why = format!(
                        "{label}: expected {pointer} in the response to capture as '{name}', got {got} (status {})",
                        response.status
                    );
                    return Some(if step.setup {
                        Stop::Blocked(why)
                    } else {
                        Stop::Failed(why)
                    });
                }
            }
        }
        let verdict = judge(step, label, &request, &response, target, state);
        match verdict {
            // A setup step's own expectations prepare the case; they judge nothing.
            Some(Stop::Failed(why)) if step.setup => Some(Stop::Blocked(why)),
            other => other,
        }
    }
}

/// The mutable parts of a case's run that a step reads and extends.
struct StepIo<'a> {
    label: &'a str,
    redactor: &'a mut Redactor,
    state: &'a mut CaseState,
    exchanges: &'a mut Vec<Exchange>,
}

/// The client a step acts as: as written, else the introspector at introspection and the
/// main client elsewhere.
pub fn step_role(step: &Step) -> Role {
    step.client.unwrap_or(match step.endpoint {
        Endpoint::Introspection => Role::Introspector,
        _ => Role::Main,
    })
}

/// What a setup step failed to give, or `None` when it gave what the case needs: a 2xx,
/// and at the token endpoint an access token.
fn setup_shortfall(step: &Step, response: &Response) -> Option<&'static str> {
    let token = response
        .json
        .as_ref()
        .and_then(|j| j.get("access_token"))
        .is_some_and(Value::is_string);
    match step.endpoint {
        Endpoint::Token if !(200..300).contains(&response.status) || !token => {
            Some("an access token")
        }
        _ if !(200..300).contains(&response.status) => Some("a 2xx answer"),
        _ => None,
    }
}

/// Waits until the token issued earlier in the case has expired.
async fn wait_for_expiry(label: &str, settings: &Settings, state: &CaseState) -> Option<Stop> {
    let lifetime = state
        .vars
        .get("expires_in")
        .and_then(|v| v.parse::<u64>().ok());
    let (Some(lifetime), Some(issued)) = (lifetime, state.issued) else {
        return Some(Stop::Errored(format!(
            "{label}: no earlier token with a numeric expires_in to wait for"
        )));
    };
    let lifetime = Duration::from_secs(lifetime);
    if lifetime > settings.max_wait {
        return Some(Stop::Skipped(format!(
            "the token lives {} s, longer than --max-wait {} s",
            lifetime.as_secs(),
            settings.max_wait.as_secs()
        )));
    }
    let expired = issued + lifetime + Duration::from_millis(1500);
    if settings.deadline.is_some_and(|d| expired > d) {
        return Some(Stop::Errored(format!(
            "{label}: waiting for the token to expire would pass the run's --deadline"
        )));
    }
    tokio::time::sleep_until(expired.into()).await;
    None
}

/// `if_token` and `run_if`: whether this step (and the ones after it) should run.
fn condition_holds(step: &Step, vars: &Vars) -> bool {
    if step.if_token && !vars.contains_key("access_token") {
        return false;
    }
    match &step.run_if {
        Some(c) => vars.get(&c.var).is_some_and(|v| v.contains(&c.contains)),
        None => true,
    }
}

/// Why the case cannot run on this target: a missing capability, or a client or endpoint
/// the preflight found unusable. Checked before the case's first request, so a feature the
/// target lacks skips every case that needs it alike.
fn unmet_requirement(target: &Target, case: &Case) -> Option<String> {
    for requirement in &case.requires {
        let (present, what) = match requirement {
            Requirement::Introspection => (
                target.introspection_url.is_some(),
                "introspection endpoint (--introspection-url)",
            ),
            Requirement::Revocation => (
                target.revocation_url.is_some(),
                "revocation endpoint (--revocation-url)",
            ),
            Requirement::Resource => (
                target.resource_url.is_some(),
                "protected resource (--resource-url)",
            ),
            Requirement::Metadata => (
                target.metadata_url.is_some(),
                "published metadata (--target ISSUER)",
            ),
            Requirement::Jwks => (target.jwks_url.is_some(), "jwks_uri in its metadata"),
            Requirement::Https => (
                !target.is_plain_http(),
                "HTTPS token endpoint (TLS cannot be checked over plain HTTP)",
            ),
            Requirement::SecondClient => (
                target.clients.contains_key(&Role::Second),
                "second client (--second-client-id)",
            ),
            Requirement::Scope => (!target.scopes.is_empty(), "scope to request (--scope)"),
            Requirement::TwoScopes => (
                target.scopes.len() >= 2,
                "two scopes to request (--scope \"a b\")",
            ),
            Requirement::ForbiddenScope => (
                target.forbidden_scope.is_some(),
                "scope known to be forbidden to the client (--forbidden-scope)",
            ),
            Requirement::ResourceScope => (
                target.resource_scope.is_some(),
                "known scope requirement at its protected resource",
            ),
        };
        if !present {
            return Some(format!("the target has no {what}"));
        }
    }
    for step in &case.steps {
        if target.client(step_role(step)).is_none() {
            return Some(format!(
                "the target has no '{}' client",
                step_role(step).as_str()
            ));
        }
        if let Some(why) = target.baseline.unusable_clients.get(&step_role(step)) {
            return Some(why.clone());
        }
        if let Some(why) = target.baseline.unusable_endpoints.get(&step.endpoint) {
            return Some(why.clone());
        }
    }
    None
}

/// Values carried between a case's steps.
struct CaseState {
    vars: Vars,
    /// When the last token was issued, for `wait_for_expiry`.
    issued: Option<Instant>,
}

impl CaseState {
    fn new(target: &Target) -> CaseState {
        let mut vars = Vars::new();
        for (role, client) in &target.clients {
            vars.insert(format!("{}.id", role.as_str()), client.id.clone());
            if let Some(secret) = &client.secret {
                vars.insert(
                    format!("{}.secret", role.as_str()),
                    secret.expose().to_owned(),
                );
            }
        }
        if let Some(issuer) = &target.issuer {
            vars.insert("issuer".into(), issuer.clone());
        }
        if let Some(first) = target.scopes.first() {
            vars.insert("scope".into(), first.clone());
        }
        if let Some(second) = target.scopes.get(1) {
            vars.insert("scope2".into(), second.clone());
        }
        vars.insert("scopes".into(), target.scopes.join(" "));
        if let Some(forbidden) = &target.forbidden_scope {
            vars.insert("forbidden_scope".into(), forbidden.clone());
        }
        if let Some(required) = &target.resource_scope {
            vars.insert("resource_scope".into(), required.clone());
            if let Some(other) = target.scopes.iter().find(|s| *s != required) {
                vars.insert("other_scope".into(), other.clone());
            }
        }
        // For raw bodies: `&scope=…` when the preflight found the target wants a scope.
        let scope_param = target
            .baseline
            .token_scope
            .as_deref()
            .map(|s| format!("&scope={}", encode_component(s)))
            .unwrap_or_default();
        vars.insert("scope_param".into(), scope_param);
        if let Some(location) = target.metadata_location {
            vars.insert("metadata_location".into(), location.as_str().into());
        }
        if let Some(reports) = target.baseline.introspection_reports_scope {
            let answer = if reports { "yes" } else { "no" };
            vars.insert("introspection_reports_scope".into(), answer.into());
        }
        CaseState { vars, issued: None }
    }
}

fn cleartext_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    crate::http::cleartext_twin(&parsed).map(String::from)
}

fn endpoint_url(target: &Target, endpoint: Endpoint) -> Option<String> {
    match endpoint {
        Endpoint::Token => Some(target.token_url.clone()),
        Endpoint::Introspection => target.introspection_url.clone(),
        Endpoint::Revocation => target.revocation_url.clone(),
        Endpoint::Resource => target.resource_url.clone(),
        Endpoint::Metadata => target.metadata_url.clone(),
        Endpoint::Jwks => target.jwks_url.clone(),
    }
}

/// After a successful token response: what later steps and checks compare against.
fn remember_issuance(
    state: &mut CaseState,
    request: &BuiltRequest,
    response: &Response,
    client_id: &str,
    token: &str,
) {
    let json = response.json.as_ref();
    let vars = &mut state.vars;
    vars.insert("access_token".into(), token.to_owned());
    vars.insert("issued_to".into(), client_id.to_owned());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    vars.insert("issued_at".into(), now.to_string());
    state.issued = Some(Instant::now());
    match json
        .and_then(|j| j.get("expires_in"))
        .and_then(Value::as_u64)
    {
        Some(lifetime) => vars.insert("expires_in".into(), lifetime.to_string()),
        None => vars.remove("expires_in"),
    };
    // RFC 6749 §5.1: an omitted scope means the requested one was granted.
    match (
        json.and_then(|j| j.get("scope")).and_then(Value::as_str),
        &request.scope,
    ) {
        (Some(scope), _) => {
            vars.insert("granted_scope".into(), scope.to_owned());
            vars.insert("scope_reported".into(), "yes".into());
        }
        (None, Some(requested)) => {
            vars.insert("granted_scope".into(), requested.clone());
            vars.insert("scope_reported".into(), "no".into());
        }
        // Nothing asked, nothing reported: the client was told it got the (empty) request.
        (None, None) => {
            vars.insert("granted_scope".into(), String::new());
            vars.insert("scope_reported".into(), "no".into());
        }
    }
}

/// The request a step describes. `token_scope` is the preflight's scope for
/// client-credentials token requests that name none (unless the step is `exact`).
pub fn build_request(
    step: &Step,
    base_url: &str,
    vars: &Vars,
    token_scope: Option<&str>,
) -> Result<BuiltRequest, String> {
    let default_method = match step.endpoint {
        Endpoint::Resource | Endpoint::Metadata | Endpoint::Jwks => "GET",
        _ => "POST",
    };
    let method_name = step
        .method
        .as_deref()
        .unwrap_or(default_method)
        .to_ascii_uppercase();
    let method = Method::from_bytes(method_name.as_bytes())
        .map_err(|_| format!("bad method '{method_name}'"))?;
    let mut url = base_url.to_owned();
    if let Some(query) = &step.query {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&expand(query, vars)?);
    }

    let auth = step.auth.unwrap_or(match step.endpoint {
        Endpoint::Token | Endpoint::Introspection | Endpoint::Revocation => Auth::Basic,
        _ => Auth::None,
    });
    let id = expand(step.id.as_deref().unwrap_or("{client.id}"), vars)?;
    let secret = || expand(step.secret.as_deref().unwrap_or("{client.secret}"), vars);

    let mut params: Vec<(String, String)> = Vec::new();
    if let Some(form) = &step.form {
        for (name, value) in form {
            let value = match value {
                toml::Value::String(s) => expand(s, vars)?,
                other => other.to_string(),
            };
            params.push((name.clone(), value));
        }
        let client_credentials = form
            .get("grant_type")
            .is_some_and(|g| g.as_str() == Some("client_credentials"));
        if let Some(scope) = token_scope {
            if step.endpoint == Endpoint::Token
                && client_credentials
                && !step.exact
                && !form.contains_key("scope")
            {
                params.push(("scope".into(), scope.to_owned()));
            }
        }
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    match (&step.authorization, &step.bearer, auth) {
        (Some(raw), _, _) => headers.push(("authorization".into(), expand(raw, vars)?)),
        (None, Some(token), _) => headers.push((
            "authorization".into(),
            format!("Bearer {}", expand(token, vars)?),
        )),
        (None, None, Auth::Basic) => {
            let pair = format!("{}:{}", encode_component(&id), encode_component(&secret()?));
            let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization".into(), format!("Basic {encoded}")));
        }
        (None, None, Auth::Post) => {
            params.push(("client_id".into(), id.clone()));
            if step.secret.is_some() || vars.contains_key("client.secret") {
                params.push(("client_secret".into(), secret()?));
            }
        }
        (None, None, Auth::None) => {}
    }
    let scope = params
        .iter()
        .find(|(n, _)| n == "scope")
        .map(|(_, v)| v.clone());
    let body = match &step.body {
        Some(raw) => expand(raw, vars)?,
        None => params
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&"),
    };
    let scope = scope.or_else(|| {
        step.body.as_ref().and_then(|_| {
            reference_server::form::Form::parse(body.as_bytes(), true)
                .ok()
                .and_then(|f| f.get("scope").map(str::to_owned))
        })
    });
    let sends_body = !body.is_empty() || method == Method::POST;
    match &step.content_type {
        Some(ct) if ct.is_empty() => {}
        Some(ct) => headers.push(("content-type".into(), expand(ct, vars)?)),
        None if sends_body => headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )),
        None => {}
    }
    for (name, value) in &step.headers {
        headers.push((name.to_ascii_lowercase(), expand(value, vars)?));
    }
    Ok(BuiltRequest {
        method,
        url,
        headers,
        body,
        scope,
    })
}

/// Applies the step's expectations; the first unmet one stops the case.
fn judge(
    step: &Step,
    label: &str,
    request: &BuiltRequest,
    response: &Response,
    target: &Target,
    state: &CaseState,
) -> Option<Stop> {
    let expect = &step.expect;
    // A refusal is judged by other cases; a 2xx without a token is a broken token
    // response and judged here.
    let refused = !(200..300).contains(&response.status);
    if expect.only_token_responses && refused {
        return Some(Stop::Blocked(format!(
            "{label}: the request was refused ({}), so there is no token response to judge",
            describe_response(response)
        )));
    }
    let mut problems: Vec<String> = Vec::new();
    if let Some(status) = &expect.status {
        if !status.allows(response.status) {
            problems.push(format!(
                "expected status {status}, got {}{}",
                response.status,
                error_hint(response)
            ));
        }
    }
    if expect.status_not.contains(&response.status) {
        problems.push(format!(
            "status {} is not acceptable here{}",
            response.status,
            error_hint(response)
        ));
    }
    let json = response.json.as_ref();
    for (pointer, expected) in &expect.json {
        let expected = toml_to_json(expected);
        let actual = json.and_then(|j| j.pointer(pointer));
        if actual != Some(&expected) {
            problems.push(format!(
                "expected {pointer} = {expected}, got {}",
                shown(actual)
            ));
        }
    }
    for (pointer, template) in &expect.json_not {
        let forbidden = match expand(template, &state.vars) {
            Ok(v) => Value::String(v),
            Err(e) => return Some(Stop::Errored(format!("{label}: {e}"))),
        };
        if json.and_then(|j| j.pointer(pointer)) == Some(&forbidden) {
            problems.push(format!("expected {pointer} to differ from {forbidden}"));
        }
    }
    for (pointer, allowed) in &expect.json_one_of {
        let allowed: Vec<Value> = allowed.iter().map(toml_to_json).collect();
        let actual = json.and_then(|j| j.pointer(pointer));
        if !actual.is_some_and(|a| allowed.contains(a)) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            problems.push(format!(
                "expected {pointer} to be one of {}, got {}",
                list.join(", "),
                shown(actual)
            ));
        }
    }
    for (pointer, wanted) in &expect.array_contains {
        let actual = json.and_then(|j| j.pointer(pointer));
        let found = actual
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(wanted)));
        if !found {
            problems.push(format!(
                "expected {pointer} to list \"{wanted}\", got {}",
                shown(actual)
            ));
        }
    }
    for pointer in &expect.present {
        if json.and_then(|j| j.pointer(pointer)).is_none() {
            problems.push(format!("expected {pointer} to be present"));
        }
    }
    for pointer in &expect.absent {
        if let Some(v) = json.and_then(|j| j.pointer(pointer)) {
            let shown = if pointer.contains("token") {
                "<redacted>".to_owned()
            } else {
                v.to_string()
            };
            problems.push(format!("expected {pointer} to be absent, got {shown}"));
        }
    }
    for (header, needle) in &expect.header_contains {
        match response.header(header) {
            Some(v)
                if v.to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase()) => {}
            other => problems.push(format!(
                "expected header {header} containing '{needle}', got {}",
                other.map_or("nothing".into(), |v| format!("'{v}'"))
            )),
        }
    }
    for header in &expect.header_absent {
        if let Some(v) = response.header(header) {
            problems.push(format!("expected no {header} header, got '{v}'"));
        }
    }
    let challenge = response.header("www-authenticate");
    if let Some(scheme) = &expect.challenge_scheme {
        match challenge {
            Some(c) if challenge_scheme(c).eq_ignore_ascii_case(scheme) => {}
            other => problems.push(format!(
                "expected a WWW-Authenticate {scheme} challenge, got {}",
                other.map_or("none".into(), |v| format!("'{v}'"))
            )),
        }
    }
    if let Some(error) = &expect.challenge_error {
        let actual = challenge.and_then(|c| challenge_param(c, "error"));
        if actual.as_deref() != Some(error.as_str()) {
            problems.push(format!(
                "expected error=\"{error}\" in WWW-Authenticate, got {}",
                challenge.map_or("no challenge".into(), |v| format!("'{v}'"))
            ));
        }
    }
    let cx = Context {
        response,
        requested_scope: request.scope.as_deref(),
        vars: &state.vars,
        issuer: target.issuer.as_deref(),
        auth_scheme: request
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.split(' ').next().unwrap_or("")),
    };
    for check in &expect.checks {
        match check.get_ref().evaluate(&cx) {
            Verdict::Pass => {}
            Verdict::Fail(why) => problems.push(format!("{}: {why}", check.get_ref().name())),
            Verdict::NotApplicable(why) => {
                if problems.is_empty() {
                    return Some(Stop::Skipped(format!("{label}: {why}")));
                }
            }
            Verdict::Blocked(why) => {
                if problems.is_empty() {
                    return Some(Stop::Blocked(format!("{label}: {why}")));
                }
            }
        }
    }
    if problems.is_empty() {
        None
    } else {
        Some(Stop::Failed(format!("{label}: {}", problems.join("; "))))
    }
}

/// ` (error "x")` when the response is an OAuth error, to make status mismatches readable.
fn error_hint(response: &Response) -> String {
    response
        .json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .map(|e| format!(" (error \"{e}\")"))
        .unwrap_or_default()
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
    }
}
