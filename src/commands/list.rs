//! `grantcheck list`: the cases (id, level, spec, tags) or the named checks.

use std::fmt::Write as _;
use std::io::Write as _;

use clap::Args;

use crate::case::{Case, CaseSelection};
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
    let mut text = String::new();
    if args.checks {
        let width = Check::ALL.iter().map(|c| c.name().len()).max().unwrap_or(0);
        for check in Check::ALL {
            let _ = writeln!(text, "{:<width$}  {}", check.name(), check.describe());
        }
        return print(&text);
    }
    let Some(cases) = super::selected_cases(&args.selection)? else {
        return Ok(Exit::NoCases);
    };
    // Columns as wide as their longest value, so every row lines up.
    let width = |f: fn(&Case) -> &str| {
        cases
            .iter()
            .map(|c| f(c).chars().count())
            .max()
            .unwrap_or(0)
    };
    let (id, spec, area) = (
        width(|c| &c.id).max(2),
        width(|c| &c.spec).max(4),
        width(|c| &c.area).max(4),
    );
    let _ = writeln!(
        text,
        "{:<id$}  {:<6}  {:<spec$}  {:<area$}  title [tags]",
        "id", "level", "spec", "area"
    );
    for c in &cases {
        let _ = writeln!(
            text,
            "{:<id$}  {:<6}  {:<spec$}  {:<area$}  {} [{}]",
            c.id,
            c.level.as_str(),
            c.spec,
            c.area,
            c.title,
            c.tags.join(",")
        );
    }
    let exit = print(&text)?;
    let n = cases.len();
    eprintln!("{n} case{}", if n == 1 { "" } else { "s" });
    Ok(exit)
}

/// Writes to stdout; a reader that went away (`grantcheck list | head -1`) ends the command
/// quietly, as other command-line tools do, instead of a panic.
fn print(text: &str) -> Result<Exit, Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(Exit::Success),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(Exit::Success),
        Err(e) => Err(Failure::internal(format!("cannot write to stdout: {e}"))),
    }
}
