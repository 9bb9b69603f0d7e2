//! The target as the command line and `grantcheck.toml` describe it, shared by `conform`
//! and `load`: endpoints, clients and their secrets, scopes, TLS trust.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;

use super::{AssertionAudience, AuthMethod, ClientCredentials, EndpointOverrides};
use crate::case::Role;
use crate::exit::Failure;
use crate::jose::{Alg, SigningKey};

#[derive(Debug, Args, Clone, Default)]
pub struct TargetArgs {
    /// Issuer URL of an external server (endpoints are discovered: RFC 8414, then OpenID), or
    /// the name of a target in grantcheck.toml. Without it, the reference server runs
    /// in-process on an ephemeral loopback port.
    #[arg(help_heading = "Target", long, value_name = "ISSUER_URL|NAME")]
    pub target: Option<String>,
    /// Token endpoint (overrides discovery).
    #[arg(help_heading = "Target", long, value_name = "URL")]
    pub token_url: Option<String>,
    /// Introspection endpoint (overrides discovery).
    #[arg(help_heading = "Target", long, value_name = "URL")]
    pub introspection_url: Option<String>,
    /// Revocation endpoint (overrides discovery).
    #[arg(help_heading = "Target", long, value_name = "URL")]
    pub revocation_url: Option<String>,
    /// A protected resource that validates the server's tokens (RFC 6750).
    #[arg(help_heading = "Target", long, value_name = "URL")]
    pub resource_url: Option<String>,
    /// Another node behind the same issuer (repeatable; `nodes = [...]` in grantcheck.toml):
    /// its origin replaces the target's in every endpoint URL. The cluster cases ask each
    /// node about what another did; `load --profile flow` checks revoked tokens on each.
    #[arg(help_heading = "Target", long = "node", value_name = "URL")]
    pub node: Vec<String>,
    /// The client under test.
    #[arg(help_heading = "Main client", long, value_name = "ID")]
    pub client_id: Option<String>,
    /// Its secret (prefer the environment variable or --client-secret-file).
    #[arg(
        help_heading = "Main client",
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub client_secret: Option<String>,
    /// File holding the client secret (first line).
    #[arg(
        help_heading = "Main client",
        long,
        value_name = "FILE",
        conflicts_with = "client_secret"
    )]
    pub client_secret_file: Option<PathBuf>,
    /// Client that calls introspection, i.e. the resource server (default: the main client).
    #[arg(help_heading = "Other clients", long, value_name = "ID")]
    pub introspect_client_id: Option<String>,
    #[arg(
        help_heading = "Other clients",
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_INTROSPECT_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub introspect_client_secret: Option<String>,
    /// How the introspection caller authenticates (default client_secret_basic).
    #[arg(
        help_heading = "Other clients",
        long,
        value_enum,
        value_name = "METHOD"
    )]
    pub introspect_client_auth: Option<AuthMethod>,
    /// The introspection caller's private key, for private_key_jwt (PEM or private JWK).
    #[arg(help_heading = "Other clients", long, value_name = "FILE")]
    pub introspect_client_key: Option<PathBuf>,
    /// A second confidential client, for cross-client cases.
    #[arg(help_heading = "Other clients", long, value_name = "ID")]
    pub second_client_id: Option<String>,
    #[arg(
        help_heading = "Other clients",
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_SECOND_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub second_client_secret: Option<String>,
    /// How the second client authenticates (default client_secret_basic).
    #[arg(
        help_heading = "Other clients",
        long,
        value_enum,
        value_name = "METHOD"
    )]
    pub second_client_auth: Option<AuthMethod>,
    /// The second client's private key, for private_key_jwt (PEM or private JWK).
    #[arg(help_heading = "Other clients", long, value_name = "FILE")]
    pub second_client_key: Option<PathBuf>,
    /// Scopes the client may request, space-separated; the first is its usual one.
    #[arg(help_heading = "Main client", long, value_name = "SCOPES")]
    pub scope: Option<String>,
    /// A scope the client may not have, for least-privilege cases.
    #[arg(help_heading = "Main client", long, value_name = "SCOPE")]
    pub forbidden_scope: Option<String>,
    /// The scope the protected resource (--resource-url) requires, for RS-005 (a token for
    /// another scope of --scope gets 403 insufficient_scope). External targets only.
    #[arg(help_heading = "Main client", long, value_name = "SCOPE")]
    pub resource_scope: Option<String>,
    /// Test DPoP (RFC 9449) with a key of this algorithm, made for this run (ES256, RS256,
    /// PS256, EdDSA). The embedded server is always tested with ES256 unless this says
    /// otherwise.
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "ALG")]
    pub dpop: Option<crate::jose::Alg>,
    /// A client registered with dpop_bound_access_tokens (RFC 9449 §5.2), for the cases
    /// about clients that must send a proof.
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "ID")]
    pub dpop_client_id: Option<String>,
    #[arg(
        help_heading = "JWT, mutual TLS and DPoP",
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_DPOP_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub dpop_client_secret: Option<String>,
    /// Trust the certificates in this PEM file besides the system roots: a private CA, or
    /// a self-signed server's certificate (repeatable).
    #[arg(help_heading = "Target", long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// Do not verify TLS certificates (prints a warning: anyone able to answer for the
    /// target's address could read the client secrets). Prefer --ca-cert.
    #[arg(help_heading = "Target", long)]
    pub insecure: bool,
    /// How the main client authenticates wherever a case does not say (default
    /// client_secret_basic): private_key_jwt (with --client-key), client_secret_jwt,
    /// client_secret_post, tls_client_auth or self_signed_tls_client_auth (with
    /// --client-cert). Only the secret methods need --client-secret. With --jwt-client-id
    /// naming another client, it is that JWT client's method instead.
    #[arg(help_heading = "Main client", long, value_enum, value_name = "METHOD")]
    pub client_auth: Option<AuthMethod>,
    /// A JWT client besides the main one, for the client_auth_jwt cases; --client-auth
    /// is then its method (default: the main client is the JWT client).
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "ID")]
    pub jwt_client_id: Option<String>,
    /// The client_secret_jwt client's secret (default: the main client's, when the ids are
    /// the same).
    #[arg(
        help_heading = "JWT, mutual TLS and DPoP",
        long,
        value_name = "SECRET",
        env = "GRANTCHECK_JWT_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub jwt_client_secret: Option<String>,
    /// The private_key_jwt client's private key (the main client's, or --jwt-client-id's):
    /// PEM (PKCS#8 RSA, EC P-256 or Ed25519; PKCS#1 RSA) or a private JWK.
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "FILE")]
    pub client_key: Option<PathBuf>,
    /// The `kid` to put in its assertions' header (default: the JWK's `kid`, else none).
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "KID")]
    pub client_key_id: Option<String>,
    /// The algorithm an RSA key signs with: RS256 (default) or PS256.
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "ALG")]
    pub client_key_alg: Option<String>,
    /// The `aud` of client assertions: the token endpoint URL (RFC 7523 §3, OIDC Core §9) or
    /// the issuer (draft-ietf-oauth-rfc7523bis).
    #[arg(
        help_heading = "JWT, mutual TLS and DPoP",
        long,
        value_enum,
        value_name = "AUD"
    )]
    pub client_assertion_aud: Option<AssertionAudience>,
    /// The server implements RFC 9068 (JWT access tokens): the `jwt` cases (JWTAT-*) are
    /// judged at their levels. Without it they only record what was seen (INFO), since
    /// RFC 6749 leaves an access token's format to the server.
    #[arg(help_heading = "Cases and profiles", long)]
    pub rfc9068: bool,
    /// A client certificate (PEM, leaf first) for the mutual-TLS cases (RFC 8705), presented
    /// as --mtls-client-id over HTTPS; with --client-cert-key.
    #[arg(
        help_heading = "JWT, mutual TLS and DPoP",
        long,
        value_name = "FILE",
        requires = "client_cert_key"
    )]
    pub client_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        help_heading = "JWT, mutual TLS and DPoP",
        long,
        value_name = "FILE",
        requires = "client_cert"
    )]
    pub client_cert_key: Option<PathBuf>,
    /// The tls_client_auth client the certificate authenticates (default: --client-id).
    #[arg(help_heading = "JWT, mutual TLS and DPoP", long, value_name = "ID")]
    pub mtls_client_id: Option<String>,
    /// More clients, from `[[targets.NAME.clients]]` in grantcheck.toml.
    #[arg(skip)]
    pub clients: Vec<ClientSpec>,
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

