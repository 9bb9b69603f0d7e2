//! One case: its requirements, then its steps in order until one stops it, then its outcome.

use std::time::Instant;

use super::state::CaseState;
use super::step::StepIo;
use super::{request::step_role, Run, Stop, DEADLINE_REACHED};
use crate::case::{Case, Level, OptionalProfile, Requirement, Role, Step};
use crate::exchange::{Exchange, Redactor};
use crate::outcome::{CaseResult, Outcome};
use crate::target::Target;
use crate::template::Vars;

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

    pub(super) async fn case(&self, case: &Case, redactor: &mut Redactor) -> CaseResult {
        let started = Instant::now();
        let level = judged_level(self.target, case, self.settings);
        let mut exchanges = Vec::new();
        let past_deadline = self.settings.deadline.is_some_and(|d| started >= d);
        // The line that decided the outcome: the step that stopped the case, else the case.
        let mut line = case.line;
        let mut race = None;
        let mut propagation = None;
        let stop = match unmet_requirement(self.target, case) {
            _ if past_deadline => Some(Stop::Errored(format!(
                "{DEADLINE_REACHED} before this case started (--deadline)"
            ))),
            Some(reason) => Some(Stop::Skipped(reason)),
            // `--only` naming its id or its opt-in word opts a case in (its note says why
            // it is opt-in, after "Opt-in: ").
            None if case.opt_in.is_some() && !case.opted_in => Some(Stop::Skipped(format!(
                "opt-in: run it with --only {}{}",
                case.id,
                case.note
                    .as_deref()
                    .and_then(|n| n.split_once("Opt-in: "))
                    .map(|(_, why)| format!(" ({})", why.trim_end_matches('.')))
                    .unwrap_or_default()
            ))),
            None => {
                let mut state = CaseState::new(self.target);
                let mut stop = None;
                // Whether a step that judges (not a setup step) has run: a case that
                // judged nothing has not passed.
                let mut judged = false;
                for (index, step) in case.steps.iter().enumerate() {
                    let label = step
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("step {}", index + 1));
                    if !condition_holds(step, &state.vars) {
                        stop = left_out(step, &label, judged);
                        break;
                    }
                    judged |= !step.setup;
                    let mut io = StepIo {
                        case_id: &case.id,
                        label: &label,
                        redactor,
                        state: &mut state,
                        exchanges: &mut exchanges,
                    };
                    if let Some(s) = self.step(step, &mut io).await {
                        stop = Some(s);
                        line = step.line.max(case.line);
                        break;
                    }
                }
                race = state.races.stats();
                propagation = state.propagation.take();
                stop
            }
        };
        let (outcome, detail) = match stop {
            // An INFO case records what the server did, in words that are neither a pass
            // nor a failure; the exchanges show the rest.
            None if level == Level::Info => (Outcome::Pass, observed(&exchanges, "")),
            Some(Stop::Failed(reason)) if level == Level::Info => {
                (Outcome::Pass, observed(&exchanges, &reason))
            }
            Some(Stop::Passed(reason)) if level == Level::Info => (
                Outcome::Pass,
                format!("observed: {}", reason.replacen("observed: ", "", 1)),
            ),
            None => (Outcome::Pass, String::new()),
            Some(Stop::Passed(reason)) => (Outcome::Pass, reason),
            Some(Stop::Blocked(reason)) => (Outcome::Blocked, reason),
            Some(Stop::Skipped(reason)) => (Outcome::Skip, reason),
            Some(Stop::Errored(reason)) => (Outcome::Error, reason),
            Some(Stop::Failed(reason)) => match level {
                Level::Must => (Outcome::Fail, reason),
                Level::Should => (Outcome::Warn, reason),
                // A profile that only records the rule (oauth21 for Pragma) names what it saw.
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
            location: format!("{}:{line}", case.source),
            duration_ms: started.elapsed().as_millis() as u64,
            race,
            propagation,
            exchanges,
        }
    }
}

