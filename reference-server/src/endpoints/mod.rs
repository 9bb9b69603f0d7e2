//! One module per endpoint the server exposes.

pub mod introspection;
pub mod metadata;
pub mod resource;
pub mod revocation;
pub mod token;
