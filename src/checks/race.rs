//! Set checks: they judge the answers of a race (the same request sent N times at once) or
//! of one request per raced token, all together (`Context::race`).

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;

use super::{Context, Verdict};
use crate::exchange::Response;

/// The answers a set check judges.
pub struct RaceAnswers<'a> {
    /// Every copy's answer, in connection order.
    pub answers: &'a [Response],
    /// The requests went to a token endpoint: a success is a 2xx with an access token
    /// (elsewhere, any 2xx).
    pub issues_tokens: bool,
    /// `--max-parallel-guesses`.
    pub max_guesses: Option<usize>,
}

/// The answers counted by status (and error code): `1 × 200, 19 × 401 invalid_client`.
/// Stable for the same behaviour (sorted), so snapshots can show it.
pub fn tally(answers: &[Response]) -> String {
    let mut counts: BTreeMap<(u16, String), usize> = BTreeMap::new();
    for answer in answers {
        let error = answer
            .json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
            .map(|e| format!(" {e}"))
            .unwrap_or_default();
        *counts.entry((answer.status, error)).or_default() += 1;
    }
    counts
        .iter()
        .map(|((status, error), n)| format!("{n} × {status}{error}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn set<'a>(cx: &Context<'a>) -> Result<&'a RaceAnswers<'a>, Verdict> {
    cx.race.ok_or_else(|| {
        Verdict::Blocked("a set check on a single answer (the step is no race)".into())
    })
}

fn succeeded(answer: &Response, issues_tokens: bool) -> bool {
    (200..300).contains(&answer.status) && (!issues_tokens || token(answer).is_some())
}

fn token(answer: &Response) -> Option<&str> {
    answer
        .json
        .as_ref()
        .and_then(|j| j.get("access_token"))
        .and_then(Value::as_str)
}

/// At most one copy of the same request succeeded; none at all blocks (the race tested
/// nothing).
pub(super) fn at_most_one_success(cx: &Context<'_>) -> Verdict {
    let race = match set(cx) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let n = race.answers.len();
    let successes = race
        .answers
        .iter()
        .filter(|a| succeeded(a, race.issues_tokens))
        .count();
    match successes {
        0 => Verdict::Blocked(format!(
            "none of the {n} copies was accepted ({}), so the race tested nothing",
            tally(race.answers)
        )),
        1 => Verdict::Pass,
        k => Verdict::Fail(format!(
            "{k} of {n} copies of the same request were accepted at once ({})",
            tally(race.answers)
        )),
    }
}

/// Every accepted answer carries its own access token (at least two to compare). One token
/// for all is a server that hands a client its current token (a policy, recorded); some
/// repeated among distinct ones is tokens mixed up or made alike under concurrency.
pub(super) fn all_distinct_tokens(cx: &Context<'_>) -> Verdict {
    let race = match set(cx) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let tokens: Vec<&str> = race.answers.iter().filter_map(token).collect();
    if tokens.len() < 2 {
        return Verdict::Blocked(format!(
            "fewer than two tokens were issued ({}), so there is nothing to compare",
            tally(race.answers)
        ));
    }
    let distinct: HashSet<&str> = tokens.iter().copied().collect();
    match distinct.len() {
        n if n == tokens.len() => Verdict::Pass,
        1 => Verdict::Observed(format!(
            "all {} requests were answered with the same token (the server hands a client its current token)",
            tokens.len()
        )),
        n => Verdict::Fail(format!(
            "{} tokens issued at once, only {n} of them distinct: requests were handed the same token",
            tokens.len()
        )),
    }
}

/// An introspection answer's `active`, when it is a boolean (the cluster checks read it too).
pub(super) fn active(answer: &Response) -> Option<bool> {
    answer
        .json
        .as_ref()
        .and_then(|j| j.get("active"))
        .and_then(Value::as_bool)
}

/// Every introspection answer says `"active": false` (RFC 7662 §2.2).
pub(super) fn all_inactive(cx: &Context<'_>) -> Verdict {
    let race = match set(cx) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let n = race.answers.len();
    let judged: Vec<bool> = race.answers.iter().filter_map(active).collect();
    let still = judged.iter().filter(|a| **a).count();
    if still > 0 {
        return Verdict::Fail(format!(
            "{still} of {n} introspections that started after the revocation's answer said the token is active"
        ));
    }
    if judged.len() < n {
        return Verdict::Blocked(format!(
            "{} of {n} introspections gave no active member ({})",
            n - judged.len(),
            tally(race.answers)
        ));
    }
    Verdict::Pass
}

/// Every introspection answer says `"active": true` and, when it names one, the client the
/// tokens were issued to (`{issued_to}`).
pub(super) fn all_active_for_client(cx: &Context<'_>) -> Verdict {
    let race = match set(cx) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let n = race.answers.len();
    let issued_to = cx.var("issued_to");
    let mut problems = Vec::new();
    let inactive = race
        .answers
        .iter()
        .filter(|a| active(a) != Some(true))
        .count();
    if inactive > 0 {
        problems.push(format!(
            "{inactive} of {n} tokens issued at once are not active ({})",
            tally(race.answers)
        ));
    }
    let others: Vec<&str> = race
        .answers
        .iter()
        .filter_map(|a| a.json.as_ref()?.get("client_id")?.as_str())
        .filter(|c| Some(*c) != issued_to)
        .collect();
    if !others.is_empty() {
        problems.push(format!(
            "{} of {n} tokens belong to another client than {} (client_id {})",
            others.len(),
            issued_to.unwrap_or("the one that asked"),
            others[0]
        ));
    }
    super::pass_unless(problems, |p| p.join("; "))
}

/// A wrong secret the server checked and refused: 401, or 400 `invalid_client` (RFC 6749
/// §5.2). A throttle's answer (429 `invalid_client` included) is not one.
pub fn evaluated_guess(answer: &Response) -> bool {
    let error = answer.json.as_ref().and_then(|j| j.get("error"));
    answer.status == 401
        || (answer.status == 400 && error.and_then(Value::as_str) == Some("invalid_client"))
}

/// How many of the parallel wrong secrets were evaluated (401 or 400 `invalid_client`)
/// rather than turned away by throttling; more than `--max-parallel-guesses` fails,
/// otherwise the count is recorded.
pub(super) fn guesses_within_limit(cx: &Context<'_>) -> Verdict {
    let race = match set(cx) {
        Ok(r) => r,
        Err(v) => return v,
    };
    let n = race.answers.len();
    let evaluated = race.answers.iter().filter(|a| evaluated_guess(a)).count();
    let accepted = race.answers.iter().filter(|a| succeeded(a, true)).count();
    if accepted > 0 {
        return Verdict::Fail(format!(
            "{accepted} of {n} wrong secrets were accepted ({})",
            tally(race.answers)
        ));
    }
    let mut said = format!(
        "{evaluated} of {n} parallel wrong secrets were evaluated before throttling answered ({})",
        tally(race.answers)
    );
    if let Some(k) = cx.var("throttled_after") {
        said.push_str(&format!(
            "; one after the other, {k} were refused before the throttle answered"
        ));
    }
    match race.max_guesses {
        Some(k) if evaluated > k => Verdict::Fail(format!("{said}; at most {k} allowed")),
        _ => Verdict::Observed(said),
    }
}

#[cfg(test)]
pub(super) mod tests;