/// A client of `[[targets.NAME.clients]]` in grantcheck.toml, its secret already read: the
/// role it acts in, its id and how it authenticates.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    pub role: Role,
    pub id: String,
    pub auth: AuthMethod,
    /// Read from `secret_env`/`secret_file`; prints as redacted.
    pub secret: Option<reference_server::Secret>,
    pub key: Option<PathBuf>,
    pub key_id: Option<String>,
    pub key_alg: Option<String>,
}

/// The clients an external target is tested as, from flags, environment and files.
pub fn clients_from(t: &TargetArgs) -> Result<BTreeMap<Role, ClientCredentials>, Failure> {
    let id = t
        .client_id
        .clone()
        .ok_or_else(|| Failure::usage("an external target needs --client-id"))?;
    let secret = main_secret(t)?;
    // `--jwt-client-id` naming another client: `--client-auth` is that client's method.
    let side_jwt = t.jwt_client_id.as_deref().is_some_and(|j| j != id);
    let (method, key) = match t.client_auth {
        _ if side_jwt => (AuthMethod::ClientSecretBasic, None),
        method => (method.unwrap_or_default(), t.client_key.as_deref()),
    };
    if key.is_some() && method != AuthMethod::PrivateKeyJwt {
        return Err(Failure::usage(format!(
            "--client-key is for private_key_jwt: it needs --client-auth private_key_jwt ({id} authenticates with {})",
            method.as_str()
        )));
    }
    let key = key
        .map(|path| {
            load_key(
                path,
                t.client_key_id.as_deref(),
                t.client_key_alg.as_deref(),
            )
        })
        .transpose()?;
    let main = client_of(
        &id,
        method,
        secret.as_deref(),
        key,
        "--client-secret, GRANTCHECK_CLIENT_SECRET or --client-secret-file",
        "--client-key",
    )?;
    let mut clients = BTreeMap::new();
    let introspector = other_client(
        &t.introspect_client_id,
        &t.introspect_client_secret,
        t.introspect_client_auth,
        &t.introspect_client_key,
        "--introspect-client",
    )?;
    let second = other_client(
        &t.second_client_id,
        &t.second_client_secret,
        t.second_client_auth,
        &t.second_client_key,
        "--second-client",
    )?;
    if let Some(second) = second.filter(|_| t.second_client_id.is_some()) {
        clients.insert(Role::Second, second);
    }
    clients.insert(
        Role::Introspector,
        introspector.unwrap_or_else(|| main.clone()),
    );
    match (&t.dpop_client_id, &t.dpop_client_secret) {
        (Some(id), Some(secret)) => {
            clients.insert(Role::DpopBound, ClientCredentials::new(id, secret));
        }
        (None, None) => {}
        _ => {
            return Err(Failure::usage(
                "--dpop-client-id and --dpop-client-secret go together",
            ))
        }
    }
    if side_jwt {
        if let Some((role, jwt)) = jwt_client_from(t, &id, secret.as_deref().unwrap_or(""))? {
            clients.insert(role, jwt);
        }
    }
    // Flags win over the file: a role the command line filled keeps its client.
    let from_flags = |role: Role| match role {
        Role::Introspector => t.introspect_client_id.is_some(),
        Role::Second => t.second_client_id.is_some(),
        Role::DpopBound => t.dpop_client_id.is_some(),
        Role::KeyJwt | Role::SecretJwt => side_jwt,
        _ => false,
    };
    for spec in t.clients.iter().filter(|spec| !from_flags(spec.role)) {
        let key = spec
            .key
            .as_deref()
            .map(|path| load_key(path, spec.key_id.as_deref(), spec.key_alg.as_deref()))
            .transpose()?;
        let what = format!("the {} client {}", spec.role.as_str(), spec.id);
        let client = client_of(
            &spec.id,
            spec.auth,
            spec.secret.as_ref().map(|s| s.expose()),
            key,
            &format!("{what}: secret_env or secret_file"),
            &format!("{what}: key"),
        )?;
        clients.insert(spec.role, client);
    }
    clients.insert(Role::Main, main);
    Ok(clients)
}

