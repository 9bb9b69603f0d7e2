//! The authorization server metadata (RFC 8414) describes what the server does, and a public
//! URL names the server while its resource server introspects locally.

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::ServerConfig;

use super::CC;

/// A token request authenticated by a client assertion (RFC 7523 §2.2): `jwtClient` signs
/// with its test-only fixture key (`private_key_jwt`), `hmacClient` MACs with its secret.
fn asserted(method: &str, token_url: &str) -> String {
    use grantcheck::jose::{AssertionBuilder, AssertionFlaw, SigningKey};
    let (id, key) = if method == "private_key_jwt" {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/keys/client-es256.jwk.json");
        ("jwtClient", SigningKey::from_file(&path, None).unwrap())
    } else {
        let secret = reference_server::Secret::new("hmac-secret-0123456789abcdef0123456789abcdef");
        ("hmacClient", SigningKey::hmac(secret, None))
    };
    let mut builder = AssertionBuilder::new(std::sync::Arc::new(key), id, token_url);
    let assertion = builder
        .build(&AssertionFlaw::None, grantcheck::jose::unix_now())
        .unwrap();
    format!(
        "{CC}&client_id={id}&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        assertion.expose()
    )
}

#[tokio::test]
async fn metadata_describes_what_the_server_does() {
    let server = start(ServerConfig::default()).await;
    for realm in ["root", "alpha"] {
        let rfc8414 = send(Method::GET, &server.metadata_url(realm), &[], "")
            .await
            .json();
        let oidc_url = format!("{}/.well-known/openid-configuration", server.issuer(realm));
        let oidc = send(Method::GET, &oidc_url, &[], "").await.json();
        assert_eq!(rfc8414, oidc);
        assert_eq!(rfc8414["issuer"], server.issuer(realm));
        assert_eq!(rfc8414["token_endpoint"], server.token_url(realm));
        assert_eq!(
            rfc8414["introspection_endpoint"],
            server.introspection_url(realm)
        );
        assert_eq!(rfc8414["revocation_endpoint"], server.revocation_url(realm));
        assert_eq!(
            rfc8414["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        // Each advertised method works.
        for method in rfc8414["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
        {
            let url = rfc8414["token_endpoint"].as_str().unwrap();
            let reply = match method.as_str().unwrap() {
                "client_secret_basic" => post_basic(url, "myClient", "forgerock", CC).await,
                "client_secret_post" => {
                    post_form(
                        url,
                        &format!("{CC}&client_id=myClient&client_secret=forgerock"),
                    )
                    .await
                }
                jwt @ ("private_key_jwt" | "client_secret_jwt") => {
                    post_form(url, &asserted(jwt, url)).await
                }
                other => panic!("unexpected method {other}"),
            };
            assert_eq!(reply.status, StatusCode::OK, "{realm} {method}");
        }
    }
    let jwks = send(Method::GET, &server.jwks_url(), &[], "").await.json();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(
        send(Method::GET, &format!("{}/nope", server.base_url()), &[], "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let unknown_realm = format!(
        "{}/oauth2/realms/root/realms/nosuch/access_token",
        server.base_url()
    );
    assert_eq!(
        post_basic(&unknown_realm, "myClient", "forgerock", CC)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_public_url_names_the_server_while_its_resource_server_introspects_locally() {
    let config = ServerConfig {
        public_url: Some("https://as.example:9443".into()),
        ..ServerConfig::default()
    };
    let server = reference_server::ReferenceServer::start(config, "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    let local = format!("http://127.0.0.1:{}", server.addr().port());
    assert_eq!(server.issuer("root"), "https://as.example:9443/oauth2");
    let metadata = send(
        Method::GET,
        &format!("{local}/.well-known/oauth-authorization-server/oauth2"),
        &[],
        "",
    )
    .await
    .json();
    assert_eq!(metadata["issuer"], "https://as.example:9443/oauth2");
    assert_eq!(
        metadata["token_endpoint"],
        "https://as.example:9443/oauth2/access_token"
    );
    let issued = post_basic(
        &format!("{local}/oauth2/access_token"),
        "myClient",
        "forgerock",
        "grant_type=client_credentials&scope=write",
    )
    .await
    .json();
    let bearer = format!("Bearer {}", issued["access_token"].as_str().unwrap());
    let resource = send(
        Method::GET,
        &format!("{local}/api/resource"),
        &[("authorization", &bearer)],
        "",
    )
    .await;
    assert_eq!(resource.status, StatusCode::OK, "{resource:?}");
    server.shutdown().await;
}
