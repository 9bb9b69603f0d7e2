//! `grantcheck conform` and `grantcheck list` as users and CI run them: exit codes, report
//! files, JSON on stdout, filters, user case files, and no secret or token anywhere. This file
//! holds the secret checks the tests share (`assert_no_secrets`, which `terminal_output.rs`
//! uses too); the tests by subject:
//!
//! - `embedded_runs`: `conform` against the embedded server: the reports, a fault mode's
//!   failure block, filters and exit 6, user case files.
//! - `external_targets`: targets by URL, by discovery and from the config file, their JWT
//!   clients, and RS-005 given the resource scope.
//! - `serve_and_conform`: README's `serve` + `conform` example, a wrong secret,
//!   `serve --require-scope`, the alpha realm.
//! - `list_help_and_terminal`: `list` into a closed pipe, help and messages, real-clock waits
//!   announced on a terminal.
//! - `short_secrets`: one-character secrets redacted everywhere, and nothing else blanked.

mod embedded_runs;
mod external_targets;
mod list_help_and_terminal;
mod serve_and_conform;
mod short_secrets;

use std::path::Path;

const FIXTURE_SECRETS: &[&str] = &[
    "forgerock",
    "rs-secret",
    "other-secret-2",
    "short-secret",
    "p+w/=:&ä q",
    "p%2Bw%2F%3D%3A%26%C3%A4+q",
    "disabled-secret",
    "no-grant-secret",
];

/// Every opaque reference-server token is 43 base64url characters; none may be shown. (The
/// signing key's thumbprint has the same shape and is public, as is a DPoP key's `jkt`:
/// the RFC 7638 thumbprint of the run's public key.)
pub(crate) fn assert_no_secrets(label: &str, text: &str) {
    let jwks = reference_server::JwtSigner::fixture().jwks().clone();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let text = &without_jkt_values(&text.replace(&kid, "<kid>"));
    for secret in FIXTURE_SECRETS {
        assert!(
            !text.contains(secret),
            "{label} contains the secret {secret:?}"
        );
    }
    let bytes = text.as_bytes();
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    let mut run = 0;
    for (i, &b) in bytes.iter().enumerate() {
        run = if is_token_char(b) { run + 1 } else { 0 };
        if run == 43 && !bytes.get(i + 1).copied().is_some_and(is_token_char) {
            let start = i + 1 - 43;
            panic!(
                "{label} contains something token-shaped: {}",
                &text[start..=i]
            );
        }
    }
}

/// `text` with the value of every `"jkt": "…"` member replaced by `<jkt>`.
fn without_jkt_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("\"jkt\"") {
        let (before, after) = rest.split_at(at + 5);
        out.push_str(before);
        let value_start = after.find('"').map(|i| i + 1);
        match value_start.and_then(|s| after[s..].find('"').map(|e| (s, s + e))) {
            Some((s, e)) if after[..s].trim_start_matches([':', ' ']).len() == 1 => {
                out.push_str(&after[..s]);
                out.push_str("<jkt>");
                rest = &after[e..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

fn files_in(dir: &Path) -> Vec<(String, String)> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.display().to_string(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect()
}
