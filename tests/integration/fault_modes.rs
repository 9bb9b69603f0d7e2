//! Every fault mode really breaks its rule (the same requests are answered correctly without
//! it: see reference_server.rs). The `match` is exhaustive, so a new fault mode without a
//! demonstration here does not compile.

mod races;

use std::time::Duration;

use crate::common::server::*;
use grantcheck::mtls::Cert as MtlsCert;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer, ServerConfig, TlsIdentity};
use serde_json::json;

const CC: &str = "grant_type=client_credentials";

/// A DPoP proof with `flaw` (the harness's builder, a new ES256 key unless `builder` has
/// one) for a request to `url` with `method`, presenting `token` when given.
fn dpop_proof(
    builder: &mut grantcheck::jose::DpopProofBuilder,
    flaw: &str,
    method: &str,
    url: &str,
    token: Option<&str>,
) -> String {
    let target = grantcheck::jose::dpop::ProofTarget {
        method,
        url,
        access_token: token,
    };
    builder
        .build(flaw.parse().unwrap(), target, grantcheck::jose::unix_now())
        .unwrap()
        .expose()
        .to_owned()
}

fn dpop_builder() -> grantcheck::jose::DpopProofBuilder {
    use grantcheck::jose::{Alg, SigningKey};
    let key = std::sync::Arc::new(SigningKey::generate(Alg::Es256).unwrap());
    grantcheck::jose::DpopProofBuilder::new(key).unwrap()
}

/// A token request by `id` with the given `DPoP` header values.
async fn dpop_token_request(
    server: &ReferenceServer,
    id: &str,
    secret: &str,
    proofs: &[&str],
) -> Reply {
    let auth = basic(id, secret);
    let mut headers = vec![("authorization", auth.as_str()), ("content-type", FORM)];
    headers.extend(proofs.iter().map(|p| ("dpop", *p)));
    send(Method::POST, &server.token_url("root"), &headers, CC).await
}

/// A DPoP-bound token for myClient, and the builder whose key it is bound to.
async fn bound_token(server: &ReferenceServer) -> (String, grantcheck::jose::DpopProofBuilder) {
    let mut builder = dpop_builder();
    let proof = dpop_proof(
        &mut builder,
        "none",
        "POST",
        &server.token_url("root"),
        None,
    );
    let reply = dpop_token_request(server, "myClient", "forgerock", &[&proof]).await;
    assert_eq!(reply.json()["token_type"], "DPoP", "{reply:?}");
    let token = reply.json()["access_token"].as_str().unwrap().to_owned();
    (token, builder)
}

/// The resource with `Authorization: DPoP token` and `proof`.
async fn dpop_resource(server: &ReferenceServer, token: &str, proof: &str) -> Reply {
    let auth = format!("DPoP {token}");
    let headers = [("authorization", auth.as_str()), ("dpop", proof)];
    send(Method::GET, &server.resource_url(), &headers, "").await
}

/// A token request from `jwtClient` with a client assertion carrying `flaw`, made with the
/// harness's builder and the client's test-only fixture key.
fn asserted(server: &ReferenceServer, flaw: &str) -> String {
    use grantcheck::jose::{AssertionBuilder, SigningKey};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/keys/client-es256.jwk.json");
    let key = std::sync::Arc::new(SigningKey::from_file(&path, None).unwrap());
    let mut builder = AssertionBuilder::new(key, "jwtClient", &server.token_url("root"));
    let assertion = builder
        .build(&flaw.parse().unwrap(), grantcheck::jose::unix_now())
        .unwrap();
    format!(
        "{CC}&client_id=jwtClient&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
        assertion.expose()
    )
}

/// The mutual-TLS faults (RFC 8705) need an HTTPS server.
fn is_mtls(fault: Fault) -> bool {
    fault.name().starts_with("mtls-") || fault.name().starts_with("resource-mtls-")
}

