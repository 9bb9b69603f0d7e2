//! Load profiles: TOML files under `scenarios/load/` (compiled in) or any path. A profile
//! weights named transactions into Goose scenarios and gives Goose defaults (users, run
//! time, test plan, thresholds) that command-line options override.

use std::path::Path;

use include_dir::{include_dir, Dir};
use serde::Deserialize;

use crate::exit::Failure;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/scenarios/load");

/// What one Goose transaction does; each validates every response it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionKind {
    /// Client credentials with `client_secret_basic`.
    IssueBasic,
    /// Client credentials with `client_secret_post`.
    IssuePost,
    /// Introspect a token from the pool issued before the run.
    Introspect,
    /// The brief's flow: issue, call the resource, introspect, revoke, introspect again.
    Flow,
    /// A wrong secret: must be refused with 401 invalid_client, and stay cheap.
    BadSecret,
    /// Client credentials with `private_key_jwt`: a fresh signed assertion per request.
    IssueJwt,
    /// A DPoP-bound token (a fresh proof per request), then the resource with its own proof.
    IssueDpop,
    /// A certificate-bound token over mutual TLS (RFC 8705), then the resource over the same
    /// client certificate.
    IssueMtls,
}

impl TransactionKind {
    pub fn name(self) -> &'static str {
        match self {
            TransactionKind::IssueBasic => "issue_basic",
            TransactionKind::IssuePost => "issue_post",
            TransactionKind::Introspect => "introspect",
            TransactionKind::Flow => "flow",
            TransactionKind::BadSecret => "bad_secret",
            TransactionKind::IssueJwt => "issue_jwt",
            TransactionKind::IssueDpop => "issue_dpop",
            TransactionKind::IssueMtls => "issue_mtls",
        }
    }
}

/// One Goose scenario of a profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub name: String,
    /// Relative share of users.
    #[serde(default = "one")]
    pub weight: usize,
    pub transactions: Vec<TransactionKind>,
}

fn one() -> usize {
    1
}

/// A load profile.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(skip)]
    pub name: String,
    pub description: String,
    /// Goose defaults; the command line wins.
    pub users: Option<usize>,
    pub run_time: Option<String>,
    pub increase_rate: Option<String>,
    pub test_plan: Option<String>,
    /// An arrival-rate plan (`--rate-plan` syntax) instead of users looping.
    pub rate_plan: Option<String>,
    #[serde(default)]
    pub thresholds: Vec<String>,
    /// Tokens issued before the run for introspection.
    #[serde(default = "default_pool")]
    pub pool_size: usize,
    /// Introspect one in N issued tokens (0: never) to prove issued tokens are active.
    #[serde(default = "default_sample")]
    pub introspect_sample: u64,
    /// Count a token seen twice as an error.
    #[serde(default = "yes")]
    pub unique_tokens: bool,
    #[serde(rename = "scenario")]
    pub scenarios: Vec<ScenarioSpec>,
}

fn default_pool() -> usize {
    200
}

fn default_sample() -> u64 {
    100
}

fn yes() -> bool {
    true
}

impl Profile {
    /// Whether any scenario uses `kind`.
    pub fn uses(&self, kind: TransactionKind) -> bool {
        self.scenarios
            .iter()
            .any(|s| s.transactions.contains(&kind))
    }
}

/// Parses a profile's text; `origin` names it in errors.
pub fn parse(text: &str, origin: &str, name: &str) -> Result<Profile, Failure> {
    let mut profile: Profile = crate::toml_file::parse(text, origin).map_err(Failure::usage)?;
    if profile.scenarios.is_empty()
        || profile
            .scenarios
            .iter()
            .any(|s| s.transactions.is_empty() || s.weight == 0)
    {
        return Err(Failure::usage(format!(
            "{origin}: a profile needs at least one [[scenario]], each with transactions and a weight of at least 1"
        )));
    }
    for rule in &profile.thresholds {
        if let Err(why) = super::threshold::check_syntax(rule) {
            let line = text
                .lines()
                .position(|l| l.contains(rule.as_str()))
                .map(|i| format!(":{}", i + 1))
                .unwrap_or_default();
            return Err(Failure::usage(format!("{origin}{line}: {why}")));
        }
    }
    profile.name = name.to_owned();
    Ok(profile)
}

/// The names of the built-in profiles.
pub fn builtin_names() -> Vec<String> {
    let mut names: Vec<String> = BUILTIN
        .files()
        .filter_map(|f| f.path().to_str())
        .filter_map(|p| p.strip_suffix(".toml"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// A built-in profile by name, or a profile file by path.
pub fn load(name_or_path: &str) -> Result<Profile, Failure> {
    if let Some(file) = BUILTIN.get_file(format!("{name_or_path}.toml")) {
        let text = file.contents_utf8().unwrap_or_default();
        return parse(
            text,
            &format!("scenarios/load/{name_or_path}.toml"),
            name_or_path,
        );
    }
    let path = Path::new(name_or_path);
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        return parse(&text, &path.display().to_string(), &name);
    }
    Err(Failure::usage(format!(
        "no load profile '{name_or_path}': built-in profiles are {}, or give a file path",
        builtin_names().join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_profile_parses() {
        let names = builtin_names();
        for expected in ["issuance", "introspection", "flow", "bad-secret", "mixed"] {
            assert!(names.contains(&expected.to_owned()), "{names:?}");
        }
        for name in names {
            let profile = load(&name).unwrap();
            assert!(!profile.scenarios.is_empty(), "{name}");
        }
    }

    #[test]
    fn bad_profiles_are_explained() {
        let err = parse(
            "description = \"x\"\n[[scenario]]\nname = \"a\"\ntransactions = [\"teleport\"]\n",
            "p.toml",
            "p",
        )
        .unwrap_err();
        assert!(err.message.starts_with("p.toml:4:"), "{}", err.message);
        assert!(err.message.contains("teleport"), "{}", err.message);
        let err = parse("description = \"x\"\n", "p.toml", "p").unwrap_err();
        assert!(err.message.contains("missing field"), "{}", err.message);
        let typo = "description = \"x\"\nthresholds = [\"error-rat<1%\"]\n[[scenario]]\nname = \"a\"\ntransactions = [\"issue_basic\"]\n";
        let err = parse(typo, "p.toml", "p").unwrap_err().message;
        assert!(
            err.starts_with("p.toml:2: threshold 'error-rat<1%': unknown metric 'error-rat'"),
            "{err}"
        );
        let err = parse("description = \"x\"\nscenario = []\n", "p.toml", "p").unwrap_err();
        assert!(err.message.contains("at least one"), "{}", err.message);
        assert!(load("no-such-profile")
            .unwrap_err()
            .message
            .contains("issuance"));
    }
}
