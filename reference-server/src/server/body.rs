//! Reading request bodies: bounded in size and time, and noting whether they were read to
//! the end.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::CONTENT_LENGTH;
use hyper::HeaderMap;

use crate::request::BodyError;

/// A request body that records whether it was read to the end. One left unread means the
/// client may still be sending it, so the connection cannot carry another request: the
/// server then says `Connection: close` in the response (see `connection.rs`).
pub struct RequestBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

/// Set once the body has been read to the end (at once for an empty body).
#[derive(Clone)]
pub struct ReadToEnd(Arc<AtomicBool>);

impl ReadToEnd {
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

impl RequestBody {
    pub fn new(inner: Incoming) -> (RequestBody, ReadToEnd) {
        let finished = Arc::new(AtomicBool::new(inner.is_end_stream()));
        let flag = ReadToEnd(finished.clone());
        (RequestBody { inner, finished }, flag)
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        let at_end = match &polled {
            Poll::Ready(None) => true,
            Poll::Ready(Some(Ok(_))) => self.inner.is_end_stream(),
            _ => false,
        };
        if at_end {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Reads the whole body, refusing more than `limit` bytes (413) or a body slower than
/// `timeout` (408), so neither a large nor a dripping request can hold the server.
pub async fn read_body(
    headers: &HeaderMap,
    body: RequestBody,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut collect = std::pin::pin!(Limited::new(body, limit).collect());
    // A small body usually arrives with its head: then it is read at once, and no timer is
    // armed (arming and cancelling one costs as much as the rest of the read).
    let first = std::future::poll_fn(|cx| Poll::Ready(collect.as_mut().poll(cx))).await;
    let collected = match first {
        Poll::Ready(collected) => collected,
        Poll::Pending => match tokio::time::timeout(timeout, collect).await {
            Ok(collected) => collected,
            Err(_) => return Err(BodyError::TimedOut),
        },
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Broken),
    }
}
