//! The client an issuance transaction acts as, prepared once per run: how it authenticates
//! at the token endpoint (any method of `--client-auth`, secretless ones included), whether
//! its tokens are DPoP-bound (a fresh proof per request, carrying the nonce the server last
//! gave), and the HTTP client that presents its certificate under mutual TLS.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use url::Url;

use super::context::Endpoint;
use super::recorder::Problem;
use super::send::Call;
use crate::form::encode;
use crate::jose::assertion::CLIENT_ASSERTION_TYPE;
use crate::jose::SigningKey;
use crate::target::{AuthMethod, ClientCredentials};

const FORM: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// A client as the load's issuance transactions use it.
pub struct LoadClient {
    auth: Auth,
    /// The run's DPoP key when this client's tokens are DPoP-bound (RFC 9449).
    pub dpop: Option<Arc<SigningKey>>,
    /// The HTTP client presenting this client's certificate (RFC 8705), when it has one.
    pub http: Option<reqwest::Client>,
}

/// How the token request carries the client's credentials.
enum Auth {
    /// `Authorization: Basic …` (client_secret_basic) and the plain body.
    Basic(HeaderValue, Bytes),
    /// The whole body with the credentials in it: client_secret_post, or only `client_id`
    /// for `none` and the mutual-TLS methods.
    Body(Bytes),
    /// A client assertion signed for each request (private_key_jwt, client_secret_jwt),
    /// appended to the body up to `client_assertion=`.
    Assertion {
        key: Arc<SigningKey>,
        client_id: String,
        audience: String,
        prefix: String,
    },
}

impl LoadClient {
    /// `client` as the load sends it: `issue_body` is `grant_type=…[&scope=…]`, `audience`
    /// its assertions' `aud`, `http` the client presenting its certificate (for the mTLS
    /// methods, which need one).
    pub fn new(
        client: &ClientCredentials,
        issue_body: &str,
        audience: &str,
        http: Option<reqwest::Client>,
    ) -> Result<LoadClient, String> {
        let secret = || {
            client.secret.as_ref().map(|s| s.expose()).ok_or_else(|| {
                format!(
                    "client {} authenticates with {}, which needs its secret (--client-secret)",
                    client.id,
                    client.method.as_str()
                )
            })
        };
        let id = encode(&client.id);
        let auth = match client.method {
            AuthMethod::ClientSecretBasic => Auth::Basic(
                basic(&client.id, secret()?),
                Bytes::from(issue_body.to_owned()),
            ),
            AuthMethod::ClientSecretPost => Auth::Body(Bytes::from(format!(
                "{issue_body}&client_id={id}&client_secret={}",
                encode(secret()?)
            ))),
            AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt => Auth::Assertion {
                key: client.jwt_key.clone().ok_or_else(|| {
                    format!("client {} has no key for its client assertions", client.id)
                })?,
                client_id: client.id.clone(),
                audience: audience.to_owned(),
                prefix: format!(
                    "{issue_body}&client_id={id}&client_assertion_type={}&client_assertion=",
                    encode(CLIENT_ASSERTION_TYPE)
                ),
            },
            AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth => {
                if http.is_none() {
                    return Err(format!(
                        "client {} authenticates with {}, which needs its certificate over HTTPS (--client-cert FILE --client-cert-key FILE)",
                        client.id,
                        client.method.as_str()
                    ));
                }
                Auth::Body(Bytes::from(format!("{issue_body}&client_id={id}")))
            }
            AuthMethod::None => Auth::Body(Bytes::from(format!("{issue_body}&client_id={id}"))),
        };
        Ok(LoadClient {
            auth,
            dpop: None,
            http,
        })
    }

