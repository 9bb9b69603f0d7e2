//! Registered clients, loaded from a TOML file such as `fixtures/clients.toml`.

use rustc_hash::FxHashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// A client secret. Prints as redacted so it cannot reach a log by accident.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(from = "String")]
pub struct Secret {
    value: String,
    /// `value` padded with zeros to [`MAX_SECRET_BYTES`]: a presented secret is compared
    /// with as many bytes of it as it has, so the time a check takes depends on the presented
    /// secret's length alone, never on the stored one's length or content.
    padded: Box<[u8; MAX_SECRET_BYTES]>,
}

/// The longest secret a registration may have and the most of a presented secret that is
/// compared: a longer presented secret cannot match, and comparing no more than this keeps
/// the time a check takes bounded whatever the caller sends (issue 14 item 9).
pub const MAX_SECRET_BYTES: usize = 1024;

/// No secret, for [`check_against_nothing`].
static NOTHING: [u8; MAX_SECRET_BYTES] = [0; MAX_SECRET_BYTES];

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        let mut padded = Box::new([0; MAX_SECRET_BYTES]);
        let len = value.len().min(MAX_SECRET_BYTES);
        padded[..len].copy_from_slice(&value.as_bytes()[..len]);
        Secret { value, padded }
    }
}

/// Compares `presented` with a stored secret of `stored_len` bytes, padded, in constant time
/// for a given presented length: every compared byte is compared, and the lengths are
/// compared as numbers. At most [`MAX_SECRET_BYTES`] are compared; a longer presented secret
/// never matches (a registered one is never longer: `ClientRegistry` refuses it).
///
/// A comparison rather than a hash of both sides (SHA-256, before issue 20): the same
/// guarantees for a fifteenth of the instructions of a short secret's check.
fn matches_padded(padded: &[u8; MAX_SECRET_BYTES], stored_len: usize, presented: &str) -> bool {
    let bytes = presented.as_bytes();
    let compared = bytes.len().min(MAX_SECRET_BYTES);
    #[cfg(test)]
    testing::count_compared(compared);
    let same_bytes = bytes[..compared].ct_eq(&padded[..compared]);
    let same_length = (bytes.len() as u64).ct_eq(&(stored_len as u64));
    (same_bytes & same_length).into()
}

/// Does the work of checking `presented` against a secret, for a caller that has none to
/// check it against (an unknown client id, a client without a secret): the answer then takes
/// as long as a wrong secret's for a known client, so timing does not tell ids apart.
pub fn check_against_nothing(presented: &str) {
    // No registered secret is empty, so this never matches.
    let _ = matches_padded(&NOTHING, usize::MAX, presented);
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret::from(value.into())
    }

    /// The secret itself, for the few places that must send it.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Compares in constant time for a given presented length: neither the length nor the
    /// first differing byte of the stored secret shows in the timing. At most
    /// [`MAX_SECRET_BYTES`] of `presented` are compared; a longer one never matches.
    pub fn matches(&self, presented: &str) -> bool {
        matches_padded(&self.padded, self.value.len(), presented)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// How a client proves its identity at the token endpoint (RFC 7591 names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2, OIDC Core §9); the client
    /// registers its public keys (`jwks`).
    PrivateKeyJwt,
    /// A JWT MACed (HS256) with the client secret (RFC 7523 §2.2, OIDC Core §9).
    ClientSecretJwt,
    /// Mutual TLS with a certificate from a trusted CA, whose subject DN the client
    /// registered (`tls_client_auth_subject_dn`, RFC 8705 §2.1).
    TlsClientAuth,
    /// Mutual TLS with a self-signed certificate the client registered in its JWK Set's
    /// `x5c` (RFC 8705 §2.2).
    SelfSignedTlsClientAuth,
    /// A public client: it has no secret and may not use the client credentials grant.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
            AuthMethod::TlsClientAuth => "tls_client_auth",
            AuthMethod::SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
            AuthMethod::None => "none",
        }
    }

    /// Every method the server implements for confidential clients, as its metadata lists
    /// them (RFC 8414 §2 `token_endpoint_auth_methods_supported`).
    pub const CONFIDENTIAL: &'static [AuthMethod] = &[
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::ClientSecretJwt,
    ];
}

