//! The DPoP fault modes (RFC 9449): proofs and bound tokens at the token endpoint, in
//! introspection and at the resource.

use crate::common::server::*;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer};

use super::{bound_token, dpop_builder, dpop_proof, dpop_resource, dpop_token_request, CC};

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let token_url = server.token_url("root");
    let name = fault.name();
    match fault {
        // Without these faults the same proofs are refused: the DPOP cases, and the unit
        // tests in reference-server/src/endpoints/dpop.rs.
        Fault::DpopAnyTyp
        | Fault::DpopAcceptAlgNone
        | Fault::DpopAcceptHs256
        | Fault::DpopAcceptPrivateJwk
        | Fault::DpopAnyHtm
        | Fault::DpopAnyHtu
        | Fault::DpopAnyIat => {
            let flaw = match fault {
                Fault::DpopAnyTyp => "wrong_typ",
                Fault::DpopAcceptAlgNone => "alg_none",
                Fault::DpopAcceptHs256 => "hs256",
                Fault::DpopAcceptPrivateJwk => "private_key_in_jwk",
                Fault::DpopAnyHtm => "wrong_htm",
                Fault::DpopAnyHtu => "htu_other_host",
                _ => "day_old_iat",
            };
            let proof = dpop_proof(&mut dpop_builder(), flaw, "POST", &token_url, None);
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
        }
        Fault::DpopInvalidRequestError => {
            let proof = dpop_proof(&mut dpop_builder(), "missing_jti", "POST", &token_url, None);
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
            assert_eq!(reply.error(), "invalid_request", "{name}");
        }
        Fault::DpopNoReplayCheck => {
            let proof = dpop_proof(&mut dpop_builder(), "none", "POST", &token_url, None);
            for attempt in ["first", "again"] {
                let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
                assert!(reply.has_token(), "{name}: {attempt}");
            }
        }
        Fault::DpopIgnoreRepeatedHeader => {
            let mut builder = dpop_builder();
            let a = dpop_proof(&mut builder, "none", "POST", &token_url, None);
            let b = dpop_proof(&mut builder, "none", "POST", &token_url, None);
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&a, &b]).await;
            assert_eq!(reply.json()["token_type"], "Bearer", "{name}");
        }
        Fault::DpopNonceWrongError => {
            let proof = dpop_proof(&mut dpop_builder(), "none", "POST", &token_url, None);
            let reply = dpop_token_request(server, "dpopClient", "dpop-secret", &[&proof]).await;
            assert_eq!(reply.error(), "invalid_dpop_proof", "{name}");
            assert!(reply.header("dpop-nonce").is_some(), "{name}");
        }
        Fault::DpopBoundClientWithoutProof => {
            let reply = post_basic(&token_url, "dpopClient", "dpop-secret", CC).await;
            assert_eq!(reply.json()["token_type"], "Bearer", "{name}");
        }
        Fault::DpopTokenTypeBearer => {
            let proof = dpop_proof(&mut dpop_builder(), "none", "POST", &token_url, None);
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
            assert_eq!(reply.json()["token_type"], "Bearer", "{name}");
        }
        Fault::DpopOmitCnf => {
            let (token, _) = bound_token(server).await;
            assert!(
                introspect(server, &token).await.get("cnf").is_none(),
                "{name}"
            );
        }
        Fault::DpopMetadataSymmetric => {
            let url = server.metadata_url("root");
            let metadata = send(Method::GET, &url, &[], "").await.json();
            let algs = metadata["dpop_signing_alg_values_supported"].to_string();
            assert!(
                algs.contains("\"none\"") && algs.contains("HS256"),
                "{name}"
            );
        }
        Fault::ResourceDpopAcceptsBearer => {
            let (token, _) = bound_token(server).await;
            assert_eq!(
                call_resource(server, &token).await.status,
                StatusCode::OK,
                "{name}"
            );
        }
        Fault::ResourceDpopAnyKey | Fault::ResourceDpopAnyAth => {
            let (token, mut builder) = bound_token(server).await;
            let url = server.resource_url();
            let proof = match fault {
                Fault::ResourceDpopAnyKey => {
                    dpop_proof(&mut builder, "other_key", "GET", &url, Some(&token))
                }
                _ => dpop_proof(&mut builder, "wrong_ath", "GET", &url, Some(&token)),
            };
            let reply = dpop_resource(server, &token, &proof).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
        }
        Fault::ResourceDpopRefusesWith403 => {
            let (token, _) = bound_token(server).await;
            let reply = call_resource(server, &token).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{name}");
            assert!(reply.header("www-authenticate").is_none(), "{name}");
        }
        Fault::DpopAcceptMissingJti => {
            let proof = dpop_proof(&mut dpop_builder(), "missing_jti", "POST", &token_url, None);
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
            assert_eq!(reply.json()["token_type"], "DPoP", "{name}: {reply:?}");
        }
        Fault::DpopNonceNotEnforced => {
            let mut builder = dpop_builder();
            let first = dpop_proof(&mut builder, "none", "POST", &token_url, None);
            let asked = dpop_token_request(server, "dpopClient", "dpop-secret", &[&first]).await;
            assert_eq!(asked.error(), "use_dpop_nonce", "{name}");
            builder.set_nonce(asked.header("dpop-nonce"));
            let with = dpop_proof(&mut builder, "none", "POST", &token_url, None);
            let reply = dpop_token_request(server, "dpopClient", "dpop-secret", &[&with]).await;
            assert!(reply.has_token(), "{name}");
            let without = dpop_proof(&mut builder, "missing_nonce", "POST", &token_url, None);
            let reply = dpop_token_request(server, "dpopClient", "dpop-secret", &[&without]).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
        }
        Fault::DpopAcceptSymmetricJwk => {
            let proof = dpop_proof(
                &mut dpop_builder(),
                "hs256_oct_jwk",
                "POST",
                &token_url,
                None,
            );
            let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
            assert!(reply.has_token(), "{name}: {reply:?}");
        }
        Fault::ResourceDpopRefusesBoundTokens => {
            let (token, mut builder) = bound_token(server).await;
            let url = server.resource_url();
            let proof = dpop_proof(&mut builder, "none", "GET", &url, Some(&token));
            let reply = dpop_resource(server, &token, &proof).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}: {reply:?}");
        }
        Fault::ResourceDpopNonce400 => {
            let (token, mut builder) = bound_token(server).await;
            let url = server.resource_url();
            let proof = dpop_proof(&mut builder, "none", "GET", &url, Some(&token));
            let reply = dpop_resource(server, &token, &proof).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{name}: {reply:?}");
            assert!(reply.header("www-authenticate").is_none(), "{name}");
            assert!(reply.header("dpop-nonce").is_some(), "{name}");
        }
        Fault::ResourceDpopNonceAny => {
            let (token, mut builder) = bound_token(server).await;
            let url = server.resource_url();
            let first = dpop_proof(&mut builder, "none", "GET", &url, Some(&token));
            let asked = dpop_resource(server, &token, &first).await;
            assert_eq!(asked.status, StatusCode::UNAUTHORIZED, "{name}: {asked:?}");
            // It asks for a nonce, then takes one it never gave.
            builder.set_nonce(Some("grantcheck-made-up-nonce"));
            let proof = dpop_proof(&mut builder, "none", "GET", &url, Some(&token));
            let reply = dpop_resource(server, &token, &proof).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
        }
        Fault::DpopJktHex => {
            let (token, mut builder) = bound_token(server).await;
            let jkt = introspect(server, &token).await["cnf"]["jkt"].clone();
            let jkt = jkt.as_str().unwrap();
            assert!(
                jkt.len() == 64 && jkt.bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: {jkt}"
            );
            // The binding itself holds: the resource serves the token with its key's proof.
            let url = server.resource_url();
            let proof = dpop_proof(&mut builder, "none", "GET", &url, Some(&token));
            let reply = dpop_resource(server, &token, &proof).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {reply:?}");
        }
        Fault::ResourceDpopBearerChallenge => {
            let (token, _) = bound_token(server).await;
            let auth = format!("DPoP {token}");
            let headers = [("authorization", auth.as_str())];
            let reply = send(Method::GET, &server.resource_url(), &headers, "").await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
            let challenge = reply.header("www-authenticate").unwrap();
            assert!(
                challenge.starts_with("Bearer ") && !challenge.contains("algs"),
                "{name}"
            );
        }
        _ => unreachable!("{name} is demonstrated in another module"),
    }
}
