//! Finding a target's endpoints: RFC 8414 metadata (path insertion), the OpenID Connect
//! location, and the appended form some frameworks serve; explicit URLs win.

use std::collections::BTreeMap;
use std::time::Instant;

use reference_server::{ReferenceServer, ROOT_REALM};
use reqwest::Url;
use serde_json::Value;

use super::{label_of, ClientCredentials, EndpointOverrides, Target};
use crate::case::Role;
use crate::exit::Failure;
use crate::http::describe_error;
use crate::settings::Settings;

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

/// What a discovery request reports when the run's deadline cut it short (and so ended
/// discovery: no later location is tried).
const DEADLINE_CUT: &str = "run deadline reached before the answer came (--deadline)";

/// Finds the issuer's metadata: the RFC 8414 location, OpenID's, then the appended one, each
/// request bounded by `--timeout` and all of them by the run's deadline.
/// Returns the document, or every URL tried with why it failed.
pub async fn locate_metadata(
    http: &reqwest::Client,
    issuer: &Url,
    settings: &Settings,
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
        match fetch_json(http, &url, settings).await {
            Ok(doc) => return Ok((url, location, doc)),
            Err(why) => {
                let out_of_time = why == DEADLINE_CUT;
                attempts.push(format!("{url}: {why}"));
                if out_of_time {
                    break;
                }
            }
        }
    }
    Err(attempts)
}

/// The embedded reference server as a target; its metadata is found the way an external
/// server's is, so a fault that moves it shows in the verdicts.
/// (It is in-process and answers: the default bounds apply.)
pub async fn embedded(server: &ReferenceServer, http: &reqwest::Client) -> Target {
    let mut target = Target::reference(server);
    target.rfc9068 = server.claims_rfc9068();
    let issuer = Url::parse(&server.issuer(ROOT_REALM)).expect("the server's issuer is a URL");
    match locate_metadata(http, &issuer, &Settings::default()).await {
        Ok((url, location, doc)) => {
            target.metadata_url = Some(url);
            target.metadata_location = Some(location);
            target.dpop_algs = super::string_list(&doc, "dpop_signing_alg_values_supported");
        }
        Err(_) => target.metadata_url = None,
    }
    target
}

/// Builds a target for an external issuer: RFC 8414 discovery (path insertion), then
/// `{issuer}/.well-known/openid-configuration`; explicit URLs override what was found.
/// Discovery cut short by the run's deadline ends the run (no verdict is possible).
pub async fn discover(
    http: &reqwest::Client,
    settings: &Settings,
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
        match locate_metadata(http, &issuer_url, settings).await {
            Ok(found) => metadata = Some(found),
            Err(tried) if tried.iter().any(|t| t.ends_with(DEADLINE_CUT)) => {
                return Err(Failure::runtime(format!(
                    "discovery did not finish before the run deadline (--deadline); each metadata request may take --timeout {} s:\n  {}",
                    settings.request_timeout.as_secs(),
                    tried.join("\n  ")
                )));
            }
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
    let mut target = Target::external(&label, token_url, clients);
    target.issuer = issuer.map(str::to_owned);
    target.introspection_url = overrides
        .introspection_url
        .or_else(|| found("introspection_endpoint"));
    target.revocation_url = overrides
        .revocation_url
        .or_else(|| found("revocation_endpoint"));
    target.resource_url = overrides.resource_url;
    target.jwks_url = found("jwks_uri");
    target.advertised_scopes = metadata
        .as_ref()
        .and_then(|(_, _, doc)| doc.get("scopes_supported"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    target.dpop_algs = metadata
        .as_ref()
        .and_then(|(_, _, doc)| super::string_list(doc, "dpop_signing_alg_values_supported"));
    target.metadata_location = metadata.as_ref().map(|(_, location, _)| *location);
    target.metadata_url = metadata.map(|(url, _, _)| url);
    target.scopes = scopes;
    target.forbidden_scope = forbidden_scope;
    Ok(target)
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

/// One metadata document: within `--timeout` (its body included, at most the body limit),
/// and cut short at the run's deadline.
async fn fetch_json(
    http: &reqwest::Client,
    url: &str,
    settings: &Settings,
) -> Result<Value, String> {
    let fetch = fetch_json_within_timeout(http, url, settings);
    match settings.deadline {
        Some(deadline) => tokio::time::timeout_at(deadline.into(), fetch)
            .await
            .unwrap_or_else(|_| Err(DEADLINE_CUT.to_owned())),
        None => fetch.await,
    }
}

async fn fetch_json_within_timeout(
    http: &reqwest::Client,
    url: &str,
    settings: &Settings,
) -> Result<Value, String> {
    let started = Instant::now();
    let mut response = http
        .get(url)
        .timeout(settings.request_timeout)
        .send()
        .await
        .map_err(|e| describe_error(&e))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = crate::http::read_body(
        &mut response,
        "the metadata",
        settings.max_body_bytes,
        started,
        settings.request_timeout,
    )
    .await?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(doc @ Value::Object(_)) => Ok(doc),
        _ => Err("not a JSON object".into()),
    }
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
        assert_eq!(
            urls[2],
            "https://h.example/tenant1/.well-known/oauth-authorization-server"
        );
        let urls = metadata_urls(&Url::parse("http://127.0.0.1:18081").unwrap());
        assert_eq!(
            urls[0],
            "http://127.0.0.1:18081/.well-known/oauth-authorization-server"
        );
    }
}
