//! Shared server state and the router that maps paths to endpoints.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;

use crate::clients::ROOT_REALM;
use crate::config::{Fault, ServerConfig};
use crate::endpoints;
use crate::jwt::JwtSigner;
use crate::request::{PeerAddr, RequestBody};
use crate::response::{self, Body};
use crate::throttle::FailureThrottle;
use crate::tokens::TokenStore;

/// Largest total size of a request's header fields; larger requests get 431.
const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Everything a request handler may need, shared by all connections.
pub struct App {
    pub config: ServerConfig,
    pub tokens: TokenStore,
    pub signer: JwtSigner,
    /// `http://127.0.0.1:PORT` (`https://` with TLS), known once the listener is bound.
    pub base_url: String,
    /// The audience of issued tokens: the resource server, `{base}/api`.
    pub resource_audience: String,
    /// Brute-force protection, when configured.
    pub throttle: Option<FailureThrottle>,
    /// The resource server's connection to the introspection endpoint (flow steps 4–5).
    pub http: HttpClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// Where the resource server reaches introspection: the listening address, which works
    /// from inside even when the public URL (`base_url`) only resolves outside.
    pub local_introspection_url: String,
    /// Every realm some client is registered in, with its issuer, computed once.
    realms: HashMap<String, Realm>,
}

/// A realm's name (shared by every token issued in it) and issuer identifier.
pub struct Realm {
    pub name: Arc<str>,
    pub issuer: String,
}

/// The endpoints a realm serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
    Jwks,
    /// `/.well-known/oauth-authorization-server` (RFC 8414) or `openid-configuration`.
    Metadata,
    Resource,
}

impl App {
    /// `base_url` is what clients see; `local_url` the listening address.
    pub fn new(
        config: ServerConfig,
        signer: JwtSigner,
        base_url: String,
        local_url: &str,
    ) -> Arc<App> {
        let realms = config
            .clients
            .realms()
            .into_iter()
            .map(|realm| {
                let issuer = format!("{base_url}{}", realm_prefix(&realm));
                let name = realm.as_str().into();
                (realm, Realm { name, issuer })
            })
            .collect();
        let tls = match &config.tls {
            Some(identity) => identity.pinned_client_config(),
            None => crate::tls::plain_client_config(),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HttpClient::builder(TokioExecutor::new()).build(connector);
        let throttle = config.brute_force.map(FailureThrottle::new);
        Arc::new(App {
            throttle,
            config,
            tokens: TokenStore::default(),
            signer,
            resource_audience: format!("{base_url}/api"),
            local_introspection_url: format!("{local_url}{}/introspect", realm_prefix(ROOT_REALM)),
            base_url,
            http,
            realms,
        })
    }

    /// The issuer identifier of a realm: `{base}/oauth2` for the root realm, ForgeRock style.
    pub fn issuer(&self, realm: &str) -> &str {
        // Routing only yields known realms; the fallback keeps a typo from panicking.
        self.realms
            .get(realm)
            .map_or(&self.base_url, |r| r.issuer.as_str())
    }

    /// Authenticates the calling client at one of `realm`'s endpoints (with brute-force
    /// protection when configured); failures name the realm's issuer in the challenge.
    pub fn authenticate(
        &self,
        request: &hyper::http::request::Parts,
        form: &crate::form::Form,
        realm: &str,
    ) -> Result<&crate::clients::Client, crate::response::OAuthError> {
        let source = request
            .extensions
            .get::<PeerAddr>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |peer| peer.0);
        crate::request::authenticate(
            &self.config,
            self.throttle.as_ref().map(|t| (t, source.into())),
            &request.headers,
            form,
            realm,
            self.issuer(realm),
        )
    }

