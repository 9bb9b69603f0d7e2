//! The preflight's checks of what the cases use beside the token endpoint: the
//! introspection caller (and whether introspection reports scope), the resource, and
//! revocation (which also leaves the preflight's token inactive).

use serde_json::Value;

use super::token::{access_token, is_client_auth_failure, response_scope};
use super::{Issued, Probe, Status};
use crate::case::{Endpoint, Role};
use crate::exchange::Response;
use crate::http::{BuiltRequest, SendError};
use crate::target::{ClientCredentials, Target};

impl Probe<'_> {
    pub(super) async fn introspection(
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
            .post(
                target,
                &url,
                &caller,
                &[("token", &probe_token)],
                "introspect",
            )
            .await;
        exchanges.push(ex);
        let what = format!("introspection endpoint {url}");
        if let Some(why) = not_there(&what, "--introspection-url", &result) {
            return self.endpoint_unusable(
                target,
                Endpoint::Introspection,
                &subject,
                why,
                exchanges,
            );
        }
        let response = match result {
            Ok(r) => r,
            Err(SendError::Transport(e) | SendError::RateLimited(e)) => {
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
            _ if is_client_auth_failure(&response) || response.status == 403 => {
                let advice = if same_as_main {
                    "the main client may not be allowed to introspect: give the resource server's client with --introspect-client-id/--introspect-client-secret".to_owned()
                } else {
                    "check --introspect-client-id/--introspect-client-secret (or GRANTCHECK_INTROSPECT_CLIENT_SECRET)".to_owned()
                };
                let why = format!(
                    "{} got {} from the introspection endpoint {url}: {advice}",
                    caller.id,
                    super::answer(&response)
                );
                self.client_unusable(target, Role::Introspector, &subject, why, exchanges);
            }
            _ => self.record(
                &subject,
                Status::Note,
                format!(
                    "{url} answered {} to introspecting a fresh token (the introspection cases judge this)",
                    super::answer(&response)
                ),
                exchanges,
            ),
        }
    }

    /// Calls the resource with the preflight's token, used as the main client uses it: over
    /// its certificate (RFC 8705 §3) and with a DPoP proof when it is DPoP-bound (RFC 9449 §7.1).
    pub(super) async fn resource(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
        token: &Issued,
    ) {
        let Some(url) = target.resource_url.clone() else {
            return;
        };
        let mut headers = vec![("authorization".into(), format!("Bearer {}", token.token))];
        if let (true, Some(key)) = (main.dpop_bound, &target.dpop) {
            let proof = crate::jose::DpopProofBuilder::new(key.key.clone()).and_then(|mut b| {
                let at = crate::jose::dpop::ProofTarget {
                    method: "GET",
                    url: &url,
                    access_token: Some(&token.token),
                };
                b.build(crate::jose::DpopFlaw::None, at, crate::jose::unix_now())
            });
            if let Ok(proof) = proof {
                headers = vec![
                    ("authorization".into(), format!("DPoP {}", token.token)),
                    ("dpop".into(), proof.expose().to_owned()),
                ];
            }
        }
        let request = BuiltRequest {
            method: reqwest::Method::GET,
            url: url.clone(),
            headers,
            body: String::new(),
            scope: None,
        };
        let http = main
            .method
            .cert()
            .and_then(|cert| target.mtls.as_ref()?.client(cert))
            .unwrap_or(self.http);
        let (result, ex) = self.send_via(http, request, "call the resource").await;
        match (
            not_there(&format!("the resource {url}"), "--resource-url", &result),
            result,
        ) {
            (Some(why), _) => {
                self.endpoint_unusable(target, Endpoint::Resource, "resource", why, vec![ex]);
            }
            (None, Ok(r)) => self.record(
                "resource",
                Status::Ok,
                format!("{url} answered {} to a fresh token", super::answer(&r)),
                vec![ex],
            ),
            (None, Err(e)) => {
                let (SendError::Transport(e) | SendError::RateLimited(e)) = e;
                self.record("resource", Status::Note, e, vec![ex]);
            }
        }
    }

    /// Revokes the preflight's token: checks the endpoint answers, and leaves nothing active.
    pub(super) async fn revocation(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
        token: &Issued,
    ) {
        let Some(url) = target.revocation_url.clone() else {
            return;
        };
        let (result, ex) = self
            .post(target, &url, main, &[("token", &token.token)], "revoke")
            .await;
        let what = format!("revocation endpoint {url}");
        match (not_there(&what, "--revocation-url", &result), result) {
            (Some(why), _) => {
                self.endpoint_unusable(target, Endpoint::Revocation, "revocation", why, vec![ex]);
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
                    super::answer(&r)
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

/// Why an endpoint is not where the configuration says: no answer, or 404/405.
fn not_there(what: &str, flag: &str, result: &Result<Response, SendError>) -> Option<String> {
    match result {
        Err(SendError::Transport(e)) => Some(format!("{what} did not answer: {e}")),
        Ok(r) if matches!(r.status, 404 | 405) => Some(format!(
            "{what} answered {}: check {flag}",
            super::answer(r)
        )),
        _ => None,
    }
}
