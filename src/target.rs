//! The server under test: its endpoints (given, discovered through RFC 8414 with the OpenID
//! fallback, or those of the embedded reference server) and the clients to act as.

use std::collections::BTreeMap;
use std::time::Duration;

use reference_server::{ReferenceServer, Secret, ROOT_REALM};
use reqwest::Url;
use serde_json::Value;

use crate::exit::Failure;
use crate::scenario::{Endpoint, Role};

/// A client the runner may act as. The secret prints as redacted.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub id: String,
    /// `None` for a public client.
    pub secret: Option<Secret>,
}

impl ClientCredentials {
    pub fn new(id: &str, secret: &str) -> ClientCredentials {
        ClientCredentials {
            id: id.to_owned(),
            secret: Some(Secret::new(secret)),
        }
    }
}

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
    /// Scopes the main client may request, the first being its usual one (`--scope`).
    pub scopes: Vec<String>,
    /// `scopes_supported` from the target's metadata: the preflight's fallback when a
    /// token request without scope is refused and no `--scope` was given.
    pub advertised_scopes: Vec<String>,
    /// A scope the main client may not have (`--forbidden-scope`).
    pub forbidden_scope: Option<String>,
    /// The scope the protected resource requires, when known (the embedded server's).
    pub resource_scope: Option<String>,
    /// True for the in-process reference server.
    pub embedded: bool,
    /// What the preflight established; the cases build on it.
    pub baseline: Baseline,
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
        ]
        .into_iter()
        .map(|(role, id, secret)| {
            (
                role,
                ClientCredentials {
                    id: id.into(),
                    secret: secret.map(Secret::new),
                },
            )
        })
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
            scopes: vec!["write".into(), "read".into()],
            advertised_scopes: Vec::new(),
            forbidden_scope: Some("admin".into()),
            resource_scope: Some("write".into()),
            embedded: true,
            baseline: Baseline::default(),
        }
    }

    /// True when the token endpoint is plain HTTP (where TLS cases cannot run).
    pub fn is_plain_http(&self) -> bool {
        self.token_url.starts_with("http://")
    }

    /// The client acting in `role`; the short-lived client falls back to the main one (its
    /// expiry cases then wait only when its tokens live no longer than `--max-wait`).
    pub fn client(&self, role: Role) -> Option<&ClientCredentials> {
        self.clients.get(&role).or(match role {
            Role::Short => self.clients.get(&Role::Main),
            _ => None,
        })
    }
}

/// Where a target's metadata was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataLocation {
    /// RFC 8414 §3.1: the well-known segment inserted between host and path.
    Rfc8414,
    /// OpenID Connect Discovery: `{issuer}/.well-known/openid-configuration`.
    OpenId,
    /// `{issuer}/.well-known/oauth-authorization-server`: RFC 8414's name at OpenID's place,
    /// as some frameworks serve it. Used, and judged by META-010.
    Appended,
}

impl MetadataLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataLocation::Rfc8414 => "rfc8414",
            MetadataLocation::OpenId => "openid",
            MetadataLocation::Appended => "appended",
        }
    }
}

/// Finds the issuer's metadata: the RFC 8414 location, OpenID's, then the appended one.
/// Returns the document, or every URL tried with why it failed.
pub async fn locate_metadata(
    http: &reqwest::Client,
    issuer: &Url,
) -> Result<(String, MetadataLocation, Value), Vec<String>> {
    let mut attempts = Vec::new();
    let locations = [
        MetadataLocation::Rfc8414,
        MetadataLocation::OpenId,
        MetadataLocation::Appended,
    ];
    for (url, location) in metadata_urls(issuer).into_iter().zip(locations) {
        if attempts
            .iter()
            .any(|a: &String| a.starts_with(&format!("{url}: ")))
        {
            continue;
        }
        match fetch_json(http, &url).await {
            Ok(doc) => return Ok((url, location, doc)),
            Err(why) => attempts.push(format!("{url}: {why}")),
        }
    }
    Err(attempts)
}

/// The embedded reference server as a target; its metadata is found the way an external
/// server's is, so a fault that moves it shows in the verdicts.
pub async fn embedded(server: &ReferenceServer, http: &reqwest::Client) -> Target {
    let mut target = Target::reference(server);
    let issuer = Url::parse(&server.issuer(ROOT_REALM)).expect("the server's issuer is a URL");
    match locate_metadata(http, &issuer).await {
        Ok((url, location, _)) => {
            target.metadata_url = Some(url);
            target.metadata_location = Some(location);
        }
        Err(_) => target.metadata_url = None,
    }
    target
}

