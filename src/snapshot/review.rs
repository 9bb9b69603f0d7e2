//! Pending snapshots (`.snap.new`, written beside `.snap` by a run that drifted or met a new
//! case) accepted, rejected or reviewed one by one, without Cargo: users who test a Java or Go
//! server have no Cargo.toml for `cargo insta review`. The files are insta's, so either tool
//! works on them. Like `cargo insta review`, a review reads single keys on a terminal
//! (`keys.rs`) and shows each diff in colour; the same change pending for several cases can
//! be accepted for all of them at once.

use std::io::Write;
use std::path::{Path, PathBuf};

mod keys;

pub use keys::{Keys, LineKeys, TerminalKeys};

/// A `.snap.new` waiting for a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The case id (the file stem).
    pub id: String,
    /// `DIR/<target>/<ID>.snap.new`.
    pub path: PathBuf,
}

impl Pending {
    /// The snapshot it would replace.
    pub fn stored(&self) -> PathBuf {
        self.path.with_extension("")
    }

    /// stored → pending as a unified diff (all `+` for a new case).
    pub fn diff(&self) -> std::io::Result<String> {
        Ok(super::diff(
            &read_body(&self.stored())?,
            &read_body(&self.path)?,
        ))
    }

    pub fn accept(&self) -> std::io::Result<()> {
        std::fs::rename(&self.path, self.stored())
    }

    pub fn reject(&self) -> std::io::Result<()> {
        std::fs::remove_file(&self.path)
    }
}

/// A snapshot file's text after its header; empty when there is no such file.
fn read_body(path: &Path) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(body(&t).to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
    }
}

/// The text after insta's YAML header.
fn body(file: &str) -> &str {
    file.strip_prefix("---\n")
        .and_then(|rest| rest.split_once("\n---\n"))
        .map_or(file, |(_, body)| body)
}

/// Every pending snapshot under `root` (one folder per target, or `root` itself), sorted,
/// keeping those whose case id is in `only` when it is not empty.
pub fn pending(root: &Path, only: &[String]) -> std::io::Result<Vec<Pending>> {
    let mut found = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path();
        if path.is_dir() {
            folders.push(path);
        }
    }
    for folder in folders {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(id) = name.strip_suffix(".snap.new") {
                let wanted = only.is_empty() || only.iter().any(|o| o.eq_ignore_ascii_case(id));
                if wanted {
                    found.push(Pending {
                        id: id.to_owned(),
                        path,
                    });
                }
            }
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(found)
}

/// What the reviewer decided, counted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decisions {
    pub accepted: usize,
    pub rejected: usize,
    pub skipped: usize,
}

/// A pending snapshot with what the review shows of it.
struct Shown<'a> {
    pending: &'a Pending,
    diff: String,
    /// The `-`/`+` lines, which group it with cases that changed the same way.
    changes: Vec<String>,
    /// The case passed in its stored snapshot and fails in the pending one.
    pass_to_fail: bool,
    decided: bool,
}

/// `outcome: pass` in a snapshot's text.
fn outcome(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("outcome: "))
}

