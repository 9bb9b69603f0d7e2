//! The integration tests: one binary, one module per area, so the suite links once.
//! `common` holds what several modules share: launching the `grantcheck` binary and
//! temporary directories (`common::cli`), and the reference server on loopback
//! (`common::server`).
//!
//! Run one area with a filter on its module: `cargo test --test integration tls`. The
//! ignored ones: `cargo test --test integration soak -- --ignored --nocapture` and
//! `cargo test --test integration interop -- --ignored` (needs node-oidc-provider).

mod common;

mod browser;
mod cli_conform;
mod cli_load;
mod cli_serve;
mod cluster;
mod cluster_cases;
mod daily_use;
mod dpop;
mod exit_paths;
mod fapi2;
mod fault_modes;
mod hardening_server;
mod interop_oidc_provider;
mod interop_oidc_provider_extra;
mod interop_oidc_provider_fapi;
mod load_bound;
mod load_shards;
mod misbehaving_targets;
mod races;
mod reference_server;
mod runner_wiremock;
mod secretless;
mod snapshot_gate;
mod snapshot_review_tty;
mod soak;
mod terminal_output;
mod tls;
mod verdicts;
