//! HTTPS for the reference server: its certificate (generated or loaded), the rustls server
//! settings, and the client settings the resource server uses to reach its own
//! introspection endpoint over TLS.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// The names a generated certificate is valid for, besides the ones asked for.
const LOOPBACK_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

/// A certificate chain (leaf first) and its private key.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl TlsIdentity {
    /// A new self-signed certificate for `hosts` and the loopback names, with a new key.
    pub fn generate(hosts: &[String]) -> Result<TlsIdentity, String> {
        let mut names: Vec<String> = LOOPBACK_NAMES.iter().map(|n| n.to_string()).collect();
        for host in hosts {
            if !names.contains(host) {
                names.push(host.clone());
            }
        }
        let generated = rcgen::generate_simple_self_signed(names)
            .map_err(|e| format!("cannot generate a certificate: {e}"))?;
        let key = PrivateKeyDer::try_from(generated.signing_key.serialize_der())
            .map_err(|e| format!("cannot use the generated key: {e}"))?;
        Ok(TlsIdentity {
            chain: vec![generated.cert.der().clone()],
            key,
        })
    }

    /// A certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsIdentity, String> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: not a PEM certificate file ({e})", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: holds no certificate", cert.display()));
        }
        let key = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| format!("{}: not a PEM private key ({e})", key.display()))?;
        let identity = TlsIdentity { chain, key };
        // Refuse a key that does not belong to the certificate now, not at the first client.
        identity.server_config()?;
        Ok(identity)
    }

    /// The chain as PEM, for a client to trust (`grantcheck conform --ca-cert FILE`).
    pub fn certificate_pem(&self) -> String {
        self.chain
            .iter()
            .map(|cert| pem("CERTIFICATE", cert))
            .collect()
    }

    /// SHA-256 of the leaf certificate, as colon-separated hex (what browsers and
    /// `openssl x509 -fingerprint -sha256` show).
    pub fn fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.chain[0]);
        let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
        hex.join(":")
    }

    /// Server settings: TLS 1.2 and 1.3 with rustls' safe defaults, HTTP/1.1 by ALPN; every
    /// client is asked for a certificate, none is required (RFC 8705: which certificate is
    /// good enough depends on the client, judged per request in `mtls.rs`).
    pub(crate) fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, String> {
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS settings: {e}"))?
            .with_client_cert_verifier(Arc::new(RequestClientCertificate {
                provider: provider(),
            }))
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| format!("the certificate and key do not fit together: {e}"))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// Client settings that trust exactly this server's leaf certificate, whatever name it
    /// is reached by: the resource server talks to its own authorization server.
    pub(crate) fn pinned_client_config(&self) -> rustls::ClientConfig {
        let verifier = PinnedLeaf {
            leaf: self.chain[0].clone(),
            provider: provider(),
        };
        client_builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    }
}

/// A new self-signed certificate for `name` and its key, both PEM: a client certificate
/// nobody registered (RFC 8705 cases).
pub fn generate_self_signed_pem(name: &str) -> Result<(String, String), String> {
    let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()])
        .map_err(|e| format!("cannot generate a certificate: {e}"))?;
    Ok((generated.cert.pem(), generated.signing_key.serialize_pem()))
}

/// Client settings for a server without TLS (the connector needs some; none are used).
pub(crate) fn plain_client_config() -> rustls::ClientConfig {
    client_builder()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth()
}

fn client_builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports rustls' default protocol versions")
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Asks for a client certificate without requiring one, and accepts any certificate whose key
/// the client proves it holds (the handshake signature is verified): `mtls.rs` decides per
/// client whether it authenticates anyone, and a bound token names it by thumbprint.
#[derive(Debug)]
struct RequestClientCertificate {
    provider: Arc<CryptoProvider>,
}

/// The handshake-signature half of a certificate verifier, the same for the client-certificate
/// verifier and the pinned-leaf one: the provider's algorithms check every signature.
macro_rules! signature_checks {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl rustls::server::danger::ClientCertVerifier for RequestClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    signature_checks!();
}

/// Accepts one certificate, byte for byte; signatures are still verified.
#[derive(Debug)]
struct PinnedLeaf {
    leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedLeaf {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))
        }
    }

    signature_checks!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identity_round_trips_through_pem_files() {
        let identity = TlsIdentity::generate(&["as.test".into()]).unwrap();
        assert_eq!(identity.fingerprint().len(), 32 * 3 - 1);
        assert!(!format!("{identity:?}").contains("PRIVATE"));
        let dir = std::env::temp_dir().join(format!("rs-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, identity.certificate_pem()).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", identity.key.secret_der())).unwrap();
        let loaded = TlsIdentity::from_pem_files(&cert, &key).unwrap();
        assert_eq!(loaded.fingerprint(), identity.fingerprint());

        // A key from another certificate is refused when loading.
        let other = TlsIdentity::generate(&[]).unwrap();
        std::fs::write(&key, pem("PRIVATE KEY", other.key.secret_der())).unwrap();
        let err = TlsIdentity::from_pem_files(&cert, &key).unwrap_err();
        assert!(err.contains("do not fit"), "{err}");
        std::fs::write(&key, "not a key").unwrap();
        assert!(TlsIdentity::from_pem_files(&cert, &key).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
