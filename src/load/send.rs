//! One request, sent straight through the run's reqwest client (not through Goose's
//! `GooseUser::request`, whose per-request metric with its owned URL, name and strings goes
//! to Goose's aggregator): timed from send to response headers, the body read up to
//! `--max-body`, transport and body failures recorded with their reason.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use goose::prelude::GooseUser;
use reqwest::header::HeaderMap;

use super::check::ResponseView;
use super::context::LoadContext;
use super::recorder::Request;

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

/// Sends `builder` as `request`; `None` when it failed before a whole response arrived (a
/// transport error, a body over the limit), which is recorded as a failure.
pub(super) async fn send(
    user: &GooseUser,
    ctx: &LoadContext,
    request: Request,
    mut builder: reqwest::RequestBuilder,
) -> Option<Sent> {
    if let Some(throttle) = &ctx.throttle {
        throttle.wait().await;
    }
    // Nothing outlives the run: a request still going at the hard stop times out then (the
    // timeout covers the body too), so a hung target cannot stretch `--run-time`.
    let stop = ctx
        .hard_stop
        .or_else(|| ctx.pacing.as_ref().and_then(|p| p.hard_stop()));
    if let Some(stop) = stop {
        let left = stop.saturating_duration_since(Instant::now());
        builder = builder.timeout(left.max(Duration::from_millis(1)));
    }
    let user_index = user.weighted_users_index;
    let built = match builder.build() {
        Ok(built) => built,
        Err(e) => {
            let why = format!("cannot build the request: {e}");
            ctx.record(user_index, request, 0, Instant::now(), Err(why.into()));
            return None;
        }
    };
    let started = Instant::now();
    let response = user.client.execute(built).await;
    let at = Instant::now();
    let latency_us = at.saturating_duration_since(started).as_micros() as u64;
    let mut response = match response {
        Ok(response) => response,
        Err(e) => {
            let why = crate::http::describe_error(&e);
            ctx.record(user_index, request, latency_us, at, Err(why.into()));
            return None;
        }
    };
    let status = response.status().as_u16();
    let body = match read_body(&mut response, ctx.max_body).await {
        Ok(body) => body,
        Err(why) => {
            ctx.record(user_index, request, latency_us, at, Err(why.into()));
            return None;
        }
    };
    Some(Sent {
        latency_us,
        at,
        status,
        headers: std::mem::take(response.headers_mut()),
        body,
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
