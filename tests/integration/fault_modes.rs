//! Every fault mode really breaks its rule (the same requests are answered correctly without
//! it: see reference_server.rs). `demonstrate`'s `match` is exhaustive, so a new fault mode
//! without a place in it does not compile; it sends each fault mode to the module of its area,
//! whose own `match` holds the demonstration (and panics on another area's fault mode). This
//! file holds the helpers several areas share (DPoP proofs, client assertions) and the test;
//! the areas:
//!
//! - `token_endpoint`: client authentication, grants, scopes, the token response and errors.
//! - `introspection_and_revocation`: RFC 7662 and RFC 7009.
//! - `metadata_and_resource`: the metadata (RFC 8414) and the resource server (RFC 6750).
//! - `https_and_mtls`: plain HTTP on the TLS port, and mutual TLS (RFC 8705).
//! - `dpop`: DPoP proofs and bound tokens (RFC 9449).
//! - `client_assertions`: JWT client authentication (RFC 7523), FAPI 2.0's rules for it.
//! - `races`: the race fault modes, shown with requests sent together.

mod client_assertions;
mod dpop;
mod https_and_mtls;
mod introspection_and_revocation;
mod metadata_and_resource;
mod races;
mod token_endpoint;

use crate::common::server::*;
use hyper::Method;
use reference_server::{Fault, ReferenceServer, ServerConfig, TlsIdentity};

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

