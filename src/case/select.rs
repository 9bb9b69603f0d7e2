//! Which cases a run loads and runs: the built-in set and `--cases` folders, then
//! `--only` and `--skip`. Shared by `conform` and `list`.

use std::path::PathBuf;

use clap::Args;

use super::Case;
use super::LoadError;

/// Which cases to load and run; shared by `conform` and `list`.
#[derive(Debug, Args, Clone, Default)]
pub struct CaseSelection {
    /// Only cases whose id (or `PREFIX*`), tag or area matches (repeatable, comma-separated).
    #[arg(help_heading = "Cases and profiles", long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out cases whose id, tag or area matches (repeatable, comma-separated).
    #[arg(help_heading = "Cases and profiles", long, value_delimiter = ',')]
    pub skip: Vec<String>,
    /// More case files (folders of TOML), added to the built-in cases.
    #[arg(
        help_heading = "Cases and profiles",
        long = "cases",
        alias = "scenarios",
        value_name = "DIR"
    )]
    pub scenario_dirs: Vec<PathBuf>,
    /// Leave out the built-in cases (use with --cases).
    #[arg(help_heading = "Cases and profiles", long)]
    pub no_builtin: bool,
}

impl CaseSelection {
    /// Loads the built-in and user cases and applies `--only` and `--skip`.
    pub fn cases(&self) -> Result<Vec<Case>, LoadError> {
        let mut cases = if self.no_builtin {
            Vec::new()
        } else {
            super::builtin()?
        };
        for dir in &self.scenario_dirs {
            cases.extend(super::from_dir(dir)?);
        }
        super::check_unique(&cases)?;
        Ok(cases
            .into_iter()
            .filter(|c| self.only.is_empty() || self.only.iter().any(|f| c.matches(f)))
            .filter(|c| !self.skip.iter().any(|f| c.matches(f)))
            .map(|mut c| {
                c.opted_in = self.only.iter().any(|f| {
                    f.eq_ignore_ascii_case(&c.id) || c.opt_in.as_deref() == Some(f.as_str())
                });
                c
            })
            .collect())
    }
}
