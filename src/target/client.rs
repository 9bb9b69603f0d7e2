//! A client the runner acts as: its id, how it authenticates (any of the token endpoint
//! authentication methods of RFC 8414 §2 / the IANA registry) and what it authenticates
//! with. Secrets and keys print as redacted.

use std::sync::Arc;

use reference_server::Secret;

use crate::jose::SigningKey;
use crate::mtls::Cert;

/// How a client authenticates at the token, introspection and revocation endpoints, by
/// its registered name (RFC 7591 §2 `token_endpoint_auth_method`, RFC 8705 §2.1.1, §2.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
pub enum AuthMethod {
    /// HTTP Basic with the id and secret (RFC 6749 §2.3.1).
    #[default]
    #[value(name = "client_secret_basic")]
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the body (RFC 6749 §2.3.1).
    #[value(name = "client_secret_post")]
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2; `--client-key FILE`).
    #[value(name = "private_key_jwt")]
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A JWT MACed (HS256) with the client's secret.
    #[value(name = "client_secret_jwt")]
    #[serde(rename = "client_secret_jwt")]
    ClientSecretJwt,
    /// Mutual TLS with a CA-issued certificate (RFC 8705 §2.1; `--client-cert`).
    #[value(name = "tls_client_auth")]
    #[serde(rename = "tls_client_auth")]
    TlsClientAuth,
    /// Mutual TLS with a registered self-signed certificate (RFC 8705 §2.2; `--client-cert`).
    #[value(name = "self_signed_tls_client_auth")]
    #[serde(rename = "self_signed_tls_client_auth")]
    SelfSignedTlsClientAuth,
    /// A public client: `client_id` alone.
    #[value(name = "none")]
    #[serde(rename = "none")]
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }

    /// The method authenticates with the client's secret.
    pub fn needs_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }

    /// A JWT client assertion (RFC 7523 §2.2).
    pub fn is_jwt(self) -> bool {
        matches!(
            self,
            AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt
        )
    }

    /// The certificate a client of this method presents in the TLS handshake.
    pub fn cert(self) -> Option<Cert> {
        match self {
            AuthMethod::TlsClientAuth => Some(Cert::Client),
            AuthMethod::SelfSignedTlsClientAuth => Some(Cert::SelfSigned),
            _ => None,
        }
    }
}

/// A client the runner may act as. The secret and the key print as redacted.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub id: String,
    /// `None` for a client without one (public, `private_key_jwt`, mutual TLS).
    pub secret: Option<Secret>,
    /// What signs its client assertions (`private_key_jwt`: its private key;
    /// `client_secret_jwt`: its secret), for JWT client authentication (RFC 7523 §2.2).
    pub jwt_key: Option<Arc<SigningKey>>,
    /// How it authenticates where a case does not say (cases about a method send what
    /// they say).
    pub method: AuthMethod,
    /// Registered with `dpop_bound_access_tokens` (RFC 9449 §5.2), as the preflight found:
    /// every token request carries a proof and its tokens are used with one.
    pub dpop_bound: bool,
}

impl ClientCredentials {
    /// A `client_secret_basic` client.
    pub fn new(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials::with_method(id, Some(secret), AuthMethod::ClientSecretBasic)
    }

    /// A client of `method` with this secret, if any (no JWT key).
    pub fn with_method(id: &str, secret: Option<&str>, method: AuthMethod) -> ClientCredentials {
        ClientCredentials {
            id: id.to_owned(),
            secret: secret.map(Secret::new),
            jwt_key: None,
            method,
            dpop_bound: false,
        }
    }

    /// A `private_key_jwt` client: a private key (and no secret).
    pub fn with_key(id: &str, key: SigningKey) -> ClientCredentials {
        ClientCredentials {
            jwt_key: Some(Arc::new(key)),
            ..ClientCredentials::with_method(id, None, AuthMethod::PrivateKeyJwt)
        }
    }

    /// A `client_secret_jwt` client: its assertions are HS256 keyed with `secret`.
    pub fn with_hmac_secret(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials {
            jwt_key: Some(Arc::new(SigningKey::hmac(Secret::new(secret), None))),
            ..ClientCredentials::with_method(id, Some(secret), AuthMethod::ClientSecretJwt)
        }
    }

    /// Its secret, kept beside another method (a `private_key_jwt` client may also have
    /// one, for the cases about secrets).
    pub fn and_secret(mut self, secret: Option<&str>) -> ClientCredentials {
        if let Some(secret) = secret {
            self.secret = Some(Secret::new(secret));
        }
        self
    }
}
