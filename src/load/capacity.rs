//! Capacity search: the highest arrival rate at which every SLO holds. Each step is a short
//! arrival-rate run at one rate; the rate doubles while the SLOs hold, then bisects between
//! the highest rate that held and the lowest that did not, until they are within the
//! precision or the time budget is spent; a miss counts only when the same rate misses a
//! second time, so one hiccup of the machine does not decide it. A rate at which more than
//! 1% of iterations started
//! late (`--max-late`) never counts as held: the harness could not keep the rate, so it says
//! nothing about the server.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::arrival::RatePlan;
use super::chart::{self, Series};
use super::shard::ShardReport;
use super::threshold::{self, Judged};
use super::{measure, Plan};
use crate::exit::Failure;
use crate::report::html::esc;

/// How the search runs.
pub struct Search {
    pub slos: Vec<String>,
    pub start_rate: f64,
    pub max_rate: Option<f64>,
    pub step: Duration,
    pub max_time: Duration,
    /// Stop when the highest good and lowest bad rate are this close (a fraction).
    pub precision: f64,
    /// The rule every step meets besides the user's SLOs (`late<1%` by default).
    pub kept_rate: String,
}

/// One step of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub rate: f64,
    pub held: bool,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: f64,
    pub late_percent: f64,
    /// Start lag p99 (intended start to sent), the generator's precision.
    pub lag_p99_ms: Option<f64>,
    /// Whether the generator's own lag dominated latency at this rate.
    pub generator_dominated: bool,
    pub judged: Vec<Judged>,
}

/// The search's outcome, as `capacity.json` holds it.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub profile: String,
    pub slos: Vec<String>,
    /// The highest rate that met every SLO, if any did.
    pub capacity: Option<f64>,
    /// The lowest rate that did not, if any was tried.
    pub first_miss: Option<f64>,
    pub step_s: f64,
    pub max_in_flight: usize,
    /// Every step in the order run.
    pub steps: Vec<Step>,
    pub elapsed_s: f64,
    /// What one step cost in all: its span plus launching the users and the last answers.
    pub step_cost_s: f64,
    /// Whether the search stopped because `--max-time` had no room for another step.
    pub budget_spent: bool,
}

/// Checks the SLOs parse before any load runs.
pub fn check_slos(slos: &[String]) -> Result<(), Failure> {
    for slo in slos {
        threshold::check_syntax(slo).map_err(|e| Failure::usage(format!("--slo {e}")))?;
    }
    Ok(())
}

/// Runs the search with `plan` (an arrival-rate plan whose rate each step replaces).
pub async fn search(plan: &mut Plan, search: &Search) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let mut rules = search.slos.clone();
    rules.push(search.kept_rate.clone());
    let mut steps: Vec<Step> = Vec::new();
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = search.start_rate;
    // A first, unjudged run warms the server and the connection pool: the first seconds
    // against a cold server say nothing about its capacity. It also shows what a step costs
    // beyond its span at the rate: launching the users, the start margin, the last answers.
    let warm_up = (search.step / 2).clamp(Duration::from_secs(1), Duration::from_secs(5));
    at_rate(plan, rate, warm_up);
    let warm_started = Instant::now();
    measure(plan, true).await?;
    let overhead = warm_started.elapsed().saturating_sub(warm_up);
    let step_cost = search.step + overhead;
    let fits = steps_that_fit(search.max_time.saturating_sub(started.elapsed()), step_cost);
    eprintln!(
        "  warmed up at {rate:.0}/s for {} s; each step runs {} s at its rate plus {:.1} s to launch the users and collect the last answers (measured on the warm-up), so --max-time {} s leaves room for {}",
        warm_up.as_secs(),
        search.step.as_secs(),
        overhead.as_secs_f64(),
        search.max_time.as_secs(),
        count_steps(fits)
    );
    if fits < FEW_STEPS {
        eprintln!(
            "  that is too few to double and then bisect the rate: raise --max-time (about {} s for {FEW_STEPS} steps) or start nearer the capacity (--start-rate)",
            (started.elapsed() + step_cost * FEW_STEPS as u32).as_secs()
        );
    }
    let mut budget_spent = false;
    loop {
        if started.elapsed() + step_cost > search.max_time && !steps.is_empty() {
            eprintln!(
                "capacity: the time budget (--max-time {} s) is spent after {}",
                search.max_time.as_secs(),
                count_steps(steps.len())
            );
            budget_spent = true;
            break;
        }
        at_rate(plan, rate, search.step);
        let report = measure(plan, true).await?.report;
        let mut step = judge_step(rate, &report, &rules)?;
        eprintln!("{}", step_line(&step));
        if !step.held && started.elapsed() + step_cost <= search.max_time {
            // A miss decides the search: one hiccup (the machine's, not the server's) must
            // not send it down, so a miss counts only when the same rate misses again.
            let again = judge_step(rate, &measure(plan, true).await?.report, &rules)?;
            eprintln!("{}  (again)", step_line(&again));
            if again.held {
                step = again;
            }
        }
        if step.held {
            good = Some(good.map_or(rate, |g: f64| g.max(rate)));
        } else {
            bad = Some(bad.map_or(rate, |b: f64| b.min(rate)));
        }
        steps.push(step);
        let next = match (good, bad) {
            (Some(g), None) => {
                let doubled = g * 2.0;
                match search.max_rate {
                    Some(max) if g >= max => break,
                    Some(max) => doubled.min(max),
                    None => doubled,
                }
            }
            (None, Some(b)) => {
                if b / 2.0 < 1.0 {
                    break;
                }
                b / 2.0
            }
            (Some(g), Some(b)) => {
                if (b - g) / g <= search.precision {
                    break;
                }
                (g + b) / 2.0
            }
            (None, None) => break,
        };
        rate = next.round().max(1.0);
        if steps.iter().any(|s| s.rate == rate) {
            break;
        }
    }
    Ok(Outcome {
        profile: plan.profile.name.clone(),
        slos: search.slos.clone(),
        capacity: good,
        first_miss: bad,
        step_s: search.step.as_secs_f64(),
        max_in_flight: plan.max_in_flight,
        steps,
        elapsed_s: started.elapsed().as_secs_f64(),
        step_cost_s: step_cost.as_secs_f64(),
        budget_spent,
    })
}

