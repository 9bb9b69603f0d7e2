//! A minimal hyper server that answers every request with a fixed token body: the ceiling
//! for any token endpoint on this machine. Shared by `examples/fixed_token_server.rs`
//! (bench/run.sh's baseline) and `benches/per_request.rs` (its instruction count).

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub const BODY: &str = r#"{"access_token":"QV3tN2wzw5h26TU4y85ByXwunE3RJ_AtpppP9OeeNuE","token_type":"Bearer","expires_in":3600,"scope":"write"}"#;

/// Accepts connections for ever, each answered on its own task.
pub async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                // Read the body like a real endpoint must, then answer the fixed token.
                let _ = req.into_body().collect().await;
                let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                let headers = response.headers_mut();
                headers.insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                headers.insert(
                    hyper::header::CACHE_CONTROL,
                    hyper::header::HeaderValue::from_static("no-store"),
                );
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
