//! Loading case files: the compiled-in set, a user's folders, and where in each file every
//! case and step starts (so a failure can point at its line).

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use serde::Deserialize;
use toml::Spanned;

use super::Case;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

/// A case file that cannot be used: names the file, and line and column where known.
#[derive(Debug)]
pub struct LoadError(pub String);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// Profiles known to the suite.
pub const PROFILES: &[&str] = &["rfc6749", "oauth21", "strict", "fapi2"];

/// Parses one case file's text; `origin` names it in errors and `area` is its folder.
pub fn parse_file(text: &str, origin: &str, area: &str) -> Result<Vec<Case>, LoadError> {
    let file: CaseFile = crate::toml_file::parse(text, origin).map_err(LoadError)?;
    let mut cases = file.cases;
    let lines = case_lines(text);
    for (index, case) in cases.iter_mut().enumerate() {
        case.source = origin.to_owned();
        case.area = area.to_owned();
        if let Some((line, steps)) = lines.get(index) {
            case.line = *line;
            for (step, line) in case.steps.iter_mut().zip(steps) {
                step.line = *line;
            }
        }
        if case.steps.is_empty() {
            return Err(LoadError(format!(
                "{origin}: case {} has no steps",
                case.id
            )));
        }
        if let Some(problem) = race_problem(case) {
            return Err(LoadError(format!("{origin}:{problem}")));
        }
        if let Some(problem) = unsaid_skip(case) {
            return Err(LoadError(format!("{origin}:{problem}")));
        }
        if let Some(p) = case
            .profiles
            .keys()
            .chain(case.only_under.iter())
            .find(|p| !PROFILES.contains(&p.as_str()))
        {
            return Err(LoadError(format!(
                "{origin}: case {} names unknown profile '{p}' (known: {})",
                case.id,
                PROFILES.join(", ")
            )));
        }
    }
    Ok(cases)
}

/// A race step that cannot be sent or judged as written: fewer than two copies, captures
/// (which copy's?), or set checks on a step that has no set of answers.
fn race_problem(case: &Case) -> Option<String> {
    for step in &case.steps {
        let set_checks = step
            .expect
            .checks
            .iter()
            .any(|c| c.get_ref().judges_a_set());
        let copies = step.parallel.and_then(|p| p.copies(2));
        let problem = if copies.is_some_and(|n| n < 2) {
            "a race needs at least 2 copies (parallel = N)"
        } else if step.judges_a_set() && !step.capture.is_empty() {
            "a race step captures nothing (which copy's answer?)"
        } else if (step.background || step.fresh_copies) && copies.is_none() {
            "background and fresh_copies need parallel"
        } else if set_checks && !step.judges_a_set() {
            "set checks judge the answers of a race (parallel), of each_raced_token or of each_node"
        } else if step.until_refused && !step.each_node {
            "until_refused needs each_node"
        } else if step.each_node && !case.requires.contains(&crate::case::Requirement::Cluster) {
            "an each_node step needs requires = [\"cluster\"]"
        } else {
            continue;
        };
        return Some(format!("{}: case {}: {problem}", step.line, case.id));
    }
    None
}

/// A case whose judged steps can all be left out without saying what happens then: the
/// first step with a condition (`run_if`, `if_token`) comes before any step that judges,
/// and gives no `otherwise_skip` reason. (The runner would skip it with the bare condition;
/// the case's author knows the premise the server may have declined.) Also a case whose
/// steps are all setup: it judges nothing.
fn unsaid_skip(case: &Case) -> Option<String> {
    if case.steps.iter().all(|s| s.setup) {
        return Some(format!(
            "{}: case {} judges nothing: every step is a setup step",
            case.line, case.id
        ));
    }
    for step in &case.steps {
        let says_why = step
            .run_if
            .as_ref()
            .is_some_and(|c| c.otherwise_skip.is_some());
        let conditional = step.if_token || step.run_if.is_some();
        if conditional && !says_why {
            return Some(format!(
                "{}: case {}: this step's condition can leave out every step that judges; say why the case skips then with run_if's otherwise_skip = \"…\" (the premise the server declined)",
                step.line, case.id
            ));
        }
        if conditional || !step.setup {
            return None;
        }
    }
    None
}

