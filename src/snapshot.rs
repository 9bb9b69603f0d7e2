//! Conformance snapshots: each case's verdict and normalised exchanges as an insta `.snap`
//! file, one folder per target, so CI can gate on behaviour changes and `cargo insta review`
//! can accept them.
//!
//! Normalisation makes runs byte-identical for the same behaviour: the target's origin
//! becomes `{origin}`, volatile members (`jti`, `iat`, `exp`, `nbf`, ...) become
//! `[volatile]`, headers and JSON keys are sorted, and nothing secret survives: exchanges are
//! redacted before they get here, JWTs are shown decoded without their signature.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exchange::{decode_jwt, Exchange};
use crate::runner::CaseResult;
use crate::target::Target;

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

/// JSON members whose values change from run to run.
const VOLATILE: &[&str] = &["jti", "iat", "exp", "nbf", "auth_time", "expires_at"];

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
}

impl Comparisons {
    /// Whether the run fails: drift always, new snapshots only in CI (never silently accepted).
    pub fn fails(&self, in_ci: bool) -> bool {
        !self.drifted.is_empty() || (in_ci && !self.new.is_empty())
    }
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

/// Checks or writes every result's snapshot; `report` is told about each drift or new one.
pub fn apply(
    mode: Mode,
    dir: &Path,
    target: &Target,
    results: &[CaseResult],
    mut report: impl FnMut(&str, &Comparison),
) -> std::io::Result<Comparisons> {
    let mut outcome = Comparisons::default();
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
            _ => compare(&path, &result.id, &text)?,
        };
        match &comparison {
            Comparison::Matched => outcome.matched += 1,
            Comparison::Written => outcome.written += 1,
            Comparison::New(_) => outcome.new.push(result.id.clone()),
            Comparison::Drifted { .. } => outcome.drifted.push(result.id.clone()),
        }
        if matches!(comparison, Comparison::New(_) | Comparison::Drifted { .. }) {
            report(&result.id, &comparison);
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

fn compare(path: &Path, id: &str, text: &str) -> std::io::Result<Comparison> {
    let pending = path.with_extension("snap.new");
    let stored = match insta::Snapshot::from_file(path) {
        Ok(snapshot) => snapshot.as_text().map(|t| t.to_string()),
        Err(_) if !path.exists() => {
            write_snap(&pending, id, text)?;
            return Ok(Comparison::New(pending));
        }
        Err(e) => return Err(std::io::Error::other(format!("{}: {e}", path.display()))),
    };
    let stored = stored.unwrap_or_default();
    if stored.trim_end() == text.trim_end() {
        let _ = std::fs::remove_file(&pending);
        return Ok(Comparison::Matched);
    }
    write_snap(&pending, id, text)?;
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
fn write_snap(path: &Path, id: &str, text: &str) -> std::io::Result<()> {
    let mut file = format!("---\nsource: grantcheck conform\nexpression: {id}\n---\n{text}");
    if !file.ends_with('\n') {
        file.push('\n');
    }
    std::fs::write(path, file)
}

/// One case as snapshot text.
pub fn render(result: &CaseResult, target: &Target) -> String {
    let origins = origins(target);
    let norm = |s: &str| normalise_text(s, &origins);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "case: {} [{} {}]",
        result.id,
        result.level.as_str(),
        result.spec
    );
    let _ = writeln!(out, "outcome: {}", result.outcome.as_str());
    if !result.detail.is_empty() {
        let _ = writeln!(out, "detail: {}", norm(&result.detail));
    }
    for exchange in &result.exchanges {
        render_exchange(&mut out, exchange, &norm);
    }
    out
}

fn render_exchange(out: &mut String, exchange: &Exchange, norm: &dyn Fn(&str) -> String) {
    let request = &exchange.request;
    let _ = writeln!(out, "\n--- {}", exchange.step);
    let _ = writeln!(out, "> {} {}", request.method, norm(&request.url));
    let mut headers: Vec<&(String, String)> = request.headers.iter().collect();
    headers.sort();
    for (name, value) in headers {
        let _ = writeln!(out, "> {name}: {}", norm(value));
    }
    if !request.body.is_empty() {
        let _ = writeln!(out, "> {}", norm(&request.body));
    }
    if let Some(error) = &exchange.error {
        let _ = writeln!(out, "< no response: {}", norm(error));
        return;
    }
    let Some(response) = &exchange.response else {
        return;
    };
    let _ = writeln!(out, "< {}", response.status);
    let mut headers: Vec<&(String, String)> = response.headers.iter().collect();
    headers.sort();
    for (name, value) in headers {
        let _ = writeln!(out, "< {name}: {}", norm(value));
    }
    if let Some(jwt) = &response.access_token_jwt {
        let shown = normalise_json(jwt, norm);
        let _ = writeln!(
            out,
            "< access_token (JWT, signature omitted): {}",
            pretty(&shown)
        );
    }
    if !response.body.is_null() {
        let _ = writeln!(out, "{}", pretty(&normalise_json(&response.body, norm)));
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&sorted(value)).expect("JSON values serialise")
}

/// The same value with every object's keys in order, whatever map type serde_json uses.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn normalise_json(value: &Value, norm: &dyn Fn(&str) -> String) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if VOLATILE.contains(&k.as_str()) && !v.is_null() {
                        Value::String("[volatile]".into())
                    } else {
                        normalise_json(v, norm)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| normalise_json(v, norm)).collect())
        }
        Value::String(s) if looks_like_jwt(s) => Value::String("[jwt]".into()),
        Value::String(s) => Value::String(norm(s)),
        other => other.clone(),
    }
}

fn looks_like_jwt(s: &str) -> bool {
    s.matches('.').count() == 2 && decode_jwt(s).is_some()
}

/// The origins to replace, with their placeholders: every endpoint's origin becomes
/// `{origin}`, and the plain-HTTP twin of an HTTPS origin (what the TLS cases call)
/// `{cleartext-origin}`.
fn origins(target: &Target) -> Vec<(String, &'static str)> {
    let urls: Vec<url::Url> = [
        Some(&target.token_url),
        target.introspection_url.as_ref(),
        target.revocation_url.as_ref(),
        target.resource_url.as_ref(),
        target.metadata_url.as_ref(),
        target.issuer.as_ref(),
    ]
    .into_iter()
    .flatten()
    .filter_map(|u| url::Url::parse(u).ok())
    .collect();
    let mut origins: Vec<(String, &'static str)> = Vec::new();
    for url in urls {
        origins.push((url.origin().ascii_serialization(), "{origin}"));
        if let Some(twin) = crate::http::cleartext_twin(&url) {
            origins.push((twin.origin().ascii_serialization(), "{cleartext-origin}"));
        }
    }
    origins.sort();
    origins.dedup();
    origins
}

fn normalise_text(text: &str, origins: &[(String, &str)]) -> String {
    let mut out = text.to_owned();
    for (origin, placeholder) in origins {
        out = out.replace(origin.as_str(), placeholder);
    }
    out
}
