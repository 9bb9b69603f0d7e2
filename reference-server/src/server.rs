//! Listening, connection handling and shutdown.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::{App, Endpoint};
use crate::clients::ROOT_REALM;
use crate::config::{Fault, ServerConfig};
use crate::jwt::JwtSigner;
use crate::tokens::unix_now;

/// Largest request head (line + headers) accepted; larger ones get 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// A running reference server. Dropping it stops the server.
pub struct ReferenceServer {
    app: Arc<App>,
    addr: SocketAddr,
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
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let host = match addr {
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
            SocketAddr::V4(v4) => v4.to_string(),
        };
        let app = App::new(config, signer, format!("http://{host}"));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, app.clone(), stopped));
        Ok(ReferenceServer {
            app,
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.app.base_url
    }

    /// Issuer identifier of a realm (`root` is the default realm).
    pub fn issuer(&self, realm: &str) -> String {
        self.app.issuer(realm).to_owned()
    }

    pub fn token_url(&self, realm: &str) -> String {
        self.app.endpoint_url(realm, Endpoint::Token)
    }

    pub fn introspection_url(&self, realm: &str) -> String {
        self.app.endpoint_url(realm, Endpoint::Introspection)
    }

    pub fn revocation_url(&self, realm: &str) -> String {
        self.app.endpoint_url(realm, Endpoint::Revocation)
    }

    pub fn metadata_url(&self, realm: &str) -> String {
        self.app.endpoint_url(realm, Endpoint::Metadata)
    }

    pub fn jwks_url(&self) -> String {
        self.app.endpoint_url(ROOT_REALM, Endpoint::Jwks)
    }

    pub fn resource_url(&self) -> String {
        self.app.endpoint_url(ROOT_REALM, Endpoint::Resource)
    }

    /// Every token the server holds, for tests that prove tokens never reach output.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.app.tokens.tokens()
    }

    /// How many tokens the server holds (expired ones are purged).
    pub fn stored_tokens(&self) -> usize {
        self.app.tokens.len()
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

async fn serve(listener: TcpListener, app: Arc<App>, mut stopped: oneshot::Receiver<()>) {
    let purge = tokio::spawn(purge_expired_tokens(app.clone()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // One write per response: cheaper than vectored writes for small bodies.
        .writev(false);
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(20)).await; continue; }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| {
                    let app = app.clone();
                    async move { Ok::<_, Infallible>(app.handle(req).await) }
                });
                let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    // A client that disconnects mid-request is not the server's problem.
                    let _ = connection.await;
                });
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    purge.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Keeps memory bounded under sustained issuance: expired tokens are dropped regularly.
async fn purge_expired_tokens(app: Arc<App>) {
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
