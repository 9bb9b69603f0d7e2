//! The command line.

use clap::{Parser, Subcommand};

use crate::commands::conform::ConformArgs;
use crate::commands::list::ListArgs;
use crate::commands::load::LoadArgs;
use crate::commands::serve::ServeArgs;
use crate::commands::snapshots::SnapshotsArgs;

#[derive(Debug, Parser)]
#[command(
    name = "grantcheck",
    version,
    about = "Conformance suite and load harness for OAuth 2.0 client credentials token endpoints",
    after_help = "Exit codes: 0 all MUSTs met · 1 internal error · 2 usage/config error · 3 runtime error (unreachable, discovery) · 4 conformance failure · 5 load thresholds missed · 6 no case matched"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the conformance cases against the embedded reference server or --target.
    Conform(ConformArgs),
    /// List the conformance cases (or, with --checks, the named checks).
    List(ListArgs),
    /// Load-test issuance and introspection with a Goose profile, checking every response.
    Load(Box<LoadArgs>),
    /// Run the reference authorization server and resource server until interrupted.
    Serve(ServeArgs),
    /// Review, accept or reject the pending snapshots a conformance run left.
    Snapshots(SnapshotsArgs),
}
