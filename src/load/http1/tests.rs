//! The own HTTP/1.1 client against a loopback server that answers with canned bytes:
//! every framing a server may use, a kept-alive connection reused, a closed one replaced.

use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{exchange, Http1, Route};

/// A server that, for each connection, reads each request head (and its body, by
/// Content-Length) and writes the next of `answers`; `close_after` answers per connection.
async fn server(
    answers: Vec<&'static [u8]>,
    close_after: usize,
) -> (Route, tokio::task::JoinHandle<Vec<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!(
        "http://{}/oauth2/token?x=1",
        listener.local_addr().unwrap()
    ))
    .unwrap();
    let route = Route::new(&url, &mut Vec::new()).unwrap();
    let task = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut answers = answers.into_iter();
        'conns: loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                break;
            };
            for _ in 0..close_after {
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") {
                    if socket.read(&mut byte).await.unwrap_or(0) == 0 {
                        continue 'conns;
                    }
                    request.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&request).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |n| n.trim().parse().unwrap());
                let mut body = vec![0u8; length];
                socket.read_exact(&mut body).await.unwrap();
                request.extend_from_slice(&body);
                seen.push(request);
                let Some(answer) = answers.next() else {
                    break 'conns;
                };
                socket.write_all(answer).await.unwrap();
            }
            drop(socket);
            if answers.len() == 0 {
                break;
            }
        }
        seen
    });
    (route, task)
}

async fn send(
    conn: Option<Http1>,
    route: &Route,
    method: Method,
    max: usize,
) -> (Result<super::Answer, String>, Option<Http1>) {
    let mut headers = HeaderMap::new();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_static("Basic Zm9vOmJhcg=="),
    );
    let body = if method == Method::POST {
        Bytes::from_static(b"grant_type=client_credentials")
    } else {
        Bytes::new()
    };
    exchange(
        conn,
        route,
        method,
        headers,
        body,
        max,
        Instant::now() + Duration::from_secs(5),
    )
    .await
}

#[tokio::test]
async fn a_request_is_written_whole_and_a_kept_alive_connection_reused() {
    let (route, server) = server(
        vec![
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
            b"HTTP/1.1 201 Created\r\ncontent-length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc",
        ],
        2,
    )
    .await;
    let (answer, conn) = send(None, &route, Method::POST, 1024).await;
    let answer = answer.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"{}"[..]));
    assert_eq!(answer.headers["content-type"], "application/json");
    assert!(conn.is_some(), "HTTP/1.1 keeps the connection");
    let (answer, _) = send(conn, &route, Method::GET, 1024).await;
    let answer = answer.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (201, &b"abc"[..]));
    assert_eq!(answer.headers.get_all("x-a").iter().count(), 2);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2, "both requests on one connection");
    let first = String::from_utf8(seen[0].clone()).unwrap();
    assert!(
        first.starts_with("POST /oauth2/token?x=1 HTTP/1.1\r\nhost: 127.0.0.1:"),
        "{first}"
    );
    assert!(
        first.contains("\r\nauthorization: Basic Zm9vOmJhcg==\r\n"),
        "{first}"
    );
    assert!(
        first.ends_with("content-length: 29\r\n\r\ngrant_type=client_credentials"),
        "{first}"
    );
    let second = String::from_utf8(seen[1].clone()).unwrap();
    assert!(
        second.starts_with("GET ") && !second.contains("content-length"),
        "{second}"
    );
}

#[tokio::test]
async fn chunked_and_close_delimited_bodies_and_interim_answers_are_read() {
    let (route, server) = server(
        vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        ],
        2,
    )
    .await;
    let (answer, conn) = send(None, &route, Method::POST, 1024).await;
    let answer = answer.unwrap();
    assert_eq!((answer.status, &answer.body[..]), (200, &b"abcde"[..]));
    assert!(conn.is_some());
    let (answer, conn) = send(conn, &route, Method::POST, 1024).await;
    assert_eq!(&answer.unwrap().body[..], b"until the end");
    assert!(conn.is_none(), "Connection: close is not kept");
    server.await.unwrap();
}

#[tokio::test]
async fn bodies_over_the_limit_and_broken_answers_are_errors() {
    let (route, _server) = server(vec![b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"], 1).await;
    let (answer, conn) = send(None, &route, Method::POST, 10).await;
    let why = answer.err().unwrap();
    assert!(
        why.contains("--max-body") && why.contains("Content-Length is 100"),
        "{why}"
    );
    assert!(conn.is_none());

    let (route, _server) = server(vec![b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n0123456789abcdef0123456789abcdef\r\n0\r\n\r\n"], 1).await;
    let why = send(None, &route, Method::POST, 10).await.0.err().unwrap();
    assert!(why.contains("more came"), "{why}");

    let (route, _server) = server(vec![b"NOT HTTP\r\n\r\n"], 1).await;
    let why = send(None, &route, Method::POST, 10).await.0.err().unwrap();
    assert!(why.contains("invalid HTTP response"), "{why}");

    let (route, _server) = server(
        vec![b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"],
        1,
    )
    .await;
    let why = send(None, &route, Method::POST, 100).await.0.err().unwrap();
    assert!(why.contains("closed before the whole body"), "{why}");
}

#[tokio::test]
async fn a_connection_the_server_closed_is_replaced_before_sending() {
    // One answer per connection: the kept connection is closed by the time of the second
    // request, which goes out once, on a new connection.
    let (route, server) = server(
        vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb",
        ],
        1,
    )
    .await;
    let (answer, conn) = send(None, &route, Method::POST, 100).await;
    assert_eq!(&answer.unwrap().body[..], b"a");
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (answer, _) = send(conn, &route, Method::POST, 100).await;
    assert_eq!(&answer.unwrap().body[..], b"b");
    assert_eq!(server.await.unwrap().len(), 2);
}