    /// The `token_type` its tokens must have: `DPoP` when its requests carry proofs.
    pub fn token_type(&self) -> &'static str {
        if self.dpop.is_some() {
            "dpop"
        } else {
            "bearer"
        }
    }

    /// Its token request to `endpoint`, authenticated (a fresh assertion each time), sent
    /// through its own HTTP client when it has one.
    pub(super) fn token_call<'a>(&'a self, endpoint: &'a Endpoint) -> Result<Call<'a>, Problem> {
        let call = Call::post(endpoint)
            .header(CONTENT_TYPE, FORM)
            .via(self.http.as_ref());
        Ok(match &self.auth {
            Auth::Basic(header, body) => call
                .header(AUTHORIZATION, header.clone())
                .body(body.clone()),
            Auth::Body(body) => call.body(body.clone()),
            Auth::Assertion {
                key,
                client_id,
                audience,
                prefix,
            } => {
                use crate::jose::{unix_now, AssertionBuilder, AssertionFlaw};
                let assertion = AssertionBuilder::new(key.clone(), client_id, audience)
                    .build(&AssertionFlaw::None, unix_now())
                    .map_err(|_| Problem::from("cannot sign the client assertion"))?;
                call.body(format!("{prefix}{}", assertion.expose()))
            }
        })
    }
}

/// `Basic base64(id:secret)`, each form-encoded first (RFC 6749 §2.3.1), marked sensitive.
pub fn basic(id: &str, secret: &str) -> HeaderValue {
    use base64::Engine;
    let pair = format!("{}:{}", encode(id), encode(secret));
    let text = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    );
    // Base64 and "Basic " are visible ASCII: always a valid header value.
    let mut value = HeaderValue::from_str(&text).expect("base64 is a valid header value");
    value.set_sensitive(true);
    value
}

/// The DPoP nonce a server last gave (RFC 9449 §8, §9), shared by every user: one server
/// nonce serves all of them, and a new one replaces it whenever an answer carries it.
#[derive(Default)]
pub struct NonceSlot(Mutex<Option<Arc<str>>>);

impl NonceSlot {
    pub fn get(&self) -> Option<Arc<str>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Keeps the `DPoP-Nonce` of `headers` if it differs from the one kept; whether it did.
    pub fn offer(&self, headers: &HeaderMap) -> bool {
        let Some(nonce) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.as_deref() == Some(nonce) {
            return false;
        }
        *kept = Some(Arc::from(nonce));
        true
    }
}

/// The nonces of the token endpoint and of the resource, which may be different servers.
#[derive(Default)]
pub struct Nonces {
    pub token: NonceSlot,
    pub resource: NonceSlot,
}

/// A DPoP proof for one request (RFC 9449 §4.2): a fresh `jti`, the `ath` of `token` when
/// one is presented, and `nonce` when the server gave one.
pub fn proof(
    key: &Arc<SigningKey>,
    method: &str,
    url: &Url,
    token: Option<&str>,
    nonce: Option<&str>,
) -> Option<String> {
    use crate::jose::dpop::ProofTarget;
    use crate::jose::{unix_now, DpopFlaw, DpopProofBuilder};
    let target = ProofTarget {
        method,
        url: url.as_str(),
        access_token: token,
    };
    let mut builder = DpopProofBuilder::new(key.clone()).ok()?;
    builder.set_nonce(nonce);
    builder
        .build(DpopFlaw::None, target, unix_now())
        .ok()
        .map(|proof| proof.expose().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_kept_until_another_comes() {
        let slot = NonceSlot::default();
        let mut headers = HeaderMap::new();
        assert!(!slot.offer(&headers));
        headers.insert("dpop-nonce", HeaderValue::from_static("n1"));
        assert!(slot.offer(&headers));
        assert!(!slot.offer(&headers), "the same nonce is no news");
        assert_eq!(slot.get().as_deref(), Some("n1"));
        headers.insert("dpop-nonce", HeaderValue::from_static("n2"));
        assert!(slot.offer(&headers));
        assert_eq!(slot.get().as_deref(), Some("n2"));
    }

    #[test]
    fn a_secret_method_without_a_secret_is_refused_with_the_flag_to_pass() {
        let client = ClientCredentials::with_method("c", None, AuthMethod::ClientSecretPost);
        let why = LoadClient::new(&client, "grant_type=client_credentials", "aud", None)
            .err()
            .unwrap();
        assert!(why.contains("--client-secret"), "{why}");
        let client = ClientCredentials::with_method("c", None, AuthMethod::TlsClientAuth);
        let why = LoadClient::new(&client, "grant_type=client_credentials", "aud", None)
            .err()
            .unwrap();
        assert!(why.contains("--client-cert"), "{why}");
    }
}
