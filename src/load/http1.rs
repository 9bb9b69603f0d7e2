//! The load generator's own client for plain-HTTP targets: one hyper HTTP/1.1 connection
//! per Goose user and origin, kept in the user's session and driven by the user's own task
//! (no connection task, no pool, no per-request URL handling: the request line and `Host`
//! are prepared once per endpoint). It is what wrk does, and it halves the generator's
//! instructions per response against reqwest's pooled client. HTTPS targets (TLS trust,
//! mTLS client certificates) keep reqwest (`send.rs` picks), as does any run with
//! `GRANTCHECK_LOAD_CLIENT=reqwest` in its environment.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, Connection, SendRequest};
use hyper::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_LENGTH, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use url::Url;

/// Where a plain-HTTP endpoint is, prepared once: what to connect to, the request target
/// and the `Host` header.
#[derive(Debug, Clone)]
pub struct Route {
    /// Endpoints on one origin share a connection: the index of this one's.
    pub origin: usize,
    connect: Connect,
    path: Uri,
    host: HeaderValue,
}

#[derive(Debug, Clone, PartialEq)]
enum Connect {
    Ip(SocketAddr),
    /// Resolved at each connect, as reqwest does.
    Name(String, u16),
}

impl Route {
    /// The route to `url` if it is plain HTTP; `origins` numbers the origins seen so far.
    pub fn new(url: &Url, origins: &mut Vec<String>) -> Option<Route> {
        if url.scheme() != "http" {
            return None;
        }
        let port = url.port_or_known_default()?;
        let connect = match url.host()? {
            url::Host::Ipv4(ip) => Connect::Ip(SocketAddr::new(ip.into(), port)),
            url::Host::Ipv6(ip) => Connect::Ip(SocketAddr::new(ip.into(), port)),
            url::Host::Domain(name) => Connect::Name(name.to_owned(), port),
        };
        let origin = url.origin().ascii_serialization();
        let index = match origins.iter().position(|o| *o == origin) {
            Some(i) => i,
            None => {
                origins.push(origin);
                origins.len() - 1
            }
        };
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
        Some(Route {
            origin: index,
            connect,
            path: Uri::from_maybe_shared(Bytes::copy_from_slice(path.as_bytes())).ok()?,
            host: HeaderValue::from_str(host).ok()?,
        })
    }
}

type Conn = Connection<TokioIo<TcpStream>, Full<Bytes>>;

/// One kept-alive connection: the sender and the connection future that the request's
/// task polls beside it.
pub struct Http1 {
    sender: SendRequest<Full<Bytes>>,
    conn: Option<Pin<Box<Conn>>>,
}

/// A user's connections, by origin (Goose keeps it as the user's session data; a copy of
/// a user, which Goose makes only when it builds users, starts without any).
#[derive(Default)]
pub struct Connections(std::sync::Mutex<Vec<Option<Http1>>>);

impl Clone for Connections {
    fn clone(&self) -> Self {
        Connections::default()
    }
}

impl Connections {
    /// The connection to `origin`, taken out (a request owns it while it runs).
    pub fn take(&mut self, origin: usize) -> Option<Http1> {
        let slots = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        slots.get_mut(origin).and_then(Option::take)
    }

    /// Whether there is a connection to `origin`.
    pub fn has(&mut self, origin: usize) -> bool {
        let slots = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        slots.get(origin).is_some_and(Option::is_some)
    }

    /// Gives a connection back after a request that left it usable.
    pub fn put(&mut self, origin: usize, conn: Http1) {
        let slots = self.0.get_mut().unwrap_or_else(|p| p.into_inner());
        if slots.len() <= origin {
            slots.resize_with(origin + 1, || None);
        }
        slots[origin] = Some(conn);
    }
}

/// A whole response.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// When the response head arrived.
    pub at: Instant,
}

/// Why a request failed, as reqwest's errors are described (`crate::http::describe_error`).
pub type Why = String;

const WHAT: &str = "the response body (--max-body)";

/// Sends one request on `conn` (connecting first when there is none or it has closed) and
/// reads the whole response, body bounded by `max_body`, by `deadline`. Returns the
/// connection to keep when it can carry another request.
pub async fn exchange(
    conn: Option<Http1>,
    route: &Route,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    max_body: usize,
    deadline: Instant,
) -> (Result<Answer, Why>, Option<Http1>) {
    let deadline = tokio::time::Instant::from_std(deadline);
    match tokio::time::timeout_at(
        deadline,
        exchange_inner(conn, route, method, headers, body, max_body),
    )
    .await
    {
        Ok(done) => done,
        // The connection went with the dropped future: hyper closes it.
        Err(_) => (Err("timed out".to_owned()), None),
    }
}

