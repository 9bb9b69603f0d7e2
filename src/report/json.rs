//! The JSON report (a contract other tools rely on, see README): stdout with `--format json`,
//! and results.json.

use serde_json::{json, Value};

use super::Run;

pub fn document(run: &Run<'_>) -> Value {
    let t = run.target;
    json!({
        "target": {
            "label": t.label,
            "issuer": t.issuer,
            "embedded": t.embedded,
            "token_endpoint": t.token_url,
            "introspection_endpoint": t.introspection_url,
            "revocation_endpoint": t.revocation_url,
            "resource": t.resource_url,
            "metadata": t.metadata_url,
        },
        "tls": { "certificates_verified": !run.insecure },
        "profile": run.profile,
        "preflight": run.preflight,
        "verdict": run.verdict.document(),
        "summary": run.summary,
        "snapshots": run.snapshots,
        "cases": run.results,
    })
}

pub fn render(run: &Run<'_>) -> String {
    let mut text = serde_json::to_string_pretty(&document(run)).expect("JSON values serialise");
    text.push('\n');
    text
}
