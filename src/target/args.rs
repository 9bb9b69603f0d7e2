//! The target as the command line and `grantcheck.toml` describe it, shared by `conform`
//! and `load`: endpoints, clients and their secrets, scopes, TLS trust.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;

use super::{ClientCredentials, EndpointOverrides};
use crate::case::Role;
use crate::exit::Failure;

#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Issuer URL of an external server (endpoints are discovered: RFC 8414, then OpenID), or
    /// the name of a target in grantcheck.toml. Without it, the reference server runs
    /// in-process on an ephemeral loopback port.
    #[arg(long, value_name = "ISSUER_URL|NAME")]
    pub target: Option<String>,
    /// Token endpoint (overrides discovery).
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Introspection endpoint (overrides discovery).
    #[arg(long, value_name = "URL")]
    pub introspection_url: Option<String>,
    /// Revocation endpoint (overrides discovery).
    #[arg(long, value_name = "URL")]
    pub revocation_url: Option<String>,
    /// A protected resource that validates the server's tokens (RFC 6750).
    #[arg(long, value_name = "URL")]
    pub resource_url: Option<String>,
    /// The client under test.
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Its secret (prefer the environment variable or --client-secret-file).
    #[arg(
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// File holding the client secret (first line).
    #[arg(long, value_name = "FILE", conflicts_with = "client_secret")]
    pub client_secret_file: Option<PathBuf>,
    /// Client that calls introspection, i.e. the resource server (default: the main client).
    #[arg(long, value_name = "ID")]
    pub introspect_client_id: Option<String>,
    #[arg(
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_INTROSPECT_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub introspect_client_secret: Option<String>,
    /// A second confidential client, for cross-client cases.
    #[arg(long, value_name = "ID")]
    pub second_client_id: Option<String>,
    #[arg(
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_SECOND_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub second_client_secret: Option<String>,
    /// Scopes the client may request, space-separated; the first is its usual one.
    #[arg(long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// A scope the client may not have, for least-privilege cases.
    #[arg(long, value_name = "SCOPE")]
    pub forbidden_scope: Option<String>,
    /// Trust the certificates in this PEM file besides the system roots: a private CA, or
    /// a self-signed server's certificate (repeatable).
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Do not verify TLS certificates (prints a warning: anyone able to answer for the
    /// target's address could read the client secrets). Prefer --ca-cert.
    #[arg(long)]
    pub insecure: bool,
}

impl TargetArgs {
    /// No external target named: the run uses the embedded reference server.
    pub fn is_embedded(&self) -> bool {
        self.target.is_none() && self.token_url.is_none()
    }

    /// `--scope "a b"` as a list, the usual scope first.
    pub fn scopes(&self) -> Vec<String> {
        self.scope
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The endpoint URLs given on the command line.
    pub fn overrides(&self) -> EndpointOverrides {
        EndpointOverrides {
            token_url: self.token_url.clone(),
            introspection_url: self.introspection_url.clone(),
            revocation_url: self.revocation_url.clone(),
            resource_url: self.resource_url.clone(),
        }
    }
}

/// The clients an external target is tested as, from flags, environment and files.
pub fn clients_from(t: &TargetArgs) -> Result<BTreeMap<Role, ClientCredentials>, Failure> {
    let id = t
        .client_id
        .clone()
        .ok_or_else(|| Failure::usage("an external target needs --client-id"))?;
    let secret = match (&t.client_secret, &t.client_secret_file) {
        (Some(s), _) => s.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read --client-secret-file {}: {e}", path.display())))?
            .lines()
            .next()
            .unwrap_or("")
            .to_owned(),
        (None, None) => {
            return Err(Failure::usage(
                "an external target needs --client-secret, GRANTCHECK_CLIENT_SECRET or --client-secret-file",
            ))
        }
    };
    let main = ClientCredentials::new(&id, &secret);
    let mut clients = BTreeMap::new();
    let introspector = match (&t.introspect_client_id, &t.introspect_client_secret) {
        (Some(id), Some(secret)) => ClientCredentials::new(id, secret),
        (None, None) => main.clone(),
        _ => {
            return Err(Failure::usage(
                "--introspect-client-id and --introspect-client-secret go together",
            ))
        }
    };
    clients.insert(Role::Main, main);
    clients.insert(Role::Introspector, introspector);
    match (&t.second_client_id, &t.second_client_secret) {
        (Some(id), Some(secret)) => {
            clients.insert(Role::Second, ClientCredentials::new(id, secret));
        }
        (None, None) => {}
        _ => {
            return Err(Failure::usage(
                "--second-client-id and --second-client-secret go together",
            ))
        }
    }
    Ok(clients)
}

impl TargetArgs {
    /// `--target NAME` fills what the flags left empty from `grantcheck.toml` (or
    /// `--config FILE`); returns the name, which labels the reports.
    pub fn apply_config(
        &mut self,
        file: Option<&std::path::Path>,
    ) -> Result<Option<String>, Failure> {
        let config = super::config::ConfigFile::load(file)?;
        super::config::apply(self, &config)
    }

    /// The external target these flags name: discovered, with the clients and scopes given.
    pub async fn resolve_external(&self, http: &reqwest::Client) -> Result<super::Target, Failure> {
        super::discover(
            http,
            self.target.as_deref(),
            self.overrides(),
            clients_from(self)?,
            self.scopes(),
            self.forbidden_scope.clone(),
        )
        .await
    }
}
