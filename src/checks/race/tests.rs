//! The set checks' keep/break table: each passes a set of answers that keeps its rule and
//! fails one that breaks it.

use super::super::tests::response;
use super::super::{Check, Context, Verdict};
use super::RaceAnswers;
use crate::exchange::Response;
use crate::template::Vars;

/// `check` on a set of `answers` (the cluster checks' tests use it too).
pub(in crate::checks) fn judge(
    check: Check,
    answers: &[Response],
    issues_tokens: bool,
    max: Option<usize>,
) -> Verdict {
    let vars: Vars = [("issued_to".to_owned(), "me".to_owned())].into();
    let race = RaceAnswers {
        answers,
        issues_tokens,
        max_guesses: max,
    };
    check.evaluate(&Context {
        response: &answers[0],
        requested_scope: None,
        vars: &vars,
        issuer: None,
        auth_scheme: None,
        dpop_proof_sent: false,
        tls_probes: None,
        race: Some(&race),
    })
}

fn token(t: &str) -> Response {
    response(
        200,
        &[],
        &format!(r#"{{"access_token":"{t}","token_type":"Bearer"}}"#),
    )
}

fn refused() -> Response {
    response(401, &[], r#"{"error":"invalid_client"}"#)
}

fn throttled() -> Response {
    response(429, &[("retry-after", "1")], "")
}

fn introspected(active: bool, client: &str) -> Response {
    response(
        200,
        &[],
        &format!(r#"{{"active":{active},"client_id":"{client}"}}"#),
    )
}

#[test]
fn every_set_check_fails_a_breaking_set_and_passes_a_keeping_one() {
    let rows: Vec<(Check, Vec<Response>, Vec<Response>, bool)> = vec![
        (
            Check::AtMostOneSuccess,
            vec![token("a"), refused(), refused()],
            vec![token("a"), token("b"), refused()],
            true,
        ),
        (
            Check::AllDistinctTokens,
            vec![token("a"), token("b"), refused()],
            vec![token("a"), token("a"), token("b")],
            true,
        ),
        (
            Check::AllInactive,
            vec![
                introspected(false, "me"),
                response(200, &[], r#"{"active":false}"#),
            ],
            vec![introspected(false, "me"), introspected(true, "me")],
            false,
        ),
        (
            Check::AllActiveForClient,
            vec![
                introspected(true, "me"),
                response(200, &[], r#"{"active":true}"#),
            ],
            vec![introspected(true, "me"), introspected(true, "you")],
            false,
        ),
        (
            Check::GuessesWithinLimit,
            vec![refused(), refused(), throttled(), throttled()],
            vec![refused(), refused(), refused(), throttled()],
            true,
        ),
    ];
    // The cluster checks judge a set too: `cluster/tests.rs` has their rows.
    let cluster = [
        Check::ActiveOnEveryNode,
        Check::AcceptedOnEveryNode,
        Check::RefusedOnEveryNode,
    ];
    for check in Check::ALL
        .iter()
        .filter(|c| c.judges_a_set() && !cluster.contains(c))
    {
        assert!(
            rows.iter().any(|r| r.0 == *check),
            "{} has no keep/break row",
            check.name()
        );
    }
    for (check, keeps, breaks, issues_tokens) in &rows {
        let kept = judge(*check, keeps, *issues_tokens, Some(2));
        assert!(
            matches!(kept, Verdict::Pass | Verdict::Observed(_)),
            "{}: {kept:?}",
            check.name()
        );
        let broken = judge(*check, breaks, *issues_tokens, Some(2));
        assert!(
            matches!(broken, Verdict::Fail(_)),
            "{}: {broken:?}",
            check.name()
        );
    }
}

#[test]
fn a_race_nobody_won_tested_nothing_and_the_tally_is_stable() {
    let answers = [refused(), throttled(), refused()];
    let verdict = judge(Check::AtMostOneSuccess, &answers, true, None);
    assert_eq!(
        verdict,
        Verdict::Blocked(
            "none of the 3 copies was accepted (2 × 401 invalid_client, 1 × 429), so the race tested nothing"
                .into()
        )
    );
    // At a resource, any 2xx is a success.
    let resource = [response(200, &[], "ok"), response(200, &[], "ok")];
    assert!(matches!(
        judge(Check::AtMostOneSuccess, &resource, false, None),
        Verdict::Fail(_)
    ));
    // Without --max-parallel-guesses the count is recorded.
    let guesses = [refused(), refused(), refused(), throttled()];
    assert_eq!(
        judge(Check::GuessesWithinLimit, &guesses, true, None),
        Verdict::Observed(
            "3 of 4 parallel wrong secrets were evaluated before throttling answered (3 × 401 invalid_client, 1 × 429)"
                .into()
        )
    );
}
