//! Conformance cases: the TOML model and its loader.
//!
//! Cases are data: `scenarios/<area>/*.toml`, each file holding one or more `[[case]]`
//! tables with ordered `[[case.step]]`s. The built-in set is compiled in; `--scenarios DIR`
//! adds a user's own files without recompiling.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use serde::Deserialize;
use toml::Spanned;

use crate::checks::Check;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/scenarios");

/// How much a case's requirement weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    /// RFC MUST: a violation fails the run.
    #[serde(rename = "MUST")]
    Must,
    /// RFC SHOULD: a violation warns.
    #[serde(rename = "SHOULD")]
    Should,
    /// Behaviour worth recording, not judged.
    #[serde(rename = "INFO")]
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        }
    }
}

/// Which endpoint a step calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    #[default]
    Token,
    Introspection,
    Revocation,
    Resource,
    Metadata,
    Jwks,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Introspection => "introspection",
            Endpoint::Revocation => "revocation",
            Endpoint::Resource => "resource",
            Endpoint::Metadata => "metadata",
            Endpoint::Jwks => "jwks",
        }
    }
}

/// The registered client a step acts as. Targets may lack all but `main`; a case that needs
/// a missing one is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The client under test (`--client-id`).
    Main,
    /// The resource server's client for introspection (`--introspect-client-id`).
    Introspector,
    /// Another confidential client (`--second-client-id`).
    Second,
    /// A client whose tokens expire within seconds; the main client where there is none.
    Short,
    /// A client whose id and secret need form-encoding.
    Special,
    /// A disabled client.
    Disabled,
    /// A confidential client not allowed the client credentials grant.
    NoGrant,
    /// A public client (no secret).
    Public,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Introspector => "introspector",
            Role::Second => "second",
            Role::Short => "short",
            Role::Special => "special",
            Role::Disabled => "disabled",
            Role::NoGrant => "no_grant",
            Role::Public => "public",
        }
    }
}

/// How a step authenticates its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
    /// `client_secret_basic`: id and secret form-encoded, then Base64 (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the body.
    Post,
    /// No client authentication.
    None,
}

/// `status = 400` or `status = [400, 401]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StatusSpec {
    One(u16),
    Any(Vec<u16>),
}

impl StatusSpec {
    pub fn allows(&self, status: u16) -> bool {
        match self {
            StatusSpec::One(s) => *s == status,
            StatusSpec::Any(list) => list.contains(&status),
        }
    }
}

impl fmt::Display for StatusSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSpec::One(s) => write!(f, "{s}"),
            StatusSpec::Any(list) => {
                let parts: Vec<String> = list.iter().map(u16::to_string).collect();
                write!(f, "one of {}", parts.join(", "))
            }
        }
    }
}

/// What a step's response must look like. Every part is optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub status: Option<StatusSpec>,
    /// Statuses the response must not have.
    #[serde(default)]
    pub status_not: Vec<u16>,
    /// JSON pointer → exact value (`"/error" = "invalid_request"`).
    #[serde(default)]
    pub json: BTreeMap<String, toml::Value>,
    /// JSON pointer → a value (template) the member must not have.
    #[serde(default)]
    pub json_not: BTreeMap<String, String>,
    /// JSON pointer → allowed values.
    #[serde(default)]
    pub json_one_of: BTreeMap<String, Vec<toml::Value>>,
    /// JSON pointer → a value the array there must contain.
    #[serde(default)]
    pub array_contains: BTreeMap<String, String>,
    /// JSON pointers that must be present.
    #[serde(default)]
    pub present: Vec<String>,
    /// JSON pointers that must be absent.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Header → substring it must contain (case-insensitive).
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub header_absent: Vec<String>,
    /// Named checks (see `grantcheck list --checks`).
    #[serde(default)]
    pub checks: Vec<Spanned<Check>>,
    /// `WWW-Authenticate` must use this scheme (case-insensitive).
    pub challenge_scheme: Option<String>,
    /// `WWW-Authenticate` must carry `error="…"` with this value.
    pub challenge_error: Option<String>,
    /// These expectations judge a token response: when the request was refused (not
    /// 2xx), there is nothing to judge and the case is blocked, not failed (other cases
    /// judge the refusal). A 2xx without a token is still judged.
    #[serde(default)]
    pub only_token_responses: bool,
}