/// The main client's secret, if one was given.
fn main_secret(t: &TargetArgs) -> Result<Option<String>, Failure> {
    match (&t.client_secret, &t.client_secret_file) {
        (Some(s), _) => Ok(Some(s.clone())),
        (None, Some(path)) => Ok(Some(
            std::fs::read_to_string(path)
                .map_err(|e| {
                    Failure::usage(format!(
                        "cannot read --client-secret-file {}: {e}",
                        path.display()
                    ))
                })?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        )),
        (None, None) => Ok(None),
    }
}

/// The introspection caller or the second client (`flag`: `--introspect-client`,
/// `--second-client`): `None` when no id was given.
fn other_client(
    id: &Option<String>,
    secret: &Option<String>,
    method: Option<AuthMethod>,
    key: &Option<PathBuf>,
    flag: &str,
) -> Result<Option<ClientCredentials>, Failure> {
    let Some(id) = id else {
        if secret.is_some() || method.is_some() || key.is_some() {
            return Err(Failure::usage(format!(
                "{flag}-secret, {flag}-auth and {flag}-key need {flag}-id"
            )));
        }
        return Ok(None);
    };
    let method = method.unwrap_or_default();
    if method.cert().is_some() {
        return Err(Failure::usage(format!(
            "{flag}-auth {}: the run's one client certificate (--client-cert) is the main or --mtls-client-id client's",
            method.as_str()
        )));
    }
    let key = key
        .as_deref()
        .map(|path| load_key(path, None, None))
        .transpose()?;
    client_of(
        id,
        method,
        secret.as_deref(),
        key,
        &format!("{flag}-secret"),
        &format!("{flag}-key"),
    )
    .map(Some)
}

