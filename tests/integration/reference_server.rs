//! The reference server, end to end over HTTP on loopback: it must implement the flow
//! correctly, because every conformance verdict is calibrated against it. By subject:
//!
//! - `token_endpoint`: the brief's request and response, RFC 6749's error codes, legal
//!   variations, `--require-scope`, POST only.
//! - `client_authentication`: Basic's form decoding, every 401 with its challenge, and
//!   brute-force protection per address.
//! - `token_lifecycle`: issued tokens through introspection, revocation, the resource server
//!   and expiry; JWT access tokens (RFC 9068).
//! - `metadata`: what the metadata describes, and a public URL that names the server.
//! - `http_robustness`: oversized, slow, malformed, concurrent and pipelined requests, and the
//!   413 over HTTP and TLS.

mod client_authentication;
mod http_robustness;
mod metadata;
mod token_endpoint;
mod token_lifecycle;

const CC: &str = "grant_type=client_credentials";
