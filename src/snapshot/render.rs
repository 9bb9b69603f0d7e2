//! One case as snapshot text, normalised so the same behaviour renders byte-identically:
//! the target's origin becomes `{origin}`, volatile members `[volatile]`, headers and JSON
//! keys are sorted, JWTs are shown decoded without their signature.

use std::fmt::Write as _;

use serde_json::Value;

use crate::exchange::{decode_jwt, Exchange};
use crate::outcome::CaseResult;
use crate::target::Target;

/// JSON members whose values change from run to run.
const VOLATILE: &[&str] = &["jti", "iat", "exp", "nbf", "auth_time", "expires_at", "jkt"];

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
    // A race's answers, counted (never its timing, which changes from run to run).
    if let Some(line) = crate::report::http_text::race_line(exchange) {
        let _ = writeln!(out, "{line}");
    }
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
