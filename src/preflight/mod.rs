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

mod client_request;
mod endpoints;
mod jwt;
mod mtls;
mod token;

use crate::case::Role;
use crate::exchange::{Exchange, Redactor, RequestRecord, Response};
use crate::http::{exchange, BuiltRequest, Pacer, SendError};
use crate::settings::Settings;
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
    let mut probe = Probe::new(target, settings, http, &pacer);
    let Some((main, token)) = probe.first_token(target).await else {
        return probe.preflight;
    };
    // The main client as the preflight found it (DPoP-bound, say).
    let main = target.client(Role::Main).cloned().unwrap_or(main);
    probe.introspection(target, &main, &token).await;
    let second = probe.second_client(target).await;
    probe.jwt_clients(target).await;
    probe.mtls_clients(target).await;
    probe.resource(target, &main, &token).await;
    probe.revocation(target, &main, &token).await;
    if settings.profile == "fapi2" && !target.is_plain_http() {
        probe_tls(target, settings).await;
        for (origin, status, message) in tls_findings(&target.baseline.tls_probes) {
            probe.record(&format!("tls ({origin})"), status, message, Vec::new());
        }
    }
    if let (Some(second_token), Some(client)) = (second, target.client(Role::Second).cloned()) {
        // Leaves nothing behind: the second client's preflight token is revoked too.
        if let Some(url) = target.revocation_url.clone() {
            let _ = probe
                .post(target, &url, &client, &[("token", &second_token)], "revoke")
                .await;
        }
    }
    probe.preflight
}

/// The TLS probes of the token endpoint's origin, and of introspection's and the resource's
/// when they are other `https` origins (FAPI 2.0 §5.2.1 item 2, §5.2.2 item 1), kept in the
/// baseline for FAPI-009 and FAPI-010. A probe that cannot connect is recorded as such (its
/// case blocks): probing never ends the run.
pub async fn probe_tls(target: &mut Target, settings: &Settings) {
    let urls: Vec<&str> = [
        Some(target.token_url.as_str()),
        target.introspection_url.as_deref(),
        target.resource_url.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let timeout = settings
        .request_timeout
        .min(std::time::Duration::from_secs(10));
    target.baseline.tls_probes = crate::tls_probe::probe_all(&urls, timeout).await;
}

/// One finding per probed origin: what it answered to each probe (a note when it went on
/// with one, which FAPI-009 or FAPI-010 then fails, or when it could not be probed).
fn tls_findings(probes: &[crate::tls_probe::TlsProbe]) -> Vec<(String, Status, String)> {
    use crate::tls_probe::Answer;
    let mut origins: Vec<&str> = probes.iter().map(|p| p.origin.as_str()).collect();
    origins.dedup();
    origins
        .into_iter()
        .map(|origin| {
            let mine = probes.iter().filter(|p| p.origin == origin);
            let notable = mine.clone().any(|p| {
                matches!(
                    p.answer,
                    Answer::ServerHello { .. } | Answer::Unreachable(_)
                )
            });
            let answers: Vec<String> = mine
                .map(|p| format!("{}: {}", p.kind.describe(), p.answer.describe()))
                .collect();
            let status = if notable { Status::Note } else { Status::Ok };
            (origin.to_owned(), status, answers.join("; "))
        })
        .collect()
}

/// Only the main client's token, as [`run`] asks for it first: `load` checks so before any
/// load runs, so a target that is no token endpoint (or refuses the client) ends with what
/// came back and what to check, not with a run of errors.
pub async fn token_only(
    target: &mut Target,
    settings: &Settings,
    http: &reqwest::Client,
) -> Preflight {
    let pacer = Pacer::new(settings.pace);
    let mut probe = Probe::new(target, settings, http, &pacer);
    probe.first_token(target).await;
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

impl<'a> Probe<'a> {
    fn new(
        target: &Target,
        settings: &'a Settings,
        http: &'a reqwest::Client,
        pacer: &'a Pacer,
    ) -> Probe<'a> {
        let mut probe = Probe {
            settings,
            http,
            pacer,
            redactor: Redactor::default(),
            preflight: Preflight::default(),
        };
        for client in target.clients.values() {
            if let Some(secret) = &client.secret {
                probe.redactor.add(secret.expose());
            }
        }
        probe
    }

    /// The main client and its token, or the fatal finding that says why there is none.
    async fn first_token(&mut self, target: &mut Target) -> Option<(ClientCredentials, Issued)> {
        let Some(main) = target.client(Role::Main).cloned() else {
            self.record(
                "token",
                Status::Fatal,
                "no client to act as: give --client-id".into(),
                Vec::new(),
            );
            return None;
        };
        let token = self.main_token(target, &main).await?;
        Some((main, token))
    }

    fn record(&mut self, subject: &str, status: Status, message: String, ex: Vec<Exchange>) {
        self.preflight.findings.push(Finding {
            subject: subject.to_owned(),
            status,
            message: self.redactor.text(&message),
            exchanges: ex,
        });
    }

    /// Cases that act as `role` are skipped with `why`.
    fn client_unusable(
        &mut self,
        target: &mut Target,
        role: Role,
        subject: &str,
        why: String,
        ex: Vec<Exchange>,
    ) {
        target.baseline.unusable_clients.insert(role, why.clone());
        self.record(subject, Status::Unusable, why, ex);
    }

    /// Cases that call `endpoint` are skipped with `why`.
    fn endpoint_unusable(
        &mut self,
        target: &mut Target,
        endpoint: crate::case::Endpoint,
        subject: &str,
        why: String,
        ex: Vec<Exchange>,
    ) {
        target
            .baseline
            .unusable_endpoints
            .insert(endpoint, why.clone());
        self.record(subject, Status::Unusable, why, ex);
    }

    /// One request, redacted into an exchange; tokens in answers are remembered as secrets.
    async fn send(
        &mut self,
        request: BuiltRequest,
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        let http = self.http;
        self.send_via(http, request, step).await
    }

    /// [`Probe::send`] with another HTTP client (one that presents a client certificate).
    async fn send_via(
        &mut self,
        http: &reqwest::Client,
        request: BuiltRequest,
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        let sent = exchange(http, &request, self.settings, self.pacer);
        // The run's deadline bounds the preflight too, whatever --timeout is.
        let result = match self.settings.deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), sent)
                .await
                .unwrap_or_else(|_| {
                    Err(SendError::Transport(format!(
                        "{} before the answer came (--deadline)",
                        crate::runner::DEADLINE_REACHED
                    )))
                }),
            None => sent.await,
        };
        if let Ok(response) = &result {
            if let Some(token) = token::access_token(response) {
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
            race: None,
        };
        (result, exchange)
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
        let url = target.token_url.clone();
        self.post(target, &url, client, &form, step).await
    }
}

