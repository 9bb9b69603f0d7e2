//! The server under test: its endpoints (given, discovered through RFC 8414 with the OpenID
//! fallback, or those of the embedded reference server) and the clients to act as.
//!
//! `args` reads them from the command line and `config` from `grantcheck.toml`; `discover`
//! finds the endpoints; the preflight (`crate::preflight`) then fills in the [`Baseline`].

pub mod args;
mod certificates;
mod client;
pub mod config;
mod discover;

pub use args::{clients_from, TargetArgs};
pub use certificates::attach_client_certificates;
pub use client::{AuthMethod, ClientCredentials};
pub use discover::{discover, embedded, locate_metadata, metadata_urls, MetadataLocation};

use std::collections::BTreeMap;
use std::sync::Arc;

use reference_server::{ReferenceServer, ROOT_REALM};
use reqwest::Url;

use crate::case::{Endpoint, Role};
use crate::jose::SigningKey;

/// The `aud` of the client assertions grantcheck makes (RFC 7523 §3 item 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssertionAudience {
    /// The token endpoint URL: RFC 7523 §3 offers it, OIDC Core §9 recommends it.
    #[default]
    TokenEndpoint,
    /// The issuer identifier, as draft-ietf-oauth-rfc7523bis asks (falls back to the token
    /// endpoint URL when the issuer is unknown).
    Issuer,
}

/// The embedded server's `private_key_jwt` client key (test-only: fixtures/keys/README.md).
const EMBEDDED_JWT_CLIENT_KEY: &str = include_str!("../../fixtures/keys/client-es256.jwk.json");

/// Where and as whom the cases run.
#[derive(Debug, Clone)]
pub struct Target {
    /// A short name for reports: `embedded`, or the issuer's host and path.
    pub label: String,
    /// The issuer identifier, when known (from `--target` or the embedded server).
    pub issuer: Option<String>,
    pub token_url: String,
    pub introspection_url: Option<String>,
    pub revocation_url: Option<String>,
    pub resource_url: Option<String>,
    /// The metadata document's URL, when the target publishes one.
    pub metadata_url: Option<String>,
    /// Which of the locations tried it was found at.
    pub metadata_location: Option<MetadataLocation>,
    pub jwks_url: Option<String>,
    pub clients: BTreeMap<Role, ClientCredentials>,
    /// The `aud` of client assertions (`--client-assertion-aud`).
    pub assertion_audience: AssertionAudience,
    /// Whether the user chose the `aud` (`--client-assertion-aud`); otherwise the preflight
    /// may switch to the issuer when the token endpoint URL is refused.
    pub assertion_audience_given: bool,
    /// The user says the server implements RFC 9068 (`--rfc9068`, or the embedded server
    /// issuing RFC 9068 JWTs): the `jwt` cases are judged at their levels, not recorded.
    pub rfc9068: bool,
    /// Scopes the main client may request, the first being its usual one (`--scope`).
    pub scopes: Vec<String>,
    /// `scopes_supported` from the target's metadata: the preflight's fallback when a
    /// token request without scope is refused and no `--scope` was given.
    pub advertised_scopes: Vec<String>,
    /// A scope the main client may not have (`--forbidden-scope`).
    pub forbidden_scope: Option<String>,
    /// The scope the protected resource requires, when known (the embedded server's).
    pub resource_scope: Option<String>,
    /// The key DPoP proofs are signed with (RFC 9449), made for this run: `--dpop ALG`, or
    /// ES256 for the embedded server.
    pub dpop: Option<DpopKey>,
    /// `dpop_signing_alg_values_supported` from the target's metadata, when it has the member
    /// (RFC 9449 §5.1).
    pub dpop_algs: Option<Vec<String>>,
    /// The client certificates for mutual TLS (RFC 8705), each with its HTTP client: the
    /// embedded HTTPS run's fixtures, or `--client-cert`/`--client-cert-key`.
    pub mtls: Option<Arc<crate::mtls::MtlsClients>>,
    /// The run's TLS trust for the races' own connections (`http::race`); without it a race
    /// over HTTPS uses the client certificates' trust, else the system roots.
    pub race_tls: Option<Arc<rustls::ClientConfig>>,
    /// The origins (`scheme://host:port`) of the other nodes behind the issuer (`--node`):
    /// a cluster's cases send to each; none for a single node.
    pub nodes: Vec<String>,
    /// True for the in-process reference server.
    pub embedded: bool,
    /// What the preflight established; the cases build on it.
    pub baseline: Baseline,
}

/// A DPoP key made for one run (RFC 9449 §4.2: asymmetric). The key prints as redacted.
#[derive(Debug, Clone)]
pub struct DpopKey {
    pub key: std::sync::Arc<crate::jose::SigningKey>,
    /// Its RFC 7638 thumbprint: a token bound to it has `cnf.jkt` = this.
    pub jkt: String,
}

