//! The protected resource (RFC 6750). It validates bearer tokens the way a separate resource
//! server would: by calling the introspection endpoint over HTTP with its own credentials
//! (steps 4–5 of the flow), never by reading the token store.

use serde_json::{json, Value};

use crate::app::App;
use crate::config::Fault;
use crate::form::Form;
use crate::request::{Header, Method, Request};
use crate::response::{self, Reply, Status};

/// The client the resource server introspects as (registered in fixtures/clients.toml).
pub const RESOURCE_SERVER_CLIENT: &str = "rs-client";

const CHALLENGE_REALM: &str = "grantcheck";

/// The bearer token a request to the resource presents, or the refusal when it presents
/// none (or presents it wrongly). The server then asks introspection about the token.
pub fn presented_token<'r>(app: &App, request: &Request<'r>) -> Result<&'r str, Box<Reply>> {
    if request.method == Method::Other {
        return Err(Box::new(response::method_not_allowed("GET, POST")));
    }
    match bearer_token(request) {
        Ok(Some(token)) => Ok(token),
        Ok(None) => Err(Box::new(unauthorized(app, None))),
        Err(()) => Err(Box::new(challenge(
            Status::BAD_REQUEST,
            "invalid_request",
            "use exactly one way of sending the access token",
            None,
        ))),
    }
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

/// The token from `Authorization: Bearer` (scheme case-insensitive, RFC 9110 §11.1).
/// Tokens in the query are not accepted (RFC 6750 §2.3 SHOULD NOT); sending one beside a
/// header is two methods at once (RFC 6750 §3.1 `invalid_request`).
fn bearer_token<'r>(request: &Request<'r>) -> Result<Option<&'r str>, ()> {
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
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Ok(None);
    }
    Ok(Some(token))
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
    use crate::config::ServerConfig;
    use crate::request::testing::{app, TestRequest};

    fn with_authorization(value: &str) -> TestRequest {
        let mut request = TestRequest::post("").method(Method::Get);
        request.authorization = Some(value.into());
        request
    }

    #[test]
    fn the_token_comes_from_one_bearer_header() {
        let app = app(ServerConfig::default());
        let presented =
            |request: TestRequest| presented_token(&app, &request.at(&app)).map(str::to_owned);
        assert_eq!(
            presented(with_authorization("bearer  abc")),
            Ok("abc".into())
        );
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
}
