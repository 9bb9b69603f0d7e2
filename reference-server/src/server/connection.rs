//! One connection: TLS or plain, the hyper service over it, and a lingering close.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::Watcher;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::mtls::ClientCertificate;

use super::admission::SlotGuard;
use super::body::RequestBody;
use super::http::{Handler, ResponseBody};
use crate::config::{Fault, ServerConfig};

/// Lingering close: after its last response the server reads and discards what the client
/// still sends, up to this many bytes and for this long, before it closes the socket.
const LINGER_BYTES: usize = 4 * 1024 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How a connection reached the server.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A plain HTTP server.
    Plain,
    /// TLS on the HTTPS port.
    Tls,
    /// Plain HTTP on the HTTPS port, which only the fault modes let through.
    CleartextOnTlsPort,
}

/// One accepted connection and what serving it needs.
pub struct Connection {
    pub handler: Arc<Handler>,
    pub http: http1::Builder,
    pub watcher: Watcher,
    pub peer: IpAddr,
    /// Its place under the connection limit: busy while answering, idle otherwise.
    pub slot: SlotGuard,
}

impl Connection {
    /// The HTTPS port: a TLS handshake, bounded by the header timeout. Plain HTTP gets no
    /// answer (the handshake fails and the connection closes), unless a fault mode asks
    /// for it to be served. (Shed during the handshake, the task ends: the handshake is idle
    /// time too.)
    pub async fn serve_tls_port(self, stream: TcpStream, acceptor: TlsAcceptor) {
        self.handshake_and_serve(stream, acceptor).await
    }

    async fn handshake_and_serve(self, stream: TcpStream, acceptor: TlsAcceptor) {
        let config = &self.handler.app.config;
        let deadline = config.header_timeout;
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
            // RFC 8705: the certificate the client presented, if any, for every request on
            // this connection.
            let certificate = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(ClientCertificate::new)
                .map(Arc::new);
            self.serve_with(stream, Transport::Tls, certificate).await;
        }
    }

    pub async fn serve<S: Socket>(self, stream: S, transport: Transport) {
        self.serve_with(stream, transport, None).await
    }

    async fn serve_with<S: Socket>(
        self,
        stream: S,
        transport: Transport,
        certificate: Option<Arc<ClientCertificate>>,
    ) {
        // What every request of the connection needs, shared (one reference count per
        // request).
        let shared = Arc::new(Shared {
            handler: self.handler,
            peer: self.peer,
            slot: self.slot,
            certificate,
            transport,
        });
        let service = service_fn(move |req: Request<Incoming>| {
            let shared = shared.clone();
            async move {
                let _idle = IdleWhenAnswered(&shared.slot);
                if shared.transport == Transport::CleartextOnTlsPort {
                    if let Some(refusal) = refuse_cleartext(&shared.handler.app.config, &req) {
                        return Ok::<_, Infallible>(refusal);
                    }
                }
                let (parts, body) = req.into_parts();
                let (body, read_to_end) = RequestBody::new(body);
                let slot = &shared.slot;
                let mut response = shared
                    .handler
                    .handle(
                        parts,
                        body,
                        shared.peer,
                        shared.certificate.as_deref(),
                        &|| slot.busy(),
                    )
                    .await;
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
        // A client that disconnects mid-request is not the server's problem. A shed
        // connection's task is aborted where it stands (it was idle: no answer is cut short;
        // see `admission.rs`), so no select around every connection is needed.
        let _ = connection.await;
    }
}

/// What every request of one connection needs.
struct Shared {
    handler: Arc<Handler>,
    peer: IpAddr,
    /// Its place under the connection limit: busy while answering, idle otherwise.
    slot: SlotGuard,
    certificate: Option<Arc<ClientCertificate>>,
    transport: Transport,
}

/// Marks a connection idle again once a request is answered (the handler marks it busy once
/// the request, body included, has arrived).
struct IdleWhenAnswered<'a>(&'a SlotGuard);

impl Drop for IdleWhenAnswered<'_> {
    fn drop(&mut self) {
        self.0.idle();
    }
}

/// A connection's socket: plain TCP or TLS over TCP.
pub trait Socket: AsyncRead + AsyncWrite + Unpin + Send + 'static {
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
fn refuse_cleartext(
    config: &ServerConfig,
    req: &Request<Incoming>,
) -> Option<Response<ResponseBody>> {
    if config.has(Fault::AcceptPlainHttp) {
        return None;
    }
    let claims_tls = req
        .headers()
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    if claims_tls {
        return None;
    }
    let mut response = Response::new(ResponseBody::from(
        "This port speaks HTTPS only; the request arrived in plain HTTP.\n",
    ));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}