/// The strings of a metadata member that is an array of strings.
pub fn string_list(doc: &serde_json::Value, member: &str) -> Option<Vec<String>> {
    let list = doc.get(member)?.as_array()?;
    Some(
        list.iter()
            .filter_map(serde_json::Value::as_str)
            .map(str::to_owned)
            .collect(),
    )
}

impl DpopKey {
    /// A new key for `alg` (ES256, RS256, PS256 or EdDSA).
    pub fn generate(alg: crate::jose::Alg) -> Result<DpopKey, String> {
        if alg.is_symmetric() {
            return Err(format!(
                "--dpop {alg}: a DPoP key must be asymmetric (ES256, RS256, PS256, EdDSA; RFC 9449 §4.2)"
            ));
        }
        let key = crate::jose::SigningKey::generate(alg)
            .map_err(|e| format!("cannot make a {alg} DPoP key: {e}"))?;
        let jkt = key.thumbprint().unwrap_or_default();
        Ok(DpopKey {
            key: std::sync::Arc::new(key),
            jkt,
        })
    }
}

/// What the preflight found about the target before any case ran.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    /// A scope for token requests that name none: the target refused them without one.
    pub token_scope: Option<String>,
    /// Clients whose credentials the target refused, with the reason: cases acting as
    /// them are skipped, since their answers would say nothing about the rules.
    pub unusable_clients: BTreeMap<Role, String>,
    /// Endpoints that do not answer as configured (404, wrong URL), with the reason.
    pub unusable_endpoints: BTreeMap<Endpoint, String>,
    /// Whether introspection names the scope of a token that has one; `None`: unknown.
    pub introspection_reports_scope: Option<bool>,
    /// The TLS probes of the token, introspection and resource origins (`--profile fapi2`
    /// over https only; FAPI 2.0 §5.2.1, §5.2.2): what each origin answered.
    pub tls_probes: Vec<crate::tls_probe::TlsProbe>,
}

impl Target {
    /// The embedded reference server, acting as its fixture clients.
    pub fn reference(server: &ReferenceServer) -> Target {
        let clients = [
            (Role::Main, "myClient", Some("forgerock")),
            (Role::Introspector, "rs-client", Some("rs-secret")),
            (Role::Second, "otherClient", Some("other-secret-2")),
            (Role::Short, "shortClient", Some("short-secret")),
            (Role::Special, "s:1 %&+ä", Some("p+w/=:&ä q")),
            (Role::Disabled, "disabledClient", Some("disabled-secret")),
            (Role::NoGrant, "noGrantClient", Some("no-grant-secret")),
            (Role::Public, "publicClient", None),
            (Role::DpopBound, "dpopClient", Some("dpop-secret")),
            (Role::Mtls, "mtlsClient", None),
            (Role::SelfSignedMtls, "selfSignedMtlsClient", None),
        ]
        .into_iter()
        .map(|(role, id, secret)| {
            let method = match role {
                Role::Public => AuthMethod::None,
                Role::Mtls => AuthMethod::TlsClientAuth,
                Role::SelfSignedMtls => AuthMethod::SelfSignedTlsClientAuth,
                _ => AuthMethod::ClientSecretBasic,
            };
            (role, ClientCredentials::with_method(id, secret, method))
        })
        .chain([
            (
                Role::KeyJwt,
                ClientCredentials::with_key(
                    "jwtClient",
                    SigningKey::from_jwk(EMBEDDED_JWT_CLIENT_KEY, None)
                        .expect("the compiled-in client key fixture is valid"),
                ),
            ),
            (
                Role::SecretJwt,
                ClientCredentials::with_hmac_secret(
                    "hmacClient",
                    "hmac-secret-0123456789abcdef0123456789abcdef",
                ),
            ),
        ])
        .collect();
        Target {
            label: if server.base_url().starts_with("https://") {
                "embedded-tls".into()
            } else {
                "embedded".into()
            },
            issuer: Some(server.issuer(ROOT_REALM)),
            token_url: server.token_url(ROOT_REALM),
            introspection_url: Some(server.introspection_url(ROOT_REALM)),
            revocation_url: Some(server.revocation_url(ROOT_REALM)),
            resource_url: Some(server.resource_url()),
            metadata_url: Some(server.metadata_url(ROOT_REALM)),
            metadata_location: Some(MetadataLocation::Rfc8414),
            jwks_url: Some(server.jwks_url()),
            clients,
            assertion_audience: AssertionAudience::default(),
            assertion_audience_given: false,
            rfc9068: false,
            scopes: vec!["write".into(), "read".into()],
            advertised_scopes: Vec::new(),
            forbidden_scope: Some("admin".into()),
            resource_scope: Some("write".into()),
            dpop: DpopKey::generate(crate::jose::Alg::Es256).ok(),
            // What its metadata lists (`embedded` reads the document itself).
            dpop_algs: Some(
                reference_server::DPOP_ALGS
                    .iter()
                    .map(|a| a.name().to_owned())
                    .collect(),
            ),
            mtls: None,
            race_tls: None,
            nodes: Vec::new(),
            embedded: true,
            baseline: Baseline::default(),
        }
    }

