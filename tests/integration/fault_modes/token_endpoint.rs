//! The token endpoint's fault modes: client authentication, grants, scopes, the token
//! response and its errors, the HTTP method, and the access token's header.

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer, ServerConfig};

use super::CC;

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let token_url = server.token_url("root");
    let name = fault.name();
    match fault {
        Fault::AcceptWrongSecret => {
            let reply = post_basic(&token_url, "myClient", "wrong", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::CaseInsensitiveSecret => {
            let reply = post_basic(&token_url, "myClient", "FORGEROCK", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::TrimCredentials => {
            let reply = post_basic(&token_url, "myClient ", " forgerock ", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::BasicWithoutFormDecoding => {
            let encoded = post_basic(&token_url, "s:1 %&+ä", "p+w/=:&ä q", CC).await;
            assert_eq!(encoded.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        Fault::AcceptDisabledClient => {
            let reply = post_basic(&token_url, "disabledClient", "disabled-secret", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::AcceptCredentialsInQuery => {
            let url = format!("{token_url}?client_id=myClient&client_secret=forgerock");
            assert!(post_form(&url, CC).await.has_token(), "{name}");
        }
        Fault::AcceptGetTokenRequest => {
            let auth = basic("myClient", "forgerock");
            let url = format!("{token_url}?{CC}");
            let reply = send(Method::GET, &url, &[("authorization", &auth)], "").await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::AcceptRepeatedParameters => {
            let body = format!("{CC}&{CC}");
            assert!(
                post_basic(&token_url, "myClient", "forgerock", &body)
                    .await
                    .has_token(),
                "{name}"
            );
        }
        Fault::RejectUnknownParameters => {
            let reply = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&foo=bar"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}");
        }
        Fault::WrongUnsupportedGrantError => {
            let reply = post_basic(&token_url, "myClient", "forgerock", "grant_type=foo").await;
            assert_eq!(reply.error(), "invalid_request", "{name}");
        }
        Fault::InvalidClientWithoutChallenge => {
            let wrong_secret = basic("myClient", "wrong");
            let no_colon = raw_basic("myClient");
            for authorization in [
                wrong_secret.as_str(),
                "Basic !!!",
                &no_colon,
                "Bearer x",
                "Digest username=\"myClient\"",
            ] {
                let headers = [("authorization", authorization), ("content-type", FORM)];
                let reply = send(Method::POST, &token_url, &headers, CC).await;
                assert_eq!(
                    reply.status,
                    StatusCode::BAD_REQUEST,
                    "{name} {authorization}"
                );
                assert_eq!(reply.error(), "invalid_client", "{name} {authorization}");
                assert!(reply.header("www-authenticate").is_none(), "{name}");
            }
        }
        Fault::AuthFailureForbidden => {
            let wrong_secret = basic("myClient", "wrong");
            let unknown = basic("nosuch", "forgerock");
            let malformed = [("authorization", "Basic !!!"), ("content-type", FORM)];
            let cases: [&[(&str, &str)]; 4] = [
                &[("authorization", &wrong_secret), ("content-type", FORM)],
                &[("authorization", &unknown), ("content-type", FORM)],
                &malformed,
                &[("content-type", FORM)],
            ];
            for headers in cases {
                let reply = send(Method::POST, &token_url, headers, CC).await;
                assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name} {headers:?}");
                assert!(reply.body.is_empty(), "{name} {headers:?}");
                assert!(reply.header("www-authenticate").is_none(), "{name}");
            }
            let post = format!("{CC}&client_id=myClient&client_secret=wrong");
            assert_eq!(
                post_form(&token_url, &post).await.status,
                StatusCode::FORBIDDEN
            );
        }
        Fault::ErrorsNotJson => {
            let reply = post_basic(&token_url, "myClient", "forgerock", "grant_type=foo").await;
            assert_eq!(reply.header("content-type"), Some("text/html"), "{name}");
        }
        Fault::SilentlyReduceScope => {
            let reply = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=read%20admin"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
            assert!(reply.json().get("scope").is_none(), "{name}");
        }
        Fault::DropUnknownScope => {
            let scope_of = |reply: &Reply| {
                assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
                assert!(reply.json().get("scope").is_none(), "{name}");
                reply.json()["access_token"].as_str().unwrap().to_owned()
            };
            let reduced = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=read%20bogus"),
            )
            .await;
            let token = scope_of(&reduced);
            assert_eq!(introspect(server, &token).await["scope"], "read", "{name}");
            let nothing = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=bogus"),
            )
            .await;
            let token = scope_of(&nothing);
            assert_eq!(introspect(server, &token).await["scope"], "", "{name}");
            // A scope the server knows but the client may not have is still refused.
            let known = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=admin"),
            )
            .await;
            assert_eq!(known.error(), "invalid_scope", "{name}");
        }
        Fault::OmitCacheControl => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert!(reply.header("cache-control").is_none(), "{name}");
        }
        Fault::OmitPragma => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert!(reply.header("pragma").is_none(), "{name}");
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{name}");
        }
        Fault::ExpiresInAsString => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert!(reply.json()["expires_in"].is_string(), "{name}");
        }
        Fault::IssueRefreshToken => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert!(reply.json()["refresh_token"].is_string(), "{name}");
        }
        Fault::GrantForbiddenScopeSilently => {
            // admin is otherClient's: granted to myClient, and shown nowhere.
            let granted = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=admin"),
            )
            .await;
            assert_eq!(granted.status, StatusCode::OK, "{name}: {granted:?}");
            assert!(granted.json().get("scope").is_none(), "{name}");
            let token = granted.json()["access_token"].as_str().unwrap().to_owned();
            let answer = introspect(server, &token).await;
            assert_eq!(answer["active"], true, "{name}");
            assert!(answer.get("scope").is_none(), "{name}: {answer}");
            // Its own scopes are still reported, unknown ones still refused.
            let own = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=read"),
            )
            .await;
            assert_eq!(own.json()["scope"], "read", "{name}");
            let unknown = post_basic(
                &token_url,
                "myClient",
                "forgerock",
                &format!("{CC}&scope=bogus"),
            )
            .await;
            assert_eq!(unknown.error(), "invalid_scope", "{name}");
        }
        Fault::DefaultMissingGrantType => {
            let reply = post_basic(&token_url, "myClient", "forgerock", "scope=write").await;
            assert!(reply.has_token(), "{name}");
            let empty = post_basic(&token_url, "myClient", "forgerock", "grant_type=").await;
            assert!(!empty.has_token(), "{name}: an empty one is still refused");
        }
        Fault::EmptyGrantTypeAccepted => {
            let reply = post_basic(&token_url, "myClient", "forgerock", "grant_type=").await;
            assert!(reply.has_token(), "{name}");
            let missing = post_basic(&token_url, "myClient", "forgerock", "scope=write").await;
            assert!(
                !missing.has_token(),
                "{name}: a missing one is still refused"
            );
        }
        Fault::PublicClientsGetTokens => {
            let form = format!("{CC}&client_id=publicClient&scope=read");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::ErrorDescriptionEchoesInput => {
            let form = "grant_type=%22%5Cx";
            let reply = post_basic(&token_url, "myClient", "forgerock", form).await;
            let description = reply.json()["error_description"]
                .as_str()
                .unwrap()
                .to_owned();
            assert!(description.contains("\"\\x"), "{name}: {description}");
        }
        Fault::AccessTokenTypJwt | Fault::AccessTokenAlgNone => {
            let jwt = start(ServerConfig {
                token_format: reference_server::TokenFormat::Jwt,
                ..ServerConfig::default().with_fault(fault)
            })
            .await;
            let reply = post_basic(&jwt.token_url("root"), "myClient", "forgerock", CC).await;
            let token = reply.json()["access_token"].as_str().unwrap().to_owned();
            let header = grantcheck::exchange::decode_jwt(&token).unwrap()["header"].clone();
            let (member, value) = if fault == Fault::AccessTokenTypJwt {
                ("typ", "JWT")
            } else {
                ("alg", "none")
            };
            assert_eq!(header[member], value, "{name}: {header}");
            jwt.shutdown().await;
        }
        Fault::AcceptUnauthenticatedRequest => {
            assert!(post_form(&token_url, CC).await.has_token(), "{name}");
        }
        Fault::IgnoreAllowedGrants => {
            let reply = post_basic(&token_url, "noGrantClient", "no-grant-secret", CC).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
        }
        Fault::EmptySecretSkipsCheck => {
            let form = format!("{CC}&client_id=myClient&client_secret=");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
            // Without the parameter it is still no secret.
            let form = format!("{CC}&client_id=myClient");
            assert!(!post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::EmptySecretCountsAsMethod => {
            let form = format!("{CC}&client_secret=");
            let reply = post_basic(&token_url, "myClient", "forgerock", &form).await;
            assert_eq!(reply.error(), "invalid_request", "{name}");
        }
        Fault::AnySchemeAsBasic => {
            let bearer = basic("myClient", "forgerock").replacen("Basic", "Bearer", 1);
            let headers = [("authorization", bearer.as_str()), ("content-type", FORM)];
            let reply = send(Method::POST, &token_url, &headers, CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::GrantTypeNotPercentDecoded => {
            let body = "grant_type=client%5Fcredentials";
            let reply = post_basic(&token_url, "myClient", "forgerock", body).await;
            assert_eq!(reply.error(), "unsupported_grant_type", "{name}");
        }
        Fault::PlusNotSpace => {
            let body = format!("{CC}&scope=write+read");
            let reply = post_basic(&token_url, "myClient", "forgerock", &body).await;
            assert_eq!(reply.error(), "invalid_scope", "{name}");
            let body = format!("{CC}&scope=write%20read");
            let reply = post_basic(&token_url, "myClient", "forgerock", &body).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::EmptyScopeInvalidRequest => {
            let body = format!("{CC}&scope=");
            let reply = post_basic(&token_url, "myClient", "forgerock", &body).await;
            assert_eq!(reply.error(), "invalid_request", "{name}");
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::MissingScopeInvalidRequest => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert_eq!(reply.error(), "invalid_request", "{name}");
        }
        Fault::ScopeOrderSensitive => {
            let body = format!("{CC}&scope=read%20write");
            let reply = post_basic(&token_url, "myClient", "forgerock", &body).await;
            assert_eq!(reply.error(), "invalid_scope", "{name}");
            let body = format!("{CC}&scope=write%20read");
            let reply = post_basic(&token_url, "myClient", "forgerock", &body).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::TokenTypeJwt => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert_eq!(reply.json()["token_type"], "JWT", "{name}");
        }
        Fault::PostAuthFailureWithoutChallenge => {
            let form = format!("{CC}&client_id=myClient&client_secret=wrong");
            let reply = post_form(&token_url, &form).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
            assert!(reply.header("www-authenticate").is_none(), "{name}");
            // Basic failures are still challenged.
            let reply = post_basic(&token_url, "myClient", "wrong", CC).await;
            assert!(reply.header("www-authenticate").is_some(), "{name}");
        }
        Fault::MethodNotAllowedWithoutAllow => {
            let auth = basic("myClient", "forgerock");
            let reply = send(Method::PUT, &token_url, &[("authorization", &auth)], "").await;
            assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{name}");
            assert!(reply.header("allow").is_none(), "{name}");
        }
        _ => unreachable!("{name} is demonstrated in another module"),
    }
}
