use std::path::PathBuf;

use super::*;

/// A snapshots folder with one target, `embedded`, holding `files` (name, text).
fn folder(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("grantcheck-review-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("embedded")).unwrap();
    for (file, text) in files {
        super::super::write_snap(&dir.join("embedded").join(file), "X", text).unwrap();
    }
    dir
}

fn answer(pending: &[Pending], keys: &str, color: bool) -> (Decisions, String) {
    let mut out = Vec::new();
    let decisions = review(pending, &mut LineKeys(keys.as_bytes()), &mut out, color).unwrap();
    (decisions, String::from_utf8(out).unwrap())
}

#[test]
fn pending_snapshots_are_reviewed_accepted_and_rejected() {
    let dir = folder(
        "one-by-one",
        &[
            ("A-1.snap", "outcome: pass\nexpires_in: 3600\n"),
            ("A-1.snap.new", "outcome: pass\nexpires_in: 60\n"),
            ("B-2.snap.new", "outcome: pass\n"),
        ],
    );
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

    // An unknown answer asks again; words work as well as keys.
    let (decisions, _) = answer(&all, "x\na\nreject\n", false);
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

#[test]
fn one_change_is_accepted_for_every_case_it_touches() {
    let dir = folder(
        "group",
        &[
            ("A-1.snap", "outcome: pass\nexpires_in: 3600\n"),
            ("A-1.snap.new", "outcome: pass\nexpires_in: 60\n"),
            ("B-2.snap", "case: B-2\noutcome: pass\nexpires_in: 3600\n"),
            ("B-2.snap.new", "case: B-2\noutcome: pass\nexpires_in: 60\n"),
            ("C-3.snap", "outcome: pass\nscope: write\n"),
            ("C-3.snap.new", "outcome: pass\nscope: read\n"),
            ("D-4.snap", "outcome: pass\nexpires_in: 3600\n"),
            ("D-4.snap.new", "outcome: pass\nexpires_in: 60\n"),
        ],
    );
    let all = pending(&dir, &[]).unwrap();
    let (decisions, out) = answer(&all, "A\ns\n", false);
    assert!(
        out.contains("the same change is pending for 2 other cases: B-2, D-4"),
        "{out}"
    );
    assert!(out.contains("accept for all 3 cases (A)"), "{out}");
    assert!(out.contains("accepted for A-1, B-2, D-4"), "{out}");
    // C-3 changed something else: asked on its own, and skipped.
    assert!(out.contains("[3/4] C-3"), "{out}");
    assert!(!out.contains("[2/4]") && !out.contains("[4/4]"), "{out}");
    assert_eq!(
        decisions,
        Decisions {
            accepted: 3,
            rejected: 0,
            skipped: 1
        }
    );
    let left: Vec<String> = pending(&dir, &[])
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(left, ["C-3"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn accepting_a_pass_that_now_fails_asks_again() {
    let dir = folder(
        "pass-to-fail",
        &[
            ("A-1.snap", "outcome: pass\n< 200\n"),
            ("A-1.snap.new", "outcome: fail\n< 500\n"),
        ],
    );
    let all = pending(&dir, &[]).unwrap();
    // Declined: nothing accepted, and the question comes back; then skipped.
    let (decisions, out) = answer(&all, "a\nn\ns\n", false);
    assert!(
        out.contains("WARNING: A-1 passed and now fails (outcome: pass → fail)"),
        "{out}"
    );
    assert!(out.contains("not accepted"), "{out}");
    assert_eq!(decisions.accepted, 0);
    assert!(dir.join("embedded/A-1.snap.new").exists());
    // Confirmed.
    let (decisions, _) = answer(&all, "a\ny\n", false);
    assert_eq!(decisions.accepted, 1);
    let stored = std::fs::read_to_string(dir.join("embedded/A-1.snap")).unwrap();
    assert!(stored.contains("outcome: fail"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_diff_is_coloured_on_request() {
    let dir = folder(
        "colour",
        &[
            ("A-1.snap", "outcome: pass\nexpires_in: 3600\n"),
            ("A-1.snap.new", "outcome: pass\nexpires_in: 60\n"),
        ],
    );
    let all = pending(&dir, &[]).unwrap();
    let (_, out) = answer(&all, "s\n", true);
    assert!(out.contains("\x1b[31m-expires_in: 3600\x1b[0m"), "{out}");
    assert!(out.contains("\x1b[32m+expires_in: 60\x1b[0m"), "{out}");
    let (_, plain) = answer(&all, "s\n", false);
    assert!(!plain.contains('\x1b'), "{plain}");
    assert!(plain.contains("  -expires_in: 3600\n"), "{plain}");
    assert!(!plain.contains("No newline"), "{plain}");
    let _ = std::fs::remove_dir_all(&dir);
}
