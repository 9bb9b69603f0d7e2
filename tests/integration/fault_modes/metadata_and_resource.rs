//! The fault modes of the metadata (RFC 8414) and of the resource server with bearer tokens
//! (RFC 6750).

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer};
use serde_json::json;

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let name = fault.name();
    match fault {
        Fault::MetadataSigningAlgNone => {
            let metadata = send(Method::GET, &server.metadata_url("root"), &[], "")
                .await
                .json();
            let algs = &metadata["token_endpoint_auth_signing_alg_values_supported"];
            assert!(algs.as_array().unwrap().contains(&json!("none")), "{name}");
        }
        Fault::MetadataIssuerMismatch => {
            let metadata = send(Method::GET, &server.metadata_url("root"), &[], "")
                .await
                .json();
            assert_ne!(metadata["issuer"], server.issuer("root"), "{name}");
        }
        Fault::MetadataAppendedOnly => {
            let base = server.base_url();
            for realm in ["root", "alpha"] {
                let issuer = server.issuer(realm);
                let path = issuer.strip_prefix(base).unwrap();
                for standard in [
                    format!("{base}/.well-known/oauth-authorization-server{path}"),
                    format!("{issuer}/.well-known/openid-configuration"),
                ] {
                    let reply = send(Method::GET, &standard, &[], "").await;
                    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{name} {standard}");
                }
                let appended = format!("{issuer}/.well-known/oauth-authorization-server");
                let reply = send(Method::GET, &appended, &[], "").await;
                assert_eq!(reply.json()["issuer"], issuer, "{name} {appended}");
            }
        }
        Fault::ResourceAcceptsInactiveTokens => {
            assert_eq!(
                call_resource(server, "garbage").await.status,
                StatusCode::OK,
                "{name}"
            );
        }
        Fault::ResourceIgnoresScope => {
            let token = issue(server, "myClient", "forgerock", Some("read")).await;
            assert_eq!(
                call_resource(server, &token).await.status,
                StatusCode::OK,
                "{name}"
            );
        }
        Fault::ResourceChallengeMissing => {
            let reply = send(Method::GET, &server.resource_url(), &[], "").await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
            assert!(reply.header("www-authenticate").is_none(), "{name}");
        }
        Fault::MetadataOmitResponseTypes => {
            let url = server.metadata_url("root");
            let metadata = send(Method::GET, &url, &[], "").await.json();
            assert!(metadata.get("response_types_supported").is_none(), "{name}");
        }
        Fault::MetadataEndpointFragment => {
            let url = server.metadata_url("root");
            let metadata = send(Method::GET, &url, &[], "").await.json();
            let revocation = metadata["revocation_endpoint"].as_str().unwrap();
            assert!(revocation.contains('#'), "{name}: {revocation}");
        }
        Fault::ResourceRefusesBearerTokens => {
            let token = issue(server, "myClient", "forgerock", Some("write")).await;
            let reply = call_resource(server, &token).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        Fault::ResourceChallengeRealmTwice => {
            let reply = call_resource(server, "garbage").await;
            let challenge = reply.header("www-authenticate").unwrap();
            assert_eq!(
                challenge.matches("realm=").count(),
                2,
                "{name}: {challenge}"
            );
        }
        _ => unreachable!("{name} is demonstrated in another module"),
    }
}
