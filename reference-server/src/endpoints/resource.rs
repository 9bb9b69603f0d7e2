//! The protected resource (RFC 6750). It validates bearer tokens the way a separate resource
//! server would: by calling the introspection endpoint over HTTP with its own credentials
//! (steps 4–5 of the flow), never by reading the token store.
//!
//! `/api/resource` serves the tokens of every realm its client is registered in, and asks
//! about each token the realm that issued it, as a ForgeRock AM resource server does:
//! introspection at another realm calls the token unknown. The realm is found as follows
//! ([`realms_to_ask`], then [`settles`] after each answer):
//! - a JWT names its issuer: `iss`, read without trusting it, picks the one realm to ask,
//!   and that realm's introspection decides (a forged `iss` only sends the question to a
//!   realm that does not know the token);
//! - an opaque token says nothing, so the realms are asked in a fixed order, the root realm
//!   first, until one says active; at most one call per realm, and an introspection that
//!   fails to answer stops the search (503), since "unknown" cannot be concluded without it.
//!
//! Root tokens cost one call, as before realms were searched. One resource path for every
//! realm (rather than `/api/realms/{realm}/resource`) keeps the resource URL a client is
//! given independent of the realm it got its token from.

use std::sync::Arc;

use serde_json::{json, Value};

use crate::app::App;
use crate::config::Fault;
use crate::endpoints::dpop::{self, Scheme};
use crate::form::Form;
use crate::request::{Header, Method, Request};
use crate::response::{self, Reply, Status};

/// The client the resource introspects as: defined with the registry, named here too for
/// `server/http.rs`.
pub use crate::clients::RESOURCE_SERVER_CLIENT;

const CHALLENGE_REALM: &str = "grantcheck";

/// The realms whose introspection to ask about `token`, in order: the one a JWT's issuer
/// names, or else every served realm. Never empty.
pub fn realms_to_ask<'a>(app: &'a App, token: &str) -> &'a [Arc<str>] {
    let all = &app.resource_realms[..];
    let Some(issuer) = crate::jwt::unverified_issuer(token) else {
        return all;
    };
    match all.iter().position(|realm| app.issuer(realm) == issuer) {
        Some(i) => &all[i..=i],
        // An issuer the resource does not serve: the realms say "unknown", not the resource.
        None => all,
    }
}

/// True when an introspection answer ends the search: the token is active there, or
/// introspection did not answer (then nothing can be concluded: 503).
pub fn settles(answer: &Result<Value, &'static str>) -> bool {
    match answer {
        Ok(introspected) => introspected["active"] == Value::Bool(true),
        Err(_) => true,
    }
}

/// The access token a request presents, and how: `Bearer` (RFC 6750 §2.1) or `DPoP`
/// (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'r> {
    pub token: &'r str,
    pub scheme: Scheme,
}

/// The token a request to the resource presents, or the refusal when it presents none (or
/// presents it wrongly). The server then asks introspection about the token.
pub fn presented_token<'r>(app: &App, request: &Request<'r>) -> Result<Presented<'r>, Box<Reply>> {
    presented(app, request).map_err(|refusal| Box::new(realm_twice_if_faulty(app, *refusal)))
}

fn presented<'r>(app: &App, request: &Request<'r>) -> Result<Presented<'r>, Box<Reply>> {
    if request.method == Method::Other {
        return Err(Box::new(response::method_not_allowed("GET, POST")));
    }
    match bearer_token(request) {
        Ok(Some(presented)) => Ok(presented),
        Ok(None) => Err(Box::new(unauthorized(app, None))),
        Err(()) => Err(Box::new(challenge(
            Status::BAD_REQUEST,
            "invalid_request",
            "use exactly one way of sending the access token",
            None,
        ))),
    }
}

/// [`serve`], after the DPoP rules (RFC 9449 §7.1) for an active token: a token bound to a
/// key (`cnf.jkt` in the introspection answer) needs the DPoP scheme and a proof by that
/// key for this request and this token.
pub fn serve_presented(
    app: &App,
    request: &Request<'_>,
    presented: Presented<'_>,
    introspected: Result<Value, &'static str>,
) -> Reply {
    let reply = decide(app, request, presented, introspected);
    realm_twice_if_faulty(app, reply)
}

