//! The preflight's token requests: the main client's (with the scope the target wants, or
//! the reason there is no token and what to check), and the second client's credentials.

use serde_json::Value;

use super::{Issued, Probe, Status, MAX_SCOPES_TRIED};
use crate::case::Role;
use crate::exchange::{Exchange, Response};
use crate::http::{BuiltRequest, SendError};
use crate::target::{ClientCredentials, Target};

impl Probe<'_> {
    /// The main client's token, as configured, then with a scope if the target wants one.
    pub(super) async fn main_token(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
    ) -> Option<Issued> {
        let subject = format!("token ({})", main.id);
        let url = target.token_url.clone();
        let (result, first) = self
            .token(target, main, None, "token request as configured")
            .await;
        let (result, first) = match self.adjust_main(target, main, result, first).await {
            Adjusted::Issued(issued) => return Some(issued),
            Adjusted::No(first_answer) => *first_answer,
        };
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let message = unreachable_message(&url, &e);
                self.record(&subject, Status::Fatal, message, vec![first]);
                return None;
            }
        };
        if let Some(token) = access_token(&response) {
            let scope = response_scope(&response, None);
            let token = token.to_owned();
            self.record(
                &subject,
                Status::Ok,
                format!("{} got a token from {url}", main.id),
                vec![first],
            );
            return Some(Issued { token, scope });
        }
        // The user's usual scope, else a few the metadata advertises.
        let candidates: Vec<String> = match target.scopes.first() {
            Some(scope) => vec![scope.clone()],
            None => target
                .advertised_scopes
                .iter()
                .take(MAX_SCOPES_TRIED)
                .cloned()
                .collect(),
        };
        if !may_want_scope(&response) {
            let mut message = refusal_message(main, target, &response);
            let mut exchanges = vec![first];
            if is_client_auth_failure(&response) {
                if let Some(note) = self.post_diagnosis(target, main).await {
                    message.push_str(&note.0);
                    exchanges.push(note.1);
                }
            }
            self.record(&subject, Status::Fatal, message, exchanges);
            return None;
        }
        let mut exchanges = vec![first];
        let mut answers = Vec::new();
        for scope in &candidates {
            let (result, ex) = self
                .token(target, main, Some(scope), "token request with scope")
                .await;
            exchanges.push(ex);
            match result {
                Ok(r) if access_token(&r).is_some() => {
                    let token = access_token(&r).unwrap_or_default().to_owned();
                    let scope_held = response_scope(&r, Some(scope));
                    target.baseline.token_scope = Some(scope.clone());
                    self.record(
                        &subject,
                        Status::Adjusted,
                        format!(
                            "{url} refused a token request without scope ({}) and issued one with scope={scope}: cases that need a token send scope={scope}; cases about scope send exactly what they say",
                            super::answer(&response)
                        ),
                        exchanges,
                    );
                    return Some(Issued {
                        token,
                        scope: scope_held,
                    });
                }
                Ok(r) => answers.push(format!("scope={scope}: {}", super::answer(&r))),
                Err(e) => {
                    let message = unreachable_message(&url, &e);
                    self.record(&subject, Status::Fatal, message, exchanges);
                    return None;
                }
            }
        }
        let advice = if target.scopes.is_empty() {
            "the server may require a scope: pass --scope SCOPE"
        } else {
            "check the scope (--scope) and the client's registration"
        };
        let tried = if answers.is_empty() {
            String::new()
        } else {
            format!(
                " (tried {}{})",
                answers.join(", "),
                if target.scopes.is_empty() {
                    " from the metadata's scopes_supported"
                } else {
                    ""
                }
            )
        };
        let message = format!(
            "{} got {} from {url} without a scope{tried}: {advice}",
            main.id,
            super::answer(&response)
        );
        self.record(&subject, Status::Fatal, message, exchanges);
        None
    }

    /// What the preflight tries when the main client's first token request is refused in
    /// a way another configuration may cure: with a DPoP proof when the answer suggests
    /// the client is DPoP-bound (RFC 9449 §5.2) and the run has a DPoP key; with the
    /// issuer as the assertion's `aud` when a JWT was refused and the user chose none
    /// (RFC 7523 §3 item 3: "configured out of band"). What works is recorded as
    /// `adjusted` and the cases use it.
    async fn adjust_main(
        &mut self,
        target: &mut Target,
        main: &ClientCredentials,
        result: Result<Response, SendError>,
        first: Exchange,
    ) -> Adjusted {
        let subject = format!("token ({})", main.id);
        let url = target.token_url.clone();
        let Ok(first_answer) = &result else {
            return Adjusted::No(Box::new((result, first)));
        };
        if access_token(first_answer).is_some() {
            return Adjusted::No(Box::new((result, first)));
        }
        let first_said = super::answer(first_answer);
        let mut notes = Vec::new();
        let mut exchanges = vec![first.clone()];
        let mut latest = (result, first);
        // The issuer as `aud`: kept once the server authenticates the client with it, even
        // if the request is then refused for another reason (a missing DPoP proof, say).
        let auth_refused = latest.0.as_ref().is_ok_and(is_client_auth_failure);
        if main.method.is_jwt() && auth_refused && super::jwt::may_try_issuer(target) {
            let default = target.assertion_audience;
            target.assertion_audience = crate::target::AssertionAudience::Issuer;
            let again = self
                .token(target, main, None, "token request with the issuer as aud")
                .await;
            if again.0.as_ref().is_ok_and(|r| !is_client_auth_failure(r)) {
                notes.push(format!(
                    "its assertion's aud is the issuer {} (the token endpoint URL as aud got {first_said}): the cases use the issuer, as --client-assertion-aud issuer would",
                    target.assertion_aud()
                ));
                exchanges.push(again.1.clone());
                latest = again;
            } else {
                target.assertion_audience = default;
            }
        }
        let wants_dpop = latest
            .0
            .as_ref()
            .is_ok_and(|r| access_token(r).is_none() && !main.dpop_bound && suggests_dpop(r));
        if wants_dpop && target.dpop.is_some() {
            let mut bound = main.clone();
            bound.dpop_bound = true;
            let mut again = self
                .token(target, &bound, None, "token request with a DPoP proof")
                .await;
            // With the proof, the server may want a scope too: the usual one, with a proof.
            let scope = target.scopes.first().cloned();
            let wants_scope = again
                .0
                .as_ref()
                .is_ok_and(|r| access_token(r).is_none() && may_want_scope(r) && scope.is_some());
            if let (true, Some(scope)) = (wants_scope, scope) {
                exchanges.push(again.1.clone());
                again = self
                    .token(
                        target,
                        &bound,
                        Some(&scope),
                        "token request with a DPoP proof and scope",
                    )
                    .await;
                if again.0.as_ref().ok().and_then(access_token).is_some() {
                    target.baseline.token_scope = Some(scope.clone());
                    notes.push(format!(
                        "it needs a scope: cases that need a token send scope={scope}"
                    ));
                }
            }
            if again.0.as_ref().ok().and_then(access_token).is_some() {
                let said = latest.0.as_ref().map(super::answer).unwrap_or_default();
                notes.push(format!(
                    "it is DPoP-bound (RFC 9449 §5.2: without a proof it got {said}), so every token request as it carries a proof, and the cases about RFC 6750 bearer use of its tokens are skipped"
                ));
                if let Some(client) = target.client_mut(Role::Main) {
                    client.dpop_bound = true;
                }
                exchanges.push(again.1.clone());
                latest = again;
            }
        }
        let Some(token) = latest.0.as_ref().ok().and_then(access_token) else {
            return Adjusted::No(Box::new(latest));
        };
        let issued = Issued {
            token: token.to_owned(),
            scope: latest.0.as_ref().ok().and_then(|r| response_scope(r, None)),
        };
        let message = format!("{} got a token from {url}: {}", main.id, notes.join("; "));
        self.record(&subject, Status::Adjusted, message, exchanges);
        Adjusted::Issued(issued)
    }

    /// After Basic was refused: does `client_secret_post` work? Then the credentials are
    /// right and the server does not take HTTP Basic, which RFC 6749 §2.3.1 requires.
    async fn post_diagnosis(
        &mut self,
        target: &Target,
        main: &ClientCredentials,
    ) -> Option<(String, Exchange)> {
        if main.method != crate::target::AuthMethod::ClientSecretBasic {
            return None;
        }
        let secret = main.secret.as_ref()?.expose().to_owned();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "client_credentials"),
                ("client_id", main.id.as_str()),
                ("client_secret", secret.as_str()),
            ])
            .finish();
        let request = BuiltRequest {
            method: reqwest::Method::POST,
            url: target.token_url.clone(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body,
            scope: None,
        };
        let (result, ex) = self
            .send(request, "token request with client_secret_post")
            .await;
        let works = result.as_ref().is_ok_and(|r| access_token(r).is_some());
        works.then(|| {
            (
                " (the same credentials in the body, client_secret_post, got a token: the server does not accept HTTP Basic, which RFC 6749 §2.3.1 requires it to support)".to_owned(),
                ex,
            )
        })
    }

    /// The second client's token, in the shape that works; its token, for clean-up.
    pub(super) async fn second_client(&mut self, target: &mut Target) -> Option<String> {
        let second = target.clients.get(&Role::Second).cloned()?;
        let subject = format!("token ({})", second.id);
        let scope = target.baseline.token_scope.clone();
        let (result, ex) = self
            .token(target, &second, scope.as_deref(), "token request")
            .await;
        match result {
            Ok(r) if access_token(&r).is_some() => {
                self.record(
                    &subject,
                    Status::Ok,
                    format!("{} got a token", second.id),
                    vec![ex],
                );
                access_token(&r).map(str::to_owned)
            }
            // Anything but a failed authentication means the credentials were accepted
            // (a scope this client may not have, say): the cases only need it to act.
            Ok(r) if !is_client_auth_failure(&r) && r.status != 403 => {
                self.record(
                    &subject,
                    Status::Ok,
                    format!(
                        "{} authenticated (the token request got {})",
                        second.id,
                        super::answer(&r)
                    ),
                    vec![ex],
                );
                None
            }
            Ok(r) => {
                let advice = if is_client_auth_failure(&r) {
                    ": check --second-client-id/--second-client-secret (or GRANTCHECK_SECOND_CLIENT_SECRET)"
                } else {
                    ""
                };
                let why = format!(
                    "the second client {} got {} from {}{advice}",
                    second.id,
                    super::answer(&r),
                    target.token_url
                );
                self.client_unusable(target, Role::Second, &subject, why, vec![ex]);
                None
            }
            Err(SendError::Transport(e) | SendError::RateLimited(e)) => {
                let why = format!("the second client's token request failed: {e}");
                self.client_unusable(target, Role::Second, &subject, why, vec![ex]);
                None
            }
        }
    }
}