/// What the server did at the case's last step, for an INFO case: `observed: 'send the
/// proof' was answered 403 invalid_dpop_proof, no token`, then what the named checks saw in
/// `judged` (the expectations' own "expected …, got …" would read as a failure).
fn observed(exchanges: &[Exchange], judged: &str) -> String {
    let mut said = last_answer(exchanges);
    let problems = judged.split_once(": ").map_or(judged, |(_, rest)| rest);
    let is_expectation = |p: &str| {
        // A named check's words follow its name: `token_response: expected status 200, …`.
        let words = p.split_once(": ").map_or(p, |(_, w)| w);
        [p, words]
            .iter()
            .any(|w| w.starts_with("expected ") || w.starts_with("status "))
    };
    for seen in problems
        .split("; ")
        .filter(|p| !p.is_empty() && !is_expectation(p))
    {
        said.push_str("; ");
        said.push_str(seen);
    }
    said
}

fn last_answer(exchanges: &[Exchange]) -> String {
    let Some(last) = exchanges.last() else {
        return "observed: no request was sent".into();
    };
    if let (Some(race), Some(_)) = (&last.race, &last.response) {
        if race.to_nodes {
            return format!(
                "observed: '{}' was sent to {} other nodes, answered {}",
                last.step, race.copies, race.answers
            );
        }
        return format!(
            "observed: '{}' was sent {} times at once, answered {}",
            last.step, race.copies, race.answers
        );
    }
    let Some(response) = &last.response else {
        let why = last.error.as_deref().unwrap_or("no answer");
        return format!("observed: '{}' got no answer ({why})", last.step);
    };
    let member = |name: &str| response.body.get(name).and_then(serde_json::Value::as_str);
    let mut said = format!("observed: '{}' was answered {}", last.step, response.status);
    if let Some(error) = member("error") {
        said.push_str(&format!(" {error}"));
    }
    if response.body.get("access_token").is_some() {
        let kind = member("token_type").unwrap_or("no token_type");
        said.push_str(&format!(", a token issued ({kind})"));
    } else if response.body.get("error").is_some() {
        said.push_str(", no token");
    }
    said
}

/// A step whose condition does not hold leaves out the rest of the case: the case skips
/// with the step's `otherwise_skip` reason, or, when no step has judged anything yet, with
/// what did not hold (a case that judged nothing has not passed); otherwise it ends with
/// what ran.
fn left_out(step: &Step, label: &str, judged: bool) -> Option<Stop> {
    if let Some(reason) = step.run_if.as_ref().and_then(|c| c.otherwise_skip.clone()) {
        return Some(Stop::Skipped(reason));
    }
    if judged {
        return None;
    }
    let condition = match &step.run_if {
        Some(c) => c.describe(),
        None => "no earlier step obtained an access token".to_owned(),
    };
    Some(Stop::Skipped(format!(
        "nothing was judged: '{label}' was left out ({condition})"
    )))
}

/// The level the case is judged at: its level under the profile, or INFO when it judges an
/// optional profile the target does not claim (what was seen is recorded, not judged).
/// A case that counts parallel guesses is judged (MUST, RFC 6749 §2.3.1) once
/// `--max-parallel-guesses` says how many are too many.
fn judged_level(target: &Target, case: &Case, settings: &super::Settings) -> Level {
    let counts_guesses = || {
        case.steps.iter().any(|s| {
            s.expect
                .checks
                .iter()
                .any(|c| *c.get_ref() == crate::checks::Check::GuessesWithinLimit)
        })
    };
    match case.optional_profile {
        Some(OptionalProfile::Rfc9068) if !target.rfc9068 => Level::Info,
        _ if settings.max_parallel_guesses.is_some() && counts_guesses() => Level::Must,
        _ => case.level_for(&settings.profile),
    }
}