async fn exchange_inner(
    conn: Option<Http1>,
    route: &Route,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    max_body: usize,
) -> (Result<Answer, Why>, Option<Http1>) {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    *request.uri_mut() = route.path.clone();
    *request.headers_mut() = headers;
    let headers = request.headers_mut();
    headers.insert(HOST, route.host.clone());
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let reused = conn.as_ref().is_some_and(Http1::is_open);
    let mut conn = match conn.filter(Http1::is_open) {
        Some(conn) => conn,
        None => match connect(route).await {
            Ok(conn) => conn,
            Err(why) => return (Err(why), None),
        },
    };
    let sent = {
        let future = conn.sender.try_send_request(request);
        drive(&mut conn.conn, future).await
    };
    let response = match sent {
        Ok(response) => response,
        Err(mut e) => match e.take_message() {
            // A kept-alive connection the server had closed before the request went out:
            // once more on a new one (it was not sent, so this cannot send it twice).
            Some(request) if reused => {
                conn = match connect(route).await {
                    Ok(conn) => conn,
                    Err(why) => return (Err(why), None),
                };
                let future = conn.sender.send_request(request);
                match drive(&mut conn.conn, future).await {
                    Ok(response) => response,
                    Err(e) => return (Err(describe(&e)), None),
                }
            }
            _ => return (Err(describe(e.error())), None),
        },
    };
    let at = Instant::now();
    let (parts, mut incoming) = response.into_parts();
    let read = read_body(&mut conn, &mut incoming, &parts.headers, max_body).await;
    drop(incoming);
    let keep = conn.is_open().then_some(conn);
    match read {
        Ok(body) => (
            Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
                at,
            }),
            keep,
        ),
        // A body not read to its end leaves the connection unusable.
        Err(why) => (Err(why), None),
    }
}

impl Http1 {
    fn is_open(&self) -> bool {
        self.conn.is_some() && !self.sender.is_closed()
    }
}

/// A new connection to `route`'s origin.
pub async fn connect(route: &Route) -> Result<Http1, Why> {
    let failed = |e: &dyn std::fmt::Display| format!("connection failed: {e}");
    let stream = match &route.connect {
        Connect::Ip(addr) => TcpStream::connect(addr).await,
        Connect::Name(name, port) => TcpStream::connect((name.as_str(), *port)).await,
    }
    .map_err(|e| failed(&e))?;
    stream.set_nodelay(true).map_err(|e| failed(&e))?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(&e))?;
    Ok(Http1 {
        sender,
        conn: Some(Box::pin(conn)),
    })
}

/// Polls `future` and, beside it, the connection that carries it (dropped once it ends).
async fn drive<F: Future>(conn: &mut Option<Pin<Box<Conn>>>, future: F) -> F::Output {
    let mut future = pin!(future);
    poll_fn(|cx| {
        if let Some(c) = conn.as_mut() {
            if c.as_mut().poll(cx).is_ready() {
                *conn = None;
            }
        }
        future.as_mut().poll(cx)
    })
    .await
}

/// The body, up to `max` bytes, as `send::read_body` reads reqwest's.
async fn read_body(
    conn: &mut Http1,
    incoming: &mut hyper::body::Incoming,
    headers: &HeaderMap,
    max: usize,
) -> Result<Bytes, Why> {
    let over = || crate::http::over_limit(WHAT, max);
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length.filter(|&n| n > max as u64) {
        return Err(format!(
            "{}: its Content-Length is {length}, not read",
            over()
        ));
    }
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    loop {
        let frame = match drive(&mut conn.conn, incoming.frame()).await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(describe(&e)),
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let len = first.as_ref().map_or(0, Bytes::len) + rest.as_ref().map_or(0, BytesMut::len);
        if len.saturating_add(data.len()) > max {
            return Err(format!("{}: more came, the rest was not read", over()));
        }
        match (&first, &mut rest) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut joined = BytesMut::from(&f[..]);
                joined.extend_from_slice(&data);
                rest = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&data),
        }
    }
    Ok(match rest {
        Some(joined) => joined.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// A hyper error in the words `crate::http::describe_error` uses for reqwest's.
fn describe(e: &hyper::Error) -> Why {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        format!("request failed: {e}")
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
