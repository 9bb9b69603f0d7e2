//! The preflight: before any case, establish the baseline the cases build on and tell
//! configuration errors from server errors.
//!
//! It asks for one token as the main client, exactly as configured; when the target
//! refuses that and a scope is known, it asks again with the scope and from then on every
//! case that needs "a token" (and is not about scope) sends it. It then checks the
//! introspection caller, the second client, the resource and revocation the same way. A
//! main client that cannot get a token ends the run before any verdict (exit 3) with what
//! came back and what to check; a secondary credential or endpoint that fails skips the
//! cases that need it, with the reason.

use serde::Serialize;
use serde_json::Value;

use crate::exchange::{Exchange, Redactor, RequestRecord, Response};
use crate::http::{describe_response, exchange, BuiltRequest, Pacer, SendError};
use crate::runner::Settings;
use crate::scenario::{Endpoint, Role};
use crate::target::{ClientCredentials, Target};

/// Scopes from the metadata tried at most, when none was given and one seems needed.
const MAX_SCOPES_TRIED: usize = 5;

/// How one preflight check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// It worked as configured.
    Ok,
    /// It worked after an adjustment the cases now use (a scope).
    Adjusted,
    /// It did not work: the cases that need it are skipped with the reason.
    Unusable,
    /// Worth knowing, judged by a case later (a fresh token introspected inactive).
    Note,
    /// The main client cannot get a token: no verdict is possible.
    Fatal,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Adjusted => "adjusted",
            Status::Unusable => "unusable",
            Status::Note => "note",
            Status::Fatal => "fatal",
        }
    }
}

/// One thing the preflight established.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked: `token (myClient)`, `introspection (rs-client)`, …
    pub subject: String,
    pub status: Status,
    pub message: String,
    pub exchanges: Vec<Exchange>,
}

/// Everything the preflight found, for the terminal and every report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Preflight {
    pub findings: Vec<Finding>,
}

impl Preflight {
    /// The reason no verdict is possible, when the main client could not get a token.
    pub fn fatal(&self) -> Option<&str> {
        self.findings
            .iter()
            .find(|f| f.status == Status::Fatal)
            .map(|f| f.message.as_str())
    }
}

/// Runs the preflight against `target` and records what the cases build on in
/// `target.baseline`.
pub async fn run(target: &mut Target, settings: &Settings, http: &reqwest::Client) -> Preflight {
    let pacer = Pacer::new(settings.pace);
    let mut probe = Probe {
        settings,
        http,
        pacer: &pacer,
        redactor: Redactor::default(),
        preflight: Preflight::default(),
    };
    for client in target.clients.values() {
        if let Some(secret) = &client.secret {
            probe.redactor.add(secret.expose());
        }
    }
    let Some(main) = target.client(Role::Main).cloned() else {
        probe.record(
            "token",
            Status::Fatal,
            "no client to act as: give --client-id".into(),
            Vec::new(),
        );
        return probe.preflight;
    };
    let Some(token) = probe.main_token(target, &main).await else {
        return probe.preflight;
    };
    probe.introspection(target, &main, &token).await;
    let second = probe.second_client(target).await;
    probe.resource(target, &token).await;
    probe.revocation(target, &main, &token).await;
    if let (Some(second_token), Some(client)) = (second, target.client(Role::Second).cloned()) {
        // Leaves nothing behind: the second client's preflight token is revoked too.
        if let Some(url) = target.revocation_url.clone() {
            let _ = probe
                .post(&url, &client, &[("token", &second_token)], "revoke")
                .await;
        }
    }
    probe.preflight
}

/// A token the preflight obtained.
struct Issued {
    token: String,
    /// The scope it carries as far as the token response tells (reported or requested).
    scope: Option<String>,
}

struct Probe<'a> {
    settings: &'a Settings,
    http: &'a reqwest::Client,
    pacer: &'a Pacer,
    redactor: Redactor,
    preflight: Preflight,
}

