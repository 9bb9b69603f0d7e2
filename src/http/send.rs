//! One request and its answer: the body read up to a bound within the timeout, and the
//! answer described in a few words for messages.

use std::time::Instant;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;

use super::body::read_body;
use super::describe_error;
use crate::exchange::Response;
use crate::settings::Settings;

/// A request ready to send (unredacted).
#[derive(Debug, Clone)]
pub struct BuiltRequest {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The decoded `scope` parameter, if the body carried one.
    pub scope: Option<String>,
}

/// One request and its answer, the body read up to `max_body_bytes` within the timeout
/// (by [`read_body`], like every body a run reads).
pub async fn send(
    http: &reqwest::Client,
    request: &BuiltRequest,
    settings: &Settings,
) -> Result<Response, String> {
    let mut builder = http.request(request.method.clone(), &request.url);
    for (name, value) in &request.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name '{name}'"))?;
        let value = HeaderValue::from_bytes(value.as_bytes())
            .map_err(|_| format!("bad value for header '{name}'"))?;
        builder = builder.header(name, value);
    }
    if !request.body.is_empty() {
        builder = builder.body(request.body.clone());
    }
    let started = Instant::now();
    let mut response = builder.send().await.map_err(|e| describe_error(&e))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = read_body(
        &mut response,
        "the response body",
        settings.max_body_bytes,
        started,
        settings.request_timeout,
    )
    .await?;
    let json = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    Ok(Response {
        status,
        headers,
        body,
        json,
    })
}