/// Shows each pending snapshot's diff (coloured when `color`) and asks: accept (`a`),
/// reject (`r`), skip (`s`), accept this change for every case it touches (`A`), or quit
/// (`q`, the rest are skipped). Accepting a change that turns a pass into a fail asks again
/// (`y`/`n`). The drift is grouped as a run groups it (the same changed lines).
pub fn review(
    pending: &[Pending],
    keys: &mut impl Keys,
    out: &mut impl Write,
    color: bool,
) -> std::io::Result<Decisions> {
    let mut shown = Vec::with_capacity(pending.len());
    for p in pending {
        let stored = read_body(&p.stored())?;
        let new = read_body(&p.path)?;
        let diff = super::diff(&stored, &new);
        shown.push(Shown {
            pending: p,
            changes: super::changed_lines(&diff)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            diff,
            pass_to_fail: outcome(&stored) == Some("pass") && outcome(&new) == Some("fail"),
            decided: false,
        });
    }
    let mut decisions = Decisions::default();
    for index in 0..shown.len() {
        if shown[index].decided {
            continue;
        }
        let item = &shown[index];
        writeln!(
            out,
            "\n[{}/{}] {} ({})",
            index + 1,
            shown.len(),
            item.pending.id,
            item.pending.path.display()
        )?;
        // Snapshots are compared without their last newline: the note says nothing.
        for line in item
            .diff
            .lines()
            .filter(|l| !l.starts_with("\\ No newline"))
        {
            writeln!(out, "  {}", paint_diff_line(line, color))?;
        }
        // The same change pending for other cases: `A` decides them together.
        let group: Vec<usize> = (index..shown.len())
            .filter(|&i| {
                !shown[i].decided && !item.changes.is_empty() && shown[i].changes == item.changes
            })
            .collect();
        if group.len() > 1 {
            let others: Vec<&str> = group[1..]
                .iter()
                .map(|&i| shown[i].pending.id.as_str())
                .collect();
            writeln!(
                out,
                "  the same change is pending for {} other case{}: {}",
                others.len(),
                if others.len() == 1 { "" } else { "s" },
                others.join(", ")
            )?;
        }
        loop {
            if group.len() > 1 {
                write!(
                    out,
                    "accept (a), reject (r), skip (s), accept for all {} cases (A), quit (q)? ",
                    group.len()
                )?;
            } else {
                write!(out, "accept (a), reject (r), skip (s), quit (q)? ")?;
            }
            let Some(key) = keys.key(out)? else {
                return Ok(finish(decisions, shown.len()));
            };
            let chosen: &[usize] = match key {
                'a' => &group[..1],
                'A' => &group,
                'r' => {
                    shown[index].pending.reject()?;
                    shown[index].decided = true;
                    decisions.rejected += 1;
                    break;
                }
                's' => break,
                'q' => return Ok(finish(decisions, shown.len())),
                _ => continue,
            };
            if !confirm_pass_to_fail(&shown, chosen, keys, out, color)? {
                writeln!(out, "not accepted")?;
                continue;
            }
            for &i in chosen {
                shown[i].pending.accept()?;
                shown[i].decided = true;
                decisions.accepted += 1;
            }
            if chosen.len() > 1 {
                let ids: Vec<&str> = chosen
                    .iter()
                    .map(|&i| shown[i].pending.id.as_str())
                    .collect();
                writeln!(out, "accepted for {}", ids.join(", "))?;
            }
            break;
        }
    }
    Ok(finish(decisions, shown.len()))
}

fn finish(mut decisions: Decisions, total: usize) -> Decisions {
    decisions.skipped = total - decisions.accepted - decisions.rejected;
    decisions
}

/// Accepting a pass that now fails makes the failure the expected behaviour: say so and ask.
fn confirm_pass_to_fail(
    shown: &[Shown<'_>],
    chosen: &[usize],
    keys: &mut impl Keys,
    out: &mut impl Write,
    color: bool,
) -> std::io::Result<bool> {
    let turned: Vec<&str> = chosen
        .iter()
        .filter(|&&i| shown[i].pass_to_fail)
        .map(|&i| shown[i].pending.id.as_str())
        .collect();
    if turned.is_empty() {
        return Ok(true);
    }
    let warning = format!(
        "WARNING: {} passed and now fail{} (outcome: pass → fail); accepting records the failure as expected",
        turned.join(", "),
        if turned.len() == 1 { "s" } else { "" }
    );
    let warning = if color {
        format!("\x1b[1;33m{warning}\x1b[0m")
    } else {
        warning
    };
    writeln!(out, "{warning}")?;
    loop {
        write!(out, "accept anyway? (y/n) ")?;
        match keys.key(out)? {
            Some('y') => return Ok(true),
            Some('n' | 'q') | None => return Ok(false),
            Some(_) => continue,
        }
    }
}

/// A unified diff's line in colour: removed red, added green, hunk headers cyan.
fn paint_diff_line(line: &str, color: bool) -> String {
    if !color {
        return line.to_owned();
    }
    let code = if line.starts_with("---") || line.starts_with("+++") {
        "1"
    } else if line.starts_with('-') {
        "31"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with("@@") {
        "36"
    } else {
        return line.to_owned();
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

#[cfg(test)]
mod tests;
