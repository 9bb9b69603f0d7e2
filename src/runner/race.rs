//! A race step (`parallel = N`): the step's request, built once, sent as N copies released
//! together by `http::race`; a race whose release spread is over `--race-spread` is built
//! and sent again (fresh assertion and proof: the copies of the last one were used), at most
//! `RACE_TRIES` times, then the case is not conclusive (blocked), never passed. Also the
//! copies sent in the background across later steps, and a step sent once per raced token.

use std::sync::Arc;
use std::time::Duration;

use super::state::CaseState;
use super::{Run, Settings, Stop};
use crate::case::{Endpoint, Step};
use crate::exchange::{Exchange, RaceRecord, Redactor, RequestRecord, Response};
use crate::http::race::arm;
use crate::http::BuiltRequest;
use crate::mtls::Cert;
use crate::outcome::RaceStats;
use crate::settings::RACE_TRIES;
use crate::target::Target;

/// What a case's races did so far.
#[derive(Default)]
pub(super) struct RaceState {
    /// Every try's release spread.
    pub spreads: Vec<Duration>,
    /// Copies per race (the widest of the case's races).
    pub copies: usize,
    /// The distinct tokens the last race was issued (`each_raced_token`).
    pub tokens: Vec<String>,
    /// Copies released in the background, their answers still coming (collected once the
    /// next step has its answer).
    pub background: Option<Background>,
}

/// A background race: its step's label and request, and its answers to come.
pub(super) struct Background {
    label: String,
    request: RequestRecord,
    copies: usize,
    spread: Duration,
    answers: tokio::task::JoinHandle<Vec<Result<Response, String>>>,
}

impl RaceState {
    /// The spreads as the case's report shows them; `None` when the case raced nothing.
    pub fn stats(&self) -> Option<RaceStats> {
        if self.spreads.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = self
            .spreads
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        Some(RaceStats {
            copies: self.copies,
            tries: ms.len(),
            spread_p50_ms: ms[(ms.len() - 1) / 2],
            spread_max_ms: ms[ms.len() - 1],
        })
    }
}

/// What one try of a race gave.
pub(super) enum RaceTry {
    /// Every copy's answer, in connection order.
    Answered(Vec<Response>),
    /// The copies went out further apart than `--race-spread`: try again.
    TooWide(Duration),
    /// Released in the background; nothing to judge yet.
    Background,
    Failed(String),
}

/// The TLS configuration for a race presenting `cert`: the run's trust, else the client
/// certificates', else the system roots.
fn race_tls(target: &Target, cert: Option<Cert>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mtls = target.mtls.as_deref();
    match cert.filter(|c| *c != Cert::None) {
        Some(cert) => mtls
            .and_then(|m| m.race_tls(cert))
            .ok_or_else(|| format!("the run has no '{}' client certificate", cert.as_str())),
        None => match (
            target.race_tls.clone(),
            mtls.and_then(|m| m.race_tls(Cert::None)),
        ) {
            (Some(tls), _) | (None, Some(tls)) => Ok(tls),
            (None, None) => crate::http::TlsTrust::default().rustls_config(None),
        },
    }
}

impl Run<'_> {
    /// Sends `requests` (one, sent `copies` times, or one per copy; shown as `record`) as a
    /// race of `copies` (one try).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn race_once(
        &self,
        step: &Step,
        (requests, record): (&[BuiltRequest], &RequestRecord),
        copies: usize,
        cert: Option<Cert>,
        state: &mut CaseState,
        label: &str,
    ) -> RaceTry {
        let settings = self.settings;
        let tls = if record.url.starts_with("https:") {
            match race_tls(self.target, cert) {
                Ok(tls) => Some(tls),
                Err(e) => return RaceTry::Failed(e),
            }
        } else {
            None
        };
        let armed = arm(
            requests,
            copies,
            tls,
            settings.request_timeout,
            settings.max_body_bytes,
        )
        .await;
        let released = match armed {
            Ok(armed) => armed.release().await,
            Err(e) => return RaceTry::Failed(e),
        };
        let (spread, answers) = match released {
            Ok(r) => r,
            Err(e) => return RaceTry::Failed(e),
        };
        let races = &mut state.races;
        races.spreads.push(spread);
        races.copies = races.copies.max(copies);
        if spread > settings.race_spread {
            return RaceTry::TooWide(spread);
        }
        if step.background {
            races.background = Some(Background {
                label: label.to_owned(),
                request: record.clone(),
                copies,
                spread,
                answers: tokio::spawn(answers),
            });
            return RaceTry::Background;
        }
        let mut got = Vec::with_capacity(copies);
        let mut failed = Vec::new();
        for answer in answers.await {
            match answer {
                Ok(r) => got.push(r),
                Err(e) => failed.push(e),
            }
        }
        if let Some(first) = failed.first() {
            return RaceTry::Failed(format!(
                "{} of {copies} copies got no answer (first: {first})",
                failed.len()
            ));
        }
        RaceTry::Answered(got)
    }

    /// Sends the step once per token the case's last race was issued (`{raced_token}`),
    /// one after another; `build` makes each request.
    pub(super) async fn each_raced_token(
        &self,
        http: &reqwest::Client,
        state: &mut CaseState,
        mut build: impl FnMut(&CaseState) -> Result<BuiltRequest, Stop>,
    ) -> Result<Vec<Response>, Stop> {
        let mut answers = Vec::new();
        for token in state.races.tokens.clone() {
            state.vars.insert(RACED_TOKEN.into(), token);
            let request = build(state)?;
            match crate::http::exchange(http, &request, self.settings, self.pacer).await {
                Ok(r) => answers.push(r),
                Err(crate::http::SendError::Transport(e)) => return Err(Stop::Errored(e)),
                Err(crate::http::SendError::RateLimited(e)) => return Err(Stop::Blocked(e)),
            }
        }
        Ok(answers)
    }
}

