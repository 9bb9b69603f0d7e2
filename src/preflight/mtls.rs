//! The preflight's mutual-TLS clients (RFC 8705 §2): each must get a token with its
//! certificate and `client_id`, or the cases acting as it are skipped with what to check, as
//! for the JWT clients: a certificate the server does not know says nothing about the rules
//! the cases judge.

use super::token::{access_token, is_client_auth_failure};
use super::{Probe, Status};
use crate::case::Role;
use crate::http::{BuiltRequest, SendError};
use crate::mtls::Cert;
use crate::target::Target;

/// Each mutual-TLS role, the certificate it presents, its method and what to check.
const MTLS_ROLES: [(Role, Cert, &str, &str); 2] = [
    (
        Role::Mtls,
        Cert::Client,
        "tls_client_auth",
        "check --mtls-client-id, --client-cert and --client-cert-key (the certificate and subject the server registered for it)",
    ),
    (
        Role::SelfSignedMtls,
        Cert::SelfSigned,
        "self_signed_tls_client_auth",
        "check the client's registered certificate (x5c)",
    ),
];

impl Probe<'_> {
    /// Each mutual-TLS client's token with its certificate, the main client's scope and
    /// `client_id`; its token is revoked again where the target can.
    pub(super) async fn mtls_clients(&mut self, target: &mut Target) {
        let Some(mtls) = target.mtls.clone() else {
            return;
        };
        for (role, cert, method, advice) in MTLS_ROLES {
            let (Some(client), Some(http)) =
                (target.clients.get(&role).cloned(), mtls.client(cert))
            else {
                continue;
            };
            let subject = format!("token ({})", client.id);
            let mut form = vec![("grant_type", "client_credentials".to_owned())];
            if let Some(scope) = &target.baseline.token_scope {
                form.push(("scope", scope.clone()));
            }
            form.push(("client_id", client.id.clone()));
            let request = posted(&target.token_url, &form);
            let step = format!("token request with {method}");
            let (result, ex) = self.send_via(http, request, &step).await;
            let token = match result {
                Ok(r) if access_token(&r).is_some() => {
                    let message = format!("{} got a token with {method}", client.id);
                    self.record(&subject, Status::Ok, message, vec![ex]);
                    access_token(&r).map(str::to_owned)
                }
                Ok(r) if !is_client_auth_failure(&r) && r.status != 403 => {
                    let message = format!(
                        "{} authenticated with {method} (the token request got {})",
                        client.id,
                        super::answer(&r)
                    );
                    self.record(&subject, Status::Ok, message, vec![ex]);
                    None
                }
                Ok(r) => {
                    let why = format!(
                        "the {method} client {} got {} from {}: {advice}",
                        client.id,
                        super::answer(&r),
                        target.token_url
                    );
                    self.client_unusable(target, role, &subject, why, vec![ex]);
                    None
                }
                Err(SendError::Transport(e) | SendError::RateLimited(e)) => {
                    let why = format!("the {method} client's token request failed: {e}");
                    self.client_unusable(target, role, &subject, why, vec![ex]);
                    None
                }
            };
            // Leaves nothing behind, as the other preflight tokens.
            if let (Some(token), Some(url)) = (token, target.revocation_url.clone()) {
                let form = [("token", token), ("client_id", client.id.clone())];
                let _ = self.send_via(http, posted(&url, &form), "revoke").await;
            }
        }
    }
}

/// A form POST with no client authentication of its own (the certificate is the TLS
/// connection's).
fn posted(url: &str, form: &[(&str, String)]) -> BuiltRequest {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(form.iter().map(|(n, v)| (*n, v.as_str())));
    BuiltRequest {
        method: reqwest::Method::POST,
        url: url.to_owned(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: body.finish(),
        scope: form
            .iter()
            .find(|(name, _)| *name == "scope")
            .map(|(_, value)| value.clone()),
    }
}
