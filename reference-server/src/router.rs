//! Where each endpoint lives: the one table of paths, read both to route a request and to
//! build the URLs the server publishes (metadata, `ReferenceServer::token_url`, …).
//!
//! Realm paths follow ForgeRock AM: `/oauth2` is the root realm's issuer and
//! `/oauth2/realms/root/realms/{realm}` another realm's; metadata follows RFC 8414 §3.1 path
//! insertion.
//!
//! Adding an endpoint:
//! 1. here: an [`Endpoint`] variant and its path (a row of `UNDER_ISSUER`, or a constant
//!    like `RESOURCE` for a path outside the realms), and `takes_form` if it reads a form;
//! 2. `endpoints/NAME.rs`: the decision, `pub fn NAME(app: &App, request: &Request) -> Reply`,
//!    with its unit tests (`request::testing`), and `pub mod NAME;` in `endpoints/mod.rs`;
//! 3. `server/http.rs`: its arm in `Handler::reply` (the compiler asks for it);
//! 4. if it is public: a URL helper on `ReferenceServer` and a metadata member.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clients::{ClientRegistry, ROOT_REALM};

/// The endpoints a realm serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
    Jwks,
    /// `/.well-known/oauth-authorization-server` (RFC 8414) or `openid-configuration`.
    Metadata,
    Resource,
}

impl Endpoint {
    /// True for the endpoints whose requests carry a form body, which the server reads
    /// before the decision (only when [`crate::request::Request::wants_body`]).
    pub fn takes_form(self) -> bool {
        matches!(
            self,
            Endpoint::Token | Endpoint::Introspection | Endpoint::Revocation
        )
    }
}

/// The endpoints under a realm's issuer, by their path after the issuer's.
const UNDER_ISSUER: [(&str, Endpoint); 4] = [
    ("/access_token", Endpoint::Token),
    ("/introspect", Endpoint::Introspection),
    ("/token/revoke", Endpoint::Revocation),
    ("/connect/jwk_uri", Endpoint::Jwks),
];

/// RFC 8414 §3.1 inserts this between the host and the issuer's path.
const METADATA: &str = "/.well-known/oauth-authorization-server";
/// OpenID Connect discovery, after the issuer: the same metadata.
const OPENID_CONFIGURATION: &str = "/.well-known/openid-configuration";
/// The resource server's identifier (the audience of issued tokens), after the base URL.
const RESOURCE_SERVER: &str = "/api";
/// The protected resource, after the base URL.
const RESOURCE: &str = "/api/resource";

/// The root realm's issuer path, and what precedes another realm's name in its issuer path.
const ROOT_ISSUER: &str = "/oauth2";
const UNDER_ROOT: &str = "/realms/root";
const SUB_REALM: &str = "/realms/";

/// A realm's name (shared by every token issued in it) and issuer identifier.
#[derive(Debug)]
pub struct Realm {
    pub name: Arc<str>,
    pub issuer: String,
    /// Where its endpoints are on this server: the issuer, but in a cluster the node's URL
    /// with the issuer's path.
    endpoints: String,
}

/// Every realm some client is registered in, with its issuer, computed once.
#[derive(Debug)]
pub struct Realms {
    /// `http://127.0.0.1:PORT` (`https://` with TLS), or the public URL: where the
    /// endpoints are.
    base_url: String,
    /// What the issuers and the resource's audience start with: `base_url`, but in a cluster
    /// the cluster's (its first node's URL, or the public URL) on every node.
    issuer_base: String,
    root: Realm,
    others: HashMap<String, Realm>,
}

impl Realms {
    pub fn new(clients: &ClientRegistry, base_url: String) -> Realms {
        Realms::for_node(clients, base_url.clone(), base_url)
    }

