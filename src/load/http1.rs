//! The load generator's own client for plain-HTTP targets: one HTTP/1.1 connection per
//! Goose user and origin, kept in the user's session and driven by the user's own task, as
//! wrk does. A request is written from prepared bytes (the request line's target and `Host`
//! are made once per endpoint) in one write; the response head is parsed with `httparse`
//! straight from a read buffer the connection keeps, and the body read by its
//! `Content-Length`, its chunks, or to the end of the connection. No connection task, no
//! pool, no dispatch channel. HTTPS targets (TLS trust, mTLS client certificates) keep
//! reqwest (`send.rs` picks), as does any run with `GRANTCHECK_LOAD_CLIENT=reqwest`.

mod chunked;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

/// Where a plain-HTTP endpoint is, prepared once: what to connect to, and what follows the
/// method in the request head (` target HTTP/1.1`, `Host`, `Accept`).
#[derive(Debug, Clone)]
pub struct Route {
    /// Endpoints on one origin share a connection: the index of this one's.
    pub origin: usize,
    connect: Connect,
    head: Vec<u8>,
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
        // A parsed URL's path, query and host have no spaces or line breaks.
        let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
        let head = format!(" {target} HTTP/1.1\r\nhost: {host}\r\naccept: */*\r\n").into_bytes();
        Some(Route {
            origin: index,
            connect,
            head,
        })
    }
}

/// One kept-alive connection, with the buffers it reuses for every request.
pub struct Http1 {
    stream: TcpStream,
    /// What has been read and not yet consumed.
    input: BytesMut,
    /// The request being written.
    output: Vec<u8>,
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
/// The most of a response head read before it is refused (hyper's default is 400 KiB;
/// a token endpoint's head is a few hundred bytes).
const MAX_HEAD: usize = 64 * 1024;
/// Header lines parsed per response.
const MAX_HEADERS: usize = 64;

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
    let request = Outgoing {
        method: &method,
        headers: &headers,
        body: &body,
    };
    match tokio::time::timeout_at(deadline, exchange_inner(conn, route, request, max_body)).await {
        Ok(done) => done,
        // The connection went with the dropped future: dropping it closes it.
        Err(_) => (Err("timed out".to_owned()), None),
    }
}

/// A request as `exchange` got it.
#[derive(Clone, Copy)]
struct Outgoing<'a> {
    method: &'a Method,
    headers: &'a HeaderMap,
    body: &'a Bytes,
}

async fn exchange_inner(
    conn: Option<Http1>,
    route: &Route,
    request: Outgoing<'_>,
    max_body: usize,
) -> (Result<Answer, Why>, Option<Http1>) {
    // A kept-alive connection the server has closed (or written to unasked) is not used: a
    // new one is made before anything is sent, so no request goes out twice.
    let mut conn = match conn.filter(Http1::is_idle_and_open) {
        Some(conn) => conn,
        None => match connect(route).await {
            Ok(conn) => conn,
            Err(why) => return (Err(why), None),
        },
    };
    conn.write_request(route, request);
    if let Err(e) = conn.stream.write_all(&conn.output).await {
        return (Err(format!("request failed: {e}")), None);
    }
    match conn.read_response(request.method, max_body).await {
        Ok((answer, reusable)) => (Ok(answer), reusable.then_some(conn)),
        // A response not read to its end leaves the connection unusable.
        Err(why) => (Err(why), None),
    }
}

impl Http1 {
    /// Whether the connection is still open with nothing unread: a peek that would block.
    fn is_idle_and_open(&self) -> bool {
        if !self.input.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(
            self.stream.try_read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        )
    }

