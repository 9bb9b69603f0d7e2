//! `grantcheck list`: the cases (id, level, spec, tags) or the named checks.

use std::path::PathBuf;

use clap::Args;

use crate::checks::Check;
use crate::commands::conform::{load_cases, select};
use crate::exit::{Exit, Failure};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the named checks cases can use instead of the cases.
    #[arg(long)]
    pub checks: bool,
    /// Only cases whose id (or `PREFIX*`), tag or area matches (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    #[arg(long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// More case folders, as for `conform`.
    #[arg(long = "scenarios", value_name = "DIR")]
    pub scenario_dirs: Vec<PathBuf>,
    #[arg(long)]
    pub no_builtin: bool,
}

pub fn run(args: ListArgs) -> Result<Exit, Failure> {
    if args.checks {
        for check in Check::ALL {
            println!("{:<34} {}", check.name(), check.describe());
        }
        return Ok(Exit::Success);
    }
    let cases = select(
        load_cases(&args.scenario_dirs, args.no_builtin)?,
        &args.only,
        &args.skip,
    );
    if cases.is_empty() {
        eprintln!("grantcheck: no case matches the filter");
        return Ok(Exit::NoCases);
    }
    println!(
        "{:<12} {:<6} {:<22} {:<14} title [tags]",
        "id", "level", "spec", "area"
    );
    for c in &cases {
        println!(
            "{:<12} {:<6} {:<22} {:<14} {} [{}]",
            c.id,
            c.level.as_str(),
            c.spec,
            c.area,
            c.title,
            c.tags.join(",")
        );
    }
    eprintln!("{} cases", cases.len());
    Ok(Exit::Success)
}