/// Shows `fault` breaking its rule, in the module of its area. The match is exhaustive: a
/// new fault mode does not compile until it has a place here (and its demonstration
/// there).
async fn demonstrate(fault: Fault, server: &ReferenceServer) {
    match fault {
        Fault::AcceptWrongSecret
        | Fault::CaseInsensitiveSecret
        | Fault::TrimCredentials
        | Fault::BasicWithoutFormDecoding
        | Fault::AcceptDisabledClient
        | Fault::AcceptCredentialsInQuery
        | Fault::AcceptGetTokenRequest
        | Fault::AcceptRepeatedParameters
        | Fault::RejectUnknownParameters
        | Fault::WrongUnsupportedGrantError
        | Fault::InvalidClientWithoutChallenge
        | Fault::AuthFailureForbidden
        | Fault::ErrorsNotJson
        | Fault::SilentlyReduceScope
        | Fault::DropUnknownScope
        | Fault::OmitCacheControl
        | Fault::OmitPragma
        | Fault::ExpiresInAsString
        | Fault::IssueRefreshToken
        | Fault::GrantForbiddenScopeSilently
        | Fault::DefaultMissingGrantType
        | Fault::EmptyGrantTypeAccepted
        | Fault::PublicClientsGetTokens
        | Fault::ErrorDescriptionEchoesInput
        | Fault::AccessTokenTypJwt
        | Fault::AccessTokenAlgNone
        | Fault::AcceptUnauthenticatedRequest
        | Fault::IgnoreAllowedGrants
        | Fault::EmptySecretSkipsCheck
        | Fault::EmptySecretCountsAsMethod
        | Fault::AnySchemeAsBasic
        | Fault::GrantTypeNotPercentDecoded
        | Fault::PlusNotSpace
        | Fault::EmptyScopeInvalidRequest
        | Fault::MissingScopeInvalidRequest
        | Fault::ScopeOrderSensitive
        | Fault::TokenTypeJwt
        | Fault::PostAuthFailureWithoutChallenge
        | Fault::MethodNotAllowedWithoutAllow => token_endpoint::demonstrate(fault, server).await,
        Fault::IntrospectionWithoutAuthentication
        | Fault::IntrospectionChallengeMissing
        | Fault::ExpiredTokensActive
        | Fault::InactiveIntrospectionLeaksClaims
        | Fault::IgnoreRevocation
        | Fault::RevokeOtherClientsTokens
        | Fault::RevocationUnknownTokenError
        | Fault::RevocationWithoutAuthentication
        | Fault::IntrospectionNullMembers
        | Fault::IntrospectionMalformedTokenError
        | Fault::RevocationMissingTokenOk => {
            introspection_and_revocation::demonstrate(fault, server).await
        }
        Fault::MetadataSigningAlgNone
        | Fault::MetadataIssuerMismatch
        | Fault::MetadataAppendedOnly
        | Fault::ResourceAcceptsInactiveTokens
        | Fault::ResourceIgnoresScope
        | Fault::ResourceChallengeMissing
        | Fault::MetadataOmitResponseTypes
        | Fault::MetadataEndpointFragment
        | Fault::ResourceRefusesBearerTokens
        | Fault::ResourceChallengeRealmTwice => {
            metadata_and_resource::demonstrate(fault, server).await
        }
        Fault::MtlsSkipChainValidation
        | Fault::MtlsAcceptExpiredCertificate
        | Fault::MtlsSelfSignedAnyCertificate
        | Fault::MtlsAcceptWithoutCertificate
        | Fault::MtlsOmitCnf
        | Fault::MtlsBindWithoutCertificate
        | Fault::ResourceMtlsIgnoresBinding
        | Fault::MtlsRefusalForbidden
        | Fault::ResourceMtlsRefusesWith403
        | Fault::AcceptPlainHttp
        | Fault::TrustForwardedProto => https_and_mtls::demonstrate(fault, server).await,
        Fault::DpopAnyTyp
        | Fault::DpopAcceptAlgNone
        | Fault::DpopAcceptHs256
        | Fault::DpopAcceptPrivateJwk
        | Fault::DpopAnyHtm
        | Fault::DpopAnyHtu
        | Fault::DpopAnyIat
        | Fault::DpopInvalidRequestError
        | Fault::DpopNoReplayCheck
        | Fault::DpopIgnoreRepeatedHeader
        | Fault::DpopNonceWrongError
        | Fault::DpopBoundClientWithoutProof
        | Fault::DpopTokenTypeBearer
        | Fault::DpopOmitCnf
        | Fault::DpopMetadataSymmetric
        | Fault::ResourceDpopAcceptsBearer
        | Fault::ResourceDpopAnyKey
        | Fault::ResourceDpopAnyAth
        | Fault::ResourceDpopRefusesWith403
        | Fault::DpopAcceptMissingJti
        | Fault::DpopNonceNotEnforced
        | Fault::DpopAcceptSymmetricJwk
        | Fault::ResourceDpopRefusesBoundTokens
        | Fault::ResourceDpopNonce400
        | Fault::ResourceDpopNonceAny
        | Fault::DpopJktHex
        | Fault::ResourceDpopBearerChallenge => dpop::demonstrate(fault, server).await,
        Fault::JwtAuthTokenEndpointOnly
        | Fault::AcceptAssertionAlgNone
        | Fault::SkipAssertionSignature
        | Fault::AcceptAnyAssertionAudience
        | Fault::AssertionAlgConfusion
        | Fault::AssertionRefusalInvalidGrant
        | Fault::AcceptAssertionWithoutExp
        | Fault::IgnoreAssertionNbf
        | Fault::AcceptAnyAssertionIss
        | Fault::AcceptAnyAssertionSub
        | Fault::Fapi2AcceptSecrets
        | Fault::Fapi2TokenEndpointAud
        | Fault::Fapi2AudArray
        | Fault::AssertionNoClockSkew
        | Fault::AssertionClockSkew120
        | Fault::AcceptExpiredAssertion
        | Fault::SkipAssertionReplayCheck
        | Fault::AssertionIgnoresClientId
        | Fault::AssertionTokenForClientId
        | Fault::AssertionIgnoresBasic
        | Fault::KeyJwtTokenWithoutType
        | Fault::SecretJwtTokenWithoutType => client_assertions::demonstrate(fault, server).await,
        Fault::RaceReplay => races::race_replay(server).await,
        Fault::RaceRevocation => races::race_revocation(server).await,
        // Brute-force protection is off in the library's default configuration.
        Fault::ThrottleRace => races::throttle_race().await,
        // A single server has nothing to replicate: the fault needs a cluster.
        Fault::ClusterRevocationLocal => crate::cluster::revocation_stays_local(fault).await,
    }
}
