//! Single-packet races: N copies of one request (the same bytes), each on its own fresh
//! connection (plain TCP, or TLS with the run's trust), written but for their last byte;
//! once every copy is written, the N last bytes go out back to back, and the N answers are
//! read, each bounded in size and all within the timeout. The release spread (from the
//! first last byte written to the last one) says how close together the server got them.
//!
//! HTTP/1.1 by hand, because a client library sends a request whole: the request is
//! serialised here (`Connection: close`) and the answer's head parsed with `httparse`, its
//! body read by `Content-Length`, chunked, or to the end of the connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::send::BuiltRequest;
use crate::exchange::Response;

/// The largest response head read.
const MAX_HEAD_BYTES: usize = 64 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One copy's connection. Over TLS the last byte is encrypted when the copy is armed and
/// waits in the session as a whole record, so releasing it is one socket write, as over
/// plain TCP (encrypting at the release made spreads over TLS wider and more often
/// disturbed on a busy machine).
enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Conn {
    fn stream(&mut self) -> &mut dyn Stream {
        match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(tls) => tls.as_mut(),
        }
    }

    /// Writes the last byte (plain), or the record holding it (TLS), to the socket.
    async fn release(&mut self, last: u8) -> std::io::Result<()> {
        match self {
            Conn::Plain(tcp) => loop {
                match tcp.try_write(&[last]) {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => tcp.writable().await?,
                    Err(e) => return Err(e),
                }
            },
            Conn::Tls(tls) => {
                let (tcp, session) = tls.get_mut();
                while session.wants_write() {
                    match session.write_tls(&mut TryWriter(tcp)) {
                        Ok(_) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            tcp.writable().await?
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        }
    }
}

/// A socket written without waiting (`WouldBlock` when its buffer is full).
struct TryWriter<'a>(&'a TcpStream);

impl std::io::Write for TryWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// N connections, each holding a whole request but its last byte.
pub struct Armed {
    /// Each copy's connection and the last byte it holds back.
    conns: Vec<(Conn, u8)>,
    deadline: Instant,
    max_body: usize,
}

/// The copies' answers (in connection order) and how far apart their last bytes left.
pub struct Released {
    pub answers: Vec<Result<Response, String>>,
    pub spread: Duration,
}

/// Opens `copies` connections and writes on each all of its request but the last byte: the
/// same request on every one (`requests` holds one), or each its own (`requests` holds
/// `copies`, to one URL). `tls` is required for an `https` URL. Everything, the answers
/// later included, must be done within `timeout` of now.
pub async fn arm(
    requests: &[BuiltRequest],
    copies: usize,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
    max_body: usize,
) -> Result<Armed, String> {
    let deadline = Instant::now() + timeout;
    let first = requests.first().ok_or("no request to race")?;
    let url = url::Url::parse(&first.url).map_err(|e| format!("bad URL: {e}"))?;
    let mut all = Vec::with_capacity(requests.len());
    for request in requests {
        if request.url != first.url {
            return Err("the copies of a race go to one URL".into());
        }
        all.push(serialise(request, &url)?);
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("the URL has no host".into()),
    };
    let port = url.port_or_known_default().ok_or("the URL has no port")?;
    let tls = match url.scheme() {
        "https" => {
            let config = tls.ok_or("no TLS configuration for an https URL")?;
            let name = ServerName::try_from(host.clone())
                .map_err(|e| format!("bad TLS server name '{host}': {e}"))?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        }
        "http" => None,
        other => return Err(format!("cannot race over {other}")),
    };
    let open = |copy: usize| {
        let (host, tls) = (host.as_str(), tls.clone());
        let bytes = &all[copy % all.len()];
        let (head, last) = bytes.split_at(bytes.len() - 1);
        async move {
            let tcp = TcpStream::connect((host, port))
                .await
                .map_err(|e| format!("connection failed: {e}"))?;
            tcp.set_nodelay(true)
                .map_err(|e| format!("connection failed: {e}"))?;
            let mut conn = match tls {
                Some((connector, name)) => Conn::Tls(Box::new(
                    connector
                        .connect(name, tcp)
                        .await
                        .map_err(|e| format!("TLS handshake failed: {e}"))?,
                )),
                None => Conn::Plain(tcp),
            };
            let stream = conn.stream();
            stream
                .write_all(head)
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            stream
                .flush()
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            if let Conn::Tls(tls) = &mut conn {
                // Encrypted now, sent at the release.
                std::io::Write::write_all(&mut tls.get_mut().1.writer(), last)
                    .map_err(|e| format!("write failed: {e}"))?;
            }
            Ok::<_, String>((conn, last[0]))
        }
    };
    let opened = tokio::time::timeout_at(
        deadline.into(),
        futures_util::future::join_all((0..copies).map(open)),
    )
    .await
    .map_err(|_| "the connections were not open and written within the timeout".to_owned())?;
    let conns = opened.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Armed {
        conns,
        deadline,
        max_body,
    })
}

impl Armed {
    /// Writes every copy's last byte, back to back, and returns the spread and a future of
    /// the answers (which may run in the background: it owns the connections).
    pub async fn release(
        mut self,
    ) -> Result<
        (
            Duration,
            impl std::future::Future<Output = Vec<Result<Response, String>>> + Send + 'static,
        ),
        String,
    > {
        let mut first = None;
        let mut last = Instant::now();
        for (conn, last_byte) in &mut self.conns {
            conn.release(*last_byte)
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            last = Instant::now();
            first.get_or_insert(last);
        }
        let spread = last.duration_since(first.unwrap_or(last));
        let (deadline, max_body) = (self.deadline, self.max_body);
        let answers = async move {
            let reads = self.conns.into_iter().map(|(mut conn, _)| async move {
                tokio::time::timeout_at(deadline.into(), read_response(&mut conn, max_body))
                    .await
                    .unwrap_or_else(|_| Err("no answer within the timeout".into()))
            });
            futures_util::future::join_all(reads).await
        };
        Ok((spread, answers))
    }