/// The fault `resource-challenge-realm-twice`: every challenge names its realm twice, as a
/// proxy adding its own realm to the application's challenge does.
fn realm_twice_if_faulty(app: &App, mut reply: Reply) -> Reply {
    if app.config.has(Fault::ResourceChallengeRealmTwice) {
        let realm = format!("realm=\"{CHALLENGE_REALM}\"");
        reply.www_authenticate = reply
            .www_authenticate
            .map(|c| c.replacen(&realm, &format!("{realm}, {realm}"), 1));
    }
    reply
}

fn decide(
    app: &App,
    request: &Request<'_>,
    presented: Presented<'_>,
    introspected: Result<Value, &'static str>,
) -> Reply {
    if let Ok(answer) = &introspected {
        if answer["active"] == Value::Bool(true) {
            // The fault: only sender-constrained tokens are served.
            if app.config.has(Fault::ResourceRefusesBearerTokens)
                && answer["cnf"].is_null()
                && matches!(presented.scheme, Scheme::Bearer)
            {
                return unauthorized(app, Some("the access token is not sender-constrained"));
            }
            let bound = answer["cnf"]["jkt"].as_str();
            if let Err(refusal) =
                dpop::resource_request(app, request, presented.token, presented.scheme, bound)
            {
                return *refusal;
            }
            // RFC 8705 §3: a certificate-bound token needs that certificate on this
            // connection; otherwise 401 invalid_token.
            let bound = answer["cnf"]["x5t#S256"].as_str();
            let presented = request.client_certificate.map(|c| c.thumbprint());
            let mismatch = bound.is_some_and(|x5t| presented != Some(x5t));
            if mismatch && app.config.has(Fault::ResourceMtlsRefusesWith403) {
                return response::error_json(
                    Status::FORBIDDEN,
                    "invalid_token",
                    "the access token is bound to another client certificate",
                );
            }
            if mismatch && !app.config.has(Fault::ResourceMtlsIgnoresBinding) {
                return unauthorized(
                    app,
                    Some("the access token is bound to another client certificate"),
                );
            }
        }
    }
    serve(app, introspected)
}

/// Serves the resource, or refuses, after introspection answered `introspected` about the
/// presented token (or failed to answer, for the given reason).
pub fn serve(app: &App, introspected: Result<Value, &'static str>) -> Reply {
    let introspected = match introspected {
        Ok(v) => v,
        Err(reason) => {
            return Reply {
                retry_after: Some(1),
                ..response::error_json(
                    Status::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    reason,
                )
            }
        }
    };
    let active = introspected["active"] == Value::Bool(true);
    if !active && !app.config.has(Fault::ResourceAcceptsInactiveTokens) {
        return unauthorized(app, Some("the access token is not active"));
    }
    let scope = introspected["scope"].as_str().unwrap_or("");
    let required = app.config.resource_scope.as_str();
    let check_scope = active && !app.config.has(Fault::ResourceIgnoresScope);
    if check_scope && !scope.split(' ').any(|s| s == required) {
        return challenge(
            Status::FORBIDDEN,
            "insufficient_scope",
            "the access token lacks the required scope",
            Some(required),
        );
    }
    let body = json!({
        "resource": "grantcheck protected resource",
        "client_id": introspected["client_id"],
        "scope": scope,
    });
    Reply::json(Status::OK, &body).no_store(false)
}

/// The token from `Authorization: Bearer` or `Authorization: DPoP` (schemes
/// case-insensitive, RFC 9110 §11.1). Tokens in the query are not accepted (RFC 6750 §2.3
/// SHOULD NOT); sending one beside a header is two methods at once (RFC 6750 §3.1
/// `invalid_request`).
fn bearer_token<'r>(request: &Request<'r>) -> Result<Option<Presented<'r>>, ()> {
    let value = match request.authorization {
        Header::Repeated => return Err(()),
        Header::Absent => return Ok(None),
        Header::One(value) => Some(value),
        Header::Unreadable => None,
    };
    let in_query =
        Form::parse(request.query.as_bytes(), true).is_ok_and(|f| f.get("access_token").is_some());
    if in_query {
        return Err(());
    }
    let Some((scheme, token)) = value.and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    let token = token.trim_start_matches(' ');
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return Ok(None);
    };
    if token.is_empty() {
        return Ok(None);
    }
    Ok(Some(Presented { token, scheme }))
}

