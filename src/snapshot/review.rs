//! Pending snapshots (`.snap.new`, written beside `.snap` by a run that drifted or met a new
//! case) accepted, rejected or reviewed one by one, without Cargo: users who test a Java or Go
//! server have no Cargo.toml for `cargo insta review`. The files are insta's, so either tool
//! works on them.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

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
        let text = |p: &Path| -> std::io::Result<String> {
            match std::fs::read_to_string(p) {
                Ok(t) => Ok(body(&t).to_owned()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
                Err(e) => Err(e),
            }
        };
        Ok(super::diff(&text(&self.stored())?, &text(&self.path)?))
    }

    pub fn accept(&self) -> std::io::Result<()> {
        std::fs::rename(&self.path, self.stored())
    }

    pub fn reject(&self) -> std::io::Result<()> {
        std::fs::remove_file(&self.path)
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

/// Shows each pending snapshot's diff and asks: accept, reject, skip, or quit (the rest are
/// skipped). Reads answers from `input`, one line each.
pub fn review(
    pending: &[Pending],
    input: &mut impl BufRead,
    out: &mut impl Write,
) -> std::io::Result<Decisions> {
    let mut decisions = Decisions::default();
    for (index, p) in pending.iter().enumerate() {
        writeln!(
            out,
            "\n[{}/{}] {} ({})",
            index + 1,
            pending.len(),
            p.id,
            p.path.display()
        )?;
        for line in p.diff()?.lines() {
            writeln!(out, "  {line}")?;
        }
        loop {
            write!(out, "accept (a), reject (r), skip (s), quit (q)? ")?;
            out.flush()?;
            let mut answer = String::new();
            if input.read_line(&mut answer)? == 0 {
                decisions.skipped += pending.len() - index;
                return Ok(decisions);
            }
            match answer.trim() {
                "a" | "accept" => {
                    p.accept()?;
                    decisions.accepted += 1;
                }
                "r" | "reject" => {
                    p.reject()?;
                    decisions.rejected += 1;
                }
                "s" | "skip" => decisions.skipped += 1,
                "q" | "quit" => {
                    decisions.skipped += pending.len() - index;
                    return Ok(decisions);
                }
                _ => continue,
            }
            break;
        }
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "grantcheck-review-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("embedded")).unwrap();
        let snap = |name: &str, text: &str| {
            super::super::write_snap(&dir.join("embedded").join(name), "X", text).unwrap()
        };
        snap("A-1.snap", "outcome: pass\nexpires_in: 3600\n");
        snap("A-1.snap.new", "outcome: pass\nexpires_in: 60\n");
        snap("B-2.snap.new", "outcome: pass\n");
        dir
    }

    #[test]
    fn pending_snapshots_are_reviewed_accepted_and_rejected() {
        let dir = folder();
        let all = pending(&dir, &[]).unwrap();
        assert_eq!(
            all.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["A-1", "B-2"]
        );
        let diff = all[0].diff().unwrap();
        assert!(
            diff.contains("-expires_in: 3600") && diff.contains("+expires_in: 60"),
            "{diff}"
        );
        assert_eq!(pending(&dir, &["b-2".into()]).unwrap().len(), 1);

        let mut out = Vec::new();
        let decisions = review(&all, &mut "x\na\nr\n".as_bytes(), &mut out).unwrap();
        assert_eq!(
            decisions,
            Decisions {
                accepted: 1,
                rejected: 1,
                skipped: 0
            }
        );
        let accepted = std::fs::read_to_string(dir.join("embedded/A-1.snap")).unwrap();
        assert!(accepted.contains("expires_in: 60"));
        assert!(!dir.join("embedded/B-2.snap.new").exists());
        assert!(!dir.join("embedded/B-2.snap").exists());
        assert!(pending(&dir, &[]).unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
