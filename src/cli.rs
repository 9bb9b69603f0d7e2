//! The command line.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    after_help = "Exit codes: 0 passed (every MUST met) · 1 internal error · 2 usage/config error · 3 no verdict (unreachable, discovery, preflight, blocked or errored cases, an unusable configured client) · 4 failed (a MUST, or snapshots) · 5 load thresholds missed · 6 no case matched"
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

impl Cli {
    /// Parses the process's arguments. Goose's flattened options keep their help, without
    /// its notes for Goose's Rust API ("Set in code with GooseDefault::…"), which mean
    /// nothing on grantcheck's command line.
    pub fn try_parse_args() -> Result<Cli, clap::Error> {
        let command =
            Cli::command().mut_subcommand("load", |load| load.mut_args(without_api_notes));
        Cli::from_arg_matches(&command.try_get_matches()?)
    }
}

fn without_api_notes(arg: clap::Arg) -> clap::Arg {
    const NOTE: &str = "Set in code with GooseDefault::";
    let strip = |text: String| {
        let mut text = text;
        while let Some(at) = text.find(NOTE) {
            let rest = &text[at + NOTE.len()..];
            let end = at + NOTE.len() + rest.find('.').map_or(rest.len(), |i| i + 1);
            let start = text[..at].trim_end().len();
            text.replace_range(start..end, "");
        }
        text.replace(
            "It overrides a host set with Scenario::set_host or GooseDefault::Host, and is required unless one of those gives every scenario a host.",
            "grantcheck sets it to the target's origin; this overrides that.",
        )
    };
    let long = arg.get_long_help().map(|h| strip(h.to_string()));
    let short = arg.get_help().map(|h| strip(h.to_string()));
    let arg = match long {
        Some(text) => arg.long_help(text),
        None => arg,
    };
    match short {
        Some(text) => arg.help(text),
        None => arg,
    }
}