fn default_auth_methods() -> Vec<AuthMethod> {
    vec![AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost]
}

fn default_grant_types() -> Vec<String> {
    vec!["client_credentials".into()]
}

fn default_realms() -> Vec<String> {
    vec![ROOT_REALM.into()]
}

fn default_true() -> bool {
    true
}

/// The realm that `/oauth2/...` (without `/realms/...`) serves.
pub const ROOT_REALM: &str = "root";

/// The client the resource server introspects as (registered in fixtures/clients.toml).
pub const RESOURCE_SERVER_CLIENT: &str = "rs-client";

/// One registered client.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    /// Absent for public clients.
    #[serde(default)]
    pub secret: Option<Secret>,
    #[serde(default = "default_auth_methods")]
    pub auth_methods: Vec<AuthMethod>,
    #[serde(default = "default_grant_types")]
    pub grant_types: Vec<String>,
    /// Scopes the client may be granted.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Scopes granted when the request names none (RFC 6749 §3.3).
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Realms the client is registered in; `root` is the default realm.
    #[serde(default = "default_realms")]
    pub realms: Vec<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Token lifetime for this client, overriding the server's.
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
    /// The public keys of a `private_key_jwt` client (a JWK Set, RFC 7517 §5), as TOML
    /// tables (`[[client.jwks.keys]]`); checked when the file is loaded.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The same keys, parsed.
    #[serde(skip)]
    pub public_keys: Vec<crate::jose::PublicJwk>,
    /// May introspect any token (a resource server); every client may introspect its own.
    #[serde(default)]
    pub introspect: bool,
    /// Every token request must carry a DPoP proof, and its tokens are bound to the proof's
    /// key (RFC 9449 §5.2 client metadata). Other clients may send a proof or not.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// Its DPoP proofs at the token endpoint must carry a nonce this server gave
    /// (`DPoP-Nonce`, RFC 9449 §8).
    #[serde(default)]
    pub dpop_nonce_required: bool,
    /// `tls_client_auth`: the subject DN its certificate must have (RFC 4514 string, RFC 8705
    /// §2.1.2); the certificate must also chain to the server's client CA.
    #[serde(default)]
    pub tls_client_auth_subject_dn: Option<String>,
    /// `self_signed_tls_client_auth`: the DER of the first `x5c` certificate of each key in
    /// `jwks` (RFC 8705 §2.2).
    #[serde(skip)]
    pub tls_certificates: Vec<Vec<u8>>,
    /// Free text for people reading the fixture file.
    #[serde(default)]
    pub description: Option<String>,
    /// `id`, shared by every token record of this client.
    #[serde(skip)]
    pub shared_id: Arc<str>,
    /// `default_scopes` joined by spaces, shared likewise.
    #[serde(skip)]
    pub default_scope: Arc<str>,
}

impl Client {
    /// No credentials at all: no secret and no keys, or registered with method `none`.
    pub fn is_public(&self) -> bool {
        (self.secret.is_none() && self.public_keys.is_empty() && !self.uses_mtls())
            || self.auth_methods.contains(&AuthMethod::None)
    }

    /// Registered for a mutual-TLS method (RFC 8705 §2).
    pub fn uses_mtls(&self) -> bool {
        self.auth_methods.iter().any(|m| {
            matches!(
                m,
                AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth
            )
        })
    }

    pub fn allows_grant(&self, grant_type: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant_type)
    }

    pub fn in_realm(&self, realm: &str) -> bool {
        self.realms.iter().any(|r| r == realm)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    #[serde(rename = "client", default)]
    clients: Vec<Client>,
}

/// Why a clients file could not be used.
#[derive(Debug)]
pub struct ClientsError(pub String);

impl fmt::Display for ClientsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClientsError {}

