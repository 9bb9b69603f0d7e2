//! Conformance snapshots: each case's verdict and normalised exchanges as an insta `.snap`
//! file, one folder per target, so CI can gate on behaviour changes; `grantcheck snapshots
//! review|accept|reject` (`review.rs`, or `cargo insta review`) accepts them. `render.rs`
//! makes the text; nothing secret survives (exchanges are redacted before they get here).

mod render;
pub mod review;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::outcome::CaseResult;
use crate::target::Target;

pub use render::render;

/// `--snapshots`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Compare with the stored snapshots; drift fails the run.
    Check,
    /// Rewrite the stored snapshots.
    Update,
    /// Neither read nor write snapshots.
    Off,
}

/// How one case compared with its stored snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Comparison {
    Matched,
    /// No stored snapshot: a pending `.snap.new` was written.
    New(PathBuf),
    /// Differs from the stored snapshot: the diff, and the pending `.snap.new` written.
    Drifted {
        diff: String,
        pending: PathBuf,
    },
    Written,
}

/// How a run compared with its snapshots (one [`Comparison`] per case, counted).
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Comparisons {
    pub matched: usize,
    pub written: usize,
    pub new: Vec<String>,
    pub drifted: Vec<String>,
    /// Each drifted case's unified diff, stored → this run.
    pub diffs: BTreeMap<String, String>,
    /// The run was compared without writing pending `.snap.new` files: it differs from the
    /// golden run (filters), so its differences must not be offered for acceptance.
    pub read_only: bool,
}

impl Comparisons {
    /// Whether the run fails: drift always, new snapshots only in CI (never silently accepted).
    pub fn fails(&self, in_ci: bool) -> bool {
        !self.drifted.is_empty() || (in_ci && !self.new.is_empty())
    }

    /// Drifts grouped by what changed: one value changed across many cases (say
    /// `expires_in`) is one group listing its cases, shown once.
    pub fn grouped(&self) -> Vec<DriftGroup<'_>> {
        let mut groups: Vec<DriftGroup<'_>> = Vec::new();
        for id in &self.drifted {
            let Some(diff) = self.diffs.get(id) else {
                continue;
            };
            let changes = changed_lines(diff);
            match groups.iter_mut().find(|g| g.changes == changes) {
                Some(group) => group.cases.push(id),
                None => groups.push(DriftGroup {
                    changes,
                    diff,
                    cases: vec![id],
                }),
            }
        }
        groups
    }
}

/// Cases whose snapshots changed in the same lines.
#[derive(Debug)]
pub struct DriftGroup<'a> {
    /// The removed and added lines, in order.
    pub changes: Vec<&'a str>,
    /// The first case's whole diff, for context.
    pub diff: &'a str,
    pub cases: Vec<&'a str>,
}

impl DriftGroup<'_> {
    /// What to show: one case's whole diff, or the changed lines shared by many cases.
    pub fn text(&self) -> String {
        if self.cases.len() == 1 {
            self.diff.trim_end().to_owned()
        } else {
            self.changes.join("\n")
        }
    }
}

/// The distinct `-`/`+` lines of a unified diff, in order, without its headers: the same
/// change made twice in one case groups with cases that have it once.
pub(super) fn changed_lines(diff: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = Vec::new();
    for line in diff.lines() {
        let changed = (line.starts_with('-') && !line.starts_with("---"))
            || (line.starts_with('+') && !line.starts_with("+++"));
        if changed && !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

/// The folder of a target's snapshots: `DIR/<label>`, the label made file-name safe.
pub fn target_dir(root: &Path, target: &Target) -> PathBuf {
    let safe: String = target
        .label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join(safe.trim_matches('_'))
}

/// The default mode: check when the target already has snapshots, otherwise off.
pub fn default_mode(dir: &Path) -> Mode {
    let has_snapshots = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "snap"))
        })
        .unwrap_or(false);
    if has_snapshots {
        Mode::Check
    } else {
        Mode::Off
    }
}

/// Checks or writes every result's snapshot. With `write_pending` false (a run that is not
/// the golden one), differences are reported but no `.snap.new` is left to accept.
pub fn apply(
    mode: Mode,
    dir: &Path,
    target: &Target,
    results: &[CaseResult],
    write_pending: bool,
) -> std::io::Result<Comparisons> {
    let mut outcome = Comparisons {
        read_only: !write_pending,
        ..Comparisons::default()
    };
    if mode == Mode::Off {
        return Ok(outcome);
    }
    std::fs::create_dir_all(dir)?;
    for result in results {
        let text = render(result, target);
        let path = dir.join(format!("{}.snap", file_stem(&result.id)));
        let comparison = match mode {
            Mode::Update => {
                write_snap(&path, &result.id, &text)?;
                let _ = std::fs::remove_file(path.with_extension("snap.new"));
                Comparison::Written
            }
            _ => compare(&path, &result.id, &text, write_pending)?,
        };
        match &comparison {
            Comparison::Matched => outcome.matched += 1,
            Comparison::Written => outcome.written += 1,
            Comparison::New(_) => outcome.new.push(result.id.clone()),
            Comparison::Drifted { diff, .. } => {
                outcome.drifted.push(result.id.clone());
                outcome.diffs.insert(result.id.clone(), diff.clone());
            }
        }
    }
    Ok(outcome)
}

fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn compare(path: &Path, id: &str, text: &str, write_pending: bool) -> std::io::Result<Comparison> {
    let pending = path.with_extension("snap.new");
    let stored = match insta::Snapshot::from_file(path) {
        Ok(snapshot) => snapshot.as_text().map(|t| t.to_string()),
        Err(_) if !path.exists() => {
            if write_pending {
                write_snap(&pending, id, text)?;
            }
            return Ok(Comparison::New(pending));
        }
        Err(e) => return Err(std::io::Error::other(format!("{}: {e}", path.display()))),
    };
    let stored = stored.unwrap_or_default();
    if stored.trim_end() == text.trim_end() {
        let _ = std::fs::remove_file(&pending);
        return Ok(Comparison::Matched);
    }
    if write_pending {
        write_snap(&pending, id, text)?;
    }
    Ok(Comparison::Drifted {
        diff: diff(&stored, text),
        pending,
    })
}

/// A unified diff, old → new, with a little context.
pub fn diff(old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old.trim_end(), new.trim_end())
        .unified_diff()
        .context_radius(2)
        .header("stored", "this run")
        .to_string()
}

/// The insta file format: a small YAML header, then the text.
pub(crate) fn write_snap(path: &Path, id: &str, text: &str) -> std::io::Result<()> {
    let mut file = format!("---\nsource: grantcheck conform\nexpression: {id}\n---\n{text}");
    if !file.ends_with('\n') {
        file.push('\n');
    }
    std::fs::write(path, file)
}
