//! One case: its requirements, then its steps in order until one stops it, then its outcome.

use std::time::Instant;

use super::state::CaseState;
use super::step::StepIo;
use super::{request::step_role, Run, Stop, DEADLINE_REACHED};
use crate::case::{Case, Level, Requirement, Role, Step};
use crate::exchange::Redactor;
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
        let level = case.level_for(&self.settings.profile);
        let mut exchanges = Vec::new();
        let past_deadline = self.settings.deadline.is_some_and(|d| started >= d);
        // The line that decided the outcome: the step that stopped the case, else the case.
        let mut line = case.line;
        let stop = match unmet_requirement(self.target, case) {
            _ if past_deadline => Some(Stop::Errored(format!(
                "{DEADLINE_REACHED} before this case started (--deadline)"
            ))),
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
                        if let Some(reason) =
                            step.run_if.as_ref().and_then(|c| c.otherwise_skip.clone())
                        {
                            stop = Some(Stop::Skipped(reason));
                        }
                        break;
                    }
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
            location: format!("{}:{line}", case.source),
            duration_ms: started.elapsed().as_millis() as u64,
            exchanges,
        }
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
    target
        .clients
        .get(&role)
        .is_some_and(|c| c.jwt_key.is_some())
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
fn unmet_requirement(target: &Target, case: &Case) -> Option<String> {
    for requirement in &case.requires {
        if *requirement == Requirement::Dpop {
            if let Some(why) = super::dpop::unmet(target) {
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