impl Run<'_> {
    /// `probe_throttle`: sends `request` one after the other, up to `attempts` times,
    /// until the answer is a throttle (neither a refused authentication nor a 2xx), then
    /// waits it out; sets [`THROTTLED_AFTER`]. The
    /// answer returned is the throttle's (or the last refusal).
    pub(super) async fn probe_throttle(
        &self,
        http: &reqwest::Client,
        request: &BuiltRequest,
        attempts: usize,
        state: &mut CaseState,
    ) -> Result<Response, Stop> {
        let mut last = None;
        for refused in 0..attempts {
            let answer = crate::http::send(http, request, self.settings)
                .await
                .map_err(Stop::Errored)?;
            if crate::checks::evaluated_guess(&answer) {
                last = Some(answer);
                continue;
            }
            if (200..300).contains(&answer.status) {
                return Err(Stop::Skipped(format!(
                    "a wrong secret was accepted ({}): the cases about authentication judge that",
                    answer.brief()
                )));
            }
            let wait = crate::http::rate_limit(&answer).unwrap_or(Duration::from_secs(1));
            if wait > self.settings.max_wait {
                return Err(Stop::Skipped(format!(
                    "the throttle's wait ({} s) is longer than --max-wait",
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(wait + Duration::from_millis(100)).await;
            state
                .vars
                .insert(THROTTLED_AFTER.into(), refused.to_string());
            return Ok(answer);
        }
        state.vars.insert(THROTTLED_AFTER.into(), "never".into());
        last.ok_or_else(|| Stop::Errored("probe_throttle = 0 sends nothing".into()))
    }
}

/// How many wrong secrets a `probe_throttle` step had refused before the throttle, or
/// `never`.
pub(super) const THROTTLED_AFTER: &str = "throttled_after";

/// The variable an `each_raced_token` step presents.
pub(super) const RACED_TOKEN: &str = "raced_token";

/// How long to wait before trying a race again: a wide spread is most often the machine
/// busy for a moment (the releasing thread descheduled), so the next try waits it out,
/// longer each time and at a random point, so that runs busy together do not retry together.
pub(super) fn backoff(tries: usize) -> Duration {
    use std::hash::BuildHasher;
    let jitter = std::collections::hash_map::RandomState::new().hash_one(tries) % 50;
    Duration::from_millis(50 * tries as u64 + jitter)
}

/// Why a race is not conclusive after its tries.
pub(super) fn not_conclusive(spread: Duration, settings: &Settings) -> Stop {
    Stop::Blocked(format!(
        "race not conclusive: release spread {:.3} ms > {} ms after {RACE_TRIES} tries (--race-spread)",
        spread.as_secs_f64() * 1000.0,
        settings.race_spread.as_secs_f64() * 1000.0
    ))
}

/// The record of a set of answers: a race's (`raced`: with its last try's spread), a
/// step's sent once per raced token, or (`to_nodes`) once to each other node.
pub(super) fn record(
    answers: &[Response],
    raced: bool,
    to_nodes: bool,
    state: &CaseState,
) -> RaceRecord {
    RaceRecord {
        to_nodes,
        copies: answers.len(),
        answers: crate::checks::tally(answers),
        spread_ms: state
            .races
            .spreads
            .last()
            .filter(|_| raced)
            .map(|d| d.as_secs_f64() * 1000.0),
    }
}

/// The copy a report shows: the first accepted, else the first.
pub(super) fn representative(answers: &[Response]) -> usize {
    answers
        .iter()
        .position(|a| (200..300).contains(&a.status))
        .unwrap_or(0)
}

/// After a race at a token endpoint: its tokens, redacted everywhere and kept for an
/// `each_raced_token` step.
pub(super) fn keep_tokens(
    endpoint: Endpoint,
    answers: &[Response],
    state: &mut CaseState,
    redactor: &mut Redactor,
) {
    if endpoint != Endpoint::Token {
        return;
    }
    let mut tokens: Vec<String> = Vec::new();
    for answer in answers.iter().filter(|a| (200..300).contains(&a.status)) {
        let token = answer
            .json
            .as_ref()
            .and_then(|j| j.get("access_token"))
            .and_then(serde_json::Value::as_str);
        if let Some(token) = token {
            redactor.add(token);
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
    }
    state.races.tokens = tokens;
}

/// Waits for the background race's answers and records them (not judged: requests in
/// flight across the next step may legally be answered either way), counted only, so
/// the record does not depend on which way each went.
pub(super) async fn collect_background(state: &mut CaseState, exchanges: &mut Vec<Exchange>) {
    let Some(background) = state.races.background.take() else {
        return;
    };
    let answers = background.answers.await.unwrap_or_default();
    let statuses: Vec<Response> = answers
        .iter()
        .map(|a| match a {
            Ok(r) => Response {
                status: r.status,
                headers: Vec::new(),
                body: bytes::Bytes::new(),
                json: None,
            },
            Err(_) => Response {
                status: 0,
                headers: Vec::new(),
                body: bytes::Bytes::new(),
                json: None,
            },
        })
        .collect();
    exchanges.push(Exchange {
        step: format!("{} (not judged)", background.label),
        request: background.request,
        response: None,
        error: None,
        race: Some(RaceRecord {
            copies: background.copies,
            answers: crate::checks::tally(&statuses).replace("× 0", "× no answer"),
            spread_ms: Some(background.spread.as_secs_f64() * 1000.0),
            to_nodes: false,
        }),
    });
}