/// A request over HTTPS presenting `cert` (the embedded run's test-only fixtures; `None`:
/// no certificate), as the harness sends it. Loopback only, so the server's certificate is
/// not checked.
async fn over_mtls(
    cert: Option<grantcheck::mtls::Cert>,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&str>,
    form: &str,
) -> (u16, serde_json::Value) {
    let trust = grantcheck::http::TlsTrust {
        insecure: true,
        ..Default::default()
    };
    let clients = grantcheck::mtls::MtlsClients::embedded(Duration::from_secs(10), &trust).unwrap();
    let plain = grantcheck::http::client(Duration::from_secs(10), &trust).unwrap();
    let client = cert.map_or(&plain, |c| clients.client(c).unwrap());
    let mut request = client.request(method, url);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    if !form.is_empty() {
        request = request.header("content-type", FORM).body(form.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.bytes().await.unwrap();
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

/// A token for `id` over mutual TLS with `cert`.
async fn mtls_token(
    server: &ReferenceServer,
    id: &str,
    cert: Option<grantcheck::mtls::Cert>,
) -> (u16, serde_json::Value) {
    let form = format!("{CC}&client_id={id}");
    over_mtls(
        cert,
        reqwest::Method::POST,
        &server.token_url("root"),
        None,
        &form,
    )
    .await
}

/// What introspection tells rs-client about `token`.
async fn introspected(server: &ReferenceServer, token: &str) -> serde_json::Value {
    let form = format!("token={token}&client_id=rs-client&client_secret=rs-secret");
    let url = server.introspection_url("root");
    over_mtls(None, reqwest::Method::POST, &url, None, &form)
        .await
        .1
}

#[tokio::test]
async fn every_fault_mode_breaks_its_rule() {
    for fault in Fault::ALL {
        let server = if matches!(fault, Fault::AcceptPlainHttp | Fault::TrustForwardedProto)
            || is_mtls(*fault)
        {
            let mut config = ServerConfig::default().with_fault(*fault);
            config.tls = Some(TlsIdentity::generate(&[]).unwrap());
            start(config).await
        } else if fault.name().starts_with("fapi2-") {
            let mut config = ServerConfig::default().with_fault(*fault);
            config.fapi2 = true;
            start(config).await
        } else {
            start_with(&[*fault]).await
        };
        demonstrate(*fault, &server).await;
        server.shutdown().await;
    }
}

async fn demonstrate(fault: Fault, server: &ReferenceServer) {
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
        Fault::JwtAuthTokenEndpointOnly => {
            let token = post_form(&token_url, &asserted(server, "none")).await;
            let token = token.json()["access_token"].as_str().unwrap().to_owned();
            let form = asserted(server, "none").replacen(CC, &format!("token={token}"), 1);
            let reply = post_form(&server.revocation_url("root"), &form).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
        }
        Fault::MtlsSkipChainValidation => {
            let (_, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Other)).await;
            assert!(body["access_token"].is_string(), "{name}: {body}");
        }
        Fault::MtlsAcceptExpiredCertificate => {
            let (_, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Expired)).await;
            assert!(body["access_token"].is_string(), "{name}: {body}");
        }
        Fault::MtlsSelfSignedAnyCertificate => {
            let id = "selfSignedMtlsClient";
            let (_, body) = mtls_token(server, id, Some(MtlsCert::Other)).await;
            assert!(body["access_token"].is_string(), "{name}: {body}");
        }
        Fault::MtlsAcceptWithoutCertificate => {
            let (_, body) = mtls_token(server, "mtlsClient", None).await;
            assert!(body["access_token"].is_string(), "{name}: {body}");
        }
        Fault::MtlsOmitCnf => {
            let (_, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Client)).await;
            let answer = introspected(server, body["access_token"].as_str().unwrap()).await;
            assert_eq!(answer["active"], true, "{name}: {answer}");
            assert!(answer.get("cnf").is_none(), "{name}: {answer}");
        }
        Fault::MtlsBindWithoutCertificate => {
            let form = format!("{CC}&client_id=myClient&client_secret=forgerock");
            let url = server.token_url("root");
            let (_, body) = over_mtls(None, reqwest::Method::POST, &url, None, &form).await;
            let answer = introspected(server, body["access_token"].as_str().unwrap()).await;
            assert!(answer["cnf"]["x5t#S256"].is_string(), "{name}: {answer}");
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
        Fault::ResourceMtlsIgnoresBinding => {
            let (_, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Client)).await;
            let token = body["access_token"].as_str().unwrap();
            let url = server.resource_url();
            let (status, _) = over_mtls(None, reqwest::Method::GET, &url, Some(token), "").await;
            assert_eq!(status, 200, "{name}");
        }
        Fault::MtlsRefusalForbidden => {
            let (status, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Other)).await;
            assert_eq!(status, 403, "{name}: {body}");
            assert!(body.get("access_token").is_none(), "{name}: {body}");
        }
        Fault::ResourceMtlsRefusesWith403 => {
            let (_, body) = mtls_token(server, "mtlsClient", Some(MtlsCert::Client)).await;
            let token = body["access_token"].as_str().unwrap();
            let url = server.resource_url();
            let (status, _) = over_mtls(None, reqwest::Method::GET, &url, Some(token), "").await;
            assert_eq!(status, 403, "{name}");
        }
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
        // Without these faults an HTTPS server drops plain HTTP: see tls.rs.
        Fault::AcceptPlainHttp => {
            let cleartext = token_url.replacen("https://", "http://", 1);
            let reply = post_basic(&cleartext, "myClient", "forgerock", CC).await;
            assert!(reply.has_token(), "{name}");
        }
        Fault::TrustForwardedProto => {
            let cleartext = token_url.replacen("https://", "http://", 1);
            let auth = basic("myClient", "forgerock");
            let headers = [("authorization", auth.as_str()), ("content-type", FORM)];
            let refused = send(Method::POST, &cleartext, &headers, CC).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{name}");
            let with_claim = [headers[0], headers[1], ("x-forwarded-proto", "https")];
            let reply = send(Method::POST, &cleartext, &with_claim, CC).await;
            assert!(reply.has_token(), "{name}");
        }
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
        Fault::RevocationWithoutAuthentication => {
            let token = post_basic(&token_url, "myClient", "forgerock", CC).await;
            let token = token.json()["access_token"].as_str().unwrap().to_owned();
            let headers = [("content-type", FORM)];
            let url = server.revocation_url("root");
            let reply = send(Method::POST, &url, &headers, &format!("token={token}")).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
            assert_eq!(introspect(server, &token).await["active"], false, "{name}");
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
        Fault::RevocationMissingTokenOk => {
            let url = server.revocation_url("root");
            let reply = post_basic(&url, "myClient", "forgerock", "foo=bar").await;
            assert_eq!(reply.status, StatusCode::OK, "{name}");
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
        Fault::PostAuthFailureWithoutChallenge => {
            let form = format!("{CC}&client_id=myClient&client_secret=wrong");
            let reply = post_form(&token_url, &form).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{name}");
            assert!(reply.header("www-authenticate").is_none(), "{name}");
            // Basic failures are still challenged.
            let reply = post_basic(&token_url, "myClient", "wrong", CC).await;
            assert!(reply.header("www-authenticate").is_some(), "{name}");
        }
        Fault::RaceReplay => races::race_replay(server).await,
        Fault::RaceRevocation => races::race_revocation(server).await,
        // Brute-force protection is off in the library's default configuration.
        Fault::ThrottleRace => races::throttle_race().await,
        // A single server has nothing to replicate: the fault needs a cluster.
        Fault::ClusterRevocationLocal => crate::cluster::revocation_stays_local(fault).await,
        Fault::MethodNotAllowedWithoutAllow => {
            let auth = basic("myClient", "forgerock");
            let reply = send(Method::PUT, &token_url, &[("authorization", &auth)], "").await;
            assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{name}");
            assert!(reply.header("allow").is_none(), "{name}");
        }
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