/// The longest `error_description` a preflight message quotes, in characters.
const MAX_DESCRIPTION: usize = 200;

/// A response in a few words, with the server's own `error_description` when it gave one
/// (`401 invalid_client ("Invalid claim: 'aud'")`): the cause, in the server's words.
fn answer(r: &Response) -> String {
    let description = r
        .json
        .as_ref()
        .and_then(|j| j.get("error_description"))
        .and_then(serde_json::Value::as_str)
        .map(|d| d.trim())
        .filter(|d| !d.is_empty());
    match description {
        Some(d) => {
            let shown: String = d
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_DESCRIPTION)
                .collect();
            let cut = if d.chars().count() > MAX_DESCRIPTION {
                "…"
            } else {
                ""
            };
            format!("{} (\"{shown}{cut}\")", r.brief())
        }
        None => r.brief(),
    }
}

#[cfg(test)]
mod tests {
    use super::{tls_findings, Status};
    use crate::tls_probe::{Answer, ProbeKind, TlsProbe};

    /// One finding per origin: ok when every probe was refused, a note when one went on or
    /// could not be made, with each probe's answer in words.
    #[test]
    fn tls_findings_are_one_per_origin() {
        let probe = |origin: &str, kind, answer| TlsProbe {
            origin: origin.into(),
            kind,
            answer,
        };
        let alert = Answer::Alert {
            level: 2,
            description: 70,
        };
        let probes = [
            probe("a:443", ProbeKind::Tls11, alert.clone()),
            probe("a:443", ProbeKind::Tls10, alert.clone()),
            probe("b:443", ProbeKind::Tls11, alert),
            probe(
                "b:443",
                ProbeKind::WeakTls12Suites,
                Answer::ServerHello {
                    version: 0x0303,
                    suite: 0xC013,
                },
            ),
            probe("c:443", ProbeKind::Tls10, Answer::Unreachable("no".into())),
        ];
        let found = tls_findings(&probes);
        let statuses: Vec<_> = found.iter().map(|(o, s, _)| (o.as_str(), *s)).collect();
        assert_eq!(
            statuses,
            [
                ("a:443", Status::Ok),
                ("b:443", Status::Note),
                ("c:443", Status::Note)
            ]
        );
        assert!(
            found[0].2.contains("protocol_version (70)"),
            "{}",
            found[0].2
        );
        assert!(
            found[1]
                .2
                .contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA (0xC013)"),
            "{}",
            found[1].2
        );
    }
}