/// Fewer steps than this cannot double the start rate a few times and then bisect.
const FEW_STEPS: usize = 6;

fn count_steps(n: usize) -> String {
    format!("{n} step{}", if n == 1 { "" } else { "s" })
}

/// Steps of `cost` each that fit in `left`.
fn steps_that_fit(left: Duration, cost: Duration) -> usize {
    (left.as_secs_f64() / cost.as_secs_f64().max(0.001)).floor() as usize
}

/// The next run holds `rate` for `span`; Goose runs as long as that plan and its launch
/// margin (not as long as the first step's).
fn at_rate(plan: &mut Plan, rate: f64, span: Duration) {
    let plan_s = span.as_secs_f64().max(1.0);
    plan.rate_plan = Some(RatePlan::constant(rate, plan_s));
    plan.goose.run_time = Some(format!(
        "{}",
        (plan_s + super::arrival::START_MARGIN_S).ceil() as u64
    ));
}

fn judge_step(rate: f64, report: &ShardReport, rules: &[String]) -> Result<Step, Failure> {
    let judged = rules
        .iter()
        .map(|rule| threshold::judge(rule, report))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    let arrival = report.arrival.clone().unwrap_or_default();
    let (ok, failed) = report.total();
    Ok(Step {
        rate,
        held: judged.iter().all(|j| j.passed),
        p50_ms: arrival
            .latency_percentile_us(0.5)
            .map(|us| us as f64 / 1000.0),
        p99_ms: arrival
            .latency_percentile_us(0.99)
            .map(|us| us as f64 / 1000.0),
        error_rate: 100.0 * failed as f64 / (ok + failed).max(1) as f64,
        late_percent: 100.0 * arrival.late_ratio(),
        lag_p99_ms: arrival.lag_percentile_us(0.99).map(|us| us as f64 / 1000.0),
        generator_dominated: arrival.generator_dominated().is_some(),
        judged,
    })
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} ms"))
}

fn step_line(step: &Step) -> String {
    let missed: Vec<String> = step
        .judged
        .iter()
        .filter(|j| !j.passed)
        .map(|j| format!("{} (observed {})", j.rule, j.observed))
        .collect();
    format!(
        "  {:>8.0}/s  p50 {:>10}  p99 {:>10}  errors {:>6.2}%  late {:>6.2}%  lag p99 {:>9}  {}{}",
        step.rate,
        ms(step.p50_ms),
        ms(step.p99_ms),
        step.error_rate,
        step.late_percent,
        ms(step.lag_p99_ms),
        if step.held {
            "meets every SLO".to_owned()
        } else {
            format!("misses {}", missed.join(", "))
        },
        if step.generator_dominated {
            " (the generator's own start lag is over 10% of p99: give it more CPU)"
        } else {
            ""
        }
    )
}

