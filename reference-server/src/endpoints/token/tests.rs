//! The token endpoint's unit tests.

use super::*;

#[test]
fn the_token_response_is_written_as_serde_would() {
    for (token_type, expires_in, scope, refresh_token) in [
        (
            Some("Bearer"),
            ExpiresIn::Seconds(3600),
            Some("read write"),
            None,
        ),
        (
            None,
            ExpiresIn::Text("60".into()),
            None,
            Some("r\"e\\f\n".to_owned()),
        ),
        (
            Some("DPoP"),
            ExpiresIn::Seconds(1),
            Some("caf\u{e9} \u{7f}"),
            None,
        ),
    ] {
        let body = TokenResponse {
            access_token: "QV3tN2wzw5h26TU4y85ByXwunE3RJ_AtpppP9OeeNuE",
            token_type,
            expires_in,
            scope,
            refresh_token,
        };
        let by_serde = serde_json::to_vec(&body).unwrap();
        assert_eq!(
            String::from_utf8(body.to_json()).unwrap(),
            String::from_utf8(by_serde).unwrap()
        );
    }
}
use crate::config::ServerConfig;
use crate::request::testing::{app, TestRequest};
use crate::request::{Body, BodyError};

const GRANT: &str = "grant_type=client_credentials";

fn issue_with(config: ServerConfig, request: TestRequest) -> Reply {
    let app = app(config);
    issue(&app, &request.at(&app))
}

fn error_of(reply: &Reply) -> (u16, String) {
    let body = reply.json_body();
    (reply.status.0, body["error"].as_str().unwrap().to_owned())
}

#[test]
fn a_valid_request_gets_a_stored_token_that_is_not_cached() {
    let app = app(ServerConfig::default());
    let request = TestRequest::post(GRANT).basic("myClient", "forgerock");
    let reply = issue(&app, &request.at(&app));
    assert_eq!(reply.status, Status::OK);
    assert_eq!(reply.content_type, Some(crate::response::JSON));
    assert_eq!(reply.cache_control, Some("no-store"));
    assert!(reply.pragma_no_cache);
    let body = reply.json_body();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "write");
    assert!(body.get("refresh_token").is_none());
    let record = app
        .tokens
        .get(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!((&*record.client_id, &*record.realm), ("myClient", "root"));
    // client_secret_post, in another realm, with a scope.
    let post =
        "grant_type=client_credentials&client_id=myClient&client_secret=forgerock&scope=read";
    let request = TestRequest::post(post).realm("alpha");
    let body = issue(&app, &request.at(&app)).json_body();
    assert_eq!(body["scope"], "read");
    let record = app
        .tokens
        .get(body["access_token"].as_str().unwrap())
        .unwrap();
    assert_eq!(&*record.realm, "alpha");
}

#[test]
fn a_wrong_secret_is_invalid_client_with_a_challenge() {
    let config = ServerConfig::default();
    let reply = issue_with(
        config.clone(),
        TestRequest::post(GRANT).basic("myClient", "x"),
    );
    assert_eq!(error_of(&reply), (401, "invalid_client".into()));
    let challenge = reply.www_authenticate.as_deref().unwrap();
    assert!(
        challenge.starts_with("Basic realm=\"http://rs.test/oauth2\""),
        "{challenge}"
    );
    // The faults that accept it, or answer it wrongly.
    let wrong = || TestRequest::post(GRANT).basic("myClient", "x");
    let accepted = issue_with(config.clone().with_fault(Fault::AcceptWrongSecret), wrong());
    assert_eq!(accepted.status, Status::OK);
    let forbidden = issue_with(
        config.clone().with_fault(Fault::AuthFailureForbidden),
        wrong(),
    );
    assert_eq!(forbidden, Reply::empty(Status::FORBIDDEN));
    let html = issue_with(config.with_fault(Fault::ErrorsNotJson), wrong());
    assert_eq!(
        (html.status, html.content_type),
        (Status::UNAUTHORIZED, Some("text/html"))
    );
    assert!(
        html.www_authenticate.is_some(),
        "the fault breaks only the body"
    );
}

