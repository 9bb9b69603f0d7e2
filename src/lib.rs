//! grantcheck: a conformance suite and load harness for the OAuth 2.0 client credentials grant.
//!
//! Layout: `scenario` loads the declarative cases, `target` finds the server under test,
//! `runner` sends each case's requests and judges the answers (with `checks`), `report`
//! renders the results, `commands` wires it all to the CLI. The binary is a thin shell over
//! [`run`], so tests drive the same entry point.

pub mod case;
pub mod checks;
pub mod cli;
pub mod commands;
pub mod exchange;
pub mod exit;
pub mod form;
pub mod headers;
pub mod http;
pub mod jose;
pub mod json_body;
pub mod load;
pub mod mtls;
pub mod outcome;
pub mod preflight;
pub mod report;
pub mod runner;
pub mod settings;
pub mod snapshot;
pub mod target;
pub mod template;
pub mod tls_probe;
pub mod toml_file;
pub mod verdict;

pub use reference_server;

use cli::{Cli, Command};
use exit::{Exit, Failure};

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Conform(args) => commands::conform::run(args).await,
        Command::List(args) => commands::list::run(args),
        Command::Load(args) => commands::load::run(*args).await,
        Command::Serve(args) => commands::serve::run(args).await,
        Command::Snapshots(args) => commands::snapshots::run(args),
    }
}