/// One request and what its response must satisfy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The line of its `[[case.step]]` header in the case file (1-based; 0 when unknown).
    #[serde(skip)]
    pub line: usize,
    pub name: Option<String>,
    /// A step that only prepares what the case judges (gets the token it is about, revokes
    /// it first). When it does not give what is needed (a 2xx, and at the token endpoint
    /// an access token; every capture), the case is blocked with the reason, not failed.
    #[serde(default)]
    pub setup: bool,
    /// Send the form exactly as written. Otherwise a client-credentials token request
    /// without `scope` gets the scope the preflight found the target to require.
    #[serde(default)]
    pub exact: bool,
    #[serde(default)]
    pub endpoint: Endpoint,
    /// Default: GET for resource, metadata and jwks; POST otherwise.
    pub method: Option<String>,
    /// Default: `introspector` at the introspection endpoint, `main` elsewhere.
    pub client: Option<Role>,
    /// Default: `basic` at token, introspection and revocation; `none` elsewhere.
    pub auth: Option<Auth>,
    /// Template for the client id to present (default `{client.id}`).
    pub id: Option<String>,
    /// Template for the secret to present (default `{client.secret}`).
    pub secret: Option<String>,
    /// A raw `Authorization` value; replaces `auth`.
    pub authorization: Option<String>,
    /// For the resource endpoint: `Authorization: Bearer <template>`.
    pub bearer: Option<String>,
    /// A raw query string template appended to the URL.
    pub query: Option<String>,
    /// Form parameters in order; values are templates.
    pub form: Option<toml::Table>,
    /// A raw body template; replaces `form`.
    pub body: Option<String>,
    /// Content-Type; default form-urlencoded when there is a body; "" sends none.
    pub content_type: Option<String>,
    /// Extra headers (templates).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Before sending, wait until the token captured earlier has expired (`expires_in` + 1 s);
    /// skipped when that is longer than `--max-wait`.
    #[serde(default)]
    pub wait_for_expiry: bool,
    /// Send to the endpoint's URL with `http://` instead of `https://` (same host, and same
    /// port when the URL names one), to see whether the server takes requests in clear.
    /// A connection that fails or is dropped counts as refusal: the case passes there.
    /// Skipped for endpoints that are not HTTPS.
    #[serde(default)]
    pub plain_http: bool,
    /// Run this step only when an earlier step obtained an access token (`{access_token}`);
    /// otherwise it and the steps after it are left out.
    #[serde(default)]
    pub if_token: bool,
    /// Run this step only when the captured value `var` contains `contains`; otherwise it
    /// and the steps after it are left out.
    pub run_if: Option<Condition>,
    /// Name → JSON pointer into the response, for later steps (`{name}`).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// Name → the value a capture takes when the response omits it, where the
    /// specification gives a default (RFC 8414 §2: no `token_endpoint_auth_methods_supported`
    /// means `["client_secret_basic"]`).
    #[serde(default)]
    pub capture_default: BTreeMap<String, String>,
    #[serde(default)]
    pub expect: Expect,
}

/// `run_if = { var = "methods", contains = "client_secret_post" }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub var: String,
    pub contains: String,
}

/// Capabilities a case needs from the target beyond the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    Introspection,
    Revocation,
    Resource,
    Metadata,
    Jwks,
    /// An HTTPS token endpoint (TLS cases cannot run over plain HTTP).
    Https,
    /// A second confidential client (`--second-client-id`), named in a template.
    SecondClient,
    /// A scope the main client may request (`--scope`).
    Scope,
    /// Two scopes the main client may request (`--scope "a b"`).
    TwoScopes,
    /// A scope the main client may not have (`--forbidden-scope`).
    ForbiddenScope,
    /// A scope the protected resource requires and a second scope it does not accept
    /// (known for the embedded server only).
    ResourceScope,
}

/// One conformance case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub id: String,
    pub title: String,
    /// The requirement it checks, e.g. "RFC 6749 §5.2".
    pub spec: String,
    pub level: Level,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub requires: Vec<Requirement>,
    /// Level under a profile where the specifications disagree (`oauth21 = "SHOULD"`).
    #[serde(default)]
    pub profiles: BTreeMap<String, Level>,
    /// Why the rule matters or what a failure usually means; shown with failures.
    pub note: Option<String>,
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
    /// Where the case was loaded from (file, and area = the folder).
    #[serde(skip)]
    pub source: String,
    /// The line of its `[[case]]` header (1-based).
    #[serde(skip)]
    pub line: usize,
    #[serde(skip)]
    pub area: String,
}

impl Case {
    /// The level under `profile`.
    pub fn level_for(&self, profile: &str) -> Level {
        self.profiles.get(profile).copied().unwrap_or(self.level)
    }

    /// True when `filter` names this case's id or one of its tags or its area.
    pub fn matches(&self, filter: &str) -> bool {
        self.id.eq_ignore_ascii_case(filter)
            || self.area == filter
            || self.tags.iter().any(|t| t == filter)
            || (filter.ends_with('*')
                && self
                    .id
                    .to_ascii_uppercase()
                    .starts_with(&filter[..filter.len() - 1].to_ascii_uppercase()))
    }
}

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
pub const PROFILES: &[&str] = &["rfc6749", "oauth21", "strict"];

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
        if let Some(p) = case
            .profiles
            .keys()
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