/// All registered clients, by id. Hashed with FxHash, not SipHash: the keys are the
/// operator's registrations (nobody can insert colliding ids), and a lookup per request
/// with SipHash cost more than the rest of finding the client.
#[derive(Debug, Clone, Default)]
pub struct ClientRegistry {
    by_id: FxHashMap<String, Client>,
}

/// The fixture registrations, compiled in so the in-process server needs no files.
pub const FIXTURE_CLIENTS: &str = include_str!("../../fixtures/clients.toml");

impl ClientRegistry {
    /// The clients in `fixtures/clients.toml`.
    pub fn fixtures() -> ClientRegistry {
        ClientRegistry::from_toml(FIXTURE_CLIENTS, "fixtures/clients.toml")
            .expect("the compiled-in fixtures/clients.toml is valid")
    }

    pub fn from_file(path: &Path) -> Result<ClientRegistry, ClientsError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ClientsError(format!("cannot read {}: {e}", path.display())))?;
        ClientRegistry::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates a clients file; `origin` names it in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<ClientRegistry, ClientsError> {
        let file: ClientsFile =
            toml::from_str(text).map_err(|e| ClientsError(format!("{origin}: {e}")))?;
        let mut by_id = FxHashMap::default();
        for mut client in file.clients {
            client.shared_id = client.id.as_str().into();
            client.default_scope = client.default_scopes.join(" ").into();
            if client.id.is_empty() {
                return Err(ClientsError(format!("{origin}: a client has an empty id")));
            }
            if let Some(bad) = client
                .default_scopes
                .iter()
                .find(|s| !client.scopes.contains(s))
            {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' has default scope '{bad}' that is not among its scopes",
                    client.id
                )));
            }
            if let Some(jwks) = &client.jwks {
                client.public_keys = crate::jose::parse_jwks(jwks).map_err(|e| {
                    ClientsError(format!(
                        "{origin}: client '{}' has an unusable jwks: {e}",
                        client.id
                    ))
                })?;
            }
            if let Some(jwks) = &client.jwks {
                client.tls_certificates = x5c_certificates(jwks).map_err(|e| {
                    ClientsError(format!(
                        "{origin}: client '{}' has a jwks whose {e}",
                        client.id
                    ))
                })?;
            }
            let needs = |method| client.auth_methods.contains(&method);
            if needs(AuthMethod::TlsClientAuth)
                && client
                    .tls_client_auth_subject_dn
                    .as_deref()
                    .and_then(crate::x509::parse_dn)
                    .is_none()
            {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' uses tls_client_auth and needs a tls_client_auth_subject_dn (RFC 4514, e.g. \"CN=client,O=example\")",
                    client.id
                )));
            }
            if needs(AuthMethod::SelfSignedTlsClientAuth) && client.tls_certificates.is_empty() {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' uses self_signed_tls_client_auth and needs its certificate in jwks (x5c)",
                    client.id
                )));
            }
            if needs(AuthMethod::PrivateKeyJwt) && client.public_keys.is_empty() {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' uses private_key_jwt and needs public keys (jwks)",
                    client.id
                )));
            }
            if needs(AuthMethod::ClientSecretJwt)
                && client
                    .secret
                    .as_ref()
                    .is_none_or(|s| s.value.len() < crate::jose::MIN_HMAC_SECRET_LEN)
            {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' uses client_secret_jwt and needs a secret of at least {} bytes (RFC 7518 §3.2)",
                    client.id,
                    crate::jose::MIN_HMAC_SECRET_LEN
                )));
            }
            let uses_secret = client.auth_methods.iter().any(|m| {
                matches!(
                    m,
                    AuthMethod::ClientSecretBasic
                        | AuthMethod::ClientSecretPost
                        | AuthMethod::ClientSecretJwt
                )
            });
            if !client.is_public()
                && uses_secret
                && client.secret.as_ref().is_none_or(|s| s.value.is_empty())
            {
                return Err(ClientsError(format!(
                    "{origin}: confidential client '{}' needs a non-empty secret",
                    client.id
                )));
            }
            if client
                .secret
                .as_ref()
                .is_some_and(|s| s.value.len() > MAX_SECRET_BYTES)
            {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' has a secret longer than {MAX_SECRET_BYTES} bytes",
                    client.id
                )));
            }
            if let Some(old) = by_id.insert(client.id.clone(), client) {
                return Err(ClientsError(format!(
                    "{origin}: client '{}' is registered twice",
                    old.id
                )));
            }
        }
        Ok(ClientRegistry { by_id })
    }

    pub fn get(&self, id: &str) -> Option<&Client> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Client> {
        self.by_id.values()
    }

    /// Every realm some client is registered in, plus the root realm.
    pub fn realms(&self) -> Vec<String> {
        let mut realms: Vec<String> = self.iter().flat_map(|c| c.realms.clone()).collect();
        realms.push(ROOT_REALM.into());
        realms.sort();
        realms.dedup();
        realms
    }

    /// True when some client may be granted `scope`.
    pub fn knows_scope(&self, scope: &str) -> bool {
        self.iter().any(|c| c.scopes.iter().any(|s| s == scope))
    }

    /// Scopes offered in a realm, sorted (for metadata `scopes_supported`).
    pub fn scopes_in(&self, realm: &str) -> Vec<String> {
        let mut scopes: Vec<String> = self
            .iter()
            .filter(|c| c.in_realm(realm))
            .flat_map(|c| c.scopes.clone())
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// The realms whose tokens the resource serves: those its introspection client is
    /// registered in, the root realm first, then by name (the root realm alone when the client
    /// is missing, so that introspection's refusal explains the 503). Computed once, by
    /// `App::new`.
    pub fn resource_realms(&self) -> Vec<Arc<str>> {
        let Some(client) = self.get(RESOURCE_SERVER_CLIENT) else {
            return vec![ROOT_REALM.into()];
        };
        let mut realms: Vec<&String> = client.realms.iter().collect();
        realms.sort_by_key(|r| (*r != ROOT_REALM, *r));
        realms.dedup();
        if realms.is_empty() {
            return vec![ROOT_REALM.into()];
        }
        realms.into_iter().map(|r| r.as_str().into()).collect()
    }
}

