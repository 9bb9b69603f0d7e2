//! The server's state, shared by all connections: what every decision may read or change.

use std::sync::{Arc, Mutex};

use crate::config::{Fault, ServerConfig};
use crate::events::SecurityLog;
use crate::jwt::JwtSigner;
use crate::race::TokenStateCache;
use crate::replay::ReplayCache;
use crate::router::{Endpoint, Realms};
use crate::throttle::FailureThrottle;
use crate::tokens::TokenStore;

/// Everything a decision may need. It holds no sockets and no HTTP client: the server
/// module owns those.
pub struct App {
    pub config: ServerConfig,
    pub tokens: Arc<TokenStore>,
    pub signer: JwtSigner,
    /// Every realm, with its issuer; the base URL clients see.
    pub realms: Realms,
    /// The audience of issued tokens: the resource server, `{base}/api`.
    pub resource_audience: String,
    /// The realms whose tokens the resource serves, in the order it asks their
    /// introspection about an opaque token (root first).
    pub resource_realms: Vec<Arc<str>>,
    /// Brute-force protection, when configured.
    pub throttle: Option<Arc<FailureThrottle>>,
    /// Security events, rate-limited, on stderr.
    pub events: SecurityLog,
    /// DPoP proofs already used, and the key of the nonces handed out (RFC 9449 §8, §11.1).
    pub dpop: Arc<crate::dpop::state::DpopState>,
    /// The `jti`s of client assertions already used (RFC 7523 §3 item 7, OIDC Core §9).
    pub assertion_jtis: Arc<Mutex<ReplayCache>>,
    /// Under the fault `race-revocation` only: the read-through cache of token state its
    /// introspection reads (`race.rs`). `None` on the clean server, which reads the store.
    pub token_cache: Option<Arc<TokenStateCache>>,
}

impl App {
    /// `base_url` is what clients see: `http://127.0.0.1:PORT` (`https://` with TLS), or
    /// the public URL.
    pub fn new(config: ServerConfig, signer: JwtSigner, base_url: String) -> App {
        let realms = Realms::new(&config.clients, base_url);
        App {
            throttle: config
                .brute_force
                .map(|b| Arc::new(FailureThrottle::new(b))),
            events: SecurityLog::new(config.security_log_interval, config.log_security_events),
            resource_audience: realms.resource_audience(),
            resource_realms: config.clients.resource_realms(),
            realms,
            tokens: Arc::new(TokenStore::with_capacity(config.live_token_limit())),
            dpop: Default::default(),
            assertion_jtis: Default::default(),
            token_cache: config
                .has(Fault::RaceRevocation)
                .then(|| Arc::new(TokenStateCache::default())),
            config,
            signer,
        }
    }

    pub fn base_url(&self) -> &str {
        self.realms.base_url()
    }

    /// The issuer identifier of a realm.
    pub fn issuer(&self, realm: &str) -> &str {
        self.realms.issuer(realm)
    }

    /// The URL of one of a realm's endpoints.
    pub fn endpoint_url(&self, realm: &str, endpoint: Endpoint) -> String {
        self.realms.url(realm, endpoint)
    }
}
