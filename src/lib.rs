//! grantcheck: a conformance suite and load harness for the OAuth 2.0 client credentials grant.
//!
//! The binary is a thin shell over this library, so tests drive the same entry points.

pub mod cli;
pub mod commands;
pub mod exit;

pub use reference_server;

use cli::{Cli, Command};
use exit::{Exit, Failure};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Serve(args) => commands::serve::run(args).await,
    }
}
