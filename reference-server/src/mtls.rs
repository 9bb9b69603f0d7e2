//! Mutual-TLS client authentication and certificate-bound access tokens (RFC 8705), sans IO:
//! the certificate a connection presented, the checks for `tls_client_auth` (PKI: a chain to
//! the client CA, and the registered subject DN, §2.1) and `self_signed_tls_client_auth` (the
//! certificate is one the client registered in its JWK Set's `x5c`, §2.2), and the
//! `x5t#S256` thumbprint a bound token carries (§3.1).
//!
//! Reading a certificate (its subject, validity, public key) is `crate::x509`'s.
//!
//! The TLS handshake (`tls.rs`) asks every client for a certificate but requires none and
//! accepts any whose key the client proves it holds: which certificate is good enough depends
//! on the client, known only once the request names it.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;

use crate::clients::{AuthMethod, Client};
use crate::x509::{not_before, subject_matches};

/// The certificate chain a client presented in the TLS handshake (leaf first).
#[derive(Debug, Clone)]
pub struct ClientCertificate {
    chain: Vec<CertificateDer<'static>>,
    /// base64url(SHA-256(DER of the leaf)): `x5t#S256` (RFC 8705 §3.1).
    thumbprint: String,
}

impl ClientCertificate {
    /// `None` for an empty chain.
    pub fn new(chain: &[CertificateDer<'_>]) -> Option<ClientCertificate> {
        let leaf = chain.first()?;
        Some(ClientCertificate {
            thumbprint: thumbprint(leaf),
            chain: chain.iter().map(|c| c.clone().into_owned()).collect(),
        })
    }

    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The `x5t#S256` of a token bound to this certificate.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

/// base64url(SHA-256(DER)): the `x5t#S256` confirmation method (RFC 8705 §3.1).
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, der))
}

/// The CAs `tls_client_auth` certificates must chain to (RFC 8705 §2.1).
#[derive(Clone)]
pub struct ClientCa {
    verifier: Arc<dyn ClientCertVerifier>,
    certificates: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCa")
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// The test-only CA of `fixtures/keys/` (see its README): the default client CA.
pub const FIXTURE_CLIENT_CA: &str = include_str!("../../fixtures/keys/mtls-ca.pem");

impl ClientCa {
    /// The CA certificates in a PEM text.
    pub fn from_pem(pem: &str) -> Result<ClientCa, String> {
        use rustls::pki_types::pem::PemObject;
        let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate file ({e})"))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in &certificates {
            roots
                .add(cert.clone())
                .map_err(|e| format!("not a usable CA certificate ({e})"))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .build()
        .map_err(|e| format!("cannot verify client certificates with it ({e})"))?;
        Ok(ClientCa {
            verifier,
            certificates,
        })
    }

    /// The fixture CA.
    pub fn fixture() -> ClientCa {
        ClientCa::from_pem(FIXTURE_CLIENT_CA).expect("the compiled-in fixture CA is valid")
    }

    /// Checks the chain to these CAs at `now` (signatures, validity period, client-auth use).
    fn verify(&self, cert: &ClientCertificate, now: UnixTime) -> Result<(), String> {
        self.verifier
            .verify_client_cert(cert.leaf(), &cert.chain[1..], now)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// What the fault modes loosen.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lenience {
    /// `tls_client_auth`: the subject DN alone decides, the chain is not checked.
    pub skip_chain: bool,
    /// `tls_client_auth`: the chain is checked as at the certificate's `notBefore`.
    pub accept_expired: bool,
    /// `self_signed_tls_client_auth`: any certificate will do.
    pub self_signed_any: bool,
    /// A client registered for mTLS is authenticated by its `client_id` alone.
    pub accept_without_certificate: bool,
}

/// Why a certificate does not authenticate a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoCertificate,
    Untrusted(String),
    SubjectMismatch,
    NotRegistered,
    NotMtlsClient,
}

impl Refusal {
    pub fn describe(&self) -> &'static str {
        match self {
            Refusal::NoCertificate => "the client must present its certificate (mutual TLS)",
            Refusal::Untrusted(_) => "the client certificate is not valid",
            Refusal::SubjectMismatch => {
                "the client certificate's subject is not the registered one"
            }
            Refusal::NotRegistered => "the client certificate is not a registered one",
            Refusal::NotMtlsClient => "the client is not registered for mutual TLS",
        }
    }
}

