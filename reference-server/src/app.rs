//! The server's state, shared by all connections: what every decision may read or change.

use std::sync::{Arc, Mutex};

use crate::cluster::NodeView;
use crate::config::{Fault, ServerConfig};
use crate::events::SecurityLog;
use crate::jwt::JwtSigner;
use crate::race::TokenStateCache;
use crate::replay::ReplayCache;
use crate::router::{Endpoint, Realms};
use crate::throttle::FailureThrottle;
use crate::tokens::{TokenRecord, TokenStore};

/// Everything a decision may need. It holds no sockets and no HTTP client: the server
/// module owns those.
pub struct App {
    pub config: ServerConfig,
    pub tokens: Arc<TokenStore>,
    pub signer: Arc<JwtSigner>,
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
    /// In a cluster, this node's view of the shared token store (`cluster.rs`); `None` for
    /// a single server.
    pub node: Option<NodeView>,
}

impl App {
    /// `base_url` is what clients see: `http://127.0.0.1:PORT` (`https://` with TLS), or
    /// the public URL.
    pub fn new(config: ServerConfig, signer: JwtSigner, base_url: String) -> App {
        let realms = Realms::new(&config.clients, base_url);
        App::build(config, Arc::new(signer), realms, None, None)
    }

    /// Node `view.index` of a cluster whose issuer is at `issuer_base`, serving at
    /// `node_url`; it shares `first`'s store, caches, throttle and key (`first` is `None`
    /// for the first node).
    pub fn node(
        config: ServerConfig,
        signer: Arc<JwtSigner>,
        (issuer_base, node_url): (String, String),
        first: Option<&App>,
        view: NodeView,
    ) -> App {
        let realms = Realms::for_node(&config.clients, issuer_base, node_url);
        App::build(config, signer, realms, first, Some(view))
    }

    fn build(
        config: ServerConfig,
        signer: Arc<JwtSigner>,
        realms: Realms,
        first: Option<&App>,
        node: Option<NodeView>,
    ) -> App {
        let throttle = match first {
            Some(first) => first.throttle.clone(),
            None => config
                .brute_force
                .map(|b| Arc::new(FailureThrottle::new(b))),
        };
        App {
            throttle,
            events: SecurityLog::new(config.security_log_interval, config.log_security_events),
            resource_audience: realms.resource_audience(),
            resource_realms: config.clients.resource_realms(),
            realms,
            tokens: first.map_or_else(
                || Arc::new(TokenStore::with_capacity(config.live_token_limit())),
                |f| f.tokens.clone(),
            ),
            dpop: first.map_or_else(Default::default, |f| f.dpop.clone()),
            assertion_jtis: first.map_or_else(Default::default, |f| f.assertion_jtis.clone()),
            token_cache: config
                .has(Fault::RaceRevocation)
                .then(|| Arc::new(TokenStateCache::default())),
            node,
            config,
            signer,
        }
    }

    /// Whether this server sees `record` now: always, unless it is a cluster's node whose
    /// view the record's write has not reached yet, or a revocation has (`cluster.rs`).
    pub fn sees(&self, record: &TokenRecord) -> bool {
        self.node
            .as_ref()
            .is_none_or(|node| node.sees(&record.replica))
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
