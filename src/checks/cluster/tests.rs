//! The cluster checks' keep/break table.

use super::super::tests::response;
use super::super::{Check, Verdict};
use crate::exchange::Response;

fn judge(check: Check, answers: &[Response]) -> Verdict {
    super::super::race::tests::judge(check, answers, false, None)
}

fn introspected(body: &str) -> Response {
    response(200, &[], body)
}

#[test]
fn each_cluster_check_keeps_and_breaks() {
    let active = introspected(r#"{"active":true,"client_id":"me"}"#);
    let inactive = introspected(r#"{"active":false}"#);
    let other = introspected(r#"{"active":true,"client_id":"you"}"#);
    let ok = response(200, &[], "{}");
    let refused = response(401, &[], "");
    let cases = [
        (
            Check::ActiveOnEveryNode,
            vec![active.clone(), active.clone()],
            vec![active.clone(), inactive.clone()],
        ),
        (Check::ActiveOnEveryNode, vec![active.clone()], vec![other]),
        (
            Check::AcceptedOnEveryNode,
            vec![ok.clone(), ok.clone()],
            vec![ok.clone(), refused.clone()],
        ),
        (
            Check::RefusedOnEveryNode,
            vec![inactive.clone(), refused.clone()],
            vec![inactive.clone(), active.clone()],
        ),
        (
            Check::RefusedOnEveryNode,
            vec![refused.clone()],
            vec![ok.clone()],
        ),
    ];
    for check in [
        Check::ActiveOnEveryNode,
        Check::AcceptedOnEveryNode,
        Check::RefusedOnEveryNode,
    ] {
        assert!(check.judges_a_set(), "{check:?} judges every node's answer");
        assert!(cases.iter().any(|c| c.0 == check), "{check:?} has no row");
    }
    for (check, keeps, breaks) in cases {
        assert_eq!(judge(check, &keeps), Verdict::Pass, "{check:?} keeps");
        assert!(
            matches!(judge(check, &breaks), Verdict::Fail(_)),
            "{check:?} breaks"
        );
    }
    let neither = response(500, &[], "");
    assert!(matches!(
        judge(Check::RefusedOnEveryNode, &[neither]),
        Verdict::Blocked(_)
    ));
}
