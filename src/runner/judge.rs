//! A step's `expect` block against its response: statuses, JSON members, headers,
//! challenges, then the named checks.

use serde_json::Value;

use super::state::CaseState;
use super::Stop;
use crate::case::Step;
use crate::checks::{Context, RaceAnswers, Verdict};
use crate::exchange::Response;
use crate::headers::{challenges, find_challenge};
use crate::http::BuiltRequest;
use crate::target::Target;
use crate::template::expand;

/// Applies the step's expectations; the first unmet one stops the case. For a race (or a
/// step sent once per raced token), `race` holds every answer, which the set checks judge;
/// the other expectations judge `response`, the copy the report shows.
pub(super) fn judge(
    step: &Step,
    label: &str,
    (request, response): (&BuiltRequest, &Response),
    race: Option<&RaceAnswers<'_>>,
    target: &Target,
    state: &CaseState,
) -> Option<Stop> {
    let expect = &step.expect;
    // A refusal is judged by other cases; a 2xx without a token is a broken token
    // response and judged here.
    let refused = !(200..300).contains(&response.status);
    if expect.only_token_responses && refused {
        return Some(Stop::Blocked(format!(
            "{label}: the request was refused ({}), so there is no token response to judge",
            response.brief()
        )));
    }
    if expect.only_refusals && (200..300).contains(&response.status) {
        return Some(Stop::Skipped(format!(
            "{label}: the request was accepted ({}), so there is no refusal whose form to judge (the case about the refusal judges that)",
            response.brief()
        )));
    }
    let mut problems: Vec<String> = Vec::new();
    if let Some(status) = &expect.status {
        if !status.allows(response.status) {
            problems.push(format!(
                "expected status {status}, got {}{}",
                response.status,
                error_hint(response)
            ));
        }
    }
    if expect.status_not.contains(&response.status) {
        problems.push(format!(
            "status {} is not acceptable here{}",
            response.status,
            error_hint(response)
        ));
    }
    // At the token endpoint, an error body that is not a JSON object breaks RFC 6749 §5.2's
    // format, which ERR-002 judges once (`judges_error_format`): here the members of such a
    // body are not read, and a step left with nothing else wrong skips, saying so. (The other
    // endpoints' cases judge their own error bodies.)
    let unreadable_error = refused
        && step.endpoint == crate::case::Endpoint::Token
        && !expect.judges_error_format
        && !response.json.as_ref().is_some_and(Value::is_object);
    let mut error_body_unjudged = false;
    if unreadable_error && reads_json_members(expect) {
        error_body_unjudged = true;
    } else {
        match json_problems(expect, response, state, label) {
            Ok(found) => problems.extend(found),
            Err(stop) => return Some(stop),
        }
    }
    for (header, needle) in &expect.header_contains {
        match response.header(header) {
            Some(v)
                if v.to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase()) => {}
            other => problems.push(format!(
                "expected header {header} containing '{needle}', got {}",
                other.map_or("nothing".into(), |v| format!("'{v}'"))
            )),
        }
    }
    for header in &expect.header_absent {
        if let Some(v) = response.header(header) {
            problems.push(format!("expected no {header} header, got '{v}'"));
        }
    }
    // Every challenge the answer makes, in one or several header fields (RFC 9110 §11.6.1).
    let challenge = response.all_headers("www-authenticate");
    let challenge = (!challenge.is_empty()).then_some(challenge.as_str());
    if let Some(scheme) = &expect.challenge_scheme {
        match challenge {
            Some(c) if find_challenge(c, scheme).is_some() => {}
            other => problems.push(format!(
                "expected a WWW-Authenticate {scheme} challenge, got {}",
                other.map_or("none".into(), |v| format!("'{v}'"))
            )),
        }
    }
    if let Some(error) = &expect.challenge_error {
        // The error of the expected scheme's challenge, else of any.
        let actual = challenge.and_then(|c| {
            let chosen = expect
                .challenge_scheme
                .as_deref()
                .and_then(|scheme| find_challenge(c, scheme));
            match chosen {
                Some(one) => one.param("error"),
                None => challenges(c).iter().find_map(|one| one.param("error")),
            }
        });
        if actual.as_deref() != Some(error.as_str()) {
            problems.push(format!(
                "expected error=\"{error}\" in WWW-Authenticate, got {}",
                challenge.map_or("no challenge".into(), |v| format!("'{v}'"))
            ));
        }
    }
    let cx = Context {
        response,
        requested_scope: request.scope.as_deref(),
        vars: &state.vars,
        issuer: target.issuer.as_deref(),
        auth_scheme: request
            .headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.split(' ').next().unwrap_or("")),
        dpop_proof_sent: request.headers.iter().any(|(n, _)| n == "dpop"),
        tls_probes: (!target.is_plain_http()).then_some(target.baseline.tls_probes.as_slice()),
        race,
    };
    for check in &expect.checks {
        if unreadable_error && check.get_ref().reads_error_body() {
            error_body_unjudged = true;
            continue;
        }
        match check.get_ref().evaluate(&cx) {
            Verdict::Pass => {}
            Verdict::Fail(why) => problems.push(format!("{}: {why}", check.get_ref().name())),
            Verdict::NotApplicable(why) => {
                if problems.is_empty() {
                    return Some(Stop::Skipped(format!("{label}: {why}")));
                }
            }
            Verdict::Blocked(why) => {
                if problems.is_empty() {
                    return Some(Stop::Blocked(format!("{label}: {why}")));
                }
            }
            Verdict::Observed(why) => {
                if problems.is_empty() {
                    return Some(Stop::Passed(format!("{label}: observed: {why}")));
                }
            }
        }
    }
    if problems.is_empty() && error_body_unjudged {
        return Some(Stop::Skipped(format!(
            "{label}: the refusal ({}) has no JSON error body to read its error from (ERR-002 judges the format of error responses, once)",
            response.brief()
        )));
    }
    if problems.is_empty() {
        None
    } else {
        Some(Stop::Failed(format!("{label}: {}", problems.join("; "))))
    }
}

