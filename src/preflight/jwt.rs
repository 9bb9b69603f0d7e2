//! The preflight's JWT clients (`--client-auth`): a well-formed client assertion (RFC 7523
//! §2.2) must get a token, or the cases acting as that client are skipped with what to check,
//! as for the second client: a refused key says nothing about the rules the cases judge.

use super::token::{access_token, is_client_auth_failure};
use super::{Probe, Status};
use crate::case::Role;
use crate::http::{BuiltRequest, SendError};
use crate::jose::assertion::CLIENT_ASSERTION_TYPE;
use crate::jose::{unix_now, AssertionBuilder, AssertionFlaw};
use std::sync::Arc;

use crate::exchange::{Exchange, Response};
use crate::jose::SigningKey;
use crate::target::{AssertionAudience, ClientCredentials, Target};

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
fn audience_advice(target: &Target, tried_issuer: bool) -> String {
    if tried_issuer {
        return "; the assertion's aud was the token endpoint URL, then the issuer: both were refused".into();
    }
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
    /// `client_id`; its token is revoked again where the target can. When the token
    /// endpoint URL as `aud` is refused and the user chose no audience, the issuer is tried
    /// next and, if it works, the cases use it (RFC 7523 §3 item 3: the strings are
    /// "configured out of band").
    pub(super) async fn jwt_clients(&mut self, target: &mut Target) {
        // Once a client got a token with the default audience, switching would break it.
        let mut default_audience_worked = false;
        for (role, method, advice) in JWT_ROLES {
            let Some(client) = target.clients.get(&role).cloned() else {
                continue;
            };
            let Some(key) = client.jwt_key.clone() else {
                continue;
            };
            let subject = format!("token ({})", client.id);
            let (mut result, mut ex) =
                match self.asserted_token(target, &client, &key, method).await {
                    Ok(sent) => sent,
                    Err(why) => {
                        self.client_unusable(target, role, &subject, why, Vec::new());
                        continue;
                    }
                };
            let mut adjusted = None;
            let tried_issuer =
                refused(&result) && may_try_issuer(target) && !default_audience_worked;
            if tried_issuer {
                let refused_first = result.as_ref().map(Response::brief).unwrap_or_default();
                let default = target.assertion_audience;
                target.assertion_audience = AssertionAudience::Issuer;
                match self.asserted_token(target, &client, &key, method).await {
                    Ok((again, again_ex)) if !refused(&again) => {
                        (result, ex) = (again, again_ex);
                        adjusted = Some(refused_first);
                    }
                    _ => target.assertion_audience = default,
                }
            }
            // A JWT client whose tokens are DPoP-bound (a FAPI 2.0 server, say) is found so
            // as the main client is: a proof, then the token.
            let wants_dpop = result.as_ref().is_ok_and(|r| {
                access_token(r).is_none() && !is_refusal(r) && super::token::suggests_dpop(r)
            });
            if wants_dpop && target.dpop.is_some() {
                let mut bound = client.clone();
                bound.dpop_bound = true;
                let url = target.token_url.clone();
                let scope = target.baseline.token_scope.clone();
                let mut form = vec![("grant_type", "client_credentials")];
                if let Some(scope) = &scope {
                    form.push(("scope", scope));
                }
                let step = format!("token request with {method} and a DPoP proof");
                let (again, again_ex) = self.post(target, &url, &bound, &form, &step).await;
                if again.as_ref().ok().and_then(access_token).is_some() {
                    if let Some(c) = target.client_mut(role) {
                        c.dpop_bound = true;
                    }
                    (result, ex) = (again, again_ex);
                }
            }
            let token = match result {
                Ok(r) if !is_refusal(&r) => {
                    default_audience_worked |= adjusted.is_none();
                    let (status, message) = match &adjusted {
                        Some(first) => (
                            Status::Adjusted,
                            format!(
                                "{} got a token with {method} once the assertion's aud was the issuer {} (the token endpoint URL as aud got {first}): the cases use the issuer, as --client-assertion-aud issuer would",
                                client.id,
                                target.assertion_aud()
                            ),
                        ),
                        None if access_token(&r).is_some() => {
                            (Status::Ok, format!("{} got a token with {method}", client.id))
                        }
                        // Authenticated, but refused for another reason (a scope, say): the
                        // cases only need the client to authenticate.
                        None => (
                            Status::Ok,
                            format!(
                                "{} authenticated with {method} (the token request got {})",
                                client.id,
                                r.brief()
                            ),
                        ),
                    };
                    self.record(&subject, status, message, vec![ex]);
                    access_token(&r).map(str::to_owned)
                }
                Ok(r) => {
                    let why = format!(
                        "the {method} client {} got {} from {}: {advice}{}",
                        client.id,
                        super::answer(&r),
                        target.token_url,
                        audience_advice(target, tried_issuer)
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
                let mut builder = AssertionBuilder::new(key, &client.id, target.assertion_aud());
                if let Ok(again) = builder.build(&AssertionFlaw::None, unix_now()) {
                    let form = [("token", token.as_str())];
                    let request = asserted(&url, &form, &client.id, again.expose());
                    let _ = self.send(request, "revoke").await;
                }
            }
        }
    }

    /// A token request by `client` with a well-formed assertion for the target's current
    /// audience; `Err` when the assertion cannot be made.
    async fn asserted_token(
        &mut self,
        target: &Target,
        client: &ClientCredentials,
        key: &Arc<SigningKey>,
        method: &str,
    ) -> Result<(Result<Response, SendError>, Exchange), String> {
        let mut builder = AssertionBuilder::new(key.clone(), &client.id, target.assertion_aud());
        let assertion = builder
            .build(&AssertionFlaw::None, unix_now())
            .map_err(|e| format!("cannot make {}'s client assertion: {e}", client.id))?;
        let scope = target.baseline.token_scope.clone();
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = &scope {
            form.push(("scope", scope));
        }
        let request = asserted(&target.token_url, &form, &client.id, assertion.expose());
        let step = format!(
            "token request with {method} (aud {})",
            target.assertion_aud()
        );
        Ok(self.send(request, &step).await)
    }
}

/// A client authentication failure (401, `invalid_client`) or a 403: what an assertion the
/// server does not take gets.
fn is_refusal(r: &Response) -> bool {
    is_client_auth_failure(r) || r.status == 403
}

fn refused(result: &Result<Response, SendError>) -> bool {
    result.as_ref().is_ok_and(is_refusal)
}

/// The issuer is worth trying: the user chose no audience, the token endpoint URL was the
/// one sent, and the issuer is known and differs from it.
pub(super) fn may_try_issuer(target: &Target) -> bool {
    !target.assertion_audience_given
        && target.assertion_audience == AssertionAudience::TokenEndpoint
        && target
            .issuer
            .as_deref()
            .is_some_and(|issuer| issuer != target.token_url)
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
