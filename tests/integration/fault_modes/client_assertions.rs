//! The fault modes of JWT client authentication (RFC 7523: private_key_jwt and
//! client_secret_jwt), FAPI 2.0's rules for it included.

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer};

use super::{asserted, CC};

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let token_url = server.token_url("root");
    let name = fault.name();
    match fault {
        Fault::JwtAuthTokenEndpointOnly => {
            let token = post_form(&token_url, &asserted(server, "none")).await;
            let token = token.json()["access_token"].as_str().unwrap().to_owned();
            let form = asserted(server, "none").replacen(CC, &format!("token={token}"), 1);
            let reply = post_form(&server.revocation_url("root"), &form).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        // Without these faults the same assertions are refused: the JWTAUTH cases.
        Fault::AcceptAssertionAlgNone => {
            let reply = post_form(&token_url, &asserted(server, "alg_none")).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::SkipAssertionSignature => {
            let form = asserted(server, "signed_by_other_key");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AcceptAnyAssertionAudience => {
            let form = asserted(server, "aud_other_server");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AssertionAlgConfusion => {
            let form = asserted(server, "hs256_with_public_key");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AssertionRefusalInvalidGrant => {
            let reply = post_form(&token_url, &asserted(server, "signed_by_other_key")).await;
            assert_eq!(reply.error(), "invalid_grant", "{name}");
        }
        Fault::AcceptAssertionWithoutExp => {
            let form = asserted(server, "missing_exp");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::IgnoreAssertionNbf => {
            let form = asserted(server, "nbf_in_future");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AcceptAnyAssertionIss => {
            let form = asserted(server, "iss_not_client");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AcceptAnyAssertionSub => {
            let form = asserted(server, "sub_not_client");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        // In FAPI 2.0 mode a request without a binding is refused for it (invalid_request)
        // once the client authenticated: these faults let the authentication through.
        Fault::Fapi2AcceptSecrets => {
            let reply = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert_eq!(reply.error(), "invalid_request", "{name}: {reply:?}");
        }
        Fault::Fapi2TokenEndpointAud => {
            let reply = post_form(&token_url, &asserted(server, "none")).await;
            assert_eq!(reply.error(), "invalid_request", "{name}: {reply:?}");
        }
        Fault::Fapi2AudArray => {
            use grantcheck::jose::{AssertionBuilder, AssertionFlaw, SigningKey};
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/keys/client-es256.jwk.json");
            let key = std::sync::Arc::new(SigningKey::from_file(&path, None).unwrap());
            let issuer = server.issuer("root");
            let assertion = AssertionBuilder::new(key, "jwtClient", &issuer)
                .build(&AssertionFlaw::AudArray, grantcheck::jose::unix_now())
                .unwrap();
            let form = format!(
                "{CC}&client_id=jwtClient&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                assertion.expose()
            );
            let reply = post_form(&token_url, &form).await;
            assert_eq!(reply.error(), "invalid_request", "{name}: {reply:?}");
        }
        Fault::AssertionNoClockSkew => {
            let form = asserted(server, "iat_near_future");
            assert!(!post_form(&token_url, &form).await.has_token(), "{name}");
            let form = asserted(server, "none");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AssertionClockSkew120 => {
            let form = asserted(server, "iat_beyond_fapi_skew");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
            let form = asserted(server, "iat_in_future");
            assert!(!post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::AcceptExpiredAssertion => {
            let form = asserted(server, "expired");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
        }
        Fault::SkipAssertionReplayCheck => {
            let form = asserted(server, "none");
            assert!(post_form(&token_url, &form).await.has_token(), "{name}");
            assert!(
                post_form(&token_url, &form).await.has_token(),
                "{name}: again"
            );
        }
        // Without them, jwtClient's assertion beside client_id=myClient is refused.
        Fault::AssertionIgnoresClientId | Fault::AssertionTokenForClientId => {
            let form =
                asserted(server, "none").replace("client_id=jwtClient", "client_id=myClient");
            let reply = post_form(&token_url, &form).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
            let token = reply.json()["access_token"].as_str().unwrap().to_owned();
            let issued_to = if fault == Fault::AssertionIgnoresClientId {
                "jwtClient"
            } else {
                "myClient"
            };
            assert_eq!(
                introspect(server, &token).await["client_id"],
                issued_to,
                "{name}"
            );
        }
        Fault::AssertionIgnoresBasic => {
            let auth = basic("myClient", "forgerock");
            let headers = [("authorization", auth.as_str()), ("content-type", FORM)];
            let form = asserted(server, "none");
            let reply = send(Method::POST, &token_url, &headers, &form).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
        }
        Fault::KeyJwtTokenWithoutType | Fault::SecretJwtTokenWithoutType => {
            let form = if fault == Fault::KeyJwtTokenWithoutType {
                asserted(server, "none")
            } else {
                asserted_hmac(server)
            };
            let reply = post_form(&token_url, &form).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
            assert!(reply.json().get("token_type").is_none(), "{name}");
            // Other clients still get it.
            let basic = post_basic(&token_url, "myClient", "forgerock", CC).await;
            assert_eq!(basic.json()["token_type"], "Bearer", "{name}");
        }
        _ => unreachable!("{name} is demonstrated in another module"),
    }
}

/// A token request from `hmacClient` with a well-formed client_secret_jwt assertion.
fn asserted_hmac(server: &ReferenceServer) -> String {
    use grantcheck::jose::{AssertionBuilder, SigningKey};
    let secret = reference_server::Secret::new("hmac-secret-0123456789abcdef0123456789abcdef");
    let key = std::sync::Arc::new(SigningKey::hmac(secret, None));
    let mut builder = AssertionBuilder::new(key, "hmacClient", &server.token_url("root"));
    let assertion = builder
        .build(&"none".parse().unwrap(), grantcheck::jose::unix_now())
        .unwrap();
    format!(
        "{CC}&client_id=hmacClient&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        assertion.expose()
    )
}