fn unauthorized(app: &App, error: Option<&'static str>) -> Reply {
    if app.config.has(Fault::ResourceChallengeMissing) {
        return Reply::json(
            Status::UNAUTHORIZED,
            &json!({"error": error.map(|_| "invalid_token")}),
        );
    }
    match error {
        // RFC 6750 §3.1: no error code when the request carried no token.
        None => Reply {
            www_authenticate: Some(format!("Bearer realm=\"{CHALLENGE_REALM}\"")),
            ..Reply::json(Status::UNAUTHORIZED, &json!({}))
        },
        Some(description) => challenge(Status::UNAUTHORIZED, "invalid_token", description, None),
    }
}

/// An RFC 6750 §3 error: `WWW-Authenticate: Bearer realm=…, error=…` plus a JSON body.
fn challenge(
    status: Status,
    error: &'static str,
    description: &'static str,
    scope: Option<&str>,
) -> Reply {
    let mut value = format!(
        "Bearer realm=\"{CHALLENGE_REALM}\", error=\"{error}\", error_description=\"{description}\""
    );
    if let Some(scope) = scope {
        value.push_str(&format!(", scope=\"{scope}\""));
    }
    Reply {
        www_authenticate: Some(value),
        ..response::error_json(status, error, description)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::{ClientRegistry, FIXTURE_CLIENTS};
    use crate::config::{ServerConfig, TokenFormat};
    use crate::endpoints::{introspection, revocation, token};
    use crate::request::testing::{app, issued_token, TestRequest};

    fn with_authorization(value: &str) -> TestRequest {
        let mut request = TestRequest::post("").method(Method::Get);
        request.authorization = Some(value.into());
        request
    }

    #[test]
    fn the_token_comes_from_one_bearer_header() {
        let app = app(ServerConfig::default());
        let presented = |request: TestRequest| {
            presented_token(&app, &request.at(&app)).map(|p| p.token.to_owned())
        };
        assert_eq!(
            presented(with_authorization("bearer  abc")),
            Ok("abc".into())
        );
        let dpop_request = with_authorization("DPoP abc");
        let dpop = presented_token(&app, &dpop_request.at(&app)).unwrap();
        assert_eq!((dpop.token, dpop.scheme), ("abc", Scheme::Dpop));
        let none = presented(TestRequest::post("").method(Method::Get)).unwrap_err();
        assert_eq!(none.status, Status::UNAUTHORIZED);
        assert_eq!(
            none.www_authenticate.as_deref(),
            Some("Bearer realm=\"grantcheck\"")
        );
        let basic = presented(with_authorization("Basic abc")).unwrap_err();
        assert_eq!(basic.status, Status::UNAUTHORIZED);
        let twice =
            presented(with_authorization("Bearer abc").query("access_token=abc")).unwrap_err();
        assert_eq!(twice.status, Status::BAD_REQUEST);
        let put = presented(with_authorization("Bearer abc").method(Method::Other)).unwrap_err();
        assert_eq!(put.allow, Some("GET, POST"));
    }

    #[test]
    fn introspections_answer_decides() {
        let app = app(ServerConfig::default());
        let ok = serve(
            &app,
            Ok(json!({"active": true, "scope": "read write", "client_id": "c"})),
        );
        assert_eq!(
            (ok.status, ok.cache_control),
            (Status::OK, Some("no-store"))
        );
        assert_eq!(ok.json_body()["client_id"], "c");
        let inactive = serve(&app, Ok(json!({"active": false})));
        assert_eq!(inactive.json_body()["error"], "invalid_token");
        let narrow = serve(&app, Ok(json!({"active": true, "scope": "read"})));
        assert_eq!(narrow.status, Status::FORBIDDEN);
        assert!(narrow
            .www_authenticate
            .unwrap()
            .ends_with("scope=\"write\""));
        let down = serve(&app, Err("introspection timed out"));
        assert_eq!(
            (down.status, down.retry_after),
            (Status::SERVICE_UNAVAILABLE, Some(1))
        );
    }

    #[test]
    fn resource_faults() {
        let with = |fault| app(ServerConfig::default().with_fault(fault));
        let reply = serve(
            &with(Fault::ResourceAcceptsInactiveTokens),
            Ok(json!({"active": false})),
        );
        assert_eq!(reply.status, Status::OK);
        let narrow = json!({"active": true, "scope": "read"});
        assert_eq!(
            serve(&with(Fault::ResourceIgnoresScope), Ok(narrow)).status,
            Status::OK
        );
        let reply = serve(
            &with(Fault::ResourceChallengeMissing),
            Ok(json!({"active": false})),
        );
        assert_eq!(
            (reply.status, reply.www_authenticate),
            (Status::UNAUTHORIZED, None)
        );
    }

    /// The brief's token request: client_secret_post, scope `write`.
    const BRIEF: &str =
        "grant_type=client_credentials&client_id=myClient&client_secret=forgerock&scope=write";

    fn registry(extra: &str) -> ClientRegistry {
        ClientRegistry::from_toml(&format!("{FIXTURE_CLIENTS}\n{extra}"), "test").unwrap()
    }

    /// An app issuing tokens of each format, with `clients`.
    fn apps(clients: &ClientRegistry) -> [App; 2] {
        [TokenFormat::Opaque, TokenFormat::Jwt].map(|token_format| {
            app(ServerConfig {
                token_format,
                clients: clients.clone(),
                ..ServerConfig::default()
            })
        })
    }

    fn issue_at(app: &App, realm: &str, body: &str) -> Reply {
        token::issue(app, &TestRequest::post(body).realm(realm).at(app))
    }

    fn issued_at(app: &App, realm: &str, body: &str) -> String {
        let reply = issue_at(app, realm, body);
        assert_eq!(reply.status, Status::OK, "{:?}", reply.body);
        reply.json_body()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// What the resource server's introspection call to `realm` answers.
    fn introspect_at(app: &App, realm: &str, token: &str) -> Value {
        let body = format!("token={token}&token_type_hint=access_token");
        let request = TestRequest::post(&body)
            .basic(RESOURCE_SERVER_CLIENT, "rs-secret")
            .realm(realm);
        introspection::introspect(app, &request.at(app)).json_body()
    }

    /// `GET /api/resource` with `token` as the server runs it (`Handler::resource`), with
    /// introspection answered in process instead of over HTTP; and the realms it asked.
    fn call_resource(app: &App, token: &str) -> (Reply, Vec<String>) {
        let mut asked = Vec::new();
        let mut answer = Err("no realm to ask");
        for realm in realms_to_ask(app, token) {
            asked.push(realm.to_string());
            answer = Ok(introspect_at(app, realm, token));
            if settles(&answer) {
                break;
            }
        }
        (serve(app, answer), asked)
    }

    fn names(realms: &[Arc<str>]) -> Vec<&str> {
        realms.iter().map(|r| &**r).collect()
    }

    #[test]
    fn a_jwt_is_asked_about_at_its_issuers_realm_and_an_opaque_token_everywhere() {
        let [opaque, jwt] = apps(&ClientRegistry::fixtures());
        let token = issued_at(&opaque, "alpha", BRIEF);
        assert_eq!(names(realms_to_ask(&opaque, &token)), ["root", "alpha"]);
        for realm in ["root", "alpha"] {
            let token = issued_at(&jwt, realm, BRIEF);
            assert_eq!(names(realms_to_ask(&jwt, &token)), [realm]);
        }
        // An issuer the resource does not serve narrows nothing.
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"iss":"http://elsewhere/oauth2"}"#,
        );
        let foreign = format!("e30.{payload}.sig");
        assert_eq!(names(realms_to_ask(&jwt, &foreign)), ["root", "alpha"]);
    }

    #[test]
    fn the_search_stops_at_active_or_at_no_answer() {
        assert!(settles(&Ok(json!({"active": true}))));
        assert!(settles(&Err("introspection timed out")));
        assert!(!settles(&Ok(json!({"active": false}))));
        assert!(!settles(&Ok(json!({"active": "true"}))));
    }

    #[test]
    fn an_alpha_token_is_served_until_revoked_at_alpha() {
        for app in apps(&ClientRegistry::fixtures()) {
            let format = app.config.token_format;
            let asked_about_alpha: &[&str] = match format {
                TokenFormat::Opaque => &["root", "alpha"],
                TokenFormat::Jwt => &["alpha"],
            };
            let token = issued_at(&app, "alpha", BRIEF);
            let (reply, asked) = call_resource(&app, &token);
            assert_eq!(reply.status, Status::OK, "{format:?}");
            assert_eq!(reply.json_body()["client_id"], "myClient");
            assert_eq!(asked, asked_about_alpha);

            let introspected = introspect_at(&app, "alpha", &token);
            assert_eq!(introspected["active"], true);
            assert_eq!(
                introspected["iss"],
                "http://rs.test/oauth2/realms/root/realms/alpha"
            );
            assert_eq!(introspect_at(&app, "root", &token)["active"], false);

            let revoke = format!("token={token}&client_id=myClient&client_secret=forgerock");
            let request = TestRequest::post(&revoke).realm("alpha");
            assert_eq!(
                revocation::revoke(&app, &request.at(&app)).status,
                Status::OK
            );
            assert_eq!(
                introspect_at(&app, "alpha", &token),
                json!({"active": false})
            );
            let (reply, asked) = call_resource(&app, &token);
            assert_eq!(reply.status, Status::UNAUTHORIZED, "{format:?}");
            assert_eq!(reply.json_body()["error"], "invalid_token");
            assert!(reply
                .www_authenticate
                .unwrap()
                .contains("error=\"invalid_token\""));
            assert_eq!(asked, asked_about_alpha);
        }
    }

    #[test]
    fn a_root_token_costs_one_introspection() {
        for app in apps(&ClientRegistry::fixtures()) {
            let token = issued_token(&app, "myClient", "forgerock");
            let (reply, asked) = call_resource(&app, &token);
            assert_eq!((reply.status, asked), (Status::OK, vec!["root".into()]));
            // The scope check applies in every realm.
            let read = BRIEF.replace("scope=write", "scope=read");
            let token = issued_at(&app, "alpha", &read);
            assert_eq!(call_resource(&app, &token).0.status, Status::FORBIDDEN);
        }
    }

    #[test]
    fn tokens_of_realms_outside_the_clients_or_the_resources_are_refused() {
        let beta = r#"
[[client]]
id = "betaClient"
secret = "beta-secret"
scopes = ["write"]
default_scopes = ["write"]
realms = ["beta"]
"#;
        for app in apps(&registry(beta)) {
            // otherClient is registered in root only: alpha will not issue it a token.
            let other =
                "grant_type=client_credentials&client_id=otherClient&client_secret=other-secret-2";
            let reply = issue_at(&app, "alpha", other);
            assert_eq!(reply.status, Status::UNAUTHORIZED);
            assert_eq!(reply.json_body()["error"], "invalid_client");
            // beta issues tokens, but the resource server is not registered there.
            let token = issued_at(
                &app,
                "beta",
                "grant_type=client_credentials&client_id=betaClient&client_secret=beta-secret",
            );
            let (reply, asked) = call_resource(&app, &token);
            assert_eq!(reply.status, Status::UNAUTHORIZED);
            assert_eq!(reply.json_body()["error"], "invalid_token");
            assert_eq!(asked, ["root", "alpha"]);
        }
        // A forged issuer only sends the question to a realm that does not know the token.
        let [_, jwt] = apps(&ClientRegistry::fixtures());
        let token = issued_token(&jwt, "myClient", "forgerock");
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let engine = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims = base64::Engine::decode(engine, &parts[1]).unwrap();
        let mut claims: Value = serde_json::from_slice(&claims).unwrap();
        claims["iss"] = jwt.issuer("alpha").into();
        parts[1] = base64::Engine::encode(engine, claims.to_string());
        let (reply, asked) = call_resource(&jwt, &parts.join("."));
        assert_eq!(
            (reply.status, asked),
            (Status::UNAUTHORIZED, vec!["alpha".into()])
        );
    }

    #[test]
    fn faults_hold_in_every_realm() {
        let with = |fault| app(ServerConfig::default().with_fault(fault));
        let open = with(Fault::ResourceAcceptsInactiveTokens);
        let (reply, asked) = call_resource(&open, "unknown");
        assert_eq!((reply.status, asked.len()), (Status::OK, 2));
        // Claims beside `active: false` are still an inactive answer: the search goes on.
        let leaky = with(Fault::InactiveIntrospectionLeaksClaims);
        let token = issued_at(&leaky, "alpha", BRIEF);
        assert_eq!(call_resource(&leaky, &token).0.status, Status::OK);
        let quiet = with(Fault::ResourceChallengeMissing);
        let (reply, _) = call_resource(&quiet, "unknown");
        assert_eq!(
            (reply.status, reply.www_authenticate),
            (Status::UNAUTHORIZED, None)
        );
    }
}
