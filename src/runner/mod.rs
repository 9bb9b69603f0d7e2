//! Runs cases against a target, one stage per file: `mod.rs` schedules the cases, `case.rs`
//! runs one case, `step.rs` one step, `request.rs` builds a step's request, `state.rs`
//! carries values between steps, `race.rs` sends a race step's copies (tries, spread bound,
//! background copies, one request per raced token, the throttle probe), and `judge.rs`
//! applies a step's expectations (the named checks live in `crate::checks`). Sending is
//! `crate::http`'s (a race's own connections: `crate::http::race`). The runner reports each
//! finished case to an observer; reporters render those results.
//!
//! A case judges one behaviour. Its `setup` steps only prepare it; when one of them does not
//! give what the case needs, the case is *blocked* (with the step and what came back), never
//! failed. A target's rate limit is its policy: the runner waits once, then blocks.

mod case;
mod cluster;
mod dpop;
mod judge;
mod race;
mod request;
mod state;
mod step;

use std::time::Duration;

use crate::case::Case;
use crate::http::Pacer;
use crate::target::Target;

pub use crate::outcome::{CaseResult, Outcome};
pub use crate::settings::Settings;
pub use request::{build_request, step_role};

/// A client with the system roots only (see [`crate::http`] for `--ca-cert`/`--insecure`).
pub fn http_client(timeout: Duration) -> reqwest::Client {
    crate::http::client(timeout, &crate::http::TlsTrust::default())
        .expect("a client with static settings and no extra roots builds")
}

/// The run's deadline when `--deadline` is not given: [`Settings::default_deadline`] for
/// the steps of `cases` and their real-clock waits.
pub fn default_deadline(cases: &[Case], settings: &Settings) -> Duration {
    let requests = cases.iter().map(|c| c.steps.len()).sum();
    let expiry_waits = cases
        .iter()
        .any(|c| c.steps.iter().any(|s| s.wait_for_expiry));
    settings.default_deadline(requests, expiry_waits)
}

/// What the runner says when the run's deadline ends a case or a step.
pub(crate) const DEADLINE_REACHED: &str = "run deadline reached";

/// What every case of a run shares.
pub struct Run<'a> {
    pub target: &'a Target,
    pub settings: &'a Settings,
    pub http: &'a reqwest::Client,
    pub pacer: &'a Pacer,
    /// Told when a case starts waiting on a real clock (case id, how long).
    pub on_wait: &'a dyn Fn(&str, Duration),
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
    run_cases_telling_waits(target, cases, settings, http, observe, &|_, _| {}).await
}

/// [`run_cases`], and `on_wait` is told whenever a case starts waiting on a real clock for
/// its token to expire, so a terminal can say why nothing seems to happen.
pub async fn run_cases_telling_waits(
    target: &Target,
    cases: &[Case],
    settings: &Settings,
    http: &reqwest::Client,
    observe: impl FnMut(&CaseResult),
    on_wait: &dyn Fn(&str, Duration),
) -> Vec<CaseResult> {
    let pacer = Pacer::new(settings.pace);
    let run = Run {
        target,
        settings,
        http,
        pacer: &pacer,
        on_wait,
    };
    let base = run.redactor();
    let observe = std::cell::RefCell::new(observe);
    // A profile's own cases (`only_under`) are part of that profile's runs alone.
    let cases: Vec<&Case> = cases
        .iter()
        .filter(|c| c.runs_under(&settings.profile))
        .collect();
    let waits = |c: &Case| c.steps.iter().any(|s| s.wait_for_expiry);
    let cases = &cases;
    let one = |index: usize| {
        let mut redactor = base.clone();
        let observe = &observe;
        let run = &run;
        async move {
            let result = run.case(cases[index], &mut redactor).await;
            (observe.borrow_mut())(&result);
            (index, result)
        }
    };
    let slow =
        futures_util::future::join_all((0..cases.len()).filter(|&i| waits(cases[i])).map(one));
    let fast = async {
        let mut done = Vec::new();
        for index in (0..cases.len()).filter(|&i| !waits(cases[i])) {
            done.push(one(index).await);
        }
        done
    };
    let (slow, fast) = tokio::join!(slow, fast);
    let mut results: Vec<(usize, CaseResult)> = slow.into_iter().chain(fast).collect();
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Why the mutual-TLS cases (RFC 8705) cannot run on `target`, if they cannot: a plain-HTTP
/// target, no client certificate, or not the certificate a step of `case` presents.
pub(crate) fn mtls_unmet(target: &Target, case: &Case) -> Option<String> {
    if target.is_plain_http() {
        return Some(
            "mutual TLS needs an HTTPS target (the embedded server: --embedded-tls)".into(),
        );
    }
    let Some(mtls) = &target.mtls else {
        return Some(
            "the run has no client certificate: pass --client-cert FILE --client-cert-key FILE (and --mtls-client-id ID)"
                .into(),
        );
    };
    for cert in case.steps.iter().filter_map(|s| s.cert) {
        if cert != crate::mtls::Cert::None && mtls.client(cert).is_none() {
            return Some(format!(
                "the run has no '{}' client certificate (the embedded HTTPS run has every one)",
                cert.as_str()
            ));
        }
    }
    None
}

/// What ended a case early, or `None` when every step ran.
pub(crate) enum Stop {
    /// The case's point is proven before its last step (a plain-HTTP request was refused).
    Passed(String),
    Failed(String),
    Blocked(String),
    Skipped(String),
    Errored(String),
}

/// The values a step sets only when a token endpoint issues a token (`step::remember_issuance`).
const ISSUANCE_VALUES: &[&str] = &[
    "access_token",
    "expires_in",
    "granted_scope",
    "scope_reported",
    "issued_to",
    "issued_at",
];

/// A template that cannot be expanded: when it names a value an earlier step gives only on
/// success (a token), that step did not give it and the case is blocked; anything else is
/// the case file's own error.
pub(crate) fn template_stop(label: &str, error: String) -> Stop {
    if let Some(why) = error.strip_prefix(request::NOT_APPLICABLE) {
        return Stop::Skipped(format!("{label}: {why}"));
    }
    match crate::template::unknown_name(&error) {
        Some(name) if ISSUANCE_VALUES.contains(&name) => Stop::Blocked(format!(
            "{label}: needs {{{name}}}, which no earlier step of the case obtained"
        )),
        // A case about secrets, with a client that has none (private_key_jwt, mutual TLS).
        Some(name) if name.ends_with(".secret") => Stop::Skipped(format!(
            "{label}: needs {{{name}}}, and that client has no secret in this run (it authenticates without one)"
        )),
        _ => Stop::Errored(format!("{label}: {error}")),
    }
}
