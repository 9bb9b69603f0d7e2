//! The fault modes of introspection (RFC 7662) and revocation (RFC 7009).

use std::time::Duration;

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer};
use serde_json::json;

use super::CC;

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let token_url = server.token_url("root");
    let name = fault.name();
    match fault {
        Fault::IntrospectionWithoutAuthentication => {
            let token = issue(server, "myClient", "forgerock", None).await;
            let reply =
                post_form(&server.introspection_url("root"), &format!("token={token}")).await;
            assert_eq!(reply.json()["active"], true, "{name}");
        }
        Fault::IntrospectionChallengeMissing => {
            for url in [
                server.introspection_url("root"),
                server.revocation_url("root"),
            ] {
                let wrong = post_basic(&url, "rs-client", "wrong", "token=x").await;
                let anonymous = post_form(&url, "token=x").await;
                for reply in [wrong, anonymous] {
                    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name} {url}");
                    assert!(reply.header("www-authenticate").is_none(), "{name} {url}");
                }
            }
            // The token endpoint still challenges.
            let reply = post_basic(&token_url, "myClient", "wrong", CC).await;
            assert!(reply.header("www-authenticate").is_some(), "{name}");
        }
        Fault::ExpiredTokensActive => {
            let token = issue(server, "shortClient", "short-secret", None).await;
            tokio::time::sleep(Duration::from_millis(3100)).await;
            assert_eq!(introspect(server, &token).await["active"], true, "{name}");
        }
        Fault::InactiveIntrospectionLeaksClaims => {
            let token = issue(server, "shortClient", "short-secret", None).await;
            tokio::time::sleep(Duration::from_millis(3100)).await;
            let body = introspect(server, &token).await;
            assert_eq!(body["active"], false, "{name}");
            assert_eq!(body["client_id"], "shortClient", "{name}");
        }
        Fault::IgnoreRevocation => {
            let token = issue(server, "myClient", "forgerock", None).await;
            let reply = post_basic(
                &server.revocation_url("root"),
                "myClient",
                "forgerock",
                &format!("token={token}"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
            assert_eq!(introspect(server, &token).await["active"], true, "{name}");
        }
        Fault::RevokeOtherClientsTokens => {
            let token = issue(server, "myClient", "forgerock", None).await;
            let reply = post_basic(
                &server.revocation_url("root"),
                "otherClient",
                "other-secret-2",
                &format!("token={token}"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
            assert_eq!(
                introspect(server, &token).await,
                json!({"active": false}),
                "{name}"
            );
        }
        Fault::RevocationUnknownTokenError => {
            let reply = post_basic(
                &server.revocation_url("root"),
                "myClient",
                "forgerock",
                "token=garbage",
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        }
        Fault::RevocationWithoutAuthentication => {
            let token = post_basic(&token_url, "myClient", "forgerock", CC).await;
            let token = token.json()["access_token"].as_str().unwrap().to_owned();
            let headers = [("content-type", FORM)];
            let url = server.revocation_url("root");
            let reply = send(Method::POST, &url, &headers, &format!("token={token}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
            assert_eq!(introspect(server, &token).await["active"], false, "{name}");
        }
        Fault::IntrospectionNullMembers => {
            let token = issue(server, "myClient", "forgerock", None).await;
            let active = introspect(server, &token).await;
            assert!(
                active.get("username").is_some_and(|v| v.is_null()),
                "{name}: {active}"
            );
            let inactive = introspect(server, "garbage").await;
            assert!(
                inactive.get("exp").is_some_and(|v| v.is_null()),
                "{name}: {inactive}"
            );
        }
        Fault::IntrospectionMalformedTokenError => {
            let url = server.introspection_url("root");
            let reply = post_basic(&url, "rs-client", "rs-secret", "token=garbage").await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        }
        Fault::RevocationMissingTokenOk => {
            let url = server.revocation_url("root");
            let reply = post_basic(&url, "myClient", "forgerock", "foo=bar").await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
        }
        _ => unreachable!("{name} is demonstrated in another module"),
    }
}
