//! Mutual TLS for the `mtls` cases (RFC 8705): the client certificates a run presents, each
//! with its own HTTP client, and their `x5t#S256` thumbprints.
//!
//! The embedded HTTPS run uses the test-only certificates of `fixtures/keys/` (its server
//! registers their clients); an external HTTPS target gets `--client-cert`/`--client-cert-key`
//! for `--mtls-client-id`, and a certificate made for this run as the "other" one. Private
//! keys are handed to the TLS client and never kept, printed or reported.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde::Deserialize;

use crate::http::TlsTrust;

/// Which certificate a step presents (`cert = "client"` in a case file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cert {
    /// The `tls_client_auth` client's certificate (`--client-cert`).
    Client,
    /// The `self_signed_tls_client_auth` client's registered self-signed certificate.
    SelfSigned,
    /// A certificate nobody registered (same subject as the client's where known).
    Other,
    /// The client's subject from the same CA, expired.
    Expired,
    /// No certificate: the run's ordinary client.
    None,
}

impl Cert {
    pub fn as_str(self) -> &'static str {
        match self {
            Cert::Client => "client",
            Cert::SelfSigned => "self_signed",
            Cert::Other => "other",
            Cert::Expired => "expired",
            Cert::None => "none",
        }
    }
}

/// The run's client certificates, each with an HTTP client that presents it (and a TLS
/// configuration presenting it for the races' own connections).
#[derive(Clone)]
pub struct MtlsClients {
    clients: BTreeMap<Cert, (reqwest::Client, String, RaceTls)>,
    /// The same trust without a certificate, for races.
    plain: RaceTls,
}

type RaceTls = std::sync::Arc<rustls::ClientConfig>;

impl fmt::Debug for MtlsClients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let certs: BTreeMap<&str, &str> = self
            .clients
            .iter()
            .map(|(c, (_, x5t, _))| (c.as_str(), x5t.as_str()))
            .collect();
        f.debug_struct("MtlsClients")
            .field("x5t#S256", &certs)
            .finish()
    }
}

/// The embedded server's test-only certificates and keys (fixtures/keys/README.md).
const FIXTURES: &[(Cert, &str, &str)] = &[
    (
        Cert::Client,
        include_str!("../fixtures/keys/mtls-client.pem"),
        include_str!("../fixtures/keys/mtls-client.key.pem"),
    ),
    (
        Cert::SelfSigned,
        include_str!("../fixtures/keys/mtls-self-signed.pem"),
        include_str!("../fixtures/keys/mtls-self-signed.key.pem"),
    ),
    (
        Cert::Other,
        include_str!("../fixtures/keys/mtls-other.pem"),
        include_str!("../fixtures/keys/mtls-other.key.pem"),
    ),
    (
        Cert::Expired,
        include_str!("../fixtures/keys/mtls-expired.pem"),
        include_str!("../fixtures/keys/mtls-expired.key.pem"),
    ),
];

impl MtlsClients {
    /// The embedded HTTPS server's: every fixture certificate.
    pub fn embedded(timeout: Duration, trust: &TlsTrust) -> Result<MtlsClients, String> {
        let mut clients = BTreeMap::new();
        for (cert, pem, key) in FIXTURES {
            clients.insert(*cert, client_with(timeout, trust, pem, key)?);
        }
        let plain = trust.rustls_config(None)?;
        Ok(MtlsClients { clients, plain })
    }

    /// An external target's: the given certificate and key (PEM), and one made for this run
    /// as the certificate nobody registered.
    /// `as_cert`: what the certificate is, `Client` (CA-issued, `tls_client_auth`) or
    /// `SelfSigned` (a `self_signed_tls_client_auth` main client's registered one).
    pub fn from_files(
        timeout: Duration,
        trust: &TlsTrust,
        cert: &Path,
        key: &Path,
        as_cert: Cert,
    ) -> Result<MtlsClients, String> {
        let pem = std::fs::read_to_string(cert)
            .map_err(|e| format!("cannot read --client-cert {}: {e}", cert.display()))?;
        let key_pem = std::fs::read_to_string(key)
            .map_err(|e| format!("cannot read --client-cert-key {}: {e}", key.display()))?;
        let mut clients = BTreeMap::new();
        clients.insert(as_cert, client_with(timeout, trust, &pem, &key_pem)?);
        let (other_pem, other_key) =
            reference_server::tls::generate_self_signed_pem("grantcheck-other.invalid")?;
        clients.insert(
            Cert::Other,
            client_with(timeout, trust, &other_pem, &other_key)?,
        );
        let plain = trust.rustls_config(None)?;
        Ok(MtlsClients { clients, plain })
    }

    /// The HTTP client presenting `cert`; `None` when the run has no such certificate.
    pub fn client(&self, cert: Cert) -> Option<&reqwest::Client> {
        self.clients.get(&cert).map(|(client, _, _)| client)
    }

    /// The TLS configuration presenting `cert` for a race's own connections (`Cert::None`:
    /// none); `None` when the run has no such certificate.
    pub fn race_tls(&self, cert: Cert) -> Option<RaceTls> {
        match cert {
            Cert::None => Some(self.plain.clone()),
            _ => self.clients.get(&cert).map(|(_, _, tls)| tls.clone()),
        }
    }

    /// The `x5t#S256` of `cert` (RFC 8705 §3.1).
    pub fn thumbprint(&self, cert: Cert) -> Option<&str> {
        self.clients.get(&cert).map(|(_, x5t, _)| x5t.as_str())
    }
}

/// An HTTP client presenting the certificate in `cert_pem` with the key in `key_pem`, and the
/// certificate's thumbprint.
fn client_with(
    timeout: Duration,
    trust: &TlsTrust,
    cert_pem: &str,
    key_pem: &str,
) -> Result<(reqwest::Client, String, RaceTls), String> {
    let leaf = CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    let mut identity_pem = Vec::with_capacity(cert_pem.len() + key_pem.len() + 1);
    identity_pem.extend_from_slice(key_pem.as_bytes());
    identity_pem.push(b'\n');
    identity_pem.extend_from_slice(cert_pem.as_bytes());
    // The error never quotes the key.
    let identity = reqwest::Identity::from_pem(&identity_pem)
        .map_err(|_| "the client certificate and key are not a usable PEM pair".to_owned())?;
    let client = crate::http::client_builder(timeout, trust)
        .identity(identity)
        .build()
        .map_err(|e| {
            format!("the client certificate and key do not fit together or cannot be used ({e})")
        })?;
    let identity = crate::http::tls::Identity::from_pem(cert_pem, key_pem)?;
    let race_tls = trust.rustls_config(Some(identity))?;
    Ok((client, thumbprint(&leaf), race_tls))
}

/// base64url(SHA-256(DER)): `x5t#S256` (RFC 8705 §3.1).
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_make_clients_and_debug_shows_no_key() {
        let clients = MtlsClients::embedded(Duration::from_secs(1), &TlsTrust::default()).unwrap();
        assert!(clients.client(Cert::Expired).is_some());
        assert!(clients.client(Cert::None).is_none());
        let x5t = clients.thumbprint(Cert::Client).unwrap();
        assert_eq!(x5t.len(), 43);
        let debug = format!("{clients:?}");
        assert!(debug.contains(x5t) && !debug.contains("PRIVATE"), "{debug}");
    }

    #[test]
    fn a_key_that_is_not_pem_is_refused_without_quoting_it() {
        let err = client_with(
            Duration::from_secs(1),
            &TlsTrust::default(),
            FIXTURES[0].1,
            "secret-material",
        )
        .unwrap_err();
        assert!(!err.contains("secret-material"), "{err}");
    }
}
