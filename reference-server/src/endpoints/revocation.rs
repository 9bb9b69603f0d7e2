//! Token revocation (RFC 7009).

use crate::app::App;
use crate::auth::authenticate;
use crate::config::Fault;
use crate::endpoints::introspection::{token_parameter, without_challenge_if_faulty};
use crate::request::Request;
use crate::response::{ErrorCode, OAuthError, Reply, Status};

/// Answers a revocation request (RFC 7009 §2.2), or its error.
pub fn revoke(app: &App, request: &Request<'_>) -> Reply {
    match revoke_token(app, request) {
        Ok(()) => Reply::empty(Status::OK).no_store(false),
        Err(error) => without_challenge_if_faulty(app, error).into_reply(),
    }
}

fn revoke_token(app: &App, request: &Request<'_>) -> Result<(), OAuthError> {
    let (config, realm) = (&app.config, &*request.realm.name);
    let form = request.post_form(config, "revocation requires POST")?;
    let client = authenticate(app, request, &form)?;
    let token = token_parameter(&form)?;
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
