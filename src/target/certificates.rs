//! The run's client certificates for mutual TLS (RFC 8705), attached to its target: the
//! same for `conform` and `load`.

use std::time::Duration;

use super::{AuthMethod, ClientCredentials, Target, TargetArgs};
use crate::case::Role;
use crate::exit::Failure;
use crate::http::TlsTrust;

/// The run's client certificates (RFC 8705): the fixtures for the embedded HTTPS server,
/// `--client-cert`/`--client-cert-key` for `--mtls-client-id` (default `--client-id`)
/// elsewhere; none over plain HTTP, where the mTLS cases skip.
pub fn attach_client_certificates(
    t: &TargetArgs,
    target: &mut Target,
    timeout: Duration,
    trust: &TlsTrust,
) -> Result<(), Failure> {
    let main_cert = target
        .clients
        .get(&Role::Main)
        .and_then(|main| main.method.cert().map(|_| main.method));
    let clients = match (&t.client_cert, &t.client_cert_key) {
        (Some(cert), Some(key)) => {
            // A mutual-TLS main client is its own mtls client unless another is named.
            if main_cert.is_none() || t.mtls_client_id.is_some() {
                let id = t
                    .mtls_client_id
                    .clone()
                    .or_else(|| t.client_id.clone())
                    .ok_or_else(|| {
                        Failure::usage("--client-cert needs --mtls-client-id ID (or --client-id)")
                    })?;
                target.clients.insert(
                    Role::Mtls,
                    ClientCredentials::with_method(
                        &id,
                        None,
                        AuthMethod::TlsClientAuth,
                    ),
                );
            }
            if target.embedded {
                // Only the fixture certificates' clients are registered there.
                target.clients.remove(&Role::SelfSignedMtls);
            }
            let as_cert = match main_cert {
                Some(AuthMethod::SelfSignedTlsClientAuth) => crate::mtls::Cert::SelfSigned,
                _ => crate::mtls::Cert::Client,
            };
            crate::mtls::MtlsClients::from_files(timeout, trust, cert, key, as_cert)
                .map_err(Failure::usage)?
        }
        _ if !target.embedded && main_cert.is_some() => {
            return Err(Failure::usage(format!(
                "--client-auth {} needs the client's certificate: --client-cert FILE --client-cert-key FILE",
                main_cert.map(|m| m.as_str()).unwrap_or_default()
            )))
        }
        _ if target.embedded && !target.is_plain_http() => {
            crate::mtls::MtlsClients::embedded(timeout, trust).map_err(Failure::internal)?
        }
        _ => return Ok(()),
    };
    if !target.is_plain_http() {
        target.mtls = Some(std::sync::Arc::new(clients));
    }
    Ok(())
}
