use std::time::Duration;

use super::{steps_that_fit, verdict, Outcome, Step};

fn held(rate: f64) -> Step {
    Step {
        rate,
        held: true,
        p50_ms: Some(1.0),
        p99_ms: Some(2.0),
        error_rate: 0.0,
        late_percent: 0.0,
        lag_p99_ms: Some(0.1),
        generator_dominated: false,
        judged: Vec::new(),
    }
}

fn outcome(budget_spent: bool) -> Outcome {
    Outcome {
        profile: "issuance".into(),
        slos: vec!["p99<50ms".into()],
        capacity: Some(4000.0),
        first_miss: None,
        step_s: 2.0,
        max_in_flight: 100,
        steps: vec![held(1000.0), held(2000.0), held(4000.0)],
        elapsed_s: 19.0,
        step_cost_s: 5.2,
        budget_spent,
    }
}

#[test]
fn a_search_the_budget_ended_says_what_each_step_cost() {
    // `--step 2s --max-time 20s`: three steps, each 2 s at its rate plus the launch and the
    // last answers, so the verdict says why no higher rate was tried.
    let text = verdict(&outcome(true));
    assert!(
        text.contains("at least 4000/s meets every SLO (p99<50ms)")
            && text.contains("--max-time had room for 3 steps of 2 s, each costing 5.2 s")
            && text.contains("raise --max-time"),
        "{text}"
    );
    // Stopped by --max-rate instead: nothing about the budget.
    let text = verdict(&outcome(false));
    assert!(!text.contains("costing"), "{text}");
}

#[test]
fn steps_are_counted_with_their_whole_cost() {
    let cost = Duration::from_secs(2) + Duration::from_millis(3200);
    assert_eq!(steps_that_fit(Duration::from_secs(20), cost), 3);
    assert_eq!(steps_that_fit(Duration::from_secs(4), cost), 0);
    assert_eq!(
        steps_that_fit(Duration::from_secs(300), Duration::from_secs(13)),
        23
    );
}
