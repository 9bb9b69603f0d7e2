//! The values a case's steps share: client ids and secrets, scopes, what the preflight
//! learned, and what earlier steps captured or were issued.

use std::time::Instant;

use crate::target::Target;
use crate::template::Vars;

/// Values carried between a case's steps.
pub(super) struct CaseState {
    pub vars: Vars,
    /// When the last token was issued, for `wait_for_expiry`.
    pub issued: Option<Instant>,
    /// The last token response's `expires_in` when it was there but not a number of
    /// seconds (as JSON): nothing to wait for, and the reason why.
    pub unusable_expires_in: Option<String>,
    /// The case's DPoP proofs: its nonce and last `jti` (made at the first `dpop` step).
    pub dpop: Option<crate::jose::DpopProofBuilder>,
    /// The last token was issued to a DPoP-bound client that the case did not choose for
    /// its proofs (the main client, found DPoP-bound by the preflight).
    pub implicit_dpop_token: bool,
    /// The DPoP nonces the authorization server and the resource gave, each kept for its
    /// own server (RFC 9449 §9: a resource's nonce is its own, and the other's is no nonce
    /// of its).
    pub dpop_nonces: DpopNonces,
    /// What the case's races did (`race.rs`): spreads, tokens, copies in flight.
    pub races: super::race::RaceState,
    /// What an `until_refused` step measured, node by node.
    pub propagation: Option<crate::outcome::Propagation>,
}

/// The last DPoP nonce of each server.
#[derive(Default)]
pub(super) struct DpopNonces {
    pub authorization_server: Option<String>,
    pub resource: Option<String>,
}

impl DpopNonces {
    pub fn of(&mut self, endpoint: crate::case::Endpoint) -> &mut Option<String> {
        match endpoint {
            crate::case::Endpoint::Resource => &mut self.resource,
            _ => &mut self.authorization_server,
        }
    }
}

impl CaseState {
    pub fn new(target: &Target) -> CaseState {
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
            if let Ok(url) = url::Url::parse(issuer) {
                let rfc8414 = crate::target::metadata_urls(&url).swap_remove(0);
                vars.insert("rfc8414_metadata_url".into(), rfc8414);
            }
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
            .map(|s| format!("&scope={}", crate::form::encode(s)))
            .unwrap_or_default();
        vars.insert("scope_param".into(), scope_param);
        if let Some(location) = target.metadata_location {
            vars.insert("metadata_location".into(), location.as_str().into());
        }
        if let Some(reports) = target.baseline.introspection_reports_scope {
            let answer = if reports { "yes" } else { "no" };
            vars.insert("introspection_reports_scope".into(), answer.into());
        }
        if let Some(dpop) = &target.dpop {
            vars.insert("dpop.jkt".into(), dpop.jkt.clone());
        }
        if let Some(mtls) = &target.mtls {
            if let Some(x5t) = mtls.thumbprint(crate::mtls::Cert::Client) {
                vars.insert("mtls.x5t".into(), x5t.to_owned());
            }
        }
        CaseState {
            vars,
            issued: None,
            unusable_expires_in: None,
            dpop: None,
            implicit_dpop_token: false,
            dpop_nonces: DpopNonces::default(),
            races: Default::default(),
            propagation: None,
        }
    }
}
