//! Which scope a token request is granted (RFC 6749 §3.3).

use std::sync::Arc;

use crate::clients::{Client, ClientRegistry};
use crate::config::{Fault, ServerConfig};
use crate::response::{ErrorCode, OAuthError};

/// What happens to requested scopes the client may not have.
#[derive(Clone, Copy)]
pub enum OtherScopes<'a> {
    /// `invalid_scope`: the correct answer.
    Refuse,
    /// Dropped (fault `silently-reduce-scope`).
    DropAll,
    /// Dropped if no client has them, refused otherwise (fault `drop-unknown-scope`).
    DropUnregistered(&'a ClientRegistry),
    /// Granted if another client has them, refused otherwise (fault
    /// `grant-forbidden-scope-silently`).
    GrantRegistered(&'a ClientRegistry),
}

impl OtherScopes<'_> {
    /// The correct answer, unless a fault mode says otherwise.
    pub fn of(config: &ServerConfig) -> OtherScopes<'_> {
        if config.has(Fault::SilentlyReduceScope) {
            OtherScopes::DropAll
        } else if config.has(Fault::DropUnknownScope) {
            OtherScopes::DropUnregistered(&config.clients)
        } else if config.has(Fault::GrantForbiddenScopeSilently) {
            OtherScopes::GrantRegistered(&config.clients)
        } else {
            OtherScopes::Refuse
        }
    }
}

/// The scope to grant (RFC 6749 §3.3): the request's scopes if the client may have all of
/// them, its default scopes if it asked for none, `invalid_scope` otherwise.
pub fn grant_scope(
    client: &Client,
    requested: Option<&str>,
    others: OtherScopes<'_>,
) -> Result<Arc<str>, OAuthError> {
    let default = || {
        if client.default_scopes.is_empty() {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "no scope requested and the client has no default scope",
            ));
        }
        Ok(client.default_scope.clone())
    };
    let Some(requested) = requested else {
        return default();
    };
    let mut granted: Vec<&str> = Vec::new();
    let mut dropped = false;
    for token in requested.split(' ').filter(|t| !t.is_empty()) {
        if !is_scope_token(token) {
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "scope contains characters outside the scope-token grammar",
            ));
        }
        let granted_anyway =
            matches!(others, OtherScopes::GrantRegistered(clients) if clients.knows_scope(token));
        if !client.scopes.iter().any(|s| s == token) && !granted_anyway {
            let drop = match others {
                OtherScopes::Refuse | OtherScopes::GrantRegistered(_) => false,
                OtherScopes::DropAll => true,
                OtherScopes::DropUnregistered(clients) => !clients.knows_scope(token),
            };
            if drop {
                dropped = true;
                continue;
            }
            return Err(OAuthError::bad_request(
                ErrorCode::InvalidScope,
                "the requested scope is unknown or not allowed for this client",
            ));
        }
        if !granted.contains(&token) {
            granted.push(token);
        }
    }
    if granted.is_empty() {
        // drop-unknown-scope grants the nothing that remains, not the default.
        if dropped && matches!(others, OtherScopes::DropUnregistered(_)) {
            return Ok(Arc::from(""));
        }
        return default();
    }
    let granted = granted.join(" ");
    // Most requests ask for the default scope: share its string instead of allocating.
    if granted == *client.default_scope {
        return Ok(client.default_scope.clone());
    }
    Ok(granted.into())
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(token: &str) -> bool {
    token
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_rules() {
        let reg = ClientRegistry::fixtures();
        let a = reg.get("myClient").unwrap();
        let refuse = OtherScopes::Refuse;
        assert_eq!(&*grant_scope(a, None, refuse).unwrap(), "write");
        assert_eq!(
            &*grant_scope(a, Some("read  write read"), refuse).unwrap(),
            "read write"
        );
        assert!(grant_scope(a, Some("admin"), refuse).is_err());
        assert!(grant_scope(a, Some("READ"), refuse).is_err());
        assert!(grant_scope(a, Some("re\"ad"), refuse).is_err());
        assert_eq!(&*grant_scope(a, Some(" "), refuse).unwrap(), "write");
        let drop_all = OtherScopes::DropAll;
        assert_eq!(
            &*grant_scope(a, Some("read admin"), drop_all).unwrap(),
            "read"
        );
        assert_eq!(&*grant_scope(a, Some("admin"), drop_all).unwrap(), "write");
        // drop-unknown-scope: only scopes no client has are dropped, and nothing stays nothing.
        let unregistered = OtherScopes::DropUnregistered(&reg);
        let grant = |scope| grant_scope(a, Some(scope), unregistered);
        assert_eq!(&*grant("read bogus").unwrap(), "read");
        assert_eq!(&*grant("bogus").unwrap(), "");
        assert!(grant("read admin").is_err(), "admin is otherClient's");
        assert!(grant("re\"ad").is_err());
        assert_eq!(&*grant_scope(a, None, unregistered).unwrap(), "write");
    }
}