/// A client of `method`, with what that method needs: a secret (`secret_flag` says where
/// to give one), a private key (`key_flag`), or neither (mutual TLS, none).
fn client_of(
    id: &str,
    method: AuthMethod,
    secret: Option<&str>,
    key: Option<SigningKey>,
    secret_flag: &str,
    key_flag: &str,
) -> Result<ClientCredentials, Failure> {
    if method.needs_secret() && secret.is_none() {
        return Err(Failure::usage(format!(
            "{id} authenticates with {}, which needs its secret: give {secret_flag}",
            method.as_str()
        )));
    }
    match (method, key) {
        (AuthMethod::PrivateKeyJwt, Some(key)) => {
            Ok(ClientCredentials::with_key(id, key).and_secret(secret))
        }
        (AuthMethod::PrivateKeyJwt, None) => Err(Failure::usage(format!(
            "{id} authenticates with private_key_jwt, which needs {key_flag} FILE (its private key)"
        ))),
        (_, Some(_)) => Err(Failure::usage(format!(
            "{key_flag} is for private_key_jwt: it needs --client-auth private_key_jwt ({id} authenticates with {})",
            method.as_str()
        ))),
        (AuthMethod::ClientSecretJwt, None) => Ok(ClientCredentials::with_hmac_secret(
            id,
            secret.unwrap_or_default(),
        )),
        (method, None) => Ok(ClientCredentials::with_method(id, secret, method)),
    }
}