    /// A cluster's node: the cluster's issuers, and this node's endpoints.
    pub fn for_node(clients: &ClientRegistry, issuer_base: String, base_url: String) -> Realms {
        let realm = |name: &str| Realm {
            name: name.into(),
            issuer: format!("{issuer_base}{}", issuer_path(name)),
            endpoints: format!("{base_url}{}", issuer_path(name)),
        };
        let root = realm(ROOT_REALM);
        let others = clients
            .realms()
            .into_iter()
            .filter(|name| name != ROOT_REALM)
            .map(|name| {
                let realm = realm(&name);
                (name, realm)
            })
            .collect();
        Realms {
            base_url,
            issuer_base,
            root,
            others,
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn get(&self, name: &str) -> Option<&Realm> {
        if name == ROOT_REALM {
            return Some(&self.root);
        }
        self.others.get(name)
    }

    /// The issuer identifier of a realm: `{base}/oauth2` for the root realm, ForgeRock style.
    pub fn issuer(&self, realm: &str) -> &str {
        // Routing only yields known realms; the fallback keeps a typo from panicking.
        self.get(realm)
            .map_or(&self.base_url, |r| r.issuer.as_str())
    }

    /// The URL of one of a realm's endpoints.
    pub fn url(&self, realm: &str, endpoint: Endpoint) -> String {
        let base = &self.base_url;
        match endpoint {
            Endpoint::Metadata => format!("{base}{METADATA}{}", issuer_path(realm)),
            Endpoint::Resource => format!("{base}{RESOURCE}"),
            _ => {
                // Routing only yields known realms; the fallback keeps a typo from panicking.
                let under = self.get(realm).map_or(base, |r| &r.endpoints);
                format!("{under}{}", path_under_issuer(endpoint))
            }
        }
    }

    /// The audience of issued tokens: the resource server, `{base}/api` (the cluster's).
    pub fn resource_audience(&self) -> String {
        format!("{}{RESOURCE_SERVER}", self.issuer_base)
    }

    /// Maps a path to (realm, endpoint). `metadata_appended_only` (the fault
    /// `metadata-appended-only`) serves metadata at `{issuer}/.well-known/...` instead, as
    /// servers that append the well-known suffix to the issuer do.
    pub fn route(&self, path: &str, metadata_appended_only: bool) -> Option<(&Realm, Endpoint)> {
        // One resource for every realm: it finds the realm of each token it is shown
        // (endpoints/resource.rs), so the request's realm is just the root's.
        if path == RESOURCE {
            return Some((&self.root, Endpoint::Resource));
        }
        if let Some(issuer_path) = path.strip_prefix(METADATA) {
            let (realm, rest) = self.split_realm(issuer_path)?;
            return (rest.is_empty() && !metadata_appended_only)
                .then_some((realm, Endpoint::Metadata));
        }
        let (realm, rest) = self.split_realm(path)?;
        let endpoint = match rest {
            OPENID_CONFIGURATION if !metadata_appended_only => Endpoint::Metadata,
            METADATA if metadata_appended_only => Endpoint::Metadata,
            _ => UNDER_ISSUER.iter().find(|(p, _)| *p == rest)?.1,
        };
        Some((realm, endpoint))
    }

    /// Splits `/oauth2[/realms/root[/realms/{realm}]]{rest}` into the realm and `rest`.
    fn split_realm<'p>(&self, path: &'p str) -> Option<(&Realm, &'p str)> {
        let rest = path.strip_prefix(ROOT_ISSUER)?;
        let Some(under_root) = rest.strip_prefix(UNDER_ROOT) else {
            return Some((&self.root, rest));
        };
        let Some(sub) = under_root.strip_prefix(SUB_REALM) else {
            return Some((&self.root, under_root));
        };
        let (name, rest) = sub.split_at(sub.find('/').unwrap_or(sub.len()));
        self.others.get(name).map(|r| (r, rest))
    }
}

/// The path of an endpoint under its realm's issuer.
fn path_under_issuer(endpoint: Endpoint) -> &'static str {
    UNDER_ISSUER
        .iter()
        .find(|(_, e)| *e == endpoint)
        .map_or("", |(path, _)| path)
}

/// The path of a realm's issuer.
pub fn issuer_path(realm: &str) -> String {
    if realm == ROOT_REALM {
        ROOT_ISSUER.into()
    } else {
        format!("{ROOT_ISSUER}{UNDER_ROOT}{SUB_REALM}{realm}")
    }
}

/// The path of one of a realm's endpoints under its issuer (introspection, for the resource
/// server's own calls).
pub fn endpoint_path(realm: &str, endpoint: Endpoint) -> String {
    format!("{}{}", issuer_path(realm), path_under_issuer(endpoint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn realms() -> Realms {
        Realms::new(&ClientRegistry::fixtures(), "http://rs.test".into())
    }

    #[test]
    fn every_published_url_routes_back_to_its_endpoint() {
        let realms = realms();
        for realm in ["root", "alpha"] {
            for endpoint in [
                Endpoint::Token,
                Endpoint::Introspection,
                Endpoint::Revocation,
                Endpoint::Jwks,
                Endpoint::Metadata,
                Endpoint::Resource,
            ] {
                let url = realms.url(realm, endpoint);
                let path = url.strip_prefix("http://rs.test").unwrap();
                let (routed, routed_to) = realms.route(path, false).unwrap();
                assert_eq!(routed_to, endpoint, "{url}");
                let expected = if endpoint == Endpoint::Resource {
                    "root"
                } else {
                    realm
                };
                assert_eq!(&*routed.name, expected, "{url}");
            }
        }
    }

    #[test]
    fn realm_paths_follow_forgerock_and_rfc_8414() {
        let realms = realms();
        assert_eq!(
            realms.url("alpha", Endpoint::Token),
            "http://rs.test/oauth2/realms/root/realms/alpha/access_token"
        );
        assert_eq!(
            realms.url("root", Endpoint::Metadata),
            "http://rs.test/.well-known/oauth-authorization-server/oauth2"
        );
        let route = |path| realms.route(path, false).map(|(r, e)| (&*r.name, e));
        assert_eq!(
            route("/oauth2/realms/root/access_token"),
            Some(("root", Endpoint::Token))
        );
        assert_eq!(
            route("/oauth2/.well-known/openid-configuration"),
            Some(("root", Endpoint::Metadata))
        );
        assert_eq!(route("/oauth2/realms/root/realms/root/access_token"), None);
        assert_eq!(
            route("/oauth2/realms/root/realms/nowhere/access_token"),
            None
        );
        assert_eq!(
            route("/oauth2/.well-known/oauth-authorization-server"),
            None
        );
        assert_eq!(route("/api/resource/x"), None);
        let appended = |path| realms.route(path, true).map(|(_, e)| e);
        assert_eq!(
            appended("/oauth2/.well-known/oauth-authorization-server"),
            Some(Endpoint::Metadata)
        );
        assert_eq!(
            appended("/.well-known/oauth-authorization-server/oauth2"),
            None
        );
        assert_eq!(appended("/oauth2/.well-known/openid-configuration"), None);
    }
}
