//! The HTTP server: listening, connections and shutdown. hyper appears only in this module;
//! the decisions it calls (`crate::endpoints`) see a `Request` and answer a `Reply`.

mod admission;
mod body;
mod cluster;
mod connection;
mod http;
#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::app::App;
use crate::clients::ROOT_REALM;
use crate::config::{Fault, ServerConfig};
use crate::events::Event;
use crate::jwt::JwtSigner;
use crate::router::Endpoint;
use crate::tokens::unix_now;
use admission::{Admission, Admitted};
use connection::{Connection, Transport};
use http::Handler;

pub use cluster::ReferenceCluster;

/// Largest request head (line + headers) accepted; larger ones get 431. It bounds what a
/// connection buffers before its request is complete: hyper's read buffer starts at 8 KiB and
/// grows to at most this, so `max_connections` idle connections hold a few MiB, not hundreds.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A running reference server. Dropping it stops the server.
pub struct ReferenceServer {
    handler: Arc<Handler>,
    admission: Arc<Admission>,
    addr: SocketAddr,
    /// `http(s)://` and the address it listens on.
    listening_url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ReferenceServer {
    /// Binds `addr` (use port 0 for an ephemeral port) and serves on the current runtime.
    pub async fn start(config: ServerConfig, addr: SocketAddr) -> io::Result<ReferenceServer> {
        ReferenceServer::start_with_signer(config, JwtSigner::fixture(), addr).await
    }

    pub async fn start_with_signer(
        config: ServerConfig,
        signer: JwtSigner,
        addr: SocketAddr,
    ) -> io::Result<ReferenceServer> {
        check_tls(&config)?;
        let listener = TcpListener::bind(addr).await?;
        let base = config
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned());
        ReferenceServer::serve_on(listener, config, |config, listening_url| {
            App::new(config, signer, base.unwrap_or(listening_url))
        })
    }

