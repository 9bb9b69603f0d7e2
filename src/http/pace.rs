//! How requests go out over a run: at least `--pace` apart, never during a target's
//! `Retry-After`, rate limits waited out once (they are the target's policy, never a
//! verdict), and a request resent once when the connection broke while its body was sent.

use std::time::{Duration, Instant, SystemTime};

use super::send::{send, BuiltRequest};
use crate::exchange::Response;
use crate::settings::Settings;

/// Why no usable answer came back.
#[derive(Debug, Clone)]
pub enum SendError {
    /// Nothing or garbage came back: timeout, refused connection, TLS, oversized body.
    Transport(String),
    /// The target asked us to slow down (429, or 503 with Retry-After) and waiting once
    /// did not help, or would have taken longer than `--max-wait`.
    RateLimited(String),
}

/// Spaces requests out: at least `--pace` apart, and none before a `Retry-After` the target
/// asked for has passed. Shared by every case of a run, the concurrent ones included.
#[derive(Debug, Default)]
pub struct Pacer {
    pace: Option<Duration>,
    next: tokio::sync::Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(pace: Option<Duration>) -> Pacer {
        Pacer {
            pace: pace.filter(|p| !p.is_zero()),
            next: tokio::sync::Mutex::new(None),
        }
    }

    /// Waits for this request's turn.
    async fn turn(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |n| n.max(now));
        if at > now {
            tokio::time::sleep_until(at.into()).await;
        }
        *next = self.pace.map(|p| at + p).or(*next);
    }

    /// Nobody sends before `until` (a target's Retry-After).
    async fn hold_until(&self, until: Instant) {
        let mut next = self.next.lock().await;
        *next = Some(next.map_or(until, |n| n.max(until)));
    }
}

/// Sends `request`, honouring the pace and the target's rate limits: one wait for
/// `Retry-After` when it fits in `--max-wait` (and the deadline), then a second try.
pub async fn exchange(
    http: &reqwest::Client,
    request: &BuiltRequest,
    settings: &Settings,
    pacer: &Pacer,
) -> Result<Response, SendError> {
    let mut waited = false;
    let mut resent = false;
    loop {
        pacer.turn().await;
        let response = match send(http, request, settings).await {
            Ok(r) => r,
            // A server that answers early (413) and closes without draining the body
            // resets the connection, and the reset discards the answer before the client
            // reads it. Sending once more usually gets the answer through; the reference
            // server drains instead (a lingering close), so it never needs this.
            Err(e) if !resent && !request.body.is_empty() && lost_while_sending(&e) => {
                resent = true;
                continue;
            }
            Err(e) => return Err(SendError::Transport(e)),
        };
        let Some(wait) = rate_limit(&response) else {
            return Ok(response);
        };
        let fits = wait <= settings.max_wait
            && settings.deadline.is_none_or(|d| Instant::now() + wait < d);
        if waited || !fits {
            return Err(SendError::RateLimited(format!(
                "the target is rate limiting: {} with Retry-After {}{}",
                response.status,
                response.header("retry-after").unwrap_or("(none)"),
                if waited {
                    " again after waiting once".to_owned()
                } else {
                    format!(", longer than --max-wait {} s", settings.max_wait.as_secs())
                }
            )));
        }
        waited = true;
        let until = Instant::now() + wait;
        pacer.hold_until(until).await;
    }
}

/// The connection broke while the request body was still being written.
fn lost_while_sending(error: &str) -> bool {
    let error = error.to_ascii_lowercase();
    [
        "broken pipe",
        "connection reset",
        "closed before message completed",
        "error writing a body",
    ]
    .iter()
    .any(|needle| error.contains(needle))
}

/// How long a rate-limited answer asks us to wait: 429 (1 s when it names no time), or 503
/// with a `Retry-After` (RFC 9110 §10.2.3: seconds or an HTTP date). `None`: not limited.
pub fn rate_limit(response: &Response) -> Option<Duration> {
    let retry_after = response.header("retry-after").and_then(parse_retry_after);
    match response.status {
        429 => Some(retry_after.unwrap_or(Duration::from_secs(1))),
        503 => retry_after,
        _ => None,
    }
}

fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Response {
        Response {
            status,
            headers: retry_after
                .map(|v| vec![("retry-after".to_owned(), v.to_owned())])
                .unwrap_or_default(),
            body: Default::default(),
            json: None,
        }
    }

    #[test]
    fn rate_limits_are_429_or_503_with_retry_after() {
        assert_eq!(
            rate_limit(&response(429, Some("30"))),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            rate_limit(&response(429, None)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            rate_limit(&response(503, Some("2"))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(rate_limit(&response(503, None)), None);
        assert_eq!(rate_limit(&response(401, Some("5"))), None);
        let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = rate_limit(&response(429, Some(&date))).unwrap();
        assert!(wait > Duration::from_secs(100) && wait <= Duration::from_secs(120));
    }

    #[tokio::test]
    async fn the_pacer_spaces_requests() {
        let pacer = Pacer::new(Some(Duration::from_millis(50)));
        let started = Instant::now();
        for _ in 0..4 {
            pacer.turn().await;
        }
        assert!(started.elapsed() >= Duration::from_millis(150));
        let free = Pacer::new(None);
        let started = Instant::now();
        free.hold_until(started + Duration::from_millis(60)).await;
        free.turn().await;
        assert!(started.elapsed() >= Duration::from_millis(60));
    }
}