/// Endpoint URLs given on the command line; they override discovery.
#[derive(Debug, Clone, Default)]
pub struct EndpointOverrides {
    pub token_url: Option<String>,
    pub introspection_url: Option<String>,
    pub revocation_url: Option<String>,
    pub resource_url: Option<String>,
}

/// Builds a target for an external issuer: RFC 8414 discovery (path insertion), then
/// `{issuer}/.well-known/openid-configuration`; explicit URLs override what was found.
pub async fn discover(
    http: &reqwest::Client,
    issuer: Option<&str>,
    overrides: EndpointOverrides,
    clients: BTreeMap<Role, ClientCredentials>,
    scopes: Vec<String>,
    forbidden_scope: Option<String>,
) -> Result<Target, Failure> {
    let mut metadata: Option<(String, MetadataLocation, Value)> = None;
    let mut attempts = Vec::new();
    if let Some(issuer) = issuer {
        let issuer_url = Url::parse(issuer)
            .map_err(|e| Failure::usage(format!("--target '{issuer}' is not a URL: {e}")))?;
        if !matches!(issuer_url.scheme(), "http" | "https") {
            return Err(Failure::usage(format!(
                "--target '{issuer}' must be http or https"
            )));
        }
        match locate_metadata(http, &issuer_url).await {
            Ok(found) => metadata = Some(found),
            Err(tried) => attempts = tried,
        }
    }
    let found = |name: &str| {
        metadata
            .as_ref()
            .and_then(|(_, _, doc)| doc.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let token_url = overrides
        .token_url
        .clone()
        .or_else(|| found("token_endpoint"));
    let Some(token_url) = token_url else {
        return Err(Failure::runtime(if attempts.is_empty() {
            "no token endpoint: give --target ISSUER or --token-url URL".to_owned()
        } else {
            format!(
                "discovery failed and no --token-url was given:\n  {}",
                attempts.join("\n  ")
            )
        }));
    };
    for (flag, url) in [
        ("--token-url", Some(&token_url)),
        ("--introspection-url", overrides.introspection_url.as_ref()),
        ("--revocation-url", overrides.revocation_url.as_ref()),
        ("--resource-url", overrides.resource_url.as_ref()),
    ] {
        if let Some(url) = url {
            Url::parse(url)
                .map_err(|e| Failure::usage(format!("{flag} '{url}' is not a URL: {e}")))?;
        }
    }
    let label = issuer.map(label_of).unwrap_or_else(|| label_of(&token_url));
    Ok(Target {
        label,
        issuer: issuer.map(str::to_owned),
        introspection_url: overrides
            .introspection_url
            .or_else(|| found("introspection_endpoint")),
        revocation_url: overrides
            .revocation_url
            .or_else(|| found("revocation_endpoint")),
        resource_url: overrides.resource_url,
        jwks_url: found("jwks_uri"),
        advertised_scopes: metadata
            .as_ref()
            .and_then(|(_, _, doc)| doc.get("scopes_supported"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        metadata_location: metadata.as_ref().map(|(_, location, _)| *location),
        metadata_url: metadata.map(|(url, _, _)| url),
        token_url,
        clients,
        scopes,
        forbidden_scope,
        resource_scope: None,
        embedded: false,
        baseline: Baseline::default(),
    })
}

/// RFC 8414 §3.1: insert the well-known segment between host and path; then the OpenID
/// Connect Discovery location, which appends it; then RFC 8414's name appended.
pub fn metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
        format!("{origin}{path}/.well-known/oauth-authorization-server"),
    ]
}

async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|e| describe_error(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = response.bytes().await.map_err(|e| describe_error(&e))?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(doc @ Value::Object(_)) => Ok(doc),
        _ => Err("not a JSON object".into()),
    }
}

/// A transport error in words a user can act on.
pub fn describe_error(e: &reqwest::Error) -> String {
    if let Some(tls) = crate::http::tls_hint(e) {
        return tls;
    }
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_redirect() {
        "redirect refused".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
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

/// True for `localhost` and loopback addresses.
pub fn is_loopback(url: &str) -> bool {
    Url::parse(url).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_locations_follow_rfc_8414_path_insertion() {
        let urls = metadata_urls(&Url::parse("https://h.example/tenant1/").unwrap());
        assert_eq!(
            urls[0],
            "https://h.example/.well-known/oauth-authorization-server/tenant1"
        );
        assert_eq!(
            urls[1],
            "https://h.example/tenant1/.well-known/openid-configuration"
        );
        let urls = metadata_urls(&Url::parse("http://127.0.0.1:18081").unwrap());
        assert_eq!(
            urls[0],
            "http://127.0.0.1:18081/.well-known/oauth-authorization-server"
        );
    }

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:1/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:8/"));
        assert!(!is_loopback("http://example.com/"));
    }
}
