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
    crate::auth::assertion_refused_here(app, request, &form)?;
    // The fault `revocation-without-authentication` goes on without a client.
    let client = match authenticate(app, request, &form) {
        Ok(client) => Some(client),
        Err(_) if config.has(Fault::RevocationWithoutAuthentication) => None,
        Err(e) => return Err(e),
    };
    let token = match token_parameter(&form) {
        Ok(token) => token,
        Err(_) if config.has(Fault::RevocationMissingTokenOk) => return Ok(()),
        Err(e) => return Err(e),
    };
    // token_type_hint is ignored: only access tokens exist here (RFC 7009 §2.1 lets the
    // server extend its search, and §2.2 says an invalid hint is ignored).
    let may_revoke = |owner: &str| {
        client.is_none_or(|c| owner == c.id) || config.has(Fault::RevokeOtherClientsTokens)
    };
    let found = if config.has(Fault::IgnoreRevocation) {
        let seen = app.tokens.get(token).filter(|r| app.sees(r));
        seen.map(|r| (may_revoke(&r.client_id), r))
    } else if let Some(node) = &app.node {
        // A cluster's node: the record stays, stamped revoked here (`cluster.rs`), so that
        // the other nodes see the revocation only once it reaches them.
        let revoke = |r: &mut crate::tokens::TokenRecord| {
            if !node.sees(&r.replica) {
                return None;
            }
            let removed = *r.realm == *realm && may_revoke(&r.client_id);
            if removed {
                r.replica.revoke(node.stamp());
            }
            Some((removed, r.clone()))
        };
        app.tokens.update(token, revoke).flatten()
    } else {
        app.tokens
            .revoke_if(token, |r| *r.realm == *realm && may_revoke(&r.client_id))
            .map(|(r, removed)| (removed, r))
    };
    // The fault `race-revocation`: its cache's entry is invalidated (and a reader in its
    // window writes it back).
    if let Some(cache) = &app.token_cache {
        cache.invalidate(token);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerConfig;
    use crate::request::testing::{app, issued_token, TestRequest};

    fn revoke_as(app: &App, id: &str, secret: &str, token: &str) -> Reply {
        let request = TestRequest::post(&format!("token={token}")).basic(id, secret);
        revoke(app, &request.at(app))
    }

    #[test]
    fn the_owner_revokes_its_token_and_an_unknown_token_is_no_error() {
        let app = app(ServerConfig::default());
        let token = issued_token(&app, "myClient", "forgerock");
        let reply = revoke_as(&app, "myClient", "forgerock", &token);
        assert_eq!(reply, Reply::empty(Status::OK).no_store(false));
        assert!(app.tokens.get(&token).is_none());
        let again = revoke_as(&app, "myClient", "forgerock", &token);
        assert_eq!(again.status, Status::OK);
    }

    #[test]
    fn another_clients_token_is_refused_and_stays() {
        let app = app(ServerConfig::default());
        let token = issued_token(&app, "myClient", "forgerock");
        let reply = revoke_as(&app, "otherClient", "other-secret-2", &token);
        assert_eq!(reply.status, Status::BAD_REQUEST);
        assert_eq!(reply.json_body()["error"], "invalid_request");
        assert!(app.tokens.get(&token).is_some());
    }

    #[test]
    fn a_wrong_secret_or_a_missing_token_is_an_error() {
        let app = app(ServerConfig::default());
        let token = issued_token(&app, "myClient", "forgerock");
        let reply = revoke_as(&app, "myClient", "wrong", &token);
        assert_eq!(reply.status, Status::UNAUTHORIZED);
        assert!(reply.www_authenticate.is_some());
        assert!(app.tokens.get(&token).is_some());
        let request =
            TestRequest::post("token_type_hint=access_token").basic("myClient", "forgerock");
        let reply = revoke(&app, &request.at(&app));
        assert_eq!(reply.status, Status::BAD_REQUEST);
    }

    #[test]
    fn revocation_faults() {
        let ignoring = app(ServerConfig::default().with_fault(Fault::IgnoreRevocation));
        let token = issued_token(&ignoring, "myClient", "forgerock");
        let reply = revoke_as(&ignoring, "myClient", "forgerock", &token);
        assert_eq!(reply.status, Status::OK);
        assert!(ignoring.tokens.get(&token).is_some(), "the token stays");

        let anyone = app(ServerConfig::default().with_fault(Fault::RevokeOtherClientsTokens));
        let token = issued_token(&anyone, "myClient", "forgerock");
        let reply = revoke_as(&anyone, "otherClient", "other-secret-2", &token);
        assert_eq!(reply.status, Status::OK);
        assert!(anyone.tokens.get(&token).is_none());

        let strict = app(ServerConfig::default().with_fault(Fault::RevocationUnknownTokenError));
        let reply = revoke_as(&strict, "myClient", "forgerock", "nope");
        assert_eq!(reply.status, Status::BAD_REQUEST);
    }
}
