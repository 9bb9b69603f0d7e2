//! The benchmark baseline: a minimal hyper server that answers every request with a fixed
//! token body, i.e. the ceiling for any token endpoint on this machine (bench/run.sh).
//!
//! `cargo run --release --example fixed_token_server -- 127.0.0.1:18090`

#[path = "../benches/support/fixed_body.rs"]
mod fixed_body;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("fixed token server on http://{}", listener.local_addr()?);
    fixed_body::serve(listener).await
}
