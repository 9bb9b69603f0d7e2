//! `grantcheck.toml`: named targets, so a team writes `--target staging` instead of a dozen
//! flags. Secrets are never stored in the file: it names the environment variable or the
//! file that holds each one.
//!
//! ```toml
//! [targets.staging]
//! issuer = "https://auth.staging.example/oauth2"
//! client_id = "ci-client"
//! client_secret_env = "STAGING_CLIENT_SECRET"
//! introspect_client_id = "rs-client"
//! introspect_client_secret_file = "/run/secrets/rs-secret"
//! scope = "write read"
//! ca_cert = ["certs/staging-ca.pem"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::TargetArgs;
use crate::exit::Failure;

/// The file read when `--config` is not given (if it exists).
pub const DEFAULT_CONFIG: &str = "grantcheck.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub targets: BTreeMap<String, TargetConfig>,
}

/// One named target; flags given on the command line win over these values.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub issuer: Option<String>,
    pub token_url: Option<String>,
    pub introspection_url: Option<String>,
    pub revocation_url: Option<String>,
    pub resource_url: Option<String>,
    /// The other nodes behind the issuer (`--node`).
    #[serde(default)]
    pub nodes: Vec<String>,
    pub client_id: Option<String>,
    pub client_secret_env: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub introspect_client_id: Option<String>,
    pub introspect_client_secret_env: Option<String>,
    pub introspect_client_secret_file: Option<PathBuf>,
    pub second_client_id: Option<String>,
    pub second_client_secret_env: Option<String>,
    pub second_client_secret_file: Option<PathBuf>,
    pub scope: Option<String>,
    pub forbidden_scope: Option<String>,
    /// The scope the protected resource requires (`--resource-scope`), for RS-005.
    pub resource_scope: Option<String>,
    /// PEM certificates to trust besides the system roots (`--ca-cert`), relative to the
    /// working directory.
    #[serde(default)]
    pub ca_cert: Vec<PathBuf>,
    /// How the main client authenticates (`--client-auth`), or with `jwt_client_id` that
    /// JWT client's method.
    pub client_auth: Option<super::AuthMethod>,
    pub introspect_client_auth: Option<super::AuthMethod>,
    /// The introspection caller's private key file (`--introspect-client-key`).
    pub introspect_client_key: Option<PathBuf>,
    pub second_client_auth: Option<super::AuthMethod>,
    pub second_client_key: Option<PathBuf>,
    pub jwt_client_id: Option<String>,
    pub jwt_client_secret_env: Option<String>,
    pub jwt_client_secret_file: Option<PathBuf>,
    /// The private_key_jwt client's key file (`--client-key`); the key itself never goes
    /// in this file.
    pub client_key: Option<PathBuf>,
    pub client_key_id: Option<String>,
    pub client_key_alg: Option<String>,
    /// `token-endpoint` or `issuer` (`--client-assertion-aud`).
    pub client_assertion_aud: Option<super::AssertionAudience>,
    /// The server implements RFC 9068 (`--rfc9068`).
    #[serde(default)]
    pub rfc9068: bool,
    /// Test DPoP with a key of this algorithm (`--dpop`): ES256, RS256, PS256 or EdDSA.
    pub dpop: Option<String>,
    /// A client registered with dpop_bound_access_tokens (`--dpop-client-id`).
    pub dpop_client_id: Option<String>,
    pub dpop_client_secret_env: Option<String>,
    pub dpop_client_secret_file: Option<PathBuf>,
    /// A client certificate and its key file for the mutual-TLS cases (`--client-cert`,
    /// `--client-cert-key`; the key itself never goes in this file), presented as
    /// `mtls_client_id` (`--mtls-client-id`).
    pub client_cert: Option<PathBuf>,
    pub client_cert_key: Option<PathBuf>,
    pub mtls_client_id: Option<String>,
    /// More clients, each in a role: several JWT clients side by side in one run.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

/// `[[targets.NAME.clients]]`: a client acting in `role` (`key_jwt`, `secret_jwt`,
/// `introspector`, `second`, `dpop_bound`), authenticating with `auth`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub role: crate::case::Role,
    pub id: String,
    pub auth: super::AuthMethod,
    pub secret_env: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// A private_key_jwt client's key file (the key itself never goes in this file).
    pub key: Option<PathBuf>,
    pub key_id: Option<String>,
    pub key_alg: Option<String>,
}

impl ConfigFile {
    /// Reads `path`, or `grantcheck.toml` when present and no path was given.
    pub fn load(path: Option<&Path>) -> Result<ConfigFile, Failure> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG).exists() => PathBuf::from(DEFAULT_CONFIG),
            None => return Ok(ConfigFile::default()),
        };
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        crate::toml_file::parse(&text, &path.display().to_string()).map_err(Failure::usage)
    }
}

