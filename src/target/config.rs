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
        args.clients.push(super::args::ClientSpec {
            role: c.role,
            id: c.id.clone(),
            auth: c.auth,
            secret: secret(&name, &which, &c.secret_env, &c.secret_file)?,
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
mod tests {
    use super::*;
    use crate::target::clients_from;
    use crate::target::AuthMethod;

    #[test]
    fn a_named_target_fills_what_flags_left_empty() {
        let config: ConfigFile = toml::from_str(
            r#"
[targets.peer]
issuer = "http://127.0.0.1:18081"
client_id = "myClient"
client_secret_env = "GRANTCHECK_TEST_PEER_SECRET"
scope = "write read"
resource_scope = "write"
ca_cert = ["certs/peer-ca.pem"]
"#,
        )
        .unwrap();
        std::env::set_var("GRANTCHECK_TEST_PEER_SECRET", "s3cret");
        let mut args = TargetArgs {
            target: Some("peer".into()),
            scope: Some("write".into()),
            ..TargetArgs::default()
        };
        assert_eq!(apply(&mut args, &config).unwrap().as_deref(), Some("peer"));
        assert_eq!(args.target.as_deref(), Some("http://127.0.0.1:18081"));
        assert_eq!(args.client_secret.as_deref(), Some("s3cret"));
        assert_eq!(args.scope.as_deref(), Some("write"), "flags win");
        assert_eq!(args.resource_scope.as_deref(), Some("write"));
        assert_eq!(args.ca_cert, vec![PathBuf::from("certs/peer-ca.pem")]);

        let mut unknown = TargetArgs {
            target: Some("nope".into()),
            ..TargetArgs::default()
        };
        assert!(apply(&mut unknown, &config)
            .unwrap_err()
            .message
            .contains("peer"));
        assert!(toml::from_str::<ConfigFile>("[targets.x]\nclient_secret = \"plain\"").is_err());
    }

    #[test]
    fn a_named_target_names_a_client_certificate_and_its_key_file() {
        let config: ConfigFile = toml::from_str(
            r#"
[targets.peer]
issuer = "https://127.0.0.1:8443"
client_id = "myClient"
client_cert = "certs/client.pem"
client_cert_key = "certs/client.key.pem"
mtls_client_id = "mtlsClient"
"#,
        )
        .unwrap();
        let mut args = TargetArgs {
            target: Some("peer".into()),
            ..TargetArgs::default()
        };
        apply(&mut args, &config).unwrap();
        assert_eq!(args.client_cert, Some(PathBuf::from("certs/client.pem")));
        assert_eq!(
            args.client_cert_key,
            Some(PathBuf::from("certs/client.key.pem"))
        );
        assert_eq!(args.mtls_client_id.as_deref(), Some("mtlsClient"));
        // A certificate on the command line comes with its own key: the file's pair is not mixed in.
        let mut flags = TargetArgs {
            target: Some("peer".into()),
            client_cert: Some("mine.pem".into()),
            client_cert_key: Some("mine.key".into()),
            ..TargetArgs::default()
        };
        apply(&mut flags, &config).unwrap();
        assert_eq!(flags.client_cert_key, Some(PathBuf::from("mine.key")));
    }

    #[test]
    fn a_named_target_tests_dpop_with_an_algorithm_and_a_bound_client() {
        let config: ConfigFile = toml::from_str(
            r#"
[targets.peer]
issuer = "http://127.0.0.1:18085"
client_id = "myClient"
dpop = "EdDSA"
dpop_client_id = "dpopClient"
dpop_client_secret_env = "GRANTCHECK_TEST_DPOP_PEER_SECRET"
"#,
        )
        .unwrap();
        std::env::set_var("GRANTCHECK_TEST_DPOP_PEER_SECRET", "dpop-s3cret");
        let mut args = TargetArgs {
            target: Some("peer".into()),
            ..TargetArgs::default()
        };
        apply(&mut args, &config).unwrap();
        assert_eq!(args.dpop, Some(crate::jose::Alg::EdDsa));
        assert_eq!(args.dpop_client_id.as_deref(), Some("dpopClient"));
        assert_eq!(args.dpop_client_secret.as_deref(), Some("dpop-s3cret"));
        // The flag wins over the file.
        let mut flagged = TargetArgs {
            target: Some("peer".into()),
            dpop: Some(crate::jose::Alg::Ps256),
            ..TargetArgs::default()
        };
        apply(&mut flagged, &config).unwrap();
        assert_eq!(flagged.dpop, Some(crate::jose::Alg::Ps256));
        let bad: ConfigFile = toml::from_str("[targets.x]\ndpop = \"ES384\"").unwrap();
        let mut args = TargetArgs {
            target: Some("x".into()),
            ..TargetArgs::default()
        };
        let err = apply(&mut args, &bad).unwrap_err();
        assert!(
            err.message.contains("[targets.x] dpop") && err.message.contains("ES384"),
            "{}",
            err.message
        );
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys")
            .join(name)
    }

    fn jwt_args(changes: impl FnOnce(&mut TargetArgs)) -> TargetArgs {
        let mut args = TargetArgs {
            client_id: Some("myClient".into()),
            client_secret: Some("forgerock".into()),
            ..TargetArgs::default()
        };
        changes(&mut args);
        args
    }

    #[test]
    fn a_named_target_describes_its_jwt_client_by_file_and_variable_never_inline() {
        let config: ConfigFile = toml::from_str(
            r#"
[targets.peer]
issuer = "http://127.0.0.1:18085"
client_id = "myClient"
client_secret_env = "GRANTCHECK_TEST_JWT_PEER_SECRET"
client_auth = "private_key_jwt"
jwt_client_id = "jwtClient"
client_key = "keys/jwtClient.private.jwk.json"
client_key_id = "jwtClient-es256"
client_assertion_aud = "issuer"
"#,
        )
        .unwrap();
        std::env::set_var("GRANTCHECK_TEST_JWT_PEER_SECRET", "s3cret");
        let mut args = TargetArgs {
            target: Some("peer".into()),
            ..TargetArgs::default()
        };
        apply(&mut args, &config).unwrap();
        assert_eq!(args.client_auth, Some(AuthMethod::PrivateKeyJwt));
        assert_eq!(args.jwt_client_id.as_deref(), Some("jwtClient"));
        assert_eq!(
            args.client_key,
            Some(PathBuf::from("keys/jwtClient.private.jwk.json"))
        );
        assert_eq!(args.client_key_id.as_deref(), Some("jwtClient-es256"));
        assert_eq!(
            args.client_assertion_aud,
            Some(super::super::AssertionAudience::Issuer)
        );
        // The key itself, or a secret, cannot be written in the file.
        for inline in ["client_key_pem = \"x\"", "jwt_client_secret = \"x\""] {
            assert!(toml::from_str::<ConfigFile>(&format!("[targets.x]\n{inline}")).is_err());
        }
    }

    #[test]
    fn the_jwt_client_comes_from_client_auth_and_its_key_or_secret() {
        use crate::case::Role;
        use crate::target::args::jwt_client_from;
        let key = jwt_args(|a| {
            a.client_auth = Some(AuthMethod::PrivateKeyJwt);
            a.jwt_client_id = Some("jwtClient".into());
            a.client_key = Some(fixture("client-rs256.pem"));
            a.client_key_id = Some("grantcheck-rs256".into());
            a.client_key_alg = Some("PS256".into());
        });
        let clients = clients_from(&key).unwrap();
        let jwt = &clients[&Role::KeyJwt];
        assert_eq!(jwt.id, "jwtClient");
        assert!(jwt.secret.is_none());
        let signing = jwt.jwt_key.as_ref().unwrap();
        assert_eq!(
            (signing.alg().name(), signing.kid()),
            ("PS256", Some("grantcheck-rs256"))
        );
        assert!(!format!("{jwt:?}").contains("PRIVATE"), "{jwt:?}");

        // client_secret_jwt with the main client: its secret keys the MAC.
        let same = jwt_args(|a| a.client_auth = Some(AuthMethod::ClientSecretJwt));
        let (role, client) = jwt_client_from(&same, "myClient", "forgerock")
            .unwrap()
            .unwrap();
        assert_eq!((role, client.id.as_str()), (Role::SecretJwt, "myClient"));
        assert_eq!(
            client.secret.as_ref().map(|s| s.expose()),
            Some("forgerock")
        );
        assert!(client.jwt_key.as_ref().unwrap().is_symmetric());
        assert!(jwt_client_from(&jwt_args(|_| {}), "myClient", "forgerock")
            .unwrap()
            .is_none());

        let usage =
            |changes: fn(&mut TargetArgs)| clients_from(&jwt_args(changes)).unwrap_err().message;
        type Change = fn(&mut TargetArgs);
        let cases: [(Change, &str); 6] = [
            (
                |a| a.client_auth = Some(AuthMethod::PrivateKeyJwt),
                "needs --client-key",
            ),
            (
                |a| a.client_key = Some(PathBuf::from("k.pem")),
                "needs --client-auth private_key_jwt",
            ),
            (
                |a| {
                    a.client_auth = Some(AuthMethod::PrivateKeyJwt);
                    a.client_key = Some(PathBuf::from("/nonexistent/grantcheck-key.pem"));
                },
                "cannot read the key file",
            ),
            (
                |a| {
                    a.client_auth = Some(AuthMethod::PrivateKeyJwt);
                    a.client_key = Some(fixture("client-es256.pem"));
                    a.client_key_alg = Some("RS256".into());
                },
                "cannot sign RS256",
            ),
            (
                |a| {
                    a.client_auth = Some(AuthMethod::ClientSecretJwt);
                    a.jwt_client_id = Some("hmacClient".into());
                },
                "needs --jwt-client-secret",
            ),
            (
                |a| {
                    a.client_auth = Some(AuthMethod::ClientSecretJwt);
                    a.client_key = Some(fixture("client-es256.pem"));
                },
                "is for private_key_jwt",
            ),
        ];
        for (changes, expected) in cases {
            let message = usage(changes);
            assert!(message.contains(expected), "{message}");
        }
    }

    /// Issue 23: the main client may authenticate without a secret; the secret methods
    /// still need one, and the introspection caller can use a key too.
    #[test]
    fn a_main_client_without_a_secret_authenticates_by_key_or_certificate() {
        use crate::case::Role;
        let secretless = |changes: fn(&mut TargetArgs)| {
            clients_from(&jwt_args(|a| {
                a.client_secret = None;
                changes(a);
            }))
        };
        let jwt = secretless(|a| {
            a.client_auth = Some(AuthMethod::PrivateKeyJwt);
            a.client_key = Some(fixture("client-es256.pem"));
        })
        .unwrap();
        let main = &jwt[&Role::Main];
        assert_eq!(main.method, AuthMethod::PrivateKeyJwt);
        assert!(main.secret.is_none() && main.jwt_key.is_some());
        // The introspection caller defaults to the main client, method and all.
        assert_eq!(jwt[&Role::Introspector].method, AuthMethod::PrivateKeyJwt);

        let mtls = secretless(|a| a.client_auth = Some(AuthMethod::TlsClientAuth)).unwrap();
        assert_eq!(mtls[&Role::Main].method, AuthMethod::TlsClientAuth);

        let basic = secretless(|_| {}).unwrap_err().message;
        assert!(
            basic.contains("client_secret_basic, which needs its secret"),
            "{basic}"
        );

        let caller = secretless(|a| {
            a.client_auth = Some(AuthMethod::TlsClientAuth);
            a.introspect_client_id = Some("rs".into());
            a.introspect_client_auth = Some(AuthMethod::PrivateKeyJwt);
            a.introspect_client_key = Some(fixture("client-es256.pem"));
        })
        .unwrap();
        assert_eq!(caller[&Role::Introspector].id, "rs");
        assert_eq!(
            caller[&Role::Introspector].method,
            AuthMethod::PrivateKeyJwt
        );
    }

    /// Several JWT clients in one run: `[[targets.X.clients]]`, each in its role.
    #[test]
    fn a_named_target_lists_more_clients_each_in_its_role() {
        use crate::case::Role;
        let text = format!(
            r#"
[targets.peer]
issuer = "https://as.example"
client_id = "myClient"
client_secret_file = "{secret}"

[[targets.peer.clients]]
role = "key_jwt"
id = "jwtClient"
auth = "private_key_jwt"
key = "{key}"

[[targets.peer.clients]]
role = "secret_jwt"
id = "hmacClient"
auth = "client_secret_jwt"
secret_file = "{secret}"
"#,
            secret = fixture("client-es256.jwk.json").display(),
            key = fixture("client-es256.pem").display(),
        );
        let config: ConfigFile = toml::from_str(&text).unwrap();
        let mut args = TargetArgs {
            target: Some("peer".into()),
            ..TargetArgs::default()
        };
        apply(&mut args, &config).unwrap();
        let clients = clients_from(&args).unwrap();
        assert_eq!(clients[&Role::KeyJwt].id, "jwtClient");
        assert_eq!(clients[&Role::KeyJwt].method, AuthMethod::PrivateKeyJwt);
        assert_eq!(clients[&Role::SecretJwt].id, "hmacClient");
        assert!(clients[&Role::SecretJwt]
            .jwt_key
            .as_ref()
            .unwrap()
            .is_symmetric());
        assert_eq!(clients[&Role::Main].method, AuthMethod::ClientSecretBasic);

        let main_role = text.replace("role = \"key_jwt\"", "role = \"main\"");
        let config: ConfigFile = toml::from_str(&main_role).unwrap();
        let mut args = TargetArgs {
            target: Some("peer".into()),
            ..TargetArgs::default()
        };
        let refused = apply(&mut args, &config).unwrap_err().message;
        assert!(
            refused.contains("role 'main' cannot be given here"),
            "{refused}"
        );
    }
}
