//! grantcheck's reference OAuth 2.0 authorization server and resource server.
//!
//! It implements the client credentials grant (RFC 6749 §4.4), introspection (RFC 7662),
//! revocation (RFC 7009), metadata (RFC 8414) and a protected resource (RFC 6750) correctly,
//! so that grantcheck works out of the box; fault modes ([`Fault`]) make it break one rule on
//! purpose so that the suite's own tests can prove its checks catch violations.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use reference_server::{ReferenceServer, ServerConfig};
//! let server = ReferenceServer::start(ServerConfig::default(), "127.0.0.1:0".parse().unwrap()).await?;
//! println!("token endpoint: {}", server.token_url("root"));
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod app;
mod auth;
pub mod client_assertion;
pub mod clients;
pub mod cluster;
pub mod config;
pub mod dpop;
mod endpoints;
mod events;
pub mod form;
#[cfg(test)]
mod import_graph;
pub mod jose;
pub mod jwt;
mod limits;
pub mod mtls;
mod race;
pub mod replay;
mod request;
mod response;
mod router;
mod server;
mod throttle;
pub mod tls;
pub mod tokens;
pub mod variant;
pub mod x509;

pub use auth::decode_basic;
pub use clients::{Client, ClientRegistry, Secret, RESOURCE_SERVER_CLIENT, ROOT_REALM};
pub use config::{
    default_max_connections, default_max_live_tokens, BruteForce, Fault, FaultSet, ServerConfig,
    TokenFormat, Variant, VariantSet,
};
pub use endpoints::dpop::ALGS as DPOP_ALGS;
pub use jwt::JwtSigner;
pub use server::{ReferenceCluster, ReferenceServer, MAX_HEAD_BYTES};
pub use tls::TlsIdentity;