/// `--target NAME` (no `://`) names a target of the config file: fills every flag the
/// command line left empty. Returns the label for reports.
pub fn apply(args: &mut TargetArgs, config: &ConfigFile) -> Result<Option<String>, Failure> {
    let Some(name) = args.target.clone().filter(|t| !t.contains("://")) else {
        return Ok(None);
    };
    let Some(t) = config.targets.get(&name) else {
        let known: Vec<&String> = config.targets.keys().collect();
        return Err(Failure::usage(format!(
            "--target '{name}' is neither a URL nor a target of the config file ({})",
            if known.is_empty() {
                "it names none".to_owned()
            } else {
                format!(
                    "known: {}",
                    known
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        )));
    };
    args.target = t.issuer.clone();
    fill(&mut args.token_url, &t.token_url);
    fill(&mut args.introspection_url, &t.introspection_url);
    fill(&mut args.revocation_url, &t.revocation_url);
    fill(&mut args.resource_url, &t.resource_url);
    if args.node.is_empty() {
        args.node.clone_from(&t.nodes);
    }
    fill(&mut args.client_id, &t.client_id);
    fill(&mut args.introspect_client_id, &t.introspect_client_id);
    fill(&mut args.second_client_id, &t.second_client_id);
    fill(&mut args.scope, &t.scope);
    fill(&mut args.forbidden_scope, &t.forbidden_scope);
    fill(&mut args.resource_scope, &t.resource_scope);
    fill(&mut args.jwt_client_id, &t.jwt_client_id);
    fill(&mut args.client_key_id, &t.client_key_id);
    fill(&mut args.client_key_alg, &t.client_key_alg);
    fill(&mut args.dpop_client_id, &t.dpop_client_id);
    fill(&mut args.mtls_client_id, &t.mtls_client_id);
    if args.client_cert.is_none() && args.client_cert_key.is_none() {
        args.client_cert.clone_from(&t.client_cert);
        args.client_cert_key.clone_from(&t.client_cert_key);
    }
    if let (None, Some(alg)) = (args.dpop, &t.dpop) {
        let alg = alg
            .parse()
            .map_err(|e| Failure::usage(format!("[targets.{name}] dpop: {e}")))?;
        args.dpop = Some(alg);
    }
    args.client_auth = args.client_auth.or(t.client_auth);
    args.introspect_client_auth = args.introspect_client_auth.or(t.introspect_client_auth);
    args.second_client_auth = args.second_client_auth.or(t.second_client_auth);
    if args.introspect_client_key.is_none() {
        args.introspect_client_key
            .clone_from(&t.introspect_client_key);
    }
    if args.second_client_key.is_none() {
        args.second_client_key.clone_from(&t.second_client_key);
    }
    for (index, c) in t.clients.iter().enumerate() {
        use crate::case::Role;
        if !matches!(
            c.role,
            Role::KeyJwt | Role::SecretJwt | Role::Introspector | Role::Second | Role::DpopBound
        ) {
            return Err(Failure::usage(format!(
                "[[targets.{name}.clients]] #{}: role '{}' cannot be given here (key_jwt, secret_jwt, introspector, second or dpop_bound)",
                index + 1,
                c.role.as_str()
            )));
        }
        let which = format!("clients #{} {}", index + 1, c.id);
        let fits = match c.role {
            Role::KeyJwt => c.auth == super::AuthMethod::PrivateKeyJwt,
            Role::SecretJwt => c.auth == super::AuthMethod::ClientSecretJwt,
            Role::DpopBound | Role::Introspector | Role::Second => c.auth.cert().is_none(),
            _ => true,
        };
        if !fits {
            return Err(Failure::usage(format!(
                "[[targets.{name}.clients]] #{}: role '{}' cannot authenticate with {} (key_jwt: private_key_jwt; secret_jwt: client_secret_jwt; the run's one certificate is the main or mtls client's)",
                index + 1,
                c.role.as_str(),
                c.auth.as_str()
            )));
        }
        args.clients.push(super::args::ClientSpec {
            role: c.role,
            id: c.id.clone(),
            auth: c.auth,
            secret: secret(&name, &which, &c.secret_env, &c.secret_file)?
                .map(|s| reference_server::Secret::new(&s)),
            key: c.key.clone(),
            key_id: c.key_id.clone(),
            key_alg: c.key_alg.clone(),
        });
    }
    args.client_assertion_aud = args.client_assertion_aud.or(t.client_assertion_aud);
    args.rfc9068 |= t.rfc9068;
    if args.client_key.is_none() {
        args.client_key.clone_from(&t.client_key);
    }
    if args.ca_cert.is_empty() {
        args.ca_cert.clone_from(&t.ca_cert);
    }
    if args.client_secret.is_none() && args.client_secret_file.is_none() {
        args.client_secret = secret(&name, "client", &t.client_secret_env, &t.client_secret_file)?;
    }
    let others = [
        (
            &mut args.introspect_client_secret,
            "introspect_client",
            &t.introspect_client_secret_env,
            &t.introspect_client_secret_file,
        ),
        (
            &mut args.second_client_secret,
            "second_client",
            &t.second_client_secret_env,
            &t.second_client_secret_file,
        ),
        (
            &mut args.jwt_client_secret,
            "jwt_client",
            &t.jwt_client_secret_env,
            &t.jwt_client_secret_file,
        ),
        (
            &mut args.dpop_client_secret,
            "dpop_client",
            &t.dpop_client_secret_env,
            &t.dpop_client_secret_file,
        ),
    ];
    for (slot, which, env, file) in others {
        if slot.is_none() {
            *slot = secret(&name, which, env, file)?;
        }
    }
    Ok(Some(name))
}

fn fill(flag: &mut Option<String>, from_config: &Option<String>) {
    if flag.is_none() {
        flag.clone_from(from_config);
    }
}

fn secret(
    target: &str,
    which: &str,
    env: &Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, Failure> {
    if let Some(var) = env {
        return std::env::var(var).map(Some).map_err(|_| {
            Failure::usage(format!(
                "target '{target}': {which}_secret_env names {var}, which is not set"
            ))
        });
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Failure::usage(format!(
                "target '{target}': cannot read {which}_secret_file {}: {e}",
                path.display()
            ))
        })?;
        return Ok(Some(text.lines().next().unwrap_or("").to_owned()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests;
