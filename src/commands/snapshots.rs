//! `grantcheck snapshots review|accept|reject`: decide on the pending snapshots a run left
//! (`.snap.new`), without Cargo.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::exit::{Exit, Failure};
use crate::snapshot::review::{self, Pending};

#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Show each pending snapshot's diff and accept (a), reject (r) or skip (s) it, or accept
    /// its change for every case it touches (A): single keys on a terminal, a line each
    /// from a script.
    Review(Which),
    /// Accept pending snapshots: they become the stored ones.
    Accept(Which),
    /// Delete pending snapshots, keeping the stored ones.
    Reject(Which),
}

#[derive(Debug, Args)]
pub struct Which {
    /// The snapshots folder (one subfolder per target), or one target's folder.
    #[arg(long, value_name = "DIR", default_value = "snapshots")]
    pub snapshot_dir: PathBuf,
    /// Only these case ids (repeatable, comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub only: Vec<String>,
}

pub fn run(args: SnapshotsArgs) -> Result<Exit, Failure> {
    let which = match &args.action {
        Action::Review(w) | Action::Accept(w) | Action::Reject(w) => w,
    };
    let dir = &which.snapshot_dir;
    if !dir.is_dir() {
        return Err(Failure::usage(not_a_folder(dir)));
    }
    let pending = review::pending(dir, &which.only)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", dir.display())))?;
    if pending.is_empty() {
        eprintln!(
            "no pending snapshots (.snap.new) in {} or its target folders{}",
            absolute(dir).display(),
            if which.only.is_empty() {
                String::new()
            } else {
                format!(" for {}", which.only.join(", "))
            }
        );
        return Ok(Exit::Success);
    }
    let io = |e: std::io::Error| Failure::runtime(format!("snapshots: {e}"));
    match args.action {
        Action::Review(_) => {
            let color = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let mut err = std::io::stderr();
            // Single keys on a terminal; answers a line each from a script.
            let decisions = if std::io::stdin().is_terminal() {
                review::review(&pending, &mut review::TerminalKeys, &mut err, color)
            } else {
                let mut keys = review::LineKeys(std::io::stdin().lock());
                review::review(&pending, &mut keys, &mut err, color)
            }
            .map_err(io)?;
            eprintln!(
                "{} accepted, {} rejected, {} skipped",
                decisions.accepted, decisions.rejected, decisions.skipped
            );
        }
        Action::Accept(_) => {
            each(&pending, "accepted", Pending::accept).map_err(io)?;
        }
        Action::Reject(_) => {
            each(&pending, "rejected", Pending::reject).map_err(io)?;
        }
    }
    Ok(Exit::Success)
}

fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Where `snapshots` looked and what to pass instead.
fn not_a_folder(dir: &Path) -> String {
    format!(
        "no snapshots folder at {}: run from the folder where `grantcheck conform` ran (it writes snapshots/<target>/), or pass --snapshot-dir DIR (the snapshots folder, or one target's folder in it)",
        absolute(dir).display()
    )
}

fn each(
    pending: &[Pending],
    done: &str,
    act: fn(&Pending) -> std::io::Result<()>,
) -> std::io::Result<()> {
    for p in pending {
        act(p)?;
        eprintln!("{done} {} ({})", p.id, p.path.display());
    }
    Ok(())
}
