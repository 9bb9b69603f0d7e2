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
        Cli::from_arg_matches(&Cli::shown().try_get_matches()?)
    }

    /// The command line as `--help` shows it: `load` (and `load capacity`) with Goose's
    /// options adapted and the built-in profiles listed as they are.
    pub fn shown() -> clap::Command {
        Cli::command().mut_subcommand("load", |load| {
            load_options(load).mut_subcommand("capacity", load_options)
        })
    }
}

/// `load`'s and `load capacity`'s options as grantcheck offers them: Goose's without their
/// notes for its Rust API, `--profile` naming every built-in profile (read from
/// `scenarios/load/`, so the list cannot go stale), `-V` printing the version only.
fn load_options(command: clap::Command) -> clap::Command {
    let profiles = crate::load::profile::builtin_names().join(", ");
    command
        .mut_args(for_grantcheck)
        .mut_arg("profile", |arg| {
            arg.help(format!("A built-in profile ({profiles}) or a profile file"))
        })
        .mut_arg("version", |arg| {
            arg.help("Print the version (grantcheck's and Goose's) and exit")
                .long_help(None::<&str>)
        })
}

/// Goose's logs that would write credentials or tokens (and the options that only shape
/// them): still parsed, so `load` refuses them with the reason, but not offered in `--help`.
const REFUSED_GOOSE_OPTIONS: &[&str] = &[
    "request_log",
    "request_format",
    "request_body",
    "error_log",
    "error_format",
    "debug_log",
    "debug_format",
    "no_debug_body",
];

fn for_grantcheck(arg: clap::Arg) -> clap::Arg {
    let refused = REFUSED_GOOSE_OPTIONS.contains(&arg.get_id().as_str());
    without_api_notes(arg).hide(refused)
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
        // Goose's logs that grantcheck refuses are not mentioned either.
        text.replace(" The error log, --error-log, is still written.", "")
            .replace(
                "--request-log, --transaction-log, --scenario-log, --error-log or",
                "--transaction-log, --scenario-log or",
            )
            .replace(
            "It overrides a host set with Scenario::set_host or GooseDefault::Host, and is required unless one of those gives every scenario a host. A request with a full URL ignores it.",
            "grantcheck sends every request of the run there, the paths staying the target's (--target or --token-url is still needed).",
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
