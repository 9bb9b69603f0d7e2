//! The preflight's requests as a client: authenticated the way that client does (any
//! method of `--client-auth`), and at the token endpoint with a DPoP proof when the client
//! is DPoP-bound, sent once more with the server's nonce when the answer asks for one (a
//! fresh assertion too: a server may spend the first one's `jti` before it reads the proof).

use base64::Engine;

use super::Probe;
use crate::exchange::{Exchange, RequestRecord, Response};
use crate::http::{BuiltRequest, SendError};
use crate::jose::assertion::CLIENT_ASSERTION_TYPE;
use crate::jose::dpop::ProofTarget;
use crate::jose::{unix_now, AssertionBuilder, AssertionFlaw, DpopFlaw, DpopProofBuilder};
use crate::target::{AuthMethod, ClientCredentials, Target};

impl Probe<'_> {
    /// A form POST to `url` as `client`, with a DPoP proof when it is DPoP-bound and `url`
    /// is the token endpoint.
    pub(super) async fn post(
        &mut self,
        target: &Target,
        url: &str,
        client: &ClientCredentials,
        form: &[(&str, &str)],
        step: &str,
    ) -> (Result<Response, SendError>, Exchange) {
        let proof = client.dpop_bound && url == target.token_url;
        self.post_as(target, url, client, form, step, proof).await
    }

    /// [`Probe::post`], with a DPoP proof or not as `proof` says.
    pub(super) async fn post_as(
        &mut self,
        target: &Target,
        url: &str,
        client: &ClientCredentials,
        form: &[(&str, &str)],
        step: &str,
        proof: bool,
    ) -> (Result<Response, SendError>, Exchange) {
        let mut proofs = match (&target.dpop, proof) {
            (Some(key), true) => DpopProofBuilder::new(key.key.clone()).ok(),
            _ => None,
        };
        let mut first_attempt = true;
        loop {
            let (mut request, cert) = match authenticated(target, url, client, form) {
                Ok(built) => built,
                Err(why) => return unsent(url, step, why),
            };
            let http = match cert {
                Some(http) => http,
                None => self.http,
            };
            if let Some(builder) = proofs.as_mut() {
                let at = ProofTarget {
                    method: "POST",
                    url,
                    access_token: None,
                };
                match builder.build(DpopFlaw::None, at, unix_now()) {
                    Ok(proof) => {
                        // A proof is a credential: wherever an answer echoes it, it is redacted.
                        self.redactor.add(proof.expose());
                        request.headers.push(("dpop".into(), proof.expose().into()));
                    }
                    Err(e) => return unsent(url, step, format!("cannot make a DPoP proof: {e}")),
                }
            }
            let (result, ex) = self.send_via(http, request, step).await;
            let nonce = match (&result, proofs.as_mut()) {
                (Ok(r), Some(builder)) if first_attempt && matches!(r.status, 400 | 401) => r
                    .header("dpop-nonce")
                    .filter(|n| builder.nonce() != Some(*n))
                    .map(str::to_owned),
                _ => None,
            };
            match (nonce, proofs.as_mut()) {
                (Some(nonce), Some(builder)) => {
                    builder.set_nonce(Some(&nonce));
                    first_attempt = false;
                }
                _ => return (result, ex),
            }
        }
    }
}

/// The request `client` sends to `url` with `form`, authenticated by its method, and the
/// HTTP client that presents its certificate when it uses mutual TLS.
fn authenticated<'t>(
    target: &'t Target,
    url: &str,
    client: &ClientCredentials,
    form: &[(&str, &str)],
) -> Result<(BuiltRequest, Option<&'t reqwest::Client>), String> {
    let mut headers = vec![(
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    )];
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.extend_pairs(form);
    let secret = client.secret.as_ref().map_or("", |s| s.expose());
    let mut http = None;
    match client.method {
        AuthMethod::ClientSecretBasic => {
            let encode = |s: &str| -> String {
                url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
            };
            let pair = format!("{}:{}", encode(&client.id), encode(secret));
            let basic = base64::engine::general_purpose::STANDARD.encode(pair);
            headers.push(("authorization".into(), format!("Basic {basic}")));
        }
        AuthMethod::ClientSecretPost => {
            body.append_pair("client_id", &client.id);
            body.append_pair("client_secret", secret);
        }
        AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt => {
            let key = client
                .jwt_key
                .clone()
                .ok_or_else(|| format!("{} has no key for its client assertions", client.id))?;
            let assertion = AssertionBuilder::new(key, &client.id, target.assertion_aud())
                .build(&AssertionFlaw::None, unix_now())
                .map_err(|e| format!("cannot make {}'s client assertion: {e}", client.id))?;
            body.append_pair("client_id", &client.id);
            body.append_pair("client_assertion_type", CLIENT_ASSERTION_TYPE);
            body.append_pair("client_assertion", assertion.expose());
        }
        AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
            let cert = client.method.cert().unwrap_or(crate::mtls::Cert::Client);
            http = Some(
                target
                    .mtls
                    .as_ref()
                    .and_then(|m| m.client(cert))
                    .ok_or_else(|| {
                        format!(
                            "{} authenticates with {}, which needs its certificate over HTTPS (--client-cert FILE --client-cert-key FILE)",
                            client.id,
                            client.method.as_str()
                        )
                    })?,
            );
            body.append_pair("client_id", &client.id);
        }
        AuthMethod::None => {
            body.append_pair("client_id", &client.id);
        }
    }
    let request = BuiltRequest {
        method: reqwest::Method::POST,
        url: url.to_owned(),
        headers,
        body: body.finish(),
        scope: form
            .iter()
            .find(|(name, _)| *name == "scope")
            .map(|(_, value)| (*value).to_owned()),
    };
    Ok((request, http))
}

/// A request that could not be made, as an exchange without an answer.
fn unsent(url: &str, step: &str, why: String) -> (Result<Response, SendError>, Exchange) {
    let exchange = Exchange {
        step: step.to_owned(),
        request: RequestRecord {
            method: "POST".into(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: String::new(),
        },
        response: None,
        error: Some(why.clone()),
        race: None,
    };
    (Err(SendError::Transport(why)), exchange)
}
