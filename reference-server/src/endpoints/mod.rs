//! The decisions, one module per endpoint: synchronous functions from a
//! [`Request`](crate::request::Request) to a [`Reply`](crate::response::Reply), with no I/O
//! and no HTTP library types.

pub mod dpop;
pub mod introspection;
pub mod metadata;
pub mod resource;
pub mod revocation;
mod scope;
pub mod token;