    /// The URL of one of a realm's endpoints.
    pub fn endpoint_url(&self, realm: &str, endpoint: Endpoint) -> String {
        let path = match endpoint {
            Endpoint::Token => "/access_token",
            Endpoint::Introspection => "/introspect",
            Endpoint::Revocation => "/token/revoke",
            Endpoint::Jwks => "/connect/jwk_uri",
            Endpoint::Metadata => {
                return format!(
                    "{}/.well-known/oauth-authorization-server{}",
                    self.base_url,
                    realm_prefix(realm)
                )
            }
            Endpoint::Resource => return format!("{}/api/resource", self.base_url),
        };
        format!("{}{path}", self.issuer(realm))
    }

    pub async fn handle(self: Arc<Self>, req: Request<RequestBody>) -> Response<Body> {
        let head_bytes: usize = req
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        if head_bytes > MAX_HEADER_BYTES {
            return response::json(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                &serde_json::json!({"error": "invalid_request", "error_description": "request headers too large"}),
            );
        }
        let Some((realm, endpoint)) = self.route(req.uri().path()) else {
            return response::not_found();
        };
        match endpoint {
            Endpoint::Token => endpoints::token::handle(&self, &realm, req).await,
            Endpoint::Introspection => endpoints::introspection::handle(&self, &realm, req).await,
            Endpoint::Revocation => endpoints::revocation::handle(&self, &realm, req).await,
            Endpoint::Metadata | Endpoint::Jwks if req.method() != Method::GET => {
                response::method_not_allowed("GET")
            }
            Endpoint::Metadata => endpoints::metadata::metadata(&self, &realm),
            Endpoint::Jwks => endpoints::metadata::jwks(&self),
            Endpoint::Resource => endpoints::resource::handle(&self, req).await,
        }
    }

    /// Maps a path to (realm, endpoint). Realm paths follow ForgeRock AM:
    /// `/oauth2/realms/root/realms/{realm}/...`; metadata follows RFC 8414 §3.1 path insertion.
    fn route(&self, path: &str) -> Option<(Arc<str>, Endpoint)> {
        if path == "/api/resource" {
            return Some((self.root_realm(), Endpoint::Resource));
        }
        // The fault `metadata-appended-only` serves metadata at `{issuer}/.well-known/...`
        // instead, as servers that append the well-known suffix to the issuer do.
        let appended_only = self.config.has(Fault::MetadataAppendedOnly);
        if let Some(issuer_path) = path.strip_prefix("/.well-known/oauth-authorization-server") {
            let (realm, rest) = self.split_realm(issuer_path)?;
            return (rest.is_empty() && !appended_only).then_some((realm, Endpoint::Metadata));
        }
        let (realm, rest) = self.split_realm(path)?;
        let endpoint = match rest {
            "/access_token" => Endpoint::Token,
            "/introspect" => Endpoint::Introspection,
            "/token/revoke" => Endpoint::Revocation,
            "/connect/jwk_uri" => Endpoint::Jwks,
            "/.well-known/openid-configuration" if !appended_only => Endpoint::Metadata,
            "/.well-known/oauth-authorization-server" if appended_only => Endpoint::Metadata,
            _ => return None,
        };
        Some((realm, endpoint))
    }

    /// Splits `/oauth2[/realms/root[/realms/{realm}]]{rest}` into the realm and `rest`.
    fn split_realm<'p>(&self, path: &'p str) -> Option<(Arc<str>, &'p str)> {
        let rest = path.strip_prefix("/oauth2")?;
        let Some(under_root) = rest.strip_prefix("/realms/root") else {
            return Some((self.root_realm(), rest));
        };
        let Some(sub) = under_root.strip_prefix("/realms/") else {
            return Some((self.root_realm(), under_root));
        };
        let (name, rest) = sub.split_at(sub.find('/').unwrap_or(sub.len()));
        if name == ROOT_REALM {
            return None;
        }
        self.realms.get(name).map(|r| (r.name.clone(), rest))
    }

    fn root_realm(&self) -> Arc<str> {
        self.realms[ROOT_REALM].name.clone()
    }
}

fn realm_prefix(realm: &str) -> String {
    if realm == ROOT_REALM {
        "/oauth2".into()
    } else {
        format!("/oauth2/realms/root/realms/{realm}")
    }
}
