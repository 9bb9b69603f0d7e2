//! One request, sent straight (not through Goose's `GooseUser::request`, whose per-request
//! metric with its owned URL, name and strings goes to Goose's aggregator): over the user's
//! own HTTP/1.1 connection to a plain-HTTP endpoint (`http1.rs`), through the run's reqwest
//! client to an HTTPS one. Timed from send to response headers, the body read up to
//! `--max-body`, transport and body failures recorded with their reason.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use goose::prelude::GooseUser;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;

use super::check::ResponseView;
use super::context::{Endpoint, LoadContext};
use super::http1::{self, Connections};
use super::recorder::Request;

/// A request to send, as the transactions build it.
pub(super) struct Call<'a> {
    method: Method,
    endpoint: &'a Endpoint,
    headers: HeaderMap,
    body: Bytes,
    /// A header value that cannot be sent (a token with a line break, say).
    invalid: Option<String>,
    /// The HTTP client to send it with instead of the user's (one that presents a client
    /// certificate, for mutual TLS).
    via: Option<&'a reqwest::Client>,
}

impl<'a> Call<'a> {
    pub fn post(endpoint: &'a Endpoint) -> Call<'a> {
        Call::new(Method::POST, endpoint)
    }

    pub fn get(endpoint: &'a Endpoint) -> Call<'a> {
        Call::new(Method::GET, endpoint)
    }

    fn new(method: Method, endpoint: &'a Endpoint) -> Call<'a> {
        Call {
            method,
            endpoint,
            headers: HeaderMap::with_capacity(4),
            body: Bytes::new(),
            invalid: None,
            via: None,
        }
    }

    /// Send it with `client` (when given) instead of the user's.
    pub fn via(self, client: Option<&'a reqwest::Client>) -> Call<'a> {
        Call {
            via: client,
            ..self
        }
    }

    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Call<'a> {
        self.headers.insert(name, value);
        self
    }

    /// A header whose value is made per request.
    pub fn header_text(self, name: HeaderName, value: &str) -> Call<'a> {
        match HeaderValue::from_str(value) {
            Ok(value) => self.header(name, value),
            Err(e) => Call {
                invalid: Some(format!("{name}: {e}")),
                ..self
            },
        }
    }

    pub fn body(self, body: impl Into<Bytes>) -> Call<'a> {
        Call {
            body: body.into(),
            ..self
        }
    }
}

/// A response, read whole.
pub(super) struct Sent {
    /// From send to response headers (Goose's "response time"), in µs.
    pub latency_us: u64,
    /// When the response headers arrived.
    pub at: Instant,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Sent {
    pub fn view(&self) -> ResponseView<'_> {
        ResponseView {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Sends `call` as `request`; `None` when it failed before a whole response arrived (a
/// transport error, a body over the limit), which is recorded as a failure.
pub(super) async fn send(
    user: &mut GooseUser,
    ctx: &LoadContext,
    request: Request,
    call: Call<'_>,
) -> Option<Sent> {
    if let Some(throttle) = &ctx.throttle {
        throttle.wait().await;
    }
    let user_index = user.weighted_users_index;
    if let Some(why) = call.invalid {
        let why = format!("cannot build the request: {why}");
        ctx.record(user_index, request, 0, Instant::now(), Err(why.into()));
        return None;
    }
    // Nothing outlives the run: a request still going at the hard stop times out then (the
    // timeout covers the body too), so a hung target cannot stretch `--run-time`.
    let started = Instant::now();
    let mut timeout = ctx.request_timeout;
    let stop = ctx
        .hard_stop
        .or_else(|| ctx.pacing.as_ref().and_then(|p| p.hard_stop()));
    if let Some(stop) = stop {
        let left = stop.saturating_duration_since(started);
        timeout = timeout.min(left.max(Duration::from_millis(1)));
    }
    let route = call.endpoint.route.as_ref().filter(|_| call.via.is_none());
    let answer = match route {
        Some(route) => {
            if user.get_session_data::<Connections>().is_none() {
                user.set_session_data(Connections::default());
            }
            let connections = user.get_session_data_mut::<Connections>()?;
            let conn = connections.take(route.origin);
            let (answer, keep) = http1::exchange(
                conn,
                route,
                call.method,
                call.headers,
                call.body,
                ctx.max_body,
                started + timeout,
            )
            .await;
            if let (Some(keep), Some(connections)) =
                (keep, user.get_session_data_mut::<Connections>())
            {
                connections.put(route.origin, keep);
            }
            answer.map_err(|why| (why, Instant::now()))
        }
        None => {
            let client = call.via.unwrap_or(&user.client);
            let built = client
                .request(call.method, call.endpoint.url.clone())
                .headers(call.headers)
                .body(call.body)
                .timeout(timeout)
                .build();
            match built {
                Ok(built) => with_reqwest(client, built, ctx.max_body).await,
                Err(e) => Err((format!("cannot build the request: {e}"), Instant::now())),
            }
        }
    };
    match answer {
        Ok(answer) => Some(Sent {
            latency_us: answer.at.saturating_duration_since(started).as_micros() as u64,
            at: answer.at,
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        }),
        Err((why, at)) => {
            let latency_us = at.saturating_duration_since(started).as_micros() as u64;
            ctx.record(user_index, request, latency_us, at, Err(why.into()));
            None
        }
    }
}

/// Opens the user's connection to every plain-HTTP endpoint's origin before its load
/// starts, so that connecting is not part of what the run measures (256 users connecting
/// in the first second of an arrival-rate run made its p99 start lag 20 ms). A connection
/// that cannot be made now is tried again by the first request, which records the failure.
pub(super) async fn preconnect(user: &mut GooseUser, ctx: &LoadContext) {
    let mut connections = Connections::default();
    let urls = &ctx.urls;
    let endpoints = [
        Some(&urls.token),
        urls.introspection.as_ref(),
        urls.revocation.as_ref(),
        urls.resource.as_ref(),
    ];
    let nodes = urls.node_introspection.iter().map(|(_, e)| e);
    for route in endpoints
        .into_iter()
        .flatten()
        .chain(nodes)
        .filter_map(|e| e.route.as_ref())
    {
        if !connections.has(route.origin) {
            if let Ok(conn) = http1::connect(route).await {
                connections.put(route.origin, conn);
            }
        }
    }
    user.set_session_data(connections);
}

/// One request through reqwest: the answer, or why not and when that was known.
async fn with_reqwest(
    client: &reqwest::Client,
    built: reqwest::Request,
    max_body: usize,
) -> Result<http1::Answer, (String, Instant)> {
    let response = client.execute(built).await;
    let at = Instant::now();
    let mut response = response.map_err(|e| (crate::http::describe_error(&e), at))?;
    let status = response.status().as_u16();
    let body = read_body(&mut response, max_body)
        .await
        .map_err(|why| (why, at))?;
    Ok(http1::Answer {
        status,
        headers: std::mem::take(response.headers_mut()),
        body,
        at,
    })
}

/// The body, up to `max` bytes: a target that sends more, or forever, costs at most `max`
/// of memory. The request's own timeout (and the run's hard stop) bounds the time. A body
/// that comes in one chunk (a token response always does) is kept as it came, uncopied.
pub(crate) async fn read_body(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Bytes, String> {
    const WHAT: &str = "the response body (--max-body)";
    let over = || crate::http::over_limit(WHAT, max);
    if let Some(length) = response.content_length().filter(|&n| n > max as u64) {
        return Err(format!(
            "{}: its Content-Length is {length}, not read",
            over()
        ));
    }
    let chunk =
        |r: Result<Option<Bytes>, reqwest::Error>| r.map_err(|e| crate::http::describe_error(&e));
    let Some(first) = chunk(response.chunk().await)? else {
        return Ok(Bytes::new());
    };
    if first.len() > max {
        return Err(format!("{}: more came, the rest was not read", over()));
    }
    let Some(second) = chunk(response.chunk().await)? else {
        return Ok(first);
    };
    let mut body = BytesMut::from(&first[..]);
    let mut next = Some(second);
    while let Some(part) = next {
        if body.len().saturating_add(part.len()) > max {
            return Err(format!("{}: more came, the rest was not read", over()));
        }
        body.extend_from_slice(&part);
        next = chunk(response.chunk().await)?;
    }
    Ok(body.freeze())
}