    /// Releases the copies and reads every answer.
    pub async fn run(self) -> Result<Released, String> {
        let (spread, answers) = self.release().await?;
        Ok(Released {
            answers: answers.await,
            spread,
        })
    }
}

/// The request as HTTP/1.1 bytes: its headers, `Host`, `Content-Length` for a body (and
/// for any POST), `Connection: close`.
fn serialise(request: &BuiltRequest, url: &url::Url) -> Result<Vec<u8>, String> {
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let host = match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        (None, _) => return Err("the URL has no host".into()),
    };
    let mut out = format!("{} {target} HTTP/1.1\r\nhost: {host}\r\n", request.method);
    for (name, value) in &request.headers {
        if name.contains(['\r', '\n', ':']) || value.contains(['\r', '\n']) {
            return Err(format!("bad header '{name}'"));
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.headers.iter().any(|(n, _)| n == "accept") {
        out.push_str("accept: */*\r\n");
    }
    if !request.body.is_empty() || request.method == reqwest::Method::POST {
        out.push_str(&format!("content-length: {}\r\n", request.body.len()));
    }
    out.push_str("connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(request.body.as_bytes());
    Ok(bytes)
}

/// Reads one HTTP/1.1 answer: its head (at most [`MAX_HEAD_BYTES`], interim 1xx answers
/// skipped), then its body, at most `max_body` bytes.
async fn read_response(conn: &mut Conn, max_body: usize) -> Result<Response, String> {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let (status, headers, body_start) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 128];
        let mut head = httparse::Response::new(&mut slots);
        match head.parse(&buf) {
            Ok(httparse::Status::Complete(end)) => {
                let status = head.code.unwrap_or(0);
                if (100..200).contains(&status) && status != 101 {
                    buf.drain(..end);
                    continue;
                }
                let headers: Vec<(String, String)> = head
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).into_owned(),
                        )
                    })
                    .collect();
                break (status, headers, end);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {
                if read_more(conn, &mut buf).await? == 0 {
                    return Err("the connection closed before a whole answer came".into());
                }
            }
            Ok(httparse::Status::Partial) => {
                return Err(format!("the answer's head exceeds {MAX_HEAD_BYTES} bytes"))
            }
            Err(e) => return Err(format!("not an HTTP/1.1 answer ({e})")),
        }
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
    };
    let too_big = || super::over_limit("the response body", max_body);
    let mut body = buf.split_off(body_start);
    let body = if matches!(status, 204 | 304) {
        Vec::new()
    } else if header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            if let Some(decoded) = dechunk(&body)? {
                break decoded;
            }
            if body.len() > max_body.saturating_mul(2).saturating_add(4096) {
                return Err(too_big());
            }
            if read_more(conn, &mut body).await? == 0 {
                return Err("the connection closed inside a chunked body".into());
            }
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| format!("Content-Length '{length}' is not a number"))?;
        if length > max_body {
            return Err(too_big());
        }
        while body.len() < length {
            if read_more(conn, &mut body).await? == 0 {
                return Err("the connection closed before the whole body came".into());
            }
        }
        body.truncate(length);
        body
    } else {
        while read_more(conn, &mut body).await? > 0 {
            if body.len() > max_body {
                return Err(too_big());
            }
        }
        body
    };
    if body.len() > max_body {
        return Err(too_big());
    }
    let json = serde_json::from_slice(&body).ok();
    Ok(Response {
        status,
        headers,
        body: Bytes::from(body),
        json,
    })
}

async fn read_more(conn: &mut Conn, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 8192];
    match conn.stream().read(&mut chunk).await {
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(n)
        }
        // A TLS peer that closes without close_notify still sent its whole answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

/// A chunked body decoded, `None` while incomplete (RFC 9112 §7.1; extensions and
/// trailers skipped).
fn dechunk(mut data: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| format!("bad chunk size '{size}'"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            // Trailers end with an empty line.
            return Ok(data.windows(2).position(|w| w == b"\r\n").map(|_| out));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_decode_only_when_whole() {
        assert_eq!(
            dechunk(b"4\r\nabcd\r\n0\r\n\r\n").unwrap(),
            Some(b"abcd".to_vec())
        );
        assert_eq!(
            dechunk(b"2;x=y\r\nab\r\n2\r\ncd\r\n0\r\n\r\n").unwrap(),
            Some(b"abcd".to_vec())
        );
        assert_eq!(dechunk(b"4\r\nab").unwrap(), None);
        assert_eq!(dechunk(b"4\r\nabcd\r\n0\r\n").unwrap(), None);
        assert!(dechunk(b"zz\r\n").is_err());
    }

    #[test]
    fn requests_are_serialised_with_host_length_and_close() {
        let request = BuiltRequest {
            method: reqwest::Method::POST,
            url: "http://127.0.0.1:8080/oauth2/access_token?a=b".into(),
            headers: vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: "grant_type=client_credentials".into(),
            scope: None,
        };
        let url = url::Url::parse(&request.url).unwrap();
        let text = String::from_utf8(serialise(&request, &url).unwrap()).unwrap();
        assert_eq!(
            text,
            "POST /oauth2/access_token?a=b HTTP/1.1\r\nhost: 127.0.0.1:8080\r\ncontent-type: application/x-www-form-urlencoded\r\naccept: */*\r\ncontent-length: 29\r\nconnection: close\r\n\r\ngrant_type=client_credentials"
        );
    }
}