impl Probe<'_> {
    fn record(&mut self, subject: &str, status: Status, message: String, ex: Vec<Exchange>) {
        self.preflight.findings.push(Finding {
            subject: subject.to_owned(),
            status,
            message: self.redactor.text(&message),
            exchanges: ex,
        });
    }

    /// One request, redacted into an exchange; tokens in answers are remembered as secrets.
    async fn send(
        &mut self,
        request: BuiltRequest,
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        let result = exchange(self.http, &request, self.settings, self.pacer).await;
        if let Ok(response) = &result {
            if let Some(token) = access_token(response) {
                self.redactor.add(token);
            }
        }
        let record = RequestRecord {
            method: request.method.to_string(),
            url: self.redactor.text(&request.url),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (n.clone(), self.redactor.header(n, v)))
                .collect(),
            body: self.redactor.form(&request.body),
        };
        let exchange = Exchange {
            step: step.to_owned(),
            request: record,
            response: result.as_ref().ok().map(|r| self.redactor.response(r)),
            error: result.as_ref().err().map(|e| match e {
                SendError::Transport(e) | SendError::RateLimited(e) => e.clone(),
            }),
        };
        (result, exchange)
    }

    /// A form POST authenticated with HTTP Basic (RFC 6749 §2.3.1, Appendix B).
    async fn post(
        &mut self,
        url: &str,
        client: &ClientCredentials,
        form: &[(&str, &str)],
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        use base64::Engine;
        let encode =
            |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
        let secret = client.secret.as_ref().map_or("", |s| s.expose());
        let pair = format!("{}:{}", encode(&client.id), encode(secret));
        let basic = base64::engine::general_purpose::STANDARD.encode(pair);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = BuiltRequest {
            method: reqwest::Method::POST,
            url: url.to_owned(),
            headers: vec![
                ("authorization".into(), format!("Basic {basic}")),
                (
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ),
            ],
            body,
            scope: None,
        };
        self.send(request, step).await
    }

    async fn token(
        &mut self,
        target: &Target,
        client: &ClientCredentials,
        scope: Option<&str>,
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        self.post(&target.token_url, client, &form, step).await
    }

    /// The main client's token, as configured, then with a scope if the target wants one.
    async fn main_token(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
    ) -> Option<Issued> {
        let subject = format!("token ({})", main.id);
        let url = target.token_url.clone();
        let (result, first) = self
            .token(target, main, None, "token request as configured")
            .await;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let message = unreachable_message(&url, &e);
                self.record(&subject, Status::Fatal, message, vec![first]);
                return None;
            }
        };
        if let Some(token) = access_token(&response) {
            let scope = response_scope(&response, None);
            let token = token.to_owned();
            self.record(
                &subject,
                Status::Ok,
                format!("{} got a token from {url}", main.id),
                vec![first],
            );
            return Some(Issued { token, scope });
        }
        // The user's usual scope, else a few the metadata advertises.
        let candidates: Vec<String> = match target.scopes.first() {
            Some(scope) => vec![scope.clone()],
            None => target
                .advertised_scopes
                .iter()
                .take(MAX_SCOPES_TRIED)
                .cloned()
                .collect(),
        };
        if !may_want_scope(&response) {
            let mut message = refusal_message(&main.id, &url, &response);
            let mut exchanges = vec![first];
            if is_client_auth_failure(&response) {
                if let Some(note) = self.post_diagnosis(target, main).await {
                    message.push_str(&note.0);
                    exchanges.push(note.1);
                }
            }
            self.record(&subject, Status::Fatal, message, exchanges);
            return None;
        }
        let mut exchanges = vec![first];
        let mut answers = Vec::new();
        for scope in &candidates {
            let (result, ex) = self
                .token(target, main, Some(scope), "token request with scope")
                .await;
            exchanges.push(ex);
            match result {
                Ok(r) if access_token(&r).is_some() => {
                    let token = access_token(&r).unwrap_or_default().to_owned();
                    let scope_held = response_scope(&r, Some(scope));
                    target.baseline.token_scope = Some(scope.clone());
                    self.record(
                        &subject,
                        Status::Adjusted,
                        format!(
                            "{url} refused a token request without scope ({}) and issued one with scope={scope}: cases that need a token send scope={scope}; cases about scope send exactly what they say",
                            describe_response(&response)
                        ),
                        exchanges,
                    );
                    return Some(Issued {
                        token,
                        scope: scope_held,
                    });
                }
                Ok(r) => answers.push(format!("scope={scope}: {}", describe_response(&r))),
                Err(e) => {
                    let message = unreachable_message(&url, &e);
                    self.record(&subject, Status::Fatal, message, exchanges);
                    return None;
                }
            }
        }
        let advice = if target.scopes.is_empty() {
            "the server may require a scope: pass --scope SCOPE"
        } else {
            "check the scope (--scope) and the client's registration"
        };
        let tried = if answers.is_empty() {
            String::new()
        } else {
            format!(
                " (tried {}{})",
                answers.join(", "),
                if target.scopes.is_empty() {
                    " from the metadata's scopes_supported"
                } else {
                    ""
                }
            )
        };
        let message = format!(
            "{} got {} from {url} without a scope{tried}: {advice}",
            main.id,
            describe_response(&response)
        );
        self.record(&subject, Status::Fatal, message, exchanges);
        None
    }

    /// After Basic was refused: does `client_secret_post` work? Then the credentials are
    /// right and the server does not take HTTP Basic, which RFC 6749 §2.3.1 requires.
    async fn post_diagnosis(
        &mut self,
        target: &Target,
        main: &ClientCredentials,
    ) -> Option<(String, Exchange)> {
        let secret = main.secret.as_ref()?.expose().to_owned();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("client_id", main.id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .finish();
        let request = BuiltRequest {
            method: reqwest::Method::POST,
            url: target.token_url.clone(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body,
            scope: None,
        };
        let (result, ex) = self
            .send(request, "token request with client_secret_post")
            .await;
        let works = result.as_ref().is_ok_and(|r| access_token(r).is_some());
        works.then(|| {
            (
                " (the same credentials in the body, client_secret_post, got a token: the server does not accept HTTP Basic, which RFC 6749 §2.3.1 requires it to support)".to_owned(),
                ex,
            )
        })
    }

    async fn introspection(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
        token: &Issued,
    ) {
        let Some(url) = target.introspection_url.clone() else {
            return;
        };
        let Some(caller) = target.client(Role::Introspector).cloned() else {
            return;
        };
        let subject = format!("introspection ({})", caller.id);
        let mut exchanges = Vec::new();
        // A token that carries a scope tells whether introspection reports scope.
        let mut probe_token = token.token.clone();
        let mut probe_scope = token.scope.clone();
        if probe_scope.is_none() {
            if let Some(scope) = target.scopes.first().cloned() {
                let (result, ex) = self
                    .token(target, main, Some(&scope), "token with a scope")
                    .await;
                exchanges.push(ex);
                if let Ok(r) = result {
                    if let Some(t) = access_token(&r) {
                        probe_token = t.to_owned();
                        probe_scope = response_scope(&r, Some(&scope));
                    }
                }
            }
        }
        let (result, ex) = self
            .post(&url, &caller, &[("token", &probe_token)], "introspect")
            .await;
        exchanges.push(ex);
        let response = match result {
            Ok(r) => r,
            Err(SendError::Transport(e)) => {
                let why = format!("introspection endpoint {url} did not answer: {e}");
                target
                    .baseline
                    .unusable_endpoints
                    .insert(Endpoint::Introspection, why.clone());
                return self.record(&subject, Status::Unusable, why, exchanges);
            }
            Err(SendError::RateLimited(e)) => {
                return self.record(&subject, Status::Note, e, exchanges);
            }
        };
        let active = response
            .json
            .as_ref()
            .and_then(|j| j.get("active"))
            .and_then(Value::as_bool);
        let same_as_main = caller.id == main.id;
        match (response.status, active) {
            (200, Some(true)) => {
                let reports = response.json.as_ref().and_then(|j| j.get("scope")).is_some();
                if probe_scope.as_deref().is_some_and(|s| !s.is_empty()) {
                    target.baseline.introspection_reports_scope = Some(reports);
                }
                self.record(
                    &subject,
                    Status::Ok,
                    format!("{} introspects a fresh token as active at {url}", caller.id),
                    exchanges,
                );
            }
            (200, Some(false)) => self.record(
                &subject,
                Status::Note,
                format!("{url} says a fresh token is inactive (INTRO-001 judges this)"),
                exchanges,
            ),
            (404 | 405, _) => {
                let why = format!(
                    "introspection endpoint {url} answered {}: check --introspection-url",
                    describe_response(&response)
                );
                target
                    .baseline
                    .unusable_endpoints
                    .insert(Endpoint::Introspection, why.clone());
                self.record(&subject, Status::Unusable, why, exchanges);
            }
            _ if is_client_auth_failure(&response) || response.status == 403 => {
                let advice = if same_as_main {
                    "the main client may not be allowed to introspect: give the resource server's client with --introspect-client-id/--introspect-client-secret".to_owned()
                } else {
                    "check --introspect-client-id/--introspect-client-secret (or GRANTCHECK_INTROSPECT_CLIENT_SECRET)".to_owned()
                };
                let why = format!(
                    "{} got {} from the introspection endpoint {url}: {advice}",
                    caller.id,
                    describe_response(&response)
                );
                target
                    .baseline
                    .unusable_clients
                    .insert(Role::Introspector, why.clone());
                self.record(&subject, Status::Unusable, why, exchanges);
            }
            _ => self.record(
                &subject,
                Status::Note,
                format!(
                    "{url} answered {} to introspecting a fresh token (the introspection cases judge this)",
                    describe_response(&response)
                ),
                exchanges,
            ),
        }
    }

    /// The second client's token, in the shape that works; its token, for clean-up.
    async fn second_client(&mut self, target: &mut Target) -> Option<String> {
        let second = target.clients.get(&Role::Second).cloned()?;
        let subject = format!("token ({})", second.id);
        let scope = target.baseline.token_scope.clone();
        let (result, ex) = self
            .token(target, &second, scope.as_deref(), "token request")
            .await;
        match result {
            Ok(r) if access_token(&r).is_some() => {
                self.record(
                    &subject,
                    Status::Ok,
                    format!("{} got a token", second.id),
                    vec![ex],
                );
                access_token(&r).map(str::to_owned)
            }
            // Anything but a failed authentication means the credentials were accepted
            // (a scope this client may not have, say): the cases only need it to act.
            Ok(r) if !is_client_auth_failure(&r) && r.status != 403 => {
                self.record(
                    &subject,
                    Status::Ok,
                    format!(
                        "{} authenticated (the token request got {})",
                        second.id,
                        describe_response(&r)
                    ),
                    vec![ex],
                );
                None
            }
            Ok(r) => {
                let advice = if is_client_auth_failure(&r) {
                    ": check --second-client-id/--second-client-secret (or GRANTCHECK_SECOND_CLIENT_SECRET)"
                } else {
                    ""
                };
                let why = format!(
                    "the second client {} got {} from {}{advice}",
                    second.id,
                    describe_response(&r),
                    target.token_url
                );
                target
                    .baseline
                    .unusable_clients
                    .insert(Role::Second, why.clone());
                self.record(&subject, Status::Unusable, why, vec![ex]);
                None
            }
            Err(SendError::Transport(e) | SendError::RateLimited(e)) => {
                let why = format!("the second client's token request failed: {e}");
                target
                    .baseline
                    .unusable_clients
                    .insert(Role::Second, why.clone());
                self.record(&subject, Status::Unusable, why, vec![ex]);
                None
            }
        }
    }

    async fn resource(&mut self, target: &mut Target, token: &Issued) {
        let Some(url) = target.resource_url.clone() else {
            return;
        };
        let request = BuiltRequest {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers: vec![("authorization".into(), format!("Bearer {}", token.token))],
            body: String::new(),
            scope: None,
        };
        let (result, ex) = self.send(request, "call the resource").await;
        let unusable = match &result {
            Err(SendError::Transport(e)) => Some(format!("the resource {url} did not answer: {e}")),
            Ok(r) if matches!(r.status, 404 | 405) => Some(format!(
                "the resource {url} answered {}: check --resource-url",
                describe_response(r)
            )),
            _ => None,
        };
        match (unusable, result) {
            (Some(why), _) => {
                target
                    .baseline
                    .unusable_endpoints
                    .insert(Endpoint::Resource, why.clone());
                self.record("resource", Status::Unusable, why, vec![ex]);
            }
            (None, Ok(r)) => self.record(
                "resource",
                Status::Ok,
                format!("{url} answered {} to a fresh token", describe_response(&r)),
                vec![ex],
            ),
            (None, Err(e)) => {
                let (SendError::Transport(e) | SendError::RateLimited(e)) = e;
                self.record("resource", Status::Note, e, vec![ex]);
            }
        }
    }

    /// Revokes the preflight's token: checks the endpoint answers, and leaves nothing active.
    async fn revocation(&mut self, target: &mut Target, main: &ClientCredentials, token: &Issued) {
        let Some(url) = target.revocation_url.clone() else {
            return;
        };
        let (result, ex) = self
            .post(&url, main, &[("token", &token.token)], "revoke")
            .await;
        let unusable = match &result {
            Err(SendError::Transport(e)) => {
                Some(format!("revocation endpoint {url} did not answer: {e}"))
            }
            Ok(r) if matches!(r.status, 404 | 405) => Some(format!(
                "revocation endpoint {url} answered {}: check --revocation-url",
                describe_response(r)
            )),
            _ => None,
        };
        match (unusable, result) {
            (Some(why), _) => {
                target
                    .baseline
                    .unusable_endpoints
                    .insert(Endpoint::Revocation, why.clone());
                self.record("revocation", Status::Unusable, why, vec![ex]);
            }
            (None, Ok(r)) if (200..300).contains(&r.status) => self.record(
                "revocation",
                Status::Ok,
                format!("{url} revoked the preflight's token"),
                vec![ex],
            ),
            (None, Ok(r)) => self.record(
                "revocation",
                Status::Note,
                format!(
                    "{url} answered {} to revoking the client's own token (the revocation cases judge this)",
                    describe_response(&r)
                ),
                vec![ex],
            ),
            (None, Err(e)) => {
                let (SendError::Transport(e) | SendError::RateLimited(e)) = e;
                self.record("revocation", Status::Note, e, vec![ex]);
            }
        }
    }
}

fn access_token(r: &Response) -> Option<&str> {
    if !(200..300).contains(&r.status) {
        return None;
    }
    r.json.as_ref()?.get("access_token")?.as_str()
}

/// The scope a token response says the token carries: `scope`, else what was requested.
fn response_scope(r: &Response, requested: Option<&str>) -> Option<String> {
    r.json
        .as_ref()
        .and_then(|j| j.get("scope"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(requested.map(str::to_owned))
}

fn error_code(r: &Response) -> Option<&str> {
    r.json.as_ref()?.get("error")?.as_str()
}

/// A failed client authentication: 401, or `invalid_client` (RFC 6749 §5.2).
fn is_client_auth_failure(r: &Response) -> bool {
    r.status == 401 || error_code(r) == Some("invalid_client")
}

/// A refusal that asking with a scope may cure: `invalid_scope`, a 403, or an
/// `invalid_request` that names the scope. Client authentication failures are not.
fn may_want_scope(r: &Response) -> bool {
    if is_client_auth_failure(r) {
        return false;
    }
    let mentions_scope = r
        .json
        .as_ref()
        .and_then(|j| j.get("error_description"))
        .and_then(Value::as_str)
        .is_some_and(|d| d.to_ascii_lowercase().contains("scope"));
    match error_code(r) {
        Some("invalid_scope") => true,
        Some("invalid_request") => mentions_scope,
        _ => r.status == 403,
    }
}

/// What came back and what to check, for a main client that got no token.
fn refusal_message(id: &str, url: &str, r: &Response) -> String {
    let got = describe_response(r);
    let advice = if is_client_auth_failure(r) {
        "check --client-id/--client-secret (or GRANTCHECK_CLIENT_SECRET)"
    } else if matches!(r.status, 404 | 405) {
        "check --token-url (or the issuer's metadata)"
    } else if (200..300).contains(&r.status) {
        "no access_token in it: is it a token endpoint? check --token-url"
    } else if r.status >= 500 {
        "the server failed; see its logs"
    } else if error_code(r) == Some("unauthorized_client") {
        "check that the client may use the client_credentials grant"
    } else {
        "check the client's registration and --scope"
    };
    format!("{id} got {got} from {url}: {advice}")
}

fn unreachable_message(url: &str, e: &SendError) -> String {
    match e {
        SendError::Transport(e) => format!("the token endpoint {url} did not answer: {e}"),
        SendError::RateLimited(e) => format!(
            "{e} at {url}: wait and run again, or pass --pace SECS (and a larger --max-wait)"
        ),
    }
}
