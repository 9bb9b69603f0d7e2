//! Token revocation (RFC 7009).

use hyper::{Method, Request, Response, StatusCode};

use crate::app::App;
use crate::config::Fault;
use crate::endpoints::introspection::without_challenge_if_faulty;
use crate::request::{read_form, RequestBody};
use crate::response::{self, Body, ErrorCode, OAuthError};

pub async fn handle(app: &App, realm: &str, req: Request<RequestBody>) -> Response<Body> {
    match revoke(app, realm, req).await {
        Ok(()) => {
            let mut response = response::empty(StatusCode::OK);
            response::no_store(&mut response, false);
            response
        }
        Err(error) => without_challenge_if_faulty(app, error).into_response(),
    }
}

async fn revoke(app: &App, realm: &str, req: Request<RequestBody>) -> Result<(), OAuthError> {
    let config = &app.config;
    if req.method() != Method::POST {
        return Err(OAuthError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            ..OAuthError::bad_request(ErrorCode::InvalidRequest, "revocation requires POST")
        });
    }
    let (parts, body) = req.into_parts();
    let form = read_form(&parts.headers, body, config).await?;
    let client = app.authenticate(&parts, &form, realm)?;
    let Some(token) = form.get("token") else {
        return Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "missing required parameter token",
        ));
    };
    // token_type_hint is ignored: only access tokens exist here (RFC 7009 §2.1 lets the
    // server extend its search, and §2.2 says an invalid hint is ignored).
    let may_revoke =
        |owner: &str| owner == client.id || config.has(Fault::RevokeOtherClientsTokens);
    let found = if config.has(Fault::IgnoreRevocation) {
        app.tokens.get(token).map(|r| (may_revoke(&r.client_id), r))
    } else {
        app.tokens
            .revoke_if(token, |r| *r.realm == *realm && may_revoke(&r.client_id))
            .map(|(r, removed)| (removed, r))
    };
    match found {
        Some((_, record)) if *record.realm != *realm => Ok(()),
        Some((true, _)) => Ok(()),
        // RFC 7009 §2.1: a token issued to another client is refused, and stays valid.
        Some((false, _)) => Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "the token was not issued to this client",
        )),
        // RFC 7009 §2.2: an invalid token is not an error.
        None if config.has(Fault::RevocationUnknownTokenError) => Err(OAuthError::bad_request(
            ErrorCode::InvalidRequest,
            "unknown token",
        )),
        None => Ok(()),
    }
}
