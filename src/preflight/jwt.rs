//! The preflight's JWT clients (`--client-auth`): a well-formed client assertion (RFC 7523
//! §2.2) must get a token, or the cases acting as that client are skipped with what to check,
//! as for the second client: a refused key says nothing about the rules the cases judge.

use super::token::{access_token, is_client_auth_failure};
use super::{Probe, Status};
use crate::case::Role;
use crate::http::{BuiltRequest, SendError};
use crate::jose::assertion::CLIENT_ASSERTION_TYPE;
use crate::jose::{unix_now, AssertionBuilder, AssertionFlaw};
use crate::target::{AssertionAudience, Target};

/// Each JWT role, its method and what to check when its assertion is refused.
const JWT_ROLES: [(Role, &str, &str); 2] = [
    (
        Role::KeyJwt,
        "private_key_jwt",
        "check --jwt-client-id, --client-key and --client-key-id (the key the server registered for it)",
    ),
    (
        Role::SecretJwt,
        "client_secret_jwt",
        "check --jwt-client-id, --jwt-client-secret (or GRANTCHECK_JWT_CLIENT_SECRET)",
    ),
];

/// The audience to try when the one sent was refused. RFC 7523 §3 item 3 leaves "the
/// precise strings to be used as the audience" to be "configured out of band": a server that
/// takes only its issuer (draft-ietf-oauth-rfc7523bis) or only its token endpoint URL breaks
/// no rule, so a refusal of the default is a configuration to try, not a verdict.
fn audience_advice(target: &Target) -> String {
    match target.assertion_audience {
        AssertionAudience::TokenEndpoint => format!(
            "; the assertion's aud was the token endpoint URL: if the server takes only its issuer as the audience (draft-ietf-oauth-rfc7523bis), pass --client-assertion-aud issuer{}",
            if target.issuer.is_none() { " (with --target ISSUER)" } else { "" }
        ),
        AssertionAudience::Issuer => "; the assertion's aud was the issuer: if the server takes only its token endpoint URL, pass --client-assertion-aud token-endpoint".into(),
    }
}

impl Probe<'_> {
    /// Each JWT client's token with a well-formed assertion, the main client's scope and
    /// `client_id`; its token is revoked again where the target can.
    pub(super) async fn jwt_clients(&mut self, target: &mut Target) {
        for (role, method, advice) in JWT_ROLES {
            let Some(client) = target.clients.get(&role).cloned() else {
                continue;
            };
            let Some(key) = client.jwt_key.clone() else {
                continue;
            };
            let subject = format!("token ({})", client.id);
            let mut builder = AssertionBuilder::new(key, &client.id, target.assertion_aud());
            let mut assertion = || builder.build(&AssertionFlaw::None, unix_now());
            let first = match assertion() {
                Ok(a) => a,
                Err(e) => {
                    let why = format!("cannot make {}'s client assertion: {e}", client.id);
                    self.client_unusable(target, role, &subject, why, Vec::new());
                    continue;
                }
            };
            let scope = target.baseline.token_scope.clone();
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(scope) = &scope {
                form.push(("scope", scope));
            }
            let request = asserted(&target.token_url, &form, &client.id, first.expose());
            let (result, ex) = self
                .send(request, &format!("token request with {method}"))
                .await;
            let token = match result {
                Ok(r) if access_token(&r).is_some() => {
                    let message = format!("{} got a token with {method}", client.id);
                    self.record(&subject, Status::Ok, message, vec![ex]);
                    access_token(&r).map(str::to_owned)
                }
                // Authenticated, but refused for another reason (a scope, say): the cases only
                // need the client to authenticate.
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
                        "the {method} client {} got {} from {}: {advice}{}",
                        client.id,
                        super::answer(&r),
                        target.token_url,
                        audience_advice(target)
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
            if let (Some(token), Some(url), Ok(again)) =
                (token, target.revocation_url.clone(), assertion())
            {
                let form = [("token", token.as_str())];
                let request = asserted(&url, &form, &client.id, again.expose());
                let _ = self.send(request, "revoke").await;
            }
        }
    }
}

/// A form POST authenticated by a client assertion (RFC 7521 §4.2).
fn asserted(url: &str, form: &[(&str, &str)], client_id: &str, assertion: &str) -> BuiltRequest {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(form);
    body.append_pair("client_id", client_id);
    body.append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE);
    body.append_pair("client_assertion", assertion);
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
            .map(|(_, value)| (*value).to_owned()),
    }
}
