//! The command line.

use clap::{Parser, Subcommand};

use crate::commands::serve::ServeArgs;

#[derive(Debug, Parser)]
#[command(
    name = "grantcheck",
    version,
    about = "Conformance suite and load harness for OAuth 2.0 client credentials token endpoints"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the reference authorization server and resource server until interrupted.
    Serve(ServeArgs),
}