/// Where each case and its steps start in the file, so failures can point at their line.
/// A second, lenient read of the same text that keeps only spans.
fn case_lines(text: &str) -> Vec<(usize, Vec<usize>)> {
    #[derive(Deserialize)]
    struct Spans {
        #[serde(rename = "case", default)]
        cases: Vec<Spanned<CaseSpans>>,
    }
    #[derive(Deserialize)]
    struct CaseSpans {
        #[serde(rename = "step", default)]
        steps: Vec<Spanned<toml::Value>>,
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let Ok(spans) = toml::from_str::<Spans>(text) else {
        return Vec::new();
    };
    spans
        .cases
        .iter()
        .map(|case| {
            let steps = case
                .get_ref()
                .steps
                .iter()
                .map(|s| line_of(s.span().start))
                .collect();
            (line_of(case.span().start), steps)
        })
        .collect()
}

/// The compiled-in cases (everything under `scenarios/` except `load/`).
pub fn builtin() -> Result<Vec<Case>, LoadError> {
    let mut files = Vec::new();
    collect_embedded(&BUILTIN, &mut files);
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut cases = Vec::new();
    for (path, text) in files {
        let area = area_of(Path::new(&path));
        cases.extend(parse_file(&text, &format!("scenarios/{path}"), &area)?);
    }
    Ok(cases)
}

fn collect_embedded(dir: &Dir<'_>, out: &mut Vec<(String, String)>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().into_owned();
        if path.ends_with(".toml") && !path.starts_with("load/") {
            out.push((path, file.contents_utf8().unwrap_or_default().to_owned()));
        }
    }
    for sub in dir.dirs() {
        collect_embedded(sub, out);
    }
}

/// Every `*.toml` under `dir` (recursively, sorted), except a `load/` folder.
pub fn from_dir(dir: &Path) -> Result<Vec<Case>, LoadError> {
    let mut paths = Vec::new();
    walk(dir, &mut paths).map_err(|e| LoadError(format!("{}: {e}", dir.display())))?;
    paths.sort();
    let mut cases = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| LoadError(format!("{}: {e}", path.display())))?;
        let relative = path.strip_prefix(dir).unwrap_or(&path);
        cases.extend(parse_file(
            &text,
            &path.display().to_string(),
            &area_of(relative),
        )?);
    }
    Ok(cases)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "load") {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The area of a case file: its first folder, or its file stem at the top level.
fn area_of(relative: &Path) -> String {
    let mut parts = relative.components();
    let first = parts
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    match (first, parts.next()) {
        (Some(folder), Some(_)) => folder,
        _ => relative
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// Refuses two cases with one id.
pub fn check_unique(cases: &[Case]) -> Result<(), LoadError> {
    let mut seen: HashSet<&str> = HashSet::new();
    for case in cases {
        if !seen.insert(&case.id) {
            return Err(LoadError(format!(
                "{}: case id {} is defined twice",
                case.source, case.id
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_cases_load_and_are_unique() {
        let cases = builtin().unwrap();
        check_unique(&cases).unwrap();
        assert!(cases.len() >= 80, "{} cases", cases.len());
    }

    #[test]
    fn cases_and_steps_know_their_lines() {
        let text = "# c\n[[case]]\nid = \"X\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MUST\"\n\n[[case.step]]\nform = {}\n\n[[case.step]]\nname = \"second\"\n";
        let cases = parse_file(text, "mine.toml", "mine").unwrap();
        assert_eq!(cases[0].line, 2);
        let lines: Vec<usize> = cases[0].steps.iter().map(|s| s.line).collect();
        assert_eq!(lines, [8, 11]);
    }

    /// A case whose every judged step hangs on a condition must say why it skips when the
    /// condition does not hold; once a step has judged, a condition may end the case.
    #[test]
    fn a_case_that_can_judge_nothing_must_say_why_it_skips() {
        let head = "[[case]]\nid = \"X\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MUST\"\n";
        let setup =
            "[[case.step]]\nsetup = true\nendpoint = \"metadata\"\ncapture = { m = \"/m\" }\n";
        let unsaid =
            format!("{head}{setup}\n[[case.step]]\nrun_if = {{ var = \"m\", contains = \"a\" }}\n");
        let err = parse_file(&unsaid, "mine.toml", "mine").unwrap_err().0;
        assert!(err.starts_with("mine.toml:11: case X"), "{err}");
        assert!(err.contains("otherwise_skip"), "{err}");
        let token = format!("{head}{setup}\n[[case.step]]\nif_token = true\n");
        assert!(parse_file(&token, "mine.toml", "mine").is_err());
        let said = format!("{head}{setup}\n[[case.step]]\nrun_if = {{ var = \"m\", contains = \"a\", otherwise_skip = \"no a\" }}\n");
        parse_file(&said, "mine.toml", "mine").unwrap();
        let judged_first = format!("{head}[[case.step]]\n\n[[case.step]]\nif_token = true\n");
        parse_file(&judged_first, "mine.toml", "mine").unwrap();
        let only_setup = format!("{head}{setup}");
        let err = parse_file(&only_setup, "mine.toml", "mine").unwrap_err().0;
        assert!(err.contains("judges nothing"), "{err}");
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let text = "[[case]]\nid = \"X\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MAYBE\"\n";
        let err = parse_file(text, "mine.toml", "mine").unwrap_err().0;
        assert!(err.starts_with("mine.toml:5:9"), "{err}");
        let text = "[[case]]\nid = \"X\"\ntitle = \"t\"\nspec = \"s\"\nlevel = \"MUST\"\n[[case.step]]\n[case.step.expect]\nchecks = [\"no_such_check\"]\n";
        let err = parse_file(text, "mine.toml", "mine").unwrap_err().0;
        assert!(err.starts_with("mine.toml:8:"), "{err}");
        assert!(err.contains("no_such_check"), "{err}");
    }
}
