//! A case's exchanges as HTTP text, from the redacted records (`crate::exchange`): in full
//! (request line, headers, body; status line, headers, body) for report.html, junit.xml and
//! the terminal's failing step, and in one short line for the terminal's other steps.
//! Nothing here sees an unredacted value.

use std::fmt::Write;

use serde_json::Value;

use crate::exchange::{Exchange, ResponseRecord};
use crate::outcome::CaseResult;

/// The index of the exchange whose step decided the case: the last exchange of the step its
/// detail names (`"introspect: expected …"`), else the last exchange.
pub fn failing_step(r: &CaseResult) -> Option<usize> {
    let named = r.exchanges.iter().rposition(|ex| {
        !ex.step.is_empty()
            && r.detail
                .strip_prefix(ex.step.as_str())
                .is_some_and(|rest| rest.starts_with(':'))
    });
    named.or_else(|| r.exchanges.len().checked_sub(1))
}

/// `HTTP 200 OK`.
pub fn status_line(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => format!("HTTP {status} {reason}"),
        None => format!("HTTP {status}"),
    }
}

/// A race's line: `(sent 20 times at once; answered 1 × 200, 19 × 401 invalid_client;
/// one copy shown)`.
pub fn race_line(ex: &Exchange) -> Option<String> {
    let race = ex.race.as_ref()?;
    let shown = if ex.response.is_some() {
        "; one copy shown"
    } else {
        ""
    };
    if race.to_nodes {
        let shown = shown.replace("one copy", "one node's");
        return Some(format!(
            "(sent to {} other nodes; answered {}{shown})",
            race.copies, race.answers
        ));
    }
    Some(format!(
        "(sent {} times at once; answered {}{shown})",
        race.copies, race.answers
    ))
}

/// [`race_line`] with the race's release spread, for reports that are not snapshots.
pub fn race_line_timed(ex: &Exchange) -> Option<String> {
    let line = race_line(ex)?;
    Some(match ex.race.as_ref().and_then(|r| r.spread_ms) {
        Some(ms) => format!("{}; release spread {ms:.3} ms)", line.trim_end_matches(')')),
        None => line,
    })
}

/// One exchange in full, as HTTP reads: the request, a blank line, the response (for a
/// race, first what its copies were answered).
pub fn full(ex: &Exchange) -> String {
    let mut text = race_line_timed(ex).map(|l| l + "\n").unwrap_or_default();
    let _ = writeln!(text, "{} {}", ex.request.method, ex.request.url);
    for (name, value) in &ex.request.headers {
        let _ = writeln!(text, "{name}: {value}");
    }
    if !ex.request.body.is_empty() {
        let _ = write!(text, "\n{}\n", ex.request.body);
    }
    match (&ex.response, &ex.error) {
        (Some(response), _) => {
            let _ = write!(text, "\n{}\n", status_line(response.status));
            for (name, value) in &response.headers {
                let _ = writeln!(text, "{name}: {value}");
            }
            if let Some(jwt) = &response.access_token_jwt {
                let _ = write!(
                    text,
                    "\n(access_token, a JWT; signature omitted) {}\n",
                    serde_json::to_string_pretty(jwt).unwrap_or_default()
                );
            }
            let body = body_text(response);
            if !body.is_empty() {
                let _ = write!(text, "\n{body}\n");
            }
        }
        (None, Some(error)) => {
            let _ = write!(text, "\n(no response: {error})\n");
        }
        (None, None) => {}
    }
    text.trim_end().to_owned()
}

/// Every exchange of a case in full, each under its step's name (junit.xml's failure text).
pub fn all(r: &CaseResult) -> String {
    let failing = failing_step(r);
    let mut out = String::new();
    for (i, ex) in r.exchanges.iter().enumerate() {
        let mark = if Some(i) == failing && r.exchanges.len() > 1 {
            " (the failing step)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "--- step {}: {}{mark} ---\n{}\n\n",
            i + 1,
            ex.step,
            full(ex)
        );
    }
    out.trim_end().to_owned()
}

/// One exchange in a line: `POST http://…/revoke → 200 (empty body)`, with the body's
/// members that matter (`error`, `error_description`, `active`) or its start.
pub fn brief(ex: &Exchange) -> String {
    let request = format!("{} {}", ex.request.method, ex.request.url);
    if let Some(race) = &ex.race {
        return format!("{request} × {} → {}", race.copies, race.answers);
    }
    match (&ex.response, &ex.error) {
        (Some(response), _) => format!("{request} → {} {}", response.status, brief_body(response)),
        (None, Some(error)) => format!("{request} → no response ({error})"),
        (None, None) => format!("{request} → not sent"),
    }
}

const BRIEF_BODY: usize = 100;

fn brief_body(response: &ResponseRecord) -> String {
    if let Value::Object(members) = &response.body {
        let mut picked: Vec<String> = ["error", "error_description", "active"]
            .iter()
            .filter_map(|name| members.get(*name).map(|v| format!("{name}: {v}")))
            .collect();
        if !picked.is_empty() {
            if members.len() > picked.len() {
                picked.push("…".to_owned());
            }
            return format!("{{{}}}", picked.join(", "));
        }
    }
    let body = match &response.body {
        Value::Null => return "(empty body)".to_owned(),
        Value::String(s) if s.is_empty() => return "(empty body)".to_owned(),
        Value::String(s) => s.lines().next().unwrap_or_default().to_owned(),
        other => other.to_string(),
    };
    if body.chars().count() > BRIEF_BODY {
        format!("{}…", body.chars().take(BRIEF_BODY).collect::<String>())
    } else {
        body
    }
}

fn body_text(response: &ResponseRecord) -> String {
    match &response.body {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
