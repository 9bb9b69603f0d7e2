//! The HTTP client every command sends with, and the TLS trust it uses.
//!
//! Certificates are verified against the system roots (rustls' platform verifier) plus any
//! `--ca-cert` files. `--insecure` turns verification off, loudly: with it, whoever can
//! answer for the server's address reads the client secret.

mod body;
mod pace;
pub mod race;
mod send;
pub mod tls;

pub use body::{over_limit, read_body, MAX_BODY_BYTES};
pub use pace::{exchange, rate_limit, Pacer, SendError};
pub use send::{send, BuiltRequest};

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Certificate, ClientBuilder};

use crate::exit::Failure;

/// What the client trusts.
#[derive(Clone, Default)]
pub struct TlsTrust {
    /// Certificates trusted besides the system roots: private CAs, self-signed servers.
    pub extra_roots: Vec<Certificate>,
    /// The same certificates as DER, for grantcheck's own TLS connections (`tls.rs`).
    pub extra_roots_der: Vec<rustls_pki_types::CertificateDer<'static>>,
    /// Accept any certificate for any name.
    pub insecure: bool,
}

impl TlsTrust {
    /// Reads `--ca-cert` files (PEM, one or more certificates each).
    pub fn new(ca_certs: &[PathBuf], insecure: bool) -> Result<TlsTrust, Failure> {
        let mut trust = TlsTrust {
            insecure,
            ..TlsTrust::default()
        };
        for path in ca_certs {
            trust.add_pem_file(path)?;
        }
        Ok(trust)
    }

    pub fn add_pem_file(&mut self, path: &Path) -> Result<(), Failure> {
        let pem = std::fs::read(path).map_err(|e| {
            Failure::usage(format!("cannot read --ca-cert {}: {e}", path.display()))
        })?;
        self.add_pem(&pem)
            .map_err(|e| Failure::usage(format!("--ca-cert {}: {e}", path.display())))
    }

    /// Trusts every certificate in a PEM text.
    pub fn add_pem(&mut self, pem: &[u8]) -> Result<(), String> {
        let certs = Certificate::from_pem_bundle(pem)
            .map_err(|e| format!("not a PEM certificate bundle ({e})"))?;
        if certs.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        self.extra_roots.extend(certs);
        use rustls_pki_types::pem::PemObject;
        for der in rustls_pki_types::CertificateDer::pem_slice_iter(pem).flatten() {
            self.extra_roots_der.push(der);
        }
        Ok(())
    }

    /// A rustls configuration with this trust for grantcheck's own connections (races),
    /// presenting `identity` when given.
    pub fn rustls_config(
        &self,
        identity: Option<tls::Identity>,
    ) -> Result<std::sync::Arc<rustls::ClientConfig>, String> {
        tls::client_config(&self.extra_roots_der, self.insecure, identity)
    }

    /// The warning `--insecure` earns, printed once per run.
    pub fn warning(&self) -> Option<&'static str> {
        self.insecure.then_some(
            "WARNING: --insecure: TLS certificates are NOT verified. Anyone who can answer for \
             the target's address can impersonate it and read the client secrets. Use \
             --ca-cert FILE to trust a private CA or a self-signed server instead.",
        )
    }

    fn apply(&self, builder: ClientBuilder) -> ClientBuilder {
        builder
            .tls_certs_merge(self.extra_roots.iter().cloned())
            .tls_danger_accept_invalid_certs(self.insecure)
    }
}

/// A client builder suited to conformance and load work: no redirects (a redirect could
/// carry credentials elsewhere, and a token endpoint must not redirect), no cookies, no
/// proxy, bounded connect and request times.
pub fn client_builder(timeout: Duration, trust: &TlsTrust) -> ClientBuilder {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .connect_timeout(timeout)
        .no_proxy();
    trust.apply(builder)
}

pub fn client(timeout: Duration, trust: &TlsTrust) -> Result<reqwest::Client, Failure> {
    client_builder(timeout, trust)
        .build()
        .map_err(|e| Failure::runtime(format!("cannot set up the HTTP client: {e}")))
}

/// The same URL over plain HTTP, `None` unless it is HTTPS. The port stays when the URL names
/// one; otherwise the default port applies (80), as for a client that typed `http://`.
pub fn cleartext_twin(url: &url::Url) -> Option<url::Url> {
    if url.scheme() != "https" {
        return None;
    }
    let port = url.port();
    let mut twin = url.clone();
    twin.set_scheme("http").ok()?;
    twin.set_port(port).ok()?;
    Some(twin)
}

/// Explains a TLS failure in a request error's causes, with what to do about it.
pub fn tls_hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        // io::Error's source() skips the error it wraps (often another io::Error around
        // the rustls error), so unwrap those by hand.
        let mut inner = cause;
        loop {
            if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
                return Some(explain(tls));
            }
            match inner
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
            {
                Some(wrapped) => inner = wrapped,
                None => break,
            }
        }
        source = cause.source();
    }
    None
}

fn explain(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    let advice = match error {
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "the server's certificate is not signed by a trusted CA; for a private CA or a \
             self-signed server pass --ca-cert FILE"
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "the server's certificate is for another host name than the URL's",
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "the server's certificate has expired"
        }
        rustls::Error::InvalidCertificate(_) => "the server's certificate was refused",
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer in TLS (is it plain HTTP? then use an http:// URL)"
        }
        _ => "the TLS handshake failed",
    };
    format!("TLS error: {advice} ({error})")
}

/// A transport error in words a user can act on.
pub fn describe_error(e: &reqwest::Error) -> String {
    if let Some(tls) = crate::http::tls_hint(e) {
        return tls;
    }
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_redirect() {
        "redirect refused".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// True for `localhost` and loopback addresses.
pub fn is_loopback(url: &str) -> bool {
    url::Url::parse(url).ok().is_some_and(|u| match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:1/x"));
        assert!(is_loopback("http://localhost/x"));
        assert!(is_loopback("http://[::1]:8/"));
        assert!(!is_loopback("http://example.com/"));
    }
}