/// A private key for client assertions, from PEM or a private JWK, with the `kid` to send
/// and (for RSA) the algorithm.
fn load_key(path: &Path, kid: Option<&str>, alg: Option<&str>) -> Result<SigningKey, Failure> {
    let bad_key = |e: crate::jose::KeyError| Failure::usage(format!("{}: {e}", path.display()));
    let mut key = SigningKey::from_file(path, kid).map_err(bad_key)?;
    if let Some(alg) = alg {
        let alg: Alg = alg.parse().map_err(Failure::usage)?;
        key = key.with_alg(alg).map_err(bad_key)?;
    }
    Ok(key)
}

/// The JWT client `--jwt-client-id` names besides the main one (its method
/// `--client-auth`), with the role its cases act as.
pub fn jwt_client_from(
    t: &TargetArgs,
    main_id: &str,
    main_secret: &str,
) -> Result<Option<(Role, ClientCredentials)>, Failure> {
    let Some(method) = t.client_auth else {
        if t.client_key.is_some() {
            return Err(Failure::usage(
                "--client-key needs --client-auth private_key_jwt",
            ));
        }
        return Ok(None);
    };
    let id = t.jwt_client_id.as_deref().unwrap_or(main_id);
    match method {
        AuthMethod::PrivateKeyJwt => {
            let path = t.client_key.as_ref().ok_or_else(|| {
                Failure::usage("--client-auth private_key_jwt needs --client-key FILE")
            })?;
            let key = load_key(
                path,
                t.client_key_id.as_deref(),
                t.client_key_alg.as_deref(),
            )
            .map_err(|e| Failure::usage(format!("--client-key {e}")))?;
            Ok(Some((Role::KeyJwt, ClientCredentials::with_key(id, key))))
        }
        AuthMethod::ClientSecretJwt => {
            if t.client_key.is_some() {
                return Err(Failure::usage(
                    "--client-key is for private_key_jwt; client_secret_jwt signs with the client secret",
                ));
            }
            let secret = match (&t.jwt_client_secret, id == main_id) {
                (Some(secret), _) => secret.as_str(),
                (None, true) => main_secret,
                (None, false) => {
                    return Err(Failure::usage(
                        "--client-auth client_secret_jwt with --jwt-client-id needs --jwt-client-secret (or GRANTCHECK_JWT_CLIENT_SECRET)",
                    ))
                }
            };
            Ok(Some((
                Role::SecretJwt,
                ClientCredentials::with_hmac_secret(id, secret),
            )))
        }
        other => Err(Failure::usage(format!(
            "--jwt-client-id names a JWT client: --client-auth private_key_jwt or client_secret_jwt, not {}",
            other.as_str()
        ))),
    }
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

    /// The external target these flags name: discovered (each request within
    /// `settings.request_timeout`, all by `settings.deadline`), with the clients and scopes given.
    pub async fn resolve_external(
        &self,
        http: &reqwest::Client,
        settings: &crate::settings::Settings,
    ) -> Result<super::Target, Failure> {
        let mut target = super::discover(
            http,
            settings,
            self.target.as_deref(),
            self.overrides(),
            clients_from(self)?,
            self.scopes(),
            self.forbidden_scope.clone(),
        )
        .await?;
        target.assertion_audience = self.client_assertion_aud.unwrap_or_default();
        target.assertion_audience_given = self.client_assertion_aud.is_some();
        target.rfc9068 = self.rfc9068;
        target.resource_scope = self.resource_scope.clone();
        Ok(target)
    }
}
