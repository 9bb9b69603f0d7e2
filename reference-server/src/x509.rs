//! Reading X.509 certificates, with no trust decision: the public key as a JWK, the start
//! of the validity period, and the subject compared with an RFC 4514 string. Used when
//! clients are registered (`clients.rs`) and by mutual-TLS authentication (`mtls.rs`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rustls::pki_types::UnixTime;

use crate::jose::PublicJwk;

/// The public key of a certificate (DER) as a JWK (RSA, EC P-256 or Ed25519), for comparing
/// a registered `x5c` with the JWK it belongs to (RFC 7517 §4.7: "The key in the first
/// certificate MUST match the public key represented by other members of the JWK").
pub fn certificate_jwk(der: &[u8]) -> Option<PublicJwk> {
    use x509_parser::public_key::PublicKey;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let spki = cert.public_key();
    let enc = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
    let jwk = match spki.parsed().ok()? {
        PublicKey::RSA(rsa) => {
            let trim = |b: &[u8]| -> Vec<u8> {
                let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
                b[first..].to_vec()
            };
            serde_json::json!({"kty": "RSA", "n": enc(&trim(rsa.modulus)), "e": enc(&trim(rsa.exponent))})
        }
        PublicKey::EC(point) => {
            let data = point.data();
            if data.len() != 65 || data[0] != 4 {
                return None;
            }
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": enc(&data[1..33]), "y": enc(&data[33..])})
        }
        PublicKey::Unknown(raw) if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => {
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": enc(raw)})
        }
        _ => return None,
    };
    PublicJwk::from_json(jwk.as_object()?).ok()
}

/// The start of a certificate's validity period.
pub(crate) fn not_before(der: &[u8]) -> Option<UnixTime> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let seconds = cert.validity().not_before.timestamp();
    Some(UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(seconds).ok()? + 1,
    )))
}

/// True when the certificate's subject is the RFC 4514 string `registered`: the same
/// attributes in the same order (RFC 4514 writes the last RDN first), attribute types
/// case-insensitively, values exactly.
pub fn subject_matches(der: &[u8], registered: &str) -> bool {
    let Some(wanted) = parse_dn(registered) else {
        return false;
    };
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return false;
    };
    let mut actual = Vec::new();
    let rdns: Vec<_> = cert.subject().iter().collect();
    for rdn in rdns.into_iter().rev() {
        for attr in rdn.iter() {
            let oid = attr.attr_type().to_id_string();
            let name = SHORT_NAMES
                .iter()
                .find(|(_, id)| *id == oid)
                .map_or(oid.clone(), |(name, _)| name.to_string());
            let Ok(value) = attr.as_str() else {
                return false;
            };
            actual.push((name, value.to_owned()));
        }
    }
    actual == wanted
}

/// RFC 4514 §3's short names, with their OIDs.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("C", "2.5.4.6"),
    ("STREET", "2.5.4.9"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
];

/// An RFC 4514 string as (upper-case short name or OID, value) pairs in string order;
/// `\`-escapes are undone. `None` when malformed.
pub fn parse_dn(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut parts = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                current.push('\\');
                current.push(chars.next()?);
            }
            ',' | '+' => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);
    for part in parts {
        let (name, value) = part.split_once('=')?;
        let name = name.trim().to_ascii_uppercase();
        if name.is_empty() {
            return None;
        }
        let mut unescaped = String::new();
        let mut chars = value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                unescaped.push(chars.next()?);
            } else {
                unescaped.push(c);
            }
        }
        out.push((name, unescaped));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::ClientRegistry;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn der_of(pem: &str) -> Vec<u8> {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec()
    }

    const CLIENT: &str = include_str!("../../fixtures/keys/mtls-client.pem");
    const OTHER: &str = include_str!("../../fixtures/keys/mtls-other.pem");
    const SELF_SIGNED: &str = include_str!("../../fixtures/keys/mtls-self-signed.pem");

    #[test]
    fn subjects_compare_as_rfc_4514_strings() {
        let der = der_of(CLIENT);
        assert!(subject_matches(&der, "CN=mtlsClient,O=grantcheck test"));
        assert!(subject_matches(&der, "cn=mtlsClient, o=grantcheck test"));
        assert!(!subject_matches(&der, "O=grantcheck test,CN=mtlsClient"));
        assert!(!subject_matches(&der, "CN=mtlsclient,O=grantcheck test"));
        assert!(!subject_matches(&der, "CN=mtlsClient"));
        assert!(!subject_matches(&der, "garbage"));
        assert!(!subject_matches(b"not a certificate", "CN=mtlsClient"));
        assert_eq!(
            parse_dn(r"CN=a\,b,O=c"),
            Some(vec![("CN".into(), "a,b".into()), ("O".into(), "c".into())])
        );
        assert_eq!(parse_dn("CN=a\\"), None);
    }

    #[test]
    fn a_certificate_key_reads_as_the_jwk_it_was_registered_with() {
        let registry = ClientRegistry::fixtures();
        let client = registry.get("selfSignedMtlsClient").unwrap();
        let der = der_of(SELF_SIGNED);
        assert_eq!(
            certificate_jwk(&der).unwrap().thumbprint(),
            client.public_keys[0].thumbprint()
        );
        let other = der_of(OTHER);
        assert_ne!(
            certificate_jwk(&other).unwrap().thumbprint(),
            client.public_keys[0].thumbprint()
        );
        assert!(certificate_jwk(b"not a certificate").is_none());
    }
}