    /// Writes the request head and body into the connection's output buffer.
    fn write_request(&mut self, route: &Route, request: Outgoing<'_>) {
        let out = &mut self.output;
        out.clear();
        out.extend_from_slice(request.method.as_str().as_bytes());
        out.extend_from_slice(&route.head);
        for (name, value) in request.headers {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if !request.body.is_empty() || request.method == Method::POST {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(itoa::Buffer::new().format(request.body.len()).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(request.body);
    }

    /// Reads more into the input buffer; false at the end of the connection.
    async fn fill(&mut self) -> Result<bool, Why> {
        if self.input.capacity() - self.input.len() < 4096 {
            self.input.reserve(8192);
        }
        match self.stream.read_buf(&mut self.input).await {
            Ok(0) => Ok(false),
            Ok(_) => Ok(true),
            Err(e) => Err(format!("request failed: {e}")),
        }
    }

    /// The response to a `method` request, and whether the connection can carry another.
    async fn read_response(
        &mut self,
        method: &Method,
        max_body: usize,
    ) -> Result<(Answer, bool), Why> {
        loop {
            let head = self.read_head().await?;
            let at = Instant::now();
            // 1xx answers (100 Continue, 103 Early Hints) come before the final one.
            if (100..200).contains(&head.status) && head.status != 101 {
                continue;
            }
            let no_body = *method == Method::HEAD
                || head.status == 204
                || head.status == 304
                || (100..200).contains(&head.status);
            let (body, to_close) = if no_body {
                (Bytes::new(), false)
            } else if head.chunked {
                (chunked::read(self, max_body).await?, false)
            } else if let Some(length) = head.length {
                (self.read_exactly(length, max_body).await?, false)
            } else {
                (self.read_to_end(max_body).await?, true)
            };
            let reusable = head.keep_alive && !to_close && head.status != 101;
            let answer = Answer {
                status: head.status,
                headers: head.headers,
                body,
                at,
            };
            return Ok((answer, reusable));
        }
    }

    /// Reads and parses one response head, consuming it from the input.
    async fn read_head(&mut self) -> Result<Head, Why> {
        loop {
            if !self.input.is_empty() {
                if let Some((head, used)) = parse_head(&self.input)? {
                    self.input.advance(used);
                    return Ok(head);
                }
                if self.input.len() > MAX_HEAD {
                    return Err(format!(
                        "request failed: the response head exceeds {} KiB",
                        MAX_HEAD / 1024
                    ));
                }
            }
            if !self.fill().await? {
                return Err(
                    "request failed: connection closed before a whole response head came"
                        .to_owned(),
                );
            }
        }
    }

    /// A body of `length` bytes (its `Content-Length`), refused above `max`.
    async fn read_exactly(&mut self, length: u64, max: usize) -> Result<Bytes, Why> {
        if length > max as u64 {
            let over = crate::http::over_limit(WHAT, max);
            return Err(format!("{over}: its Content-Length is {length}, not read"));
        }
        let length = length as usize;
        while self.input.len() < length {
            if !self.fill().await? {
                return Err("request failed: connection closed before the whole body came".into());
            }
        }
        Ok(self.take(length))
    }

    /// A body that ends with the connection (no length, no chunks: RFC 9112 §6.3 item 8).
    async fn read_to_end(&mut self, max: usize) -> Result<Bytes, Why> {
        loop {
            if self.input.len() > max {
                let over = crate::http::over_limit(WHAT, max);
                return Err(format!("{over}: more came, the rest was not read"));
            }
            if !self.fill().await? {
                let all = self.input.len();
                return Ok(self.take(all));
            }
        }
    }

    /// The first `n` input bytes, copied out so the input buffer stays this connection's
    /// alone and its space is used again.
    fn take(&mut self, n: usize) -> Bytes {
        let bytes = Bytes::copy_from_slice(&self.input[..n]);
        self.input.advance(n);
        bytes
    }
}

/// What the response head says.
struct Head {
    status: u16,
    headers: HeaderMap,
    /// `Content-Length`, when there is one and no `Transfer-Encoding`.
    length: Option<u64>,
    chunked: bool,
    keep_alive: bool,
}

/// The head at the start of `input` and its length, or `None` when more must be read.
fn parse_head(input: &[u8]) -> Result<Option<(Head, usize)>, Why> {
    let mut lines = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut lines);
    let used = match response.parse(input) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("request failed: invalid HTTP response: {e}")),
    };
    let status = response.code.unwrap_or(0);
    let mut headers = HeaderMap::with_capacity(response.headers.len());
    let mut length = None;
    let mut encoded = false;
    let mut chunked = false;
    // HTTP/1.1 keeps the connection unless it says `close`; HTTP/1.0 closes it.
    let mut keep_alive = response.version == Some(1);
    for line in response.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(line.name.as_bytes()),
            HeaderValue::from_bytes(line.value),
        ) else {
            return Err(format!(
                "request failed: invalid HTTP response: header '{}'",
                line.name
            ));
        };
        if name == reqwest::header::CONTENT_LENGTH {
            let parsed = std::str::from_utf8(line.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            match (parsed, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => {
                    return Err(
                        "request failed: invalid HTTP response: bad Content-Length".to_owned()
                    )
                }
            }
        } else if name == reqwest::header::TRANSFER_ENCODING {
            encoded = true;
            let text = String::from_utf8_lossy(line.value);
            chunked = text
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name == reqwest::header::CONNECTION {
            let text = String::from_utf8_lossy(line.value);
            for token in text.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    keep_alive = false;
                }
            }
        }
        headers.append(name, value);
    }
    // A Transfer-Encoding overrides Content-Length (RFC 9112 §6.3 item 3); one that does
    // not end in chunked runs to the end of the connection.
    if encoded {
        length = None;
        if !chunked {
            keep_alive = false;
        }
    }
    let head = Head {
        status,
        headers,
        length,
        chunked,
        keep_alive,
    };
    Ok(Some((head, used)))
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
    Ok(Http1 {
        stream,
        input: BytesMut::with_capacity(8192),
        output: Vec::with_capacity(1024),
    })
}
