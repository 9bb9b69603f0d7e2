//! Authorization server metadata (RFC 8414) and the JWKS.

use hyper::{Response, StatusCode};
use serde_json::json;

use crate::app::{App, Endpoint};
use crate::config::Fault;
use crate::response::{self, Body};

/// The metadata of one realm; the same document answers the RFC 8414 path and the OpenID
/// Connect discovery path, and it lists only what the server really does.
pub fn metadata(app: &App, realm: &str) -> Response<Body> {
    let mut issuer = app.issuer(realm).to_owned();
    if app.config.has(Fault::MetadataIssuerMismatch) {
        issuer.push('/');
    }
    let auth_methods = ["client_secret_basic", "client_secret_post"];
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
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "scopes_supported": app.config.clients.scopes_in(realm),
    });
    let mut response = response::json(StatusCode::OK, &body);
    response.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("max-age=60"),
    );
    response
}

pub fn jwks(app: &App) -> Response<Body> {
    response::json(StatusCode::OK, app.signer.jwks())
}