#[test]
fn grant_type_is_required_and_must_be_client_credentials() {
    let config = ServerConfig::default();
    let ask = |config: &ServerConfig, body| {
        error_of(&issue_with(
            config.clone(),
            TestRequest::post(body).basic("myClient", "forgerock"),
        ))
    };
    assert_eq!(ask(&config, "scope=read"), (400, "invalid_request".into()));
    assert_eq!(
        ask(&config, "grant_type=password"),
        (400, "unsupported_grant_type".into())
    );
    let faulty = config.with_fault(Fault::WrongUnsupportedGrantError);
    assert_eq!(
        ask(&faulty, "grant_type=password"),
        (400, "invalid_request".into())
    );
    let no_grant = TestRequest::post(GRANT).basic("noGrantClient", "no-grant-secret");
    let reply = issue_with(ServerConfig::default(), no_grant);
    assert_eq!(error_of(&reply), (400, "unauthorized_client".into()));
}

#[test]
fn an_unknown_scope_is_refused_unless_a_fault_drops_it() {
    let request = || {
        TestRequest::post("grant_type=client_credentials&scope=read+bogus")
            .basic("myClient", "forgerock")
    };
    let reply = issue_with(ServerConfig::default(), request());
    assert_eq!(error_of(&reply), (400, "invalid_scope".into()));
    let dropped = issue_with(
        ServerConfig::default().with_fault(Fault::DropUnknownScope),
        request(),
    );
    assert_eq!(dropped.status, Status::OK);
    assert!(dropped.json_body().get("scope").is_none());
    let required = ServerConfig {
        require_scope: true,
        ..ServerConfig::default()
    };
    let reply = issue_with(
        required,
        TestRequest::post(GRANT).basic("myClient", "forgerock"),
    );
    assert_eq!(error_of(&reply), (400, "invalid_scope".into()));
}

#[test]
fn response_faults_change_only_their_part() {
    let request = || TestRequest::post(GRANT).basic("myClient", "forgerock");
    let reply = issue_with(
        ServerConfig::default().with_fault(Fault::OmitPragma),
        request(),
    );
    assert_eq!(
        (reply.cache_control, reply.pragma_no_cache),
        (Some("no-store"), false)
    );
    let reply = issue_with(
        ServerConfig::default().with_fault(Fault::OmitCacheControl),
        request(),
    );
    assert_eq!((reply.cache_control, reply.pragma_no_cache), (None, true));
    let reply = issue_with(
        ServerConfig::default().with_fault(Fault::ExpiresInAsString),
        request(),
    );
    assert_eq!(reply.json_body()["expires_in"], "3600");
    let reply = issue_with(
        ServerConfig::default().with_fault(Fault::IssueRefreshToken),
        request(),
    );
    assert!(reply.json_body()["refresh_token"].is_string());
}

#[test]
fn the_request_must_be_a_form_post() {
    let get = || {
        TestRequest::post("")
            .method(Method::Get)
            .query(GRANT)
            .basic("myClient", "forgerock")
    };
    let reply = issue_with(ServerConfig::default(), get());
    assert_eq!(
        (reply.status, reply.allow),
        (Status::METHOD_NOT_ALLOWED, Some("POST"))
    );
    let faulty = ServerConfig::default().with_fault(Fault::AcceptGetTokenRequest);
    assert_eq!(issue_with(faulty, get()).status, Status::OK);
    let json = TestRequest::post(GRANT)
        .content_type(Some("application/json"))
        .basic("myClient", "forgerock");
    let reply = issue_with(ServerConfig::default(), json);
    assert_eq!(error_of(&reply), (400, "invalid_request".into()));
    let app = app(ServerConfig::default());
    let request = TestRequest::post(GRANT).basic("myClient", "forgerock");
    let mut too_large = request.at(&app);
    too_large.body = Body::Failed(BodyError::TooLarge);
    assert_eq!(
        error_of(&issue(&app, &too_large)),
        (413, "invalid_request".into())
    );
    let repeated = TestRequest::post("grant_type=client_credentials&grant_type=x");
    let reply = issue_with(
        ServerConfig::default(),
        repeated.basic("myClient", "forgerock"),
    );
    assert_eq!(error_of(&reply), (400, "invalid_request".into()));
}