/// Authenticates `client` by the certificate of the connection (RFC 8705 §2): its
/// `tls_client_auth` or `self_signed_tls_client_auth` registration decides.
pub fn authenticate(
    client: &Client,
    cert: Option<&ClientCertificate>,
    ca: &ClientCa,
    now: UnixTime,
    lenience: Lenience,
) -> Result<(), Refusal> {
    let pki = client.auth_methods.contains(&AuthMethod::TlsClientAuth);
    let self_signed = client
        .auth_methods
        .contains(&AuthMethod::SelfSignedTlsClientAuth);
    if !pki && !self_signed {
        return Err(Refusal::NotMtlsClient);
    }
    let Some(cert) = cert else {
        return if lenience.accept_without_certificate {
            Ok(())
        } else {
            Err(Refusal::NoCertificate)
        };
    };
    if self_signed
        && (lenience.self_signed_any
            || client
                .tls_certificates
                .iter()
                .any(|registered| registered.as_slice() == cert.leaf().as_ref()))
    {
        return Ok(());
    }
    if !pki {
        return Err(Refusal::NotRegistered);
    }
    if !lenience.skip_chain {
        let at = if lenience.accept_expired {
            not_before(cert.leaf()).unwrap_or(now)
        } else {
            now
        };
        ca.verify(cert, at).map_err(Refusal::Untrusted)?;
    }
    match &client.tls_client_auth_subject_dn {
        Some(dn) if subject_matches(cert.leaf(), dn) => Ok(()),
        _ => Err(Refusal::SubjectMismatch),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientRegistry;
    use rustls::pki_types::pem::PemObject;

    fn cert(pem: &str) -> ClientCertificate {
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        ClientCertificate::new(&[der]).unwrap()
    }

    const CLIENT: &str = include_str!("../../fixtures/keys/mtls-client.pem");
    const EXPIRED: &str = include_str!("../../fixtures/keys/mtls-expired.pem");
    const OTHER: &str = include_str!("../../fixtures/keys/mtls-other.pem");
    const SELF_SIGNED: &str = include_str!("../../fixtures/keys/mtls-self-signed.pem");

    fn check(id: &str, pem: Option<&str>, lenience: Lenience) -> Result<(), Refusal> {
        let registry = ClientRegistry::fixtures();
        let presented = pem.map(cert);
        authenticate(
            registry.get(id).unwrap(),
            presented.as_ref(),
            &ClientCa::fixture(),
            UnixTime::now(),
            lenience,
        )
    }

    #[test]
    fn pki_clients_need_a_valid_certificate_with_their_subject() {
        let strict = Lenience::default();
        assert_eq!(check("mtlsClient", Some(CLIENT), strict), Ok(()));
        assert!(matches!(
            check("mtlsClient", Some(EXPIRED), strict),
            Err(Refusal::Untrusted(e)) if e.contains("xpired")
        ));
        assert!(matches!(
            check("mtlsClient", Some(OTHER), strict),
            Err(Refusal::Untrusted(_))
        ));
        assert!(check("mtlsClient", Some(SELF_SIGNED), strict).is_err());
        assert_eq!(
            check("mtlsClient", None, strict),
            Err(Refusal::NoCertificate)
        );
        assert_eq!(
            check("myClient", Some(CLIENT), strict),
            Err(Refusal::NotMtlsClient)
        );
    }

    #[test]
    fn faults_loosen_exactly_one_check() {
        let skip = Lenience {
            skip_chain: true,
            ..Lenience::default()
        };
        assert_eq!(check("mtlsClient", Some(OTHER), skip), Ok(()));
        assert_eq!(check("mtlsClient", Some(EXPIRED), skip), Ok(()));
        assert_eq!(
            check("mtlsClient", Some(SELF_SIGNED), skip),
            Err(Refusal::SubjectMismatch)
        );
        let expired = Lenience {
            accept_expired: true,
            ..Lenience::default()
        };
        assert_eq!(check("mtlsClient", Some(EXPIRED), expired), Ok(()));
        assert!(check("mtlsClient", Some(OTHER), expired).is_err());
        let none = Lenience {
            accept_without_certificate: true,
            ..Lenience::default()
        };
        assert_eq!(check("mtlsClient", None, none), Ok(()));
        let any = Lenience {
            self_signed_any: true,
            ..Lenience::default()
        };
        assert_eq!(check("selfSignedMtlsClient", Some(OTHER), any), Ok(()));
        assert!(check("mtlsClient", Some(OTHER), any).is_err());
        assert!(check("mtlsClient", Some(OTHER), none).is_err());
    }

    #[test]
    fn self_signed_clients_need_a_registered_certificate() {
        let strict = Lenience::default();
        assert_eq!(
            check("selfSignedMtlsClient", Some(SELF_SIGNED), strict),
            Ok(())
        );
        assert_eq!(
            check("selfSignedMtlsClient", Some(OTHER), strict),
            Err(Refusal::NotRegistered)
        );
        assert_eq!(
            check("selfSignedMtlsClient", Some(CLIENT), strict),
            Err(Refusal::NotRegistered)
        );
        assert_eq!(
            check("selfSignedMtlsClient", None, strict),
            Err(Refusal::NoCertificate)
        );
    }

    #[test]
    fn thumbprints_are_base64url_sha256_of_the_der() {
        let c = cert(CLIENT);
        assert_eq!(c.thumbprint().len(), 43);
        assert_eq!(c.thumbprint(), thumbprint(c.leaf()));
        assert!(ClientCertificate::new(&[]).is_none());
    }

    /// Issuance, introspection and the resource, as the endpoints decide them.
    mod endpoints {
        use super::{CLIENT, OTHER};
        use crate::config::{Fault, ServerConfig};
        use crate::endpoints::{introspection, resource, token};
        use crate::request::testing::{app, TestRequest};
        use crate::request::Method;
        use crate::response::Status;
        use serde_json::Value;

        fn issue(app: &crate::app::App, request: TestRequest) -> (Status, Value) {
            let reply = token::issue(app, &request.at(app));
            (reply.status, reply.json_body())
        }

        /// What a client sees; `internal`: what the resource server sees.
        fn introspect_as(app: &crate::app::App, token: &str, internal: bool) -> Value {
            let request =
                TestRequest::post(&format!("token={token}")).basic("rs-client", "rs-secret");
            let mut request = request.at(app);
            request.internal = internal;
            introspection::introspect(app, &request).json_body()
        }

        fn introspect(app: &crate::app::App, token: &str) -> Value {
            introspect_as(app, token, false)
        }

        fn at_resource(app: &crate::app::App, token: &str, certificate: Option<&str>) -> Status {
            let mut request = TestRequest::post("").method(Method::Get);
            request.authorization = Some(format!("Bearer {token}"));
            if let Some(pem) = certificate {
                request = request.certificate(pem);
            }
            let request = request.at(app);
            let presented = resource::presented_token(app, &request).unwrap();
            let answer = introspect_as(app, token, true);
            resource::serve_presented(app, &request, presented, Ok(answer)).status
        }

        const MTLS: &str = "grant_type=client_credentials&client_id=mtlsClient";

        #[test]
        fn mtls_tokens_are_bound_and_the_resource_wants_the_certificate() {
            let app = app(ServerConfig::default());
            let (status, body) = issue(&app, TestRequest::post(MTLS).certificate(CLIENT));
            assert_eq!(status, Status::OK, "{body}");
            assert_eq!(body["token_type"], "Bearer");
            let token = body["access_token"].as_str().unwrap();
            let x5t = super::cert(CLIENT).thumbprint().to_owned();
            assert_eq!(introspect(&app, token)["cnf"]["x5t#S256"], x5t.as_str());
            assert_eq!(at_resource(&app, token, Some(CLIENT)), Status::OK);
            assert_eq!(at_resource(&app, token, None), Status::UNAUTHORIZED);
            assert_eq!(at_resource(&app, token, Some(OTHER)), Status::UNAUTHORIZED);
            // Without a certificate: refused, invalid_client.
            let (status, body) = issue(&app, TestRequest::post(MTLS));
            assert_eq!(
                (status, body["error"].as_str()),
                (Status::UNAUTHORIZED, Some("invalid_client"))
            );
            // A secret client without a certificate gets an unbound token.
            let plain = crate::request::testing::issued_token(&app, "myClient", "forgerock");
            assert!(introspect(&app, &plain).get("cnf").is_none());
            assert_eq!(at_resource(&app, &plain, None), Status::OK);
        }

        #[test]
        fn the_fault_modes_bend_one_rule_each() {
            let with = |fault| app(ServerConfig::default().with_fault(fault));
            let app_ = with(Fault::ResourceMtlsIgnoresBinding);
            let (_, body) = issue(&app_, TestRequest::post(MTLS).certificate(CLIENT));
            let token = body["access_token"].as_str().unwrap();
            assert_eq!(at_resource(&app_, token, None), Status::OK);

            let app_ = with(Fault::MtlsOmitCnf);
            let (_, body) = issue(&app_, TestRequest::post(MTLS).certificate(CLIENT));
            let token = body["access_token"].as_str().unwrap();
            assert!(introspect(&app_, token).get("cnf").is_none());
            // The resource server still sees the binding.
            assert_eq!(at_resource(&app_, token, None), Status::UNAUTHORIZED);

            let app_ = with(Fault::MtlsBindWithoutCertificate);
            let plain = crate::request::testing::issued_token(&app_, "myClient", "forgerock");
            assert!(introspect(&app_, &plain)["cnf"]["x5t#S256"].is_string());
            assert_eq!(at_resource(&app_, &plain, None), Status::OK);

            let app_ = with(Fault::MtlsAcceptWithoutCertificate);
            assert_eq!(issue(&app_, TestRequest::post(MTLS)).0, Status::OK);
        }
    }
}