/// The first certificate of each key's `x5c` (RFC 7517 §4.7: base64 DER, not base64url),
/// which must hold that key ("The key in the first certificate MUST match the public key
/// represented by other members of the JWK").
fn x5c_certificates(jwks: &serde_json::Value) -> Result<Vec<Vec<u8>>, String> {
    use base64::Engine;
    let keys = jwks["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let mut certificates = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        let Some(first) = key.get("x5c") else {
            continue;
        };
        let der = first[0]
            .as_str()
            .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .ok_or_else(|| format!("key {index} has an x5c that is not base64 DER"))?;
        let matches = match (key.as_object(), crate::x509::certificate_jwk(&der)) {
            (Some(map), Some(in_cert)) => crate::jose::PublicJwk::from_json(map)
                .is_ok_and(|jwk| jwk.thumbprint() == in_cert.thumbprint()),
            _ => false,
        };
        if !matches {
            return Err(format!(
                "key {index}'s x5c certificate does not hold that key (RFC 7517 §4.7)"
            ));
        }
        certificates.push(der);
    }
    Ok(certificates)
}

/// Counts the bytes a check compares, for the tests that prove every check does the same.
#[cfg(test)]
pub mod testing {
    use std::cell::Cell;

    thread_local! {
        static COMPARED: Cell<Vec<usize>> = const { Cell::new(Vec::new()) };
    }

    pub(super) fn count_compared(len: usize) {
        COMPARED.with(|h| {
            let mut v = h.take();
            v.push(len);
            h.set(v);
        });
    }

    /// The lengths compared on this thread since the last call.
    pub fn take_compared() -> Vec<usize> {
        COMPARED.with(|h| h.take())
    }
}

#[cfg(test)]
mod tests;