/// The verdict in one sentence.
pub fn verdict(outcome: &Outcome) -> String {
    let slos = outcome.slos.join(", ");
    match (outcome.capacity, outcome.first_miss) {
        (Some(c), Some(m)) => format!(
            "capacity: {c:.0}/s meets every SLO ({slos}); {m:.0}/s did not"
        ),
        (Some(c), None) if outcome.budget_spent => format!(
            "capacity: at least {c:.0}/s meets every SLO ({slos}); no higher rate was tried: --max-time had room for {} of {:.0} s, each costing {:.1} s with the launch of its users and its last answers (raise --max-time)",
            count_steps(outcome.steps.len()),
            outcome.step_s,
            outcome.step_cost_s
        ),
        (Some(c), None) => format!(
            "capacity: at least {c:.0}/s meets every SLO ({slos}); no higher rate was tried (raise --max-time or --max-rate)"
        ),
        (None, Some(m)) => format!(
            "capacity: no rate tried met every SLO ({slos}); the lowest tried was {m:.0}/s (lower --start-rate)"
        ),
        (None, None) => "capacity: no step ran".to_owned(),
    }
}

pub fn markdown(outcome: &Outcome) -> String {
    let mut md = format!(
        "# grantcheck load capacity: {}\n\n{}\n\nSteps of {} s, at most {} in flight; latency from each iteration's intended start.\n\n| rate | p50 | p99 | errors | late | lag p99 | result |\n|---:|---:|---:|---:|---:|---:|---|\n",
        outcome.profile,
        verdict(outcome),
        outcome.step_s,
        outcome.max_in_flight
    );
    let mut sorted = outcome.steps.clone();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    for s in &sorted {
        let _ = writeln!(
            md,
            "| {:.0}/s | {} | {} | {:.2}% | {:.2}% | {} | {} |",
            s.rate,
            ms(s.p50_ms),
            ms(s.p99_ms),
            s.error_rate,
            s.late_percent,
            ms(s.lag_p99_ms),
            if s.held { "held" } else { "missed" }
        );
    }
    md
}

/// The report page: the verdict, the curve (rate → p50/p99) and the steps.
pub fn html(outcome: &Outcome) -> String {
    let mut sorted = outcome.steps.clone();
    sorted.sort_by(|a, b| a.rate.total_cmp(&b.rate));
    let class = if outcome.capacity.is_some() {
        "good"
    } else {
        "bad"
    };
    let mut h = format!(
        "<!doctype html><html lang=en><head><meta charset=\"utf-8\"><meta name=viewport content=\"width=device-width,initial-scale=1\"><title>grantcheck capacity {}</title><style>{}{}</style></head><body><header class={class}><h1>{}</h1><p>grantcheck load capacity · profile <b>{}</b> · steps of {} s · at most {} in flight · {:.0} s in all</p></header>",
        esc(&outcome.profile),
        super::summary::STYLE,
        chart::STYLE,
        esc(&verdict(outcome)),
        esc(&outcome.profile),
        outcome.step_s,
        outcome.max_in_flight,
        outcome.elapsed_s
    );
    let points = |f: &dyn Fn(&Step) -> Option<f64>| -> Vec<(f64, Option<f64>)> {
        sorted.iter().map(|s| (s.rate, f(s))).collect()
    };
    h.push_str(&chart::line_chart(
        "Latency from the intended start by arrival rate",
        "ms",
        "/s",
        &[
            Series {
                name: "p50",
                colour: "#2e7d32",
                points: points(&|s| s.p50_ms),
            },
            Series {
                name: "p99",
                colour: "#c62828",
                points: points(&|s| s.p99_ms),
            },
        ],
    ));
    h.push_str("<h2>Steps</h2><table class=stack><tr><th>rate</th><th>p50</th><th>p99</th><th>errors</th><th>late</th><th>lag p99</th><th>result</th></tr>");
    for s in &sorted {
        let missed: Vec<String> = s
            .judged
            .iter()
            .filter(|j| !j.passed)
            .map(|j| format!("{} ({})", j.rule, j.observed))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{:.0}/s</td><td data-label=p50>{}</td><td data-label=p99>{}</td><td data-label=errors>{:.2}%</td><td data-label=late>{:.2}%</td><td data-label=\"lag p99\">{}</td><td class={}>{}</td></tr>",
            s.rate,
            ms(s.p50_ms),
            ms(s.p99_ms),
            s.error_rate,
            s.late_percent,
            ms(s.lag_p99_ms),
            if s.held { "pass" } else { "fail" },
            if s.held {
                "held".to_owned()
            } else {
                esc(&format!("missed {}", missed.join(", ")))
            }
        );
    }
    h.push_str("</table></body></html>\n");
    h
}

#[cfg(test)]
mod tests;
