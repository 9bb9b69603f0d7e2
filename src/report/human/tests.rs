use super::detail_lines;

#[test]
fn details_show_expected_and_actual_on_their_own_lines() {
    assert_eq!(
        detail_lines("step 1: no_store: expected Cache-Control: no-store, got nothing"),
        [
            "step 1:",
            "  no_store",
            "    expected: Cache-Control: no-store",
            "    actual:   nothing"
        ]
    );
    assert_eq!(
        detail_lines("issue: expected status 200, got 403; token_type is missing"),
        [
            "issue:",
            "    expected: status 200",
            "    actual:   403",
            "  token_type is missing"
        ]
    );
}

use super::{area_counts, failure_block, Human, Verbosity};
use crate::outcome::Outcome;
use crate::report::testing::{result, revoked_still_active};

fn case_lines(verbosity: Verbosity, outcome: Outcome) -> String {
    let mut human = Human::new(Vec::new(), false, verbosity);
    human.case(&result("TOKEN-001", "token", outcome));
    human.message("progress");
    human.warning("WARNING: plain HTTP");
    String::from_utf8(human.out).unwrap()
}

#[test]
fn a_pass_prints_a_line_only_with_verbose() {
    assert_eq!(
        case_lines(Verbosity::Normal, Outcome::Pass),
        "progress\nWARNING: plain HTTP\n"
    );
    assert_eq!(
        case_lines(Verbosity::Normal, Outcome::Skip),
        "progress\nWARNING: plain HTTP\n"
    );
    assert!(case_lines(Verbosity::Verbose, Outcome::Pass)
        .starts_with("  PASS  TOKEN-001    TOKEN-001's title [MUST RFC 6749 §5.1]\n"));
    assert!(case_lines(Verbosity::Normal, Outcome::Fail).starts_with("  FAIL  TOKEN-001"));
    assert!(case_lines(Verbosity::Normal, Outcome::Blocked).starts_with("  BLOCKED TOKEN-001"));
}

#[test]
fn quiet_prints_warnings_only() {
    for outcome in [Outcome::Pass, Outcome::Fail, Outcome::Error] {
        assert_eq!(
            case_lines(Verbosity::Quiet, outcome),
            "WARNING: plain HTTP\n"
        );
    }
}

#[test]
fn passes_and_skips_are_counted_per_area() {
    let results = [
        result("TOKEN-001", "token", Outcome::Pass),
        result("INTRO-001", "introspection", Outcome::Skip),
        result("TOKEN-002", "token", Outcome::Skip),
        result("TOKEN-003", "token", Outcome::Pass),
        result("INTRO-002", "introspection", Outcome::Fail),
        result("TOKEN-004", "token", Outcome::Pass),
    ];
    assert_eq!(
        area_counts(&results),
        [
            "token          3 passed, 1 skipped",
            "introspection  1 failed, 1 skipped"
        ]
    );
}

#[test]
fn a_failure_shows_every_step_briefly_and_the_failing_one_in_full() {
    let lines = failure_block(&revoked_still_active());
    let text = lines.join("\n");
    let expected_start = "  --> scenarios/x.toml:1
  requirement: MUST RFC 6749 §5.1
  introspect:
      expected: /active = false
      actual:   true
  steps:
  1. issue: POST http://127.0.0.1:1/oauth2/access_token → 200 {\"access_token\":\"<redacted>\",\"expires_in\":3600,\"token_type\":\"Bearer\"}
  2. revoke: POST http://127.0.0.1:1/oauth2/token/revoke → 200 (empty body)
  3. introspect (the failing step):
       POST http://127.0.0.1:1/oauth2/introspect
       authorization: Basic <redacted>
       content-type: application/x-www-form-urlencoded

       token=<redacted>

       HTTP 200 OK
       content-type: application/json
";
    assert!(text.starts_with(expected_start), "{text}");
    assert!(
        text.contains("       {\n         \"active\": true,"),
        "{text}"
    );
}

/// Every race case's release spread in one line after the area counts, and a race case's
/// own line with -v.
#[test]
fn race_cases_show_their_release_spread() {
    use crate::outcome::RaceStats;
    let stats = |p50: f64, max: f64, tries: usize| RaceStats {
        copies: 20,
        tries,
        spread_p50_ms: p50,
        spread_max_ms: max,
    };
    let mut a = result("RACE-001", "race", Outcome::Pass);
    a.race = Some(stats(0.12, 0.2, 1));
    let mut b = result("RACE-004", "race", Outcome::Blocked);
    b.race = Some(stats(0.1, 3.5, 2));
    let plain = result("AUTH-001", "auth", Outcome::Pass);
    assert_eq!(
        super::race_spreads(&[a.clone(), plain.clone(), b.clone()]).unwrap(),
        "release spread p50/max ms (20 copies): RACE-001 0.120/0.200, RACE-004 0.100/3.500"
    );
    assert_eq!(super::race_spreads(&[plain]), None);
    let mut human = Human::new(Vec::new(), false, Verbosity::Verbose);
    human.case(&b);
    let text = String::from_utf8(human.out).unwrap();
    assert!(
        text.contains(
            "        race: 20 copies, release spread p50 0.100 ms, max 3.500 ms (2 races sent)"
        ),
        "{text}"
    );
}