    /// An external target known by its token endpoint alone: no other endpoint, scope or
    /// preflight finding yet.
    pub fn external(
        label: &str,
        token_url: String,
        clients: BTreeMap<Role, ClientCredentials>,
    ) -> Target {
        Target {
            label: label.to_owned(),
            issuer: None,
            token_url,
            introspection_url: None,
            revocation_url: None,
            resource_url: None,
            metadata_url: None,
            metadata_location: None,
            jwks_url: None,
            clients,
            assertion_audience: AssertionAudience::default(),
            assertion_audience_given: false,
            rfc9068: false,
            scopes: Vec::new(),
            advertised_scopes: Vec::new(),
            forbidden_scope: None,
            resource_scope: None,
            dpop: None,
            dpop_algs: None,
            mtls: None,
            race_tls: None,
            nodes: Vec::new(),
            embedded: false,
            baseline: Baseline::default(),
        }
    }

    /// Sets the other nodes from `--node` URLs: their origins, without the target's own
    /// (the token endpoint's) and without repeats.
    pub fn set_nodes(&mut self, urls: &[String]) -> Result<(), String> {
        let own = Url::parse(&self.token_url)
            .map(|u| u.origin().ascii_serialization())
            .unwrap_or_default();
        self.nodes.clear();
        for text in urls {
            let url = Url::parse(text).map_err(|e| format!("--node '{text}' is not a URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                return Err(format!("--node '{text}' is not an http(s) URL"));
            }
            let origin = url.origin().ascii_serialization();
            if origin != own && !self.nodes.contains(&origin) {
                self.nodes.push(origin);
            }
        }
        Ok(())
    }

    /// The `aud` value for client assertions.
    pub fn assertion_aud(&self) -> &str {
        match (self.assertion_audience, &self.issuer) {
            (AssertionAudience::Issuer, Some(issuer)) => issuer,
            _ => &self.token_url,
        }
    }

    /// True when the token endpoint is plain HTTP (where TLS cases cannot run).
    pub fn is_plain_http(&self) -> bool {
        self.token_url.starts_with("http://")
    }

    /// The client acting in `role`. The short-lived client falls back to the main one (its
    /// expiry cases then wait only when its tokens live no longer than `--max-wait`), and so
    /// do the roles of an authentication method or binding when the main client is of that
    /// kind (a `private_key_jwt` main client is the run's `key_jwt` client, a DPoP-bound one
    /// its `dpop_bound` client), unless another client was named for the role.
    pub fn client(&self, role: Role) -> Option<&ClientCredentials> {
        self.clients.get(&role).or_else(|| {
            let main = self.clients.get(&Role::Main)?;
            let stands_in = match role {
                Role::Short => true,
                Role::KeyJwt => main.method == AuthMethod::PrivateKeyJwt,
                Role::SecretJwt => main.method == AuthMethod::ClientSecretJwt,
                Role::Mtls => main.method == AuthMethod::TlsClientAuth,
                Role::SelfSignedMtls => main.method == AuthMethod::SelfSignedTlsClientAuth,
                Role::DpopBound => main.dpop_bound,
                _ => false,
            };
            stands_in.then_some(main)
        })
    }

    /// The client acting in `role`, mutably (the preflight marks a DPoP-bound one).
    pub fn client_mut(&mut self, role: Role) -> Option<&mut ClientCredentials> {
        self.clients.get_mut(&role)
    }
}

/// `url` with its origin replaced by `origin` (a node's `scheme://host:port`).
pub fn on_node(url: &str, origin: &str) -> Option<String> {
    let url = Url::parse(url).ok()?;
    let node = Url::parse(origin).ok()?;
    let mut moved = url.clone();
    moved.set_scheme(node.scheme()).ok()?;
    moved.set_host(node.host_str()).ok()?;
    moved.set_port(node.port()).ok()?;
    Some(moved.to_string())
}

/// `host:port/path` of a URL, for report labels and snapshot folders.
pub fn label_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("unknown");
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{host}{port}{}", u.path().trim_end_matches('/'))
        }
        Err(_) => url.to_owned(),
    }
}

/// Endpoint URLs given on the command line; they override discovery.
#[derive(Debug, Clone, Default)]
pub struct EndpointOverrides {
    pub token_url: Option<String>,
    pub introspection_url: Option<String>,
    pub revocation_url: Option<String>,
    pub resource_url: Option<String>,
}