/// ` (error "x")` when the response is an OAuth error, to make status mismatches readable.
fn error_hint(response: &Response) -> String {
    response
        .json
        .as_ref()
        .and_then(|j| j.get("error"))
        .and_then(Value::as_str)
        .map(|e| format!(" (error \"{e}\")"))
        .unwrap_or_default()
}

fn json_or_nothing(value: Option<&Value>) -> String {
    value.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

fn toml_to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => Value::from(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
    }
}

/// The problems with the response's JSON members (`json`, `json_not`, `json_one_of`,
/// `array_contains`, `array_excludes`, `present`, `absent`).
fn json_problems(
    expect: &crate::case::Expect,
    response: &Response,
    state: &CaseState,
    label: &str,
) -> Result<Vec<String>, Stop> {
    let mut problems = Vec::new();
    let json = response.json.as_ref();
    for (pointer, expected) in &expect.json {
        let expected = toml_to_json(expected);
        let actual = json.and_then(|j| j.pointer(pointer));
        if actual != Some(&expected) {
            problems.push(format!(
                "expected {pointer} = {expected}, got {}",
                json_or_nothing(actual)
            ));
        }
    }
    for (pointer, template) in &expect.json_not {
        let forbidden = match expand(template, &state.vars) {
            Ok(v) => Value::String(v),
            Err(e) => return Err(super::template_stop(label, e)),
        };
        if json.and_then(|j| j.pointer(pointer)) == Some(&forbidden) {
            problems.push(format!("expected {pointer} to differ from {forbidden}"));
        }
    }
    for (pointer, allowed) in &expect.json_one_of {
        let allowed: Vec<Value> = allowed.iter().map(toml_to_json).collect();
        let actual = json.and_then(|j| j.pointer(pointer));
        if !actual.is_some_and(|a| allowed.contains(a)) {
            let list: Vec<String> = allowed.iter().map(Value::to_string).collect();
            problems.push(format!(
                "expected {pointer} to be one of {}, got {}",
                list.join(", "),
                json_or_nothing(actual)
            ));
        }
    }
    for (pointer, wanted) in &expect.array_contains {
        let actual = json.and_then(|j| j.pointer(pointer));
        let found = actual
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(wanted)));
        if !found {
            problems.push(format!(
                "expected {pointer} to list \"{wanted}\", got {}",
                json_or_nothing(actual)
            ));
        }
    }
    for (pointer, unwanted) in &expect.array_excludes {
        let actual = json.and_then(|j| j.pointer(pointer));
        let listed = actual
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(unwanted)));
        if listed {
            problems.push(format!(
                "expected {pointer} not to list \"{unwanted}\", got {}",
                json_or_nothing(actual)
            ));
        }
    }
    for pointer in &expect.present {
        if json.and_then(|j| j.pointer(pointer)).is_none() {
            problems.push(format!("expected {pointer} to be present"));
        }
    }
    for pointer in &expect.absent {
        if let Some(v) = json.and_then(|j| j.pointer(pointer)) {
            let shown = if pointer.contains("token") {
                "<redacted>".to_owned()
            } else {
                v.to_string()
            };
            problems.push(format!("expected {pointer} to be absent, got {shown}"));
        }
    }
    Ok(problems)
}

/// Whether the step reads members of the response's JSON body.
fn reads_json_members(expect: &crate::case::Expect) -> bool {
    !(expect.json.is_empty()
        && expect.json_not.is_empty()
        && expect.json_one_of.is_empty()
        && expect.array_contains.is_empty()
        && expect.array_excludes.is_empty()
        && expect.present.is_empty()
        && expect.absent.is_empty())
}
