//! Authorization server metadata (RFC 8414) and the JWKS.

use serde_json::json;

use crate::app::App;
use crate::clients::AuthMethod;
use crate::config::Fault;
use crate::jose::Alg;
use crate::request::{Method, Request};
use crate::response::{self, Reply, Status};
use crate::router::Endpoint;

/// The metadata of one realm; the same document answers the RFC 8414 path and the OpenID
/// Connect discovery path, and it lists only what the server really does.
pub fn metadata(app: &App, request: &Request<'_>) -> Reply {
    if request.method != Method::Get {
        return response::method_not_allowed("GET");
    }
    let realm = &*request.realm.name;
    let mut issuer = request.realm.issuer.clone();
    if app.config.has(Fault::MetadataIssuerMismatch) {
        issuer.push('/');
    }
    // Mutual TLS (RFC 8705) works only where this server terminates TLS itself.
    let mtls = app.config.tls.is_some();
    // FAPI 2.0 §5.3.2.1 item 6: private_key_jwt or mutual TLS only.
    let mut auth_methods: Vec<&str> = AuthMethod::CONFIDENTIAL
        .iter()
        .filter(|m| !app.config.fapi2 || **m == AuthMethod::PrivateKeyJwt)
        .map(|m| m.as_str())
        .collect();
    if mtls {
        auth_methods.extend([
            AuthMethod::TlsClientAuth.as_str(),
            AuthMethod::SelfSignedTlsClientAuth.as_str(),
        ]);
    }
    // RFC 8414 §2: present when private_key_jwt or client_secret_jwt is listed, and "The
    // value "none" MUST NOT be used."
    let mut signing_algs: Vec<&str> = Alg::ALL
        .iter()
        .filter(|a| !app.config.fapi2 || Alg::FAPI2.contains(a))
        .map(|a| a.name())
        .collect();
    if app.config.has(Fault::MetadataSigningAlgNone) {
        signing_algs.push("none");
    }
    let body = json!({
        "issuer": issuer,
        "token_endpoint": app.endpoint_url(realm, Endpoint::Token),
        "introspection_endpoint": app.endpoint_url(realm, Endpoint::Introspection),
        "revocation_endpoint": app.endpoint_url(realm, Endpoint::Revocation),
        "jwks_uri": app.endpoint_url(realm, Endpoint::Jwks),
        "grant_types_supported": ["client_credentials"],
        // No authorization endpoint: no response types (RFC 8414 §2 still asks for the member).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": signing_algs,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_signing_alg_values_supported": signing_algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_signing_alg_values_supported": signing_algs,
        "scopes_supported": app.config.clients.scopes_in(realm),
    });
    let mut body = body;
    if app.config.has(Fault::MetadataOmitResponseTypes) {
        if let Some(members) = body.as_object_mut() {
            members.remove("response_types_supported");
        }
    }
    if app.config.has(Fault::MetadataEndpointFragment) {
        let url = format!("{}#revoke", app.endpoint_url(realm, Endpoint::Revocation));
        body["revocation_endpoint"] = json!(url);
    }
    // RFC 9449 §5.1: the algorithms this server takes for DPoP proofs.
    let mut dpop_algs: Vec<&str> = crate::endpoints::dpop::algs(&app.config)
        .iter()
        .map(|a| a.name())
        .collect();
    if app.config.has(Fault::DpopMetadataSymmetric) {
        dpop_algs.extend(["HS256", "none"]);
    }
    body["dpop_signing_alg_values_supported"] = json!(dpop_algs);
    if mtls {
        // RFC 8705 §3.3, and §5: the same endpoints take mutual TLS (the server asks every
        // client for a certificate and requires none), so the aliases name them again.
        let binds = !app.config.uses(crate::config::Variant::MtlsBindingDeclined);
        body["tls_client_certificate_bound_access_tokens"] = json!(binds);
        body["mtls_endpoint_aliases"] = json!({
            "token_endpoint": app.endpoint_url(realm, Endpoint::Token),
            "introspection_endpoint": app.endpoint_url(realm, Endpoint::Introspection),
            "revocation_endpoint": app.endpoint_url(realm, Endpoint::Revocation),
        });
    }
    Reply {
        cache_control: Some("max-age=60"),
        ..Reply::json(Status::OK, &body)
    }
}

/// The JWKS (RFC 7517) with the key that signs JWT access tokens.
pub fn jwks(app: &App, request: &Request<'_>) -> Reply {
    if request.method != Method::Get {
        return response::method_not_allowed("GET");
    }
    Reply::json(Status::OK, app.signer.jwks())
}
