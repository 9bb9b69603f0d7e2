//! The project rule "no module imports one that imports it back", kept by a test: the
//! modules of `src/` and the `crate::` and `super::` paths each one names outside its tests
//! form a graph without a cycle. Decisions depend on the state they read (`app.rs`), never
//! the other way round.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

/// Every module of `src/` (its path under the crate, `lib.rs` being the root) with its
/// file's text. Test-only files (`tests.rs`, `testing.rs`) and this file are left out.
fn modules(dir: &Path, under: &[String], out: &mut BTreeMap<Module, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            let mut inner = under.to_vec();
            inner.push(name);
            modules(&path, &inner, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !matches!(name.as_str(), "tests" | "testing" | "import_graph")
        {
            let mut module = under.to_vec();
            if !matches!(name.as_str(), "mod" | "lib") {
                module.push(name);
            }
            out.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The text without comments and without inline `#[cfg(test)] mod … { … }` blocks
/// (rustfmt puts the closing brace at the indentation of the `mod` line).
fn code_outside_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed == "#[cfg(test)]" {
            if let Some(next) = lines.peek() {
                let next_trimmed = next.trim_start();
                if next_trimmed.contains("mod ") && next_trimmed.ends_with('{') {
                    let indent = &next[..next.len() - next_trimmed.len()];
                    let close = format!("{indent}}}");
                    for inner in lines.by_ref() {
                        if inner == close {
                            break;
                        }
                    }
                    continue;
                }
            }
        }
        let code = line.split("//").next().unwrap_or("");
        out.push_str(code);
        out.push('\n');
    }
    out
}

/// The module paths named from `module`'s code: `crate::a::b`, `crate::{a, b::c}` and
/// `super::a`, as full paths (resolved to modules later).
fn named_paths(module: &Module, code: &str) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", module[..module.len().saturating_sub(1)].to_vec()),
    ] {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let preceded_by_ident = rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            rest = &rest[at + prefix.len()..];
            if !preceded_by_ident {
                paths_at(rest, &base, &mut found);
            }
        }
    }
    found
}

/// The paths at the start of `text` (after `crate::`), groups included.
fn paths_at(text: &str, base: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = base.to_vec();
    let mut rest = text;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths_at(group[start..i].trim(), &path, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            paths_at(group[start..end].trim(), &path, out);
            return;
        }
        let ident_len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if ident_len == 0 {
            break;
        }
        path.push(rest[..ident_len].to_owned());
        rest = &rest[ident_len..];
        match rest.strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    out.push(path);
}

/// Module → the other modules its code names (a path's longest prefix that is a module).
fn graph() -> BTreeMap<Module, BTreeSet<Module>> {
    let mut files = BTreeMap::new();
    modules(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut files,
    );
    let known: BTreeSet<Module> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(module, text)| {
            let uses = named_paths(module, &code_outside_tests(text))
                .into_iter()
                .filter_map(|path| {
                    (1..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|prefix| known.contains(prefix))
                })
                .filter(|used| used != module)
                .collect();
            (module.clone(), uses)
        })
        .collect()
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

/// A cycle through `module`'s descendants in the graph, if any (depth first).
fn cycle_from(
    module: &Module,
    graph: &BTreeMap<Module, BTreeSet<Module>>,
    path: &mut Vec<Module>,
    done: &mut BTreeSet<Module>,
) -> Option<Vec<Module>> {
    if let Some(at) = path.iter().position(|m| m == module) {
        let mut cycle = path[at..].to_vec();
        cycle.push(module.clone());
        return Some(cycle);
    }
    if done.contains(module) {
        return None;
    }
    path.push(module.clone());
    for used in graph.get(module).into_iter().flatten() {
        if let Some(cycle) = cycle_from(used, graph, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(module.clone());
    None
}

#[test]
fn the_modules_import_each_other_without_a_cycle() {
    let graph = graph();
    let edge = |from: &str, to: &str| {
        let split = |s: &str| s.split("::").map(str::to_owned).collect::<Module>();
        graph[&split(from)].contains(&split(to))
    };
    // The reading is sound: these imports exist (or the parser missed them).
    assert!(graph.len() > 30, "{} modules", graph.len());
    assert!(edge("endpoints::resource", "app"));
    assert!(edge("endpoints::resource", "endpoints::dpop"));
    assert!(edge("mtls", "clients"));
    assert!(edge("endpoints::token", "endpoints::scope")); // super::scope
    assert!(edge("dpop::state", "dpop"));
    // The direction chosen: state and data below the decisions that use them.
    assert!(!edge("app", "endpoints::dpop") && !edge("app", "endpoints::resource"));
    assert!(!edge("clients", "mtls"));

    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(module, &graph, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle.iter().map(name).collect();
            panic!(
                "an import cycle: {} (ARCHITECTURE.md: no module imports one that imports it back)",
                names.join(" -> ")
            );
        }
    }
}

#[test]
fn inline_tests_and_comments_do_not_count() {
    let text = "use crate::a;\n// crate::b\n#[cfg(test)]\nmod tests {\n    use crate::c;\n}\nfn f() { crate::d::{e, f::g}::h(); }\n";
    let module = vec!["m".to_owned(), "n".to_owned()];
    let paths = named_paths(&module, &code_outside_tests(text));
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(joined, ["a", "d::e", "d::f::g"]);
    let paths = named_paths(&module, "use super::sibling::X;");
    assert_eq!(paths, [vec!["m", "sibling", "X"]]);
}
