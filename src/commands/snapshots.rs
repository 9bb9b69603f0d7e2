//! `grantcheck snapshots review|accept|reject`: decide on the pending snapshots a run left
//! (`.snap.new`), without Cargo.

use std::io::IsTerminal;
use std::path::PathBuf;

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
    /// Show each pending snapshot's diff and accept, reject or skip it (interactive).
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
    let pending = review::pending(&which.snapshot_dir, &which.only).map_err(|e| {
        Failure::usage(format!("cannot read {}: {e}", which.snapshot_dir.display()))
    })?;
    if pending.is_empty() {
        eprintln!(
            "no pending snapshots (.snap.new) in {}",
            which.snapshot_dir.display()
        );
        return Ok(Exit::Success);
    }
    let io = |e: std::io::Error| Failure::runtime(format!("snapshots: {e}"));
    match args.action {
        Action::Review(_) => {
            if !std::io::stdin().is_terminal() {
                return Err(Failure::usage(
                    "`snapshots review` asks on a terminal; use `snapshots accept` or `snapshots reject` (with --only ID) in scripts",
                ));
            }
            let decisions = review::review(
                &pending,
                &mut std::io::stdin().lock(),
                &mut std::io::stderr(),
            )
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
