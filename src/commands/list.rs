//! `grantcheck list`: the cases (id, level, spec, tags) or the named checks.

use clap::Args;

use crate::case::CaseSelection;
use crate::checks::Check;
use crate::exit::{Exit, Failure};

#[derive(Debug, Args)]
pub struct ListArgs {
    /// List the named checks cases can use instead of the cases.
    #[arg(long)]
    pub checks: bool,
    #[command(flatten)]
    pub selection: CaseSelection,
}

pub fn run(args: ListArgs) -> Result<Exit, Failure> {
    if args.checks {
        for check in Check::ALL {
            println!("{:<34} {}", check.name(), check.describe());
        }
        return Ok(Exit::Success);
    }
    let Some(cases) = super::selected_cases(&args.selection)? else {
        return Ok(Exit::NoCases);
    };
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
