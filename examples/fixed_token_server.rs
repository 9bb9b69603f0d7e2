//! The benchmark baseline: a minimal hyper server that answers every request with a fixed
//! token body, i.e. the ceiling for any token endpoint on this machine (bench/run.sh).
//!
//! `cargo run --release --example fixed_token_server -- 127.0.0.1:18090`

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

const BODY: &str = r#"{"access_token":"QV3tN2wzw5h26TU4y85ByXwunE3RJ_AtpppP9OeeNuE","token_type":"Bearer","expires_in":3600,"scope":"write"}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let listener = TcpListener::bind(&addr).await?;
    println!("fixed token server on http://{}", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                // Read the body like a real endpoint must, then answer the fixed token.
                let _ = req.into_body().collect().await;
                let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
                response
                    .headers_mut()
                    .insert("content-type", "application/json".parse().unwrap());
                response
                    .headers_mut()
                    .insert("cache-control", "no-store".parse().unwrap());
                Ok::<_, Infallible>(response)
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