    /// Serves on `listener` the app `app` makes of the config and the listening URL.
    fn serve_on(
        listener: TcpListener,
        config: ServerConfig,
        app: impl FnOnce(ServerConfig, String) -> App,
    ) -> io::Result<ReferenceServer> {
        let addr = listener.local_addr()?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let listening_url = format!("{scheme}://{}", url_host(addr));
        // The resource server calls introspection here; an unspecified bind address
        // (0.0.0.0, ::) is reached through loopback.
        let local_url = format!("{scheme}://{}", url_host(reachable(addr)));
        let admission = Admission::new(config.max_connections);
        let handler = Arc::new(Handler::new(app(config, listening_url.clone()), &local_url));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, handler.clone(), admission.clone(), stopped));
        Ok(ReferenceServer {
            handler,
            admission,
            addr,
            listening_url,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` or `https://ADDR`: where it listens, whatever its public URL.
    pub fn listening_url(&self) -> &str {
        &self.listening_url
    }

    /// `http://127.0.0.1:PORT`, or `https://…` when serving TLS, or the public URL.
    pub fn base_url(&self) -> &str {
        self.handler.app.base_url()
    }

    /// Issuer identifier of a realm (`root` is the default realm).
    pub fn issuer(&self, realm: &str) -> String {
        self.handler.app.issuer(realm).to_owned()
    }

    pub fn token_url(&self, realm: &str) -> String {
        self.handler.app.endpoint_url(realm, Endpoint::Token)
    }

    pub fn introspection_url(&self, realm: &str) -> String {
        self.handler
            .app
            .endpoint_url(realm, Endpoint::Introspection)
    }

    pub fn revocation_url(&self, realm: &str) -> String {
        self.handler.app.endpoint_url(realm, Endpoint::Revocation)
    }

    /// Where RFC 8414 §3.1 puts the metadata (the fault `metadata-appended-only` serves it at
    /// `{issuer}/.well-known/oauth-authorization-server` instead).
    pub fn metadata_url(&self, realm: &str) -> String {
        self.handler.app.endpoint_url(realm, Endpoint::Metadata)
    }

    pub fn jwks_url(&self) -> String {
        self.handler.app.endpoint_url(ROOT_REALM, Endpoint::Jwks)
    }

    /// Whether its access tokens follow RFC 9068 (JWT format, unless the legal variant
    /// `jwt-typ-jwt` issues JWTs of its own shape): what a user would tell grantcheck with
    /// `--rfc9068`.
    pub fn claims_rfc9068(&self) -> bool {
        let config = &self.handler.app.config;
        config.token_format == crate::config::TokenFormat::Jwt
            && !config.uses(crate::config::Variant::JwtTypJwt)
    }

    pub fn resource_url(&self) -> String {
        self.handler
            .app
            .endpoint_url(ROOT_REALM, Endpoint::Resource)
    }

    /// Every token the server holds, for tests that prove tokens never reach output.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.handler.app.tokens.tokens()
    }

    /// How many tokens the server holds (expired ones are purged).
    pub fn stored_tokens(&self) -> usize {
        self.handler.app.tokens.len()
    }

    /// The most tokens it holds (`max_live_tokens` or its default).
    pub fn token_limit(&self) -> usize {
        self.handler.app.tokens.capacity()
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.admission.open()
    }

    /// The security events written so far (the last 200 lines), as on stderr.
    pub fn security_events(&self) -> Vec<String> {
        self.handler.app.events.lines()
    }

    /// Stops accepting, lets in-flight requests finish (up to 5 s), and returns.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    handler: Arc<Handler>,
    admission: Arc<Admission>,
    mut stopped: oneshot::Receiver<()>,
) {
    let purge = tokio::spawn(purge_expired_tokens(handler.clone()));
    let flush = tokio::spawn(flush_security_events(handler.clone()));
    let config = &handler.app.config;
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // One write per response: cheaper than vectored writes for small bodies.
        .writev(false);
    let tls = config.tls.as_ref().map(|identity| {
        let config = identity
            .server_config()
            .expect("the identity was checked when the server started");
        TlsAcceptor::from(config)
    });
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(20)).await; continue; }
                };
                let _ = stream.set_nodelay(true);
                let slot = match admission.admit() {
                    Admitted::Yes { slot, shed_one } => {
                        if shed_one {
                            handler.app.events.note(Event::ConnectionShed, || format!(
                                "{} connections open (--max-connections): closed the longest idle one to admit a new one from {}",
                                config.max_connections, peer.ip()
                            ));
                        }
                        slot
                    }
                    Admitted::Full => {
                        handler.app.events.note(Event::ConnectionRefused, || format!(
                            "{} connections open and all busy (--max-connections): refused a new one from {} with 503",
                            config.max_connections, peer.ip()
                        ));
                        if tls.is_none() {
                            // Best effort, without waiting: the socket's buffer takes it.
                            let _ = stream.try_write(BUSY);
                        }
                        continue;
                    }
                };
                // Shedding the connection aborts its task (no select per connection).
                let place = slot.slot();
                let connection = Connection { handler: handler.clone(), http: http.clone(), watcher: graceful.watcher(), peer: peer.ip(), slot };
                let task = match &tls {
                    None => tokio::spawn(connection.serve(stream, Transport::Plain)),
                    Some(acceptor) => tokio::spawn(connection.serve_tls_port(stream, acceptor.clone())),
                };
                place.serve_in(task.abort_handle());
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    purge.abort();
    flush.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// The answer to a connection refused because every open one is busy.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 86\r\n\r\n{\"error\":\"temporarily_unavailable\",\"error_description\":\"too many connections; retry\"}\n";

/// Writes the counts of security events that got no line of their own, once a second.
async fn flush_security_events(handler: Arc<Handler>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        handler.app.events.flush();
    }
}

/// An address as a URL's host and port (IPv6 in brackets).
fn url_host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        SocketAddr::V4(v4) => v4.to_string(),
    }
}

/// The address to connect to for a listener bound to `addr`: loopback for 0.0.0.0 and ::.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

/// A TLS identity that cannot make a server configuration is refused before listening.
fn check_tls(config: &ServerConfig) -> io::Result<()> {
    if let Some(identity) = &config.tls {
        identity
            .server_config()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    Ok(())
}

/// Keeps memory bounded under sustained issuance: expired tokens are dropped regularly (in
/// a cluster, by its first node only: they share the store).
async fn purge_expired_tokens(handler: Arc<Handler>) {
    let app = &handler.app;
    if app.node.as_ref().is_some_and(|node| node.index > 0) {
        return;
    }
    // These fault modes need expired tokens to stay known.
    if app.config.has(Fault::ExpiredTokensActive)
        || app.config.has(Fault::InactiveIntrospectionLeaksClaims)
    {
        return;
    }
    let mut tick = tokio::time::interval(app.config.purge_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = unix_now();
        for shard in 0..app.tokens.shard_count() {
            app.tokens.purge_shard(shard, now);
            tokio::task::yield_now().await;
        }
    }
}
