//! The target of a `conform` run: the embedded reference server started or an external
//! one resolved (with what the reports name when that fails), the credentials given for the
//! embedded run, and the run's client certificates.

use reference_server::{Fault, ReferenceServer, ServerConfig, TlsIdentity, TokenFormat, Variant};

use crate::case::Role;
use crate::commands::serve::FormatArg;
use crate::exit::Failure;
use crate::runner::Settings;
use crate::target::{self, clients_from, Target, TargetArgs};

/// Credentials given for the embedded run replace its fixture clients', so a mistyped
/// secret shows what it would against a real server.
/// Returns whether any were given (and so used).
pub(super) fn embedded_credentials(t: &TargetArgs, target: &mut Target) -> Result<bool, Failure> {
    // A secret that only came from GRANTCHECK_CLIENT_SECRET is meant for an external
    // server; the embedded run keeps its own unless the command line names the client.
    // A JWT client named on the command line replaces the embedded one of its kind.
    let jwt_given = match target.clients.get(&Role::Main).cloned() {
        Some(main) if t.client_id.is_none() => {
            let secret = main.secret.as_ref().map_or("", |s| s.expose());
            let jwt = crate::target::args::jwt_client_from(t, &main.id, secret)?;
            jwt.map(|(role, client)| target.clients.insert(role, client))
                .is_some()
        }
        _ => false,
    };
    let from_env = t.client_secret.is_some()
        && std::env::var("GRANTCHECK_CLIENT_SECRET").ok() == t.client_secret;
    if t.client_id.is_none()
        && t.client_secret_file.is_none()
        && (t.client_secret.is_none() || from_env)
    {
        return Ok(jwt_given);
    }
    let fixture = target.clients.get(&Role::Main).cloned();
    let args = TargetArgs {
        client_id: t
            .client_id
            .clone()
            .or(fixture.as_ref().map(|c| c.id.clone())),
        // The fixture's secret only for the fixture's client.
        client_secret: t.client_secret.clone().or_else(|| {
            (t.client_secret_file.is_none()
                && t.client_id.as_ref() == fixture.as_ref().map(|c| &c.id))
            .then(|| {
                fixture
                    .as_ref()?
                    .secret
                    .as_ref()
                    .map(|s| s.expose().to_owned())
            })
            .flatten()
        }),
        ..t.clone()
    };
    for (role, client) in clients_from(&args)? {
        let default_introspector = role == Role::Introspector && t.introspect_client_id.is_none();
        if !default_introspector {
            target.clients.insert(role, client);
        }
    }
    Ok(true)
}

/// The embedded FAPI 2.0 server's clients (`--profile fapi2`): only those that authenticate
/// without a secret, the private_key_jwt client `jwtClient` being the main client and
/// `rsJwtClient` (private_key_jwt too) the introspection caller, as on a server that
/// registers no client secret at all.
pub(super) fn fapi2_clients(target: &mut Target) {
    let Some(jwt) = target.clients.get(&Role::KeyJwt).cloned() else {
        return;
    };
    target.clients.retain(|_, client| {
        matches!(
            client.method,
            target::AuthMethod::PrivateKeyJwt
                | target::AuthMethod::TlsClientAuth
                | target::AuthMethod::SelfSignedTlsClientAuth
        )
    });
    target.clients.remove(&Role::KeyJwt);
    // The resource server's secretless credentials (`rsJwtClient`, the same fixture key):
    // a client that may introspect only its own tokens would see every other client's
    // (the mTLS client's, say) as inactive.
    let introspector = target::ClientCredentials {
        id: "rsJwtClient".into(),
        ..jwt.clone()
    };
    target.clients.insert(Role::Introspector, introspector);
    target.clients.insert(Role::Main, jwt);
}

/// What the reports name when discovery failed: `--target NAME`, the issuer or the token URL.
pub(super) fn unresolved_target(t: &TargetArgs, named: Option<&str>) -> Target {
    let url = t
        .target
        .clone()
        .or_else(|| t.token_url.clone())
        .unwrap_or_default();
    let label = named.map_or_else(|| target::label_of(&url), str::to_owned);
    let mut target = Target::external(
        &label,
        t.token_url.clone().unwrap_or_default(),
        Default::default(),
    );
    target.issuer = t.target.clone();
    target
}

/// What the `--embedded-*` flags ask of the embedded server.
pub(super) struct Embedded<'a> {
    pub faults: &'a [Fault],
    pub variants: &'a [Variant],
    pub token_format: FormatArg,
    pub tls: Option<TlsIdentity>,
    /// `--profile fapi2`: the embedded server is a FAPI 2.0 server.
    pub fapi2: bool,
}

pub(super) enum Resolved {
    External(Box<Target>),
    Embedded(ReferenceServer),
}

pub(super) async fn resolve_target(
    t: &TargetArgs,
    embedded: Embedded<'_>,
    http: &reqwest::Client,
    settings: &Settings,
) -> Result<Resolved, Failure> {
    if t.is_embedded() {
        if t.resource_scope.is_some() {
            return Err(Failure::usage(
                "--resource-scope applies to an external target (--target/--resource-url); the embedded server's resource requires 'write'",
            ));
        }
        let config = ServerConfig {
            tls: embedded.tls,
            faults: embedded.faults.iter().copied().collect(),
            variants: embedded.variants.iter().copied().collect(),
            fapi2: embedded.fapi2,
            token_format: match embedded.token_format {
                FormatArg::Opaque => TokenFormat::Opaque,
                FormatArg::Jwt => TokenFormat::Jwt,
            },
            ..ServerConfig::default()
        };
        let server = ReferenceServer::start(config, "127.0.0.1:0".parse().expect("valid address"))
            .await
            .map_err(|e| {
                Failure::runtime(format!("cannot start the embedded reference server: {e}"))
            })?;
        return Ok(Resolved::Embedded(server));
    }
    if !embedded.faults.is_empty() || !embedded.variants.is_empty() {
        return Err(Failure::usage(
            "--embedded-fault and --embedded-variant apply only without --target/--token-url",
        ));
    }
    t.resolve_external(http, settings)
        .await
        .map(|t| Resolved::External(Box::new(t)))
}
