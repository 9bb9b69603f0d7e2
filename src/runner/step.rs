//! One step: its client and URL, the expiry wait, the request sent and recorded (redacted),
//! what a setup step must give, the captures, then the judging of its expectations.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::judge::judge;
use super::race::{self, RaceTry};
use super::request::{build_request, cleartext_url, endpoint_url, step_role};
use super::state::CaseState;
use super::{Run, Settings, Stop, DEADLINE_REACHED};
use crate::case::{Endpoint, Role, Step};
use crate::checks::RaceAnswers;
use crate::exchange::{Exchange, Redactor, RequestRecord, Response};
use crate::http::{exchange, BuiltRequest, SendError};
use crate::jose::AssertionBuilder;

/// The variable holding the `jti` of the case's last client assertion.
const ASSERTION_JTI: &str = "assertion.jti";

/// Set (to `yes`) once the resource answered with a `DPoP-Nonce` of its own.
const RESOURCE_NONCE: &str = "resource_dpop_nonce";

impl Run<'_> {
    pub(super) async fn step(&self, step: &Step, io: &mut StepIo<'_>) -> Option<Stop> {
        let (target, settings) = (self.target, self.settings);
        let label = io.label;
        let role = step_role(step);
        let Some(client) = target.client(role) else {
            return Some(Stop::Skipped(format!(
                "not configured for this run: no '{}' client",
                role.as_str()
            )));
        };
        // A step that leaves the authentication to the client authenticates as it does: a
        // mutual-TLS client presents its certificate (also where its bound token is used).
        let own_auth = step.auth.is_none()
            && step.id.is_none()
            && step.secret.is_none()
            && (step.authorization.is_none() || step.endpoint == Endpoint::Resource);
        let cert = step
            .cert
            .or_else(|| own_auth.then(|| client.method.cert()).flatten());
        // RFC 8705: the client that presents the certificate, if any.
        let http = match (cert, &target.mtls) {
            (None | Some(crate::mtls::Cert::None), _) => self.http,
            (Some(cert), Some(mtls)) => match mtls.client(cert) {
                Some(client) => client,
                None => {
                    return Some(Stop::Skipped(format!(
                        "the run has no '{}' client certificate",
                        cert.as_str()
                    )))
                }
            },
            (Some(_), None) => {
                return Some(Stop::Skipped("the run has no client certificate".into()))
            }
        };
        // A DPoP-bound client (RFC 9449 §5.2) sends a fresh proof with every token request,
        // unless the step is about that client's proofs (`client = "dpop_bound"`).
        let implicit_proof = client.dpop_bound
            && step.dpop.is_none()
            && !step.no_dpop
            && step.endpoint == Endpoint::Token
            && step.client != Some(Role::DpopBound);
        let dpop_flaw = step
            .dpop
            .or(implicit_proof.then_some(crate::jose::DpopFlaw::None));
        if step.endpoint == Endpoint::Resource && presents_bound_token(step, io.state) {
            return Some(Stop::Skipped(format!(
                "{label}: the client ({}) is DPoP-bound, so its token is not a bearer token (RFC 9449 §7.1) and RFC 6750's bearer use cannot be tested with it; the dpop cases judge the resource",
                client.id
            )));
        }
        let Some(mut base_url) = endpoint_url(target, step.endpoint) else {
            return Some(Stop::Skipped(format!(
                "no {} endpoint for this run: the target's metadata names none and none was given",
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
            let notify = |wait| (self.on_wait)(io.case_id, wait);
            if let Some(stop) = wait_for_expiry(label, settings, state, notify).await {
                return Some(stop);
            }
        }

        // The preflight's scope is the main client's; the short-lived client, the client
        // registered for DPoP and the JWT clients stand in for it (they are the client under
        // test authenticating another way). Other clients may not have that scope.
        let scope = target.baseline.token_scope.as_deref().filter(|_| {
            matches!(
                role,
                Role::Main | Role::Short | Role::DpopBound | Role::KeyJwt | Role::SecretJwt
            )
        });
        // The step client's assertions; a case's steps share the last jti (the replay flaw).
        let mut assertions = client.jwt_key.as_ref().map(|key| {
            AssertionBuilder::new(key.clone(), &client.id, target.assertion_aud())
                .with_token_endpoint(&target.token_url)
                .with_last_jti(state.vars.get(ASSERTION_JTI).cloned())
        });
        let redactor = &mut *io.redactor;
        let copies = step.parallel.and_then(|p| p.copies(settings.race_width));
        if step.each_raced_token {
            let Some(first) = state.races.tokens.first().cloned() else {
                return Some(Stop::Blocked(format!(
                    "{label}: no earlier race of the case was issued a token to send"
                )));
            };
            state.vars.insert(race::RACED_TOKEN.into(), first);
        }
        // A race (or a step per raced token): every answer, for the set checks.
        let mut set: Option<Vec<Response>> = None;
        let (mut race_tries, mut narrowest) = (0, Duration::MAX);
        // At most two attempts: the second with the DPoP nonce the first answer asked for.
        let mut first_attempt = true;
        let (request, mut record, response) = loop {
            // Built anew for the resend: a server may have spent the first assertion's
            // `jti` before it looked at the proof, so the retry carries a fresh one.
            let built = build_request(
                step,
                client.method,
                &base_url,
                &state.vars,
                scope,
                assertions.as_mut(),
            );
            if let Some(jti) = assertions.as_ref().and_then(|a| a.last_jti()) {
                state.vars.insert(ASSERTION_JTI.into(), jti.to_owned());
            }
            let mut request = match built {
                Ok(r) => r,
                Err(e) => return Some(super::template_stop(label, e)),
            };
            if let Some(stop) = super::dpop::attach(step, dpop_flaw, &mut request, target, state) {
                return Some(stop);
            }
            // A proof is a credential for its request: wherever an answer echoes it, it reads
            // <redacted> (the header itself always does).
            for (name, value) in &request.headers {
                if name == "dpop" {
                    redactor.add(value);
                }
            }
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
            if settings.deadline.is_some_and(|d| Instant::now() >= d) {
                return Some(Stop::Errored(format!(
                    "{label}: {DEADLINE_REACHED} before this step (--deadline)"
                )));
            }
            let sent = if let Some(copies) = copies {
                // The same bytes on every connection, or (`fresh_copies`) each copy built
                // anew, with its own assertion and proof.
                let mut all = vec![request.clone()];
                let more_copies = if step.fresh_copies { copies - 1 } else { 0 };
                for _ in 0..more_copies {
                    let built = build_request(
                        step,
                        client.method,
                        &base_url,
                        &state.vars,
                        scope,
                        assertions.as_mut(),
                    );
                    let mut more = match built {
                        Ok(r) => r,
                        Err(e) => return Some(super::template_stop(label, e)),
                    };
                    let attached = super::dpop::attach(step, dpop_flaw, &mut more, target, state);
                    if let Some(stop) = attached {
                        return Some(stop);
                    }
                    for (_, proof) in more.headers.iter().filter(|(n, _)| n == "dpop") {
                        redactor.add(proof);
                    }
                    all.push(more);
                }
                let tried = (&all[..], &record);
                match self
                    .race_once(step, tried, copies, cert, state, label)
                    .await
                {
                    RaceTry::Answered(answers) => {
                        let shown = answers[race::representative(&answers)].clone();
                        set = Some(answers);
                        Some(Ok(shown))
                    }
                    RaceTry::TooWide(spread) => {
                        race_tries += 1;
                        narrowest = narrowest.min(spread);
                        if race_tries < crate::settings::RACE_TRIES {
                            tokio::time::sleep(race::backoff(race_tries)).await;
                            continue;
                        }
                        return Some(race::not_conclusive(narrowest, settings));
                    }
                    RaceTry::Background => return None,
                    RaceTry::Failed(e) => Some(Err(SendError::Transport(e))),
                }
            } else if let Some(attempts) = step.probe_throttle {
                match self.probe_throttle(http, &request, attempts, state).await {
                    Ok(answer) => Some(Ok(answer)),
                    Err(stop) => return Some(stop),
                }
            } else if step.each_node {
                let build = |state: &CaseState, url: &str| {
                    let vars = &state.vars;
                    let jwt = assertions.as_mut();
                    build_request(step, client.method, url, vars, scope, jwt)
                        .map_err(|e| super::template_stop(label, e))
                };
                match self.each_node(http, step, &base_url, state, build).await {
                    Ok(answers) => {
                        let i = race::representative(&answers);
                        // The copy shown went to that node: its URL is the node's.
                        if let Some(url) = self
                            .target
                            .nodes
                            .get(i)
                            .and_then(|node| crate::target::on_node(&request.url, node))
                        {
                            record.url = redactor.text(&url);
                        }
                        let shown = answers[i].clone();
                        set = Some(answers);
                        Some(Ok(shown))
                    }
                    Err(stop) => return Some(stop),
                }
            } else if step.each_raced_token {
                let build = |state: &CaseState| {
                    let vars = &state.vars;
                    let jwt = assertions.as_mut();
                    build_request(step, client.method, &base_url, vars, scope, jwt)
                        .map_err(|e| super::template_stop(label, e))
                };
                match self.each_raced_token(http, state, build).await {
                    Ok(answers) => {
                        let shown = answers[race::representative(&answers)].clone();
                        set = Some(answers);
                        Some(Ok(shown))
                    }
                    Err(stop) => return Some(stop),
                }
            } else {
                // The run's deadline cuts a request short: a target that stops answering
                // costs no more than the deadline, whatever --timeout is.
                match settings.deadline {
                    Some(deadline) => tokio::time::timeout_at(
                        deadline.into(),
                        exchange(http, &request, settings, self.pacer),
                    )
                    .await
                    .ok(),
                    None => Some(exchange(http, &request, settings, self.pacer).await),
                }
            };
            let Some(sent) = sent else {
                io.exchanges.push(Exchange {
                    step: label.into(),
                    request: record,
                    response: None,
                    error: Some(format!("{DEADLINE_REACHED} before the answer came")),
                    race: None,
                });
                return Some(Stop::Errored(format!(
                    "{label}: {DEADLINE_REACHED} before the answer came (--deadline)"
                )));
            };
            let response = match sent {
                Ok(r) => r,
                Err(error) => {
                    let (SendError::Transport(e) | SendError::RateLimited(e)) = &error;
                    io.exchanges.push(Exchange {
                        step: label.into(),
                        request: record,
                        response: None,
                        error: Some(e.clone()),
                        race: None,
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
            // RFC 9449 §9: the resource gave a nonce of its own (a premise of the cases
            // about resource nonces).
            if step.endpoint == Endpoint::Resource && response.header("dpop-nonce").is_some() {
                state.vars.insert(RESOURCE_NONCE.into(), "yes".into());
            }
            if super::dpop::resend_with_nonce(dpop_flaw, step.endpoint, &response, state)
                && first_attempt
                && !step.no_nonce_retry
            {
                first_attempt = false;
                io.exchanges.push(Exchange {
                    step: format!("{label} (before the server's DPoP nonce)"),
                    request: record,
                    response: Some(redactor.response(&response)),
                    error: None,
                    race: set.take().map(|answers| {
                        race::record(&answers, copies.is_some(), step.each_node, state)
                    }),
                });
                continue;
            }
            break (request, record, response);
        };
        if let Some(answers) = &set {
            race::keep_tokens(step.endpoint, answers, state, redactor);
        }
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
                state.implicit_dpop_token = implicit_proof;
            }
        }
        io.exchanges.push(Exchange {
            step: label.into(),
            request: record,
            response: Some(redactor.response(&response)),
            error: None,
            race: set
                .as_ref()
                .map(|answers| race::record(answers, copies.is_some(), step.each_node, state)),
        });
        race::collect_background(state, io.exchanges).await;
        if step.setup {
            if let Some(missing) = setup_shortfall(step, &response) {
                return Some(Stop::Blocked(format!(
                    "setup step '{label}' needed {missing}, got {}",
                    response.brief()
                )));
            }
        }
        for (name, pointer) in &step.capture {
            // `@accepted`: `yes` for a 2xx, `no` otherwise (a premise some cases test).
            let accepted = Value::from(if (200..300).contains(&response.status) {
                "yes"
            } else {
                "no"
            });
            let found = match pointer.as_str() {
                "@accepted" => Some(&accepted),
                _ => response.json.as_ref().and_then(|j| j.pointer(pointer)),
            };
            match found {
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
        let race = set.as_deref().map(|answers| RaceAnswers {
            answers,
            issues_tokens: step.endpoint == Endpoint::Token,
            max_guesses: settings.max_parallel_guesses,
        });
        let sent = (&request, &response);
        let verdict = judge(step, label, sent, race.as_ref(), target, state);
        match verdict {
            // A setup step's own expectations prepare the case; they judge nothing.
            Some(Stop::Failed(why)) if step.setup => Some(Stop::Blocked(why)),
            other => other,
        }
    }
}

/// The step presents the case's token in an `Authorization` header (as a bearer token,
/// whatever the scheme's spelling) and that token is bound to the DPoP key of a client the
/// case did not choose for its proofs.
fn presents_bound_token(step: &Step, state: &CaseState) -> bool {
    let Some(token) = state
        .vars
        .get("access_token")
        .filter(|_| state.implicit_dpop_token)
    else {
        return false;
    };
    [&step.bearer, &step.authorization]
        .into_iter()
        .flatten()
        .filter_map(|template| crate::template::expand(template, &state.vars).ok())
        .any(|value| value.contains(token.as_str()))
}

/// The mutable parts of a case's run that a step reads and extends.
pub(super) struct StepIo<'a> {
    pub case_id: &'a str,
    pub label: &'a str,
    pub redactor: &'a mut Redactor,
    pub state: &'a mut CaseState,
    pub exchanges: &'a mut Vec<Exchange>,
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
async fn wait_for_expiry(
    label: &str,
    settings: &Settings,
    state: &CaseState,
    notify: impl Fn(Duration),
) -> Option<Stop> {
    let lifetime = state
        .vars
        .get("expires_in")
        .and_then(|v| v.parse::<u64>().ok());
    let (Some(lifetime), Some(issued)) = (lifetime, state.issued) else {
        return Some(no_expiry_to_wait_for(label, state));
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
            "{label}: {DEADLINE_REACHED}: waiting for the token to expire would pass it (--deadline)"
        )));
    }
    notify(expired.saturating_duration_since(Instant::now()));
    tokio::time::sleep_until(expired.into()).await;
    None
}

/// Why a step that waits for the token to expire cannot: a missing prerequisite, never a
/// harness error. An `expires_in` that is not a number blocks (RESP-006 judges it); none at
/// all skips, since RFC 6749 §5.1 only RECOMMENDS it: the premise, a known lifetime, is
/// absent.
fn no_expiry_to_wait_for(label: &str, state: &CaseState) -> Stop {
    match (&state.unusable_expires_in, state.issued) {
        (_, None) => Stop::Blocked(format!(
            "{label}: no earlier step obtained a token whose expiry to wait for"
        )),
        (Some(shown), Some(_)) => Stop::Blocked(format!(
            "{label}: the token response's expires_in is {shown}, not a number of seconds, so there is no expiry to wait for"
        )),
        (None, Some(_)) => Stop::Skipped(format!(
            "{label}: the token response has no expires_in (RFC 6749 §5.1: RECOMMENDED, not required), so there is no known expiry to wait for"
        )),
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
    let expires_in = json.and_then(|j| j.get("expires_in"));
    state.unusable_expires_in = expires_in
        .filter(|v| v.as_u64().is_none())
        .map(Value::to_string);
    let vars = &mut state.vars;
    match expires_in.and_then(Value::as_u64) {
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