/// `if_token` and `run_if`: whether this step (and the ones after it) should run.
fn condition_holds(step: &Step, vars: &Vars) -> bool {
    if step.if_token && !vars.contains_key("access_token") {
        return false;
    }
    match &step.run_if {
        Some(c) => c.holds(vars.get(&c.var).map(String::as_str)),
        None => true,
    }
}

fn jwt_client(target: &Target, role: Role) -> bool {
    target.client(role).is_some_and(|c| c.jwt_key.is_some())
}

/// Why the cases about the resource's required scope (RS-005) cannot run: they need that
/// scope (`--resource-scope`) and another one the client may request (`--scope`).
fn resource_scope_unmet(target: &Target) -> Option<String> {
    let Some(required) = &target.resource_scope else {
        return Some(
            "the scope its protected resource requires is not known: give it with --resource-scope SCOPE (resource_scope in grantcheck.toml)"
                .to_owned(),
        );
    };
    if target.scopes.iter().all(|s| s == required) {
        return Some(format!(
            "no scope to request other than the resource's '{required}': add one to --scope"
        ));
    }
    None
}

/// Why the case cannot run on this target: a missing capability, or a client or endpoint
/// the preflight found unusable. Checked before the case's first request, so a feature the
/// target lacks skips every case that needs it alike.
///
/// A skip says whose lack it is: what this run was not given ("not configured for this run")
/// is not what the target does not have.
fn missing(requirement: &Requirement, what: &str) -> String {
    match requirement {
        Requirement::Introspection | Requirement::Revocation | Requirement::Resource => {
            format!("no {what} for this run: the target's metadata names none and none was given")
        }
        Requirement::Metadata | Requirement::Jwks | Requirement::Https => {
            format!("the target has no {what}")
        }
        _ => format!("not configured for this run: no {what}"),
    }
}

fn unmet_requirement(target: &Target, case: &Case) -> Option<String> {
    for requirement in &case.requires {
        if *requirement == Requirement::Dpop {
            if let Some(why) = super::dpop::unmet(target) {
                return Some(why);
            }
            if let Some(why) = super::dpop::client_unfit(target, case) {
                return Some(why);
            }
        }
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
                target.client(Role::Second).is_some(),
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
            Requirement::ResourceScope => match resource_scope_unmet(target) {
                Some(why) => return Some(why),
                None => (true, "scope required by its protected resource"),
            },
            // Judged above, with its own reasons.
            Requirement::Dpop => (true, "DPoP key"),
            Requirement::Mtls => match super::mtls_unmet(target, case) {
                Some(why) => return Some(why),
                None => (true, "client certificate"),
            },
            Requirement::MainClientApart => (
                target.client(Role::KeyJwt).map(|c| &c.id)
                    != target.client(Role::Main).map(|c| &c.id),
                "private_key_jwt client other than the main one (the main client is the JWT client: give the JWT client apart, e.g. [[targets.NAME.clients]] role = \"key_jwt\")",
            ),
            Requirement::MainWithoutCertificate => (
                target
                    .client(Role::Main)
                    .is_some_and(|c| c.method.cert().is_none()),
                "main client that authenticates without a certificate (this one uses mutual TLS, so every request as it carries the certificate its tokens are bound to)",
            ),
            Requirement::Cluster => (
                !target.nodes.is_empty(),
                "cluster: other nodes behind this issuer (--node URL for each; a single node has no other to ask)",
            ),
            Requirement::PrivateKeyJwtClient => (
                jwt_client(target, Role::KeyJwt),
                "private_key_jwt client (--client-auth private_key_jwt --client-key FILE)",
            ),
            Requirement::ClientSecretJwtClient => (
                jwt_client(target, Role::SecretJwt),
                "client_secret_jwt client (--client-auth client_secret_jwt)",
            ),
        };
        if !present {
            return Some(missing(requirement, what));
        }
    }
    for step in &case.steps {
        if target.client(step_role(step)).is_none() {
            return Some(format!(
                "not configured for this run: no '{}' client",
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
