//! Listening, connection handling and shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use crate::app::{App, Endpoint};
use crate::clients::ROOT_REALM;
use crate::config::{Fault, ServerConfig};
use crate::jwt::JwtSigner;
use crate::request::{PeerAddr, RequestBody};
use crate::response::Body;
use crate::tokens::unix_now;

/// Largest request head (line + headers) accepted; larger ones get 431.
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Lingering close: after its last response the server reads and discards what the client
/// still sends, up to this many bytes and for this long, before it closes the socket.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// A running reference server. Dropping it stops the server.
pub struct ReferenceServer {
    app: Arc<App>,
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
        if let Some(identity) = &config.tls {
            identity
                .server_config()
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let listener = TcpListener::bind(addr).await?;
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
        let base_url = config
            .public_url
            .as_deref()
            .map(|u| u.trim_end_matches('/').to_owned())
            .unwrap_or_else(|| listening_url.clone());
        let app = App::new(config, signer, base_url, &local_url);
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(serve(listener, app.clone(), stopped));
        Ok(ReferenceServer {
            app,
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

    /// Where RFC 8414 §3.1 puts the metadata (the fault `metadata-appended-only` serves it at
    /// `{issuer}/.well-known/oauth-authorization-server` instead).
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
    let tls = app.config.tls.as_ref().map(|identity| {
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
                let connection = Connection { app: app.clone(), http: http.clone(), watcher: graceful.watcher(), peer: PeerAddr(peer.ip()) };
                match &tls {
                    None => { tokio::spawn(connection.serve(stream, Transport::Plain)); }
                    Some(acceptor) => { tokio::spawn(connection.serve_tls_port(stream, acceptor.clone())); }
                }
            }
            _ = &mut stopped => break,
        }
    }
    drop(listener);
    purge.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
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

/// How a connection reached the server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Transport {
    /// A plain HTTP server.
    Plain,
    /// TLS on the HTTPS port.
    Tls,
    /// Plain HTTP on the HTTPS port, which only the fault modes let through.
    CleartextOnTlsPort,
}

/// One accepted connection and what serving it needs.
struct Connection {
    app: Arc<App>,
    http: http1::Builder,
    watcher: Watcher,
    peer: PeerAddr,
}

impl Connection {
    /// The HTTPS port: a TLS handshake, bounded by the header timeout. Plain HTTP gets no
    /// answer (the handshake fails and the connection closes), unless a fault mode asks
    /// for it to be served.
    async fn serve_tls_port(self, stream: TcpStream, acceptor: TlsAcceptor) {
        let deadline = self.app.config.header_timeout;
        let config = &self.app.config;
        if config.has(Fault::AcceptPlainHttp) || config.has(Fault::TrustForwardedProto) {
            // Every TLS connection starts with a handshake record (content type 22).
            let mut first = [0u8; 1];
            match tokio::time::timeout(deadline, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] != 0x16 => {
                    return self.serve(stream, Transport::CleartextOnTlsPort).await;
                }
                Ok(Ok(1)) => {}
                _ => return,
            }
        }
        if let Ok(Ok(stream)) = tokio::time::timeout(deadline, acceptor.accept(stream)).await {
            self.serve(stream, Transport::Tls).await;
        }
    }

    async fn serve<S: Socket>(self, stream: S, transport: Transport) {
        let (app, peer) = (self.app, self.peer);
        let service = service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            async move {
                if transport == Transport::CleartextOnTlsPort {
                    if let Some(refusal) = refuse_cleartext(&app, &req) {
                        return Ok::<_, Infallible>(refusal);
                    }
                }
                req.extensions_mut().insert(peer);
                let (parts, body) = req.into_parts();
                let (body, read_to_end) = RequestBody::new(body);
                let mut response = app.handle(Request::from_parts(parts, body)).await;
                // A body left unread (413, 408, 431, a request refused before its body
                // mattered) ends the connection: the client may still be sending it. hyper
                // notices only after it may have sent the response head, so say it here.
                if !read_to_end.get() {
                    response
                        .headers_mut()
                        .insert(CONNECTION, HeaderValue::from_static("close"));
                }
                Ok::<_, Infallible>(response)
            }
        });
        let connection = self.watcher.watch(
            self.http
                .serve_connection(TokioIo::new(Lingering::new(stream)), service),
        );
        // A client that disconnects mid-request is not the server's problem.
        let _ = connection.await;
    }
}

/// A connection's socket: plain TCP or TLS over TCP.
trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP connection underneath, to discard what the client still sends without
    /// decrypting it.
    fn tcp(&mut self) -> &mut TcpStream;
}

impl Socket for TcpStream {
    fn tcp(&mut self) -> &mut TcpStream {
        self
    }
}

impl Socket for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&mut self) -> &mut TcpStream {
        self.get_mut().0
    }
}

/// Closes like nginx's lingering close. Closing a socket that still holds unread data
/// makes the kernel send a reset, and a reset can destroy the response in the client's
/// receive buffer before the client reads it: a client still sending a body the server
/// refused (413) would see `Broken pipe` instead of the 413. So when hyper shuts the
/// connection down, the server stops writing (FIN, after TLS close_notify), then reads and
/// discards until the client closes too, or `LINGER_BYTES` / `LINGER_TIME` run out.
struct Lingering<S> {
    io: S,
    state: Linger,
}

enum Linger {
    Open,
    Draining {
        until: Pin<Box<tokio::time::Sleep>>,
        left: usize,
    },
    Closed,
}

impl<S> Lingering<S> {
    fn new(io: S) -> Lingering<S> {
        Lingering {
            io,
            state: Linger::Open,
        }
    }
}

impl<S: Socket> AsyncRead for Lingering<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<S: Socket> AsyncWrite for Lingering<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                Linger::Open => {
                    ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
                    this.state = Linger::Draining {
                        until: Box::pin(tokio::time::sleep(LINGER_TIME)),
                        left: LINGER_BYTES,
                    };
                }
                Linger::Draining { until, left } => {
                    if until.as_mut().poll(cx).is_ready() {
                        this.state = Linger::Closed;
                        continue;
                    }
                    let mut discard = [0u8; 16 * 1024];
                    let mut read = ReadBuf::new(&mut discard);
                    match Pin::new(this.io.tcp()).poll_read(cx, &mut read) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                            *left = left.saturating_sub(read.filled().len());
                            if *left == 0 {
                                this.state = Linger::Closed;
                            }
                        }
                        // The client closed its side (or the connection broke): done.
                        Poll::Ready(_) => this.state = Linger::Closed,
                    }
                }
                Linger::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// Plain HTTP on the HTTPS port, let through by a fault mode: `accept-plain-http` serves it
/// all; `trust-forwarded-proto` serves what claims to have come through a TLS proxy and
/// refuses the rest.
fn refuse_cleartext(app: &App, req: &Request<Incoming>) -> Option<Response<Body>> {
    if app.config.has(Fault::AcceptPlainHttp) {
        return None;
    }
    let claims_tls = req
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if claims_tls {
        return None;
    }
    let mut response = Response::new(Body::from(
        "This port speaks HTTPS only; the request arrived in plain HTTP.\n",
    ));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Some(response)
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