pub(super) fn access_token(r: &Response) -> Option<&str> {
    if !(200..300).contains(&r.status) {
        return None;
    }
    r.json.as_ref()?.get("access_token")?.as_str()
}

/// The scope a token response says the token carries: `scope`, else what was requested.
pub(super) fn response_scope(r: &Response, requested: Option<&str>) -> Option<String> {
    r.json
        .as_ref()
        .and_then(|j| j.get("scope"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(requested.map(str::to_owned))
}

fn error_code(r: &Response) -> Option<&str> {
    r.json.as_ref()?.get("error")?.as_str()
}

/// A failed client authentication: 401, or `invalid_client` (RFC 6749 §5.2).
pub(super) fn is_client_auth_failure(r: &Response) -> bool {
    r.status == 401 || error_code(r) == Some("invalid_client")
}

/// A refusal that asking with a scope may cure: `invalid_scope`, a 403, or an
/// `invalid_request` that names the scope. Client authentication failures are not.
fn may_want_scope(r: &Response) -> bool {
    if is_client_auth_failure(r) {
        return false;
    }
    let mentions_scope = r
        .json
        .as_ref()
        .and_then(|j| j.get("error_description"))
        .and_then(Value::as_str)
        .is_some_and(|d| d.to_ascii_lowercase().contains("scope"));
    match error_code(r) {
        Some("invalid_scope") => true,
        Some("invalid_request") => mentions_scope,
        _ => r.status == 403,
    }
}

/// The preflight's first answer suggests the client must send DPoP proofs: a DPoP error
/// code (RFC 9449 §7.1, §8), a DPoP challenge, an error that names DPoP, or `invalid_grant`
/// to a plain client-credentials request (what node-oidc-provider answers a DPoP-bound
/// client without a proof; the grant itself has nothing else to be invalid about).
pub(super) fn suggests_dpop(r: &Response) -> bool {
    let description = r
        .json
        .as_ref()
        .and_then(|j| j.get("error_description"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_ascii_lowercase();
    matches!(
        error_code(r),
        Some("invalid_dpop_proof" | "use_dpop_nonce" | "invalid_grant")
    ) || description.contains("dpop")
        || r.header("www-authenticate")
            .is_some_and(|c| c.trim_start().to_ascii_lowercase().starts_with("dpop"))
}

/// What the preflight did after the first answer, for [`Probe::main_token`].
enum Adjusted {
    /// Another configuration got the token.
    Issued(Issued),
    /// Nothing to adjust, or nothing worked: the first answer stands.
    No(Box<(Result<Response, SendError>, Exchange)>),
}

/// What to check when the main client's authentication was refused, by its method.
fn auth_advice(main: &ClientCredentials) -> &'static str {
    use crate::target::AuthMethod as M;
    match main.method {
        M::ClientSecretBasic | M::ClientSecretPost => {
            "check --client-id/--client-secret (or GRANTCHECK_CLIENT_SECRET); a client registered for another method needs --client-auth private_key_jwt --client-key FILE, or mutual TLS: --client-auth tls_client_auth --client-cert FILE --client-cert-key FILE"
        }
        M::PrivateKeyJwt => {
            "check --client-id, --client-key (the key registered for the client, --client-key-id its kid) and the assertion's aud (--client-assertion-aud issuer or token-endpoint)"
        }
        M::ClientSecretJwt => {
            "check --client-id, --client-secret and the assertion's aud (--client-assertion-aud issuer or token-endpoint)"
        }
        M::TlsClientAuth | M::SelfSignedTlsClientAuth => {
            "check --client-id and --client-cert/--client-cert-key (the certificate and subject registered for the client)"
        }
        M::None => "the client is public (--client-auth none): check --client-id and whether the server lets it use the client_credentials grant",
    }
}

/// What came back and what to check, for a main client that got no token.
fn refusal_message(main: &ClientCredentials, target: &Target, r: &Response) -> String {
    let (id, url) = (&main.id, &target.token_url);
    let got = super::answer(r);
    let advice = if is_client_auth_failure(r) {
        auth_advice(main)
    } else if suggests_dpop(r) && !main.dpop_bound && target.dpop.is_none() {
        "the client may need DPoP proofs (registered with dpop_bound_access_tokens, RFC 9449 §5.2): pass --dpop ES256 (or another algorithm the server takes)"
    } else if suggests_dpop(r) && !main.dpop_bound {
        "a token request with a DPoP proof was refused too: check the client's registration, --scope and --dpop's algorithm"
    } else if matches!(r.status, 404 | 405) {
        "check --token-url (or the issuer's metadata)"
    } else if (200..300).contains(&r.status) {
        "no access_token in it: is it a token endpoint? check --token-url"
    } else if r.status == 501 {
        // A static file server (`python3 -m http.server`, say) answers a POST so.
        "the server does not implement POST there: is it a token endpoint? check --token-url"
    } else if r.status >= 500 && r.json.is_none() {
        "no OAuth error in the answer: is it a token endpoint? check --token-url (if it is, see the server's logs)"
    } else if r.status >= 500 {
        "the server failed; see its logs"
    } else if error_code(r) == Some("unauthorized_client") {
        "check that the client may use the client_credentials grant"
    } else {
        "check the client's registration and --scope"
    };
    format!("{id} got {got} from {url}: {advice}")
}

fn unreachable_message(url: &str, e: &SendError) -> String {
    match e {
        SendError::Transport(e) => format!("the token endpoint {url} did not answer: {e}"),
        SendError::RateLimited(e) => format!(
            "{e} at {url}: wait and run again, or pass --pace SECS (and a larger --max-wait)"
        ),
    }
}
