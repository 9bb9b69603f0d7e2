//! The fault modes an HTTPS server shows: plain HTTP on the TLS port, and mutual TLS
//! (RFC 8705) at the token endpoint, in introspection and at the resource.

use std::time::Duration;

use crate::common::server::*;
use grantcheck::mtls::Cert as MtlsCert;
use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceServer};

use super::CC;

/// Shows `fault`, one of this area's, breaking its rule (`super::demonstrate` sends
/// it here).
pub(super) async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    let token_url = server.token_url("root");
    let name = fault.name();
    match fault {
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
        _ => unreachable!("{name} is demonstrated in another module"),
    }
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
