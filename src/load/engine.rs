//! One measured run: the context prepared once, Goose configured to schedule users and
//! scenarios while grantcheck records every response (`recorder.rs`), the arrival clock
//! started for an open-model run, the threshold watch for a closed loop, and the report
//! built from the recorders.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::{GooseAttack, GooseError, Scenario};

use super::arrival::{self, ArrivalStats};
use super::client::LoadClient;
use super::context::{LoadContext, Throttle, Urls};
use super::pacer::{self, Pacing};
use super::profile::{Profile, TransactionKind};
use super::shard::{Shard, ShardReport};
use super::{pool, threshold, transactions, watch, Measured, Plan, HARD_STOP_GRACE};
use crate::case::Role;
use crate::exit::Failure;
use crate::target::Target;

/// Runs the plan and measures it: issues the introspection pool, runs Goose with every
/// response checked. `quiet` leaves the terminal to the caller (capacity search).
pub async fn measure(plan: &Plan, quiet: bool) -> Result<Measured, Failure> {
    let Plan {
        profile,
        thresholds,
        target,
        ..
    } = plan;
    super::check_profile_fits(profile, target)?;
    for rule in thresholds {
        threshold::check_syntax(rule).map_err(|e| Failure::usage(format!("--threshold {e}")))?;
    }
    refuse_co_mitigation(&plan.goose)?;
    let ctx = Arc::new(context(plan, quiet).await?);
    let closed_loop = ctx.pacing.is_none();

    let mut goose_config = with_report_files(plan.goose.clone(), &plan.report_dir, profile)?;
    // grantcheck judges the thresholds and throttles the requests itself: Goose never sees
    // a request.
    goose_config.threshold.clear();
    goose_config.throttle_requests = None;
    let client = crate::http::client_builder(ctx.request_timeout, &plan.trust)
        .build()
        .map_err(|e| Failure::runtime(format!("cannot build the HTTP client: {e}")))?;
    let setup = transactions::client_setup(client, ctx.clone());
    let attack = build_attack(goose_config, profile, target, ctx.clone(), setup)?;
    if !quiet {
        eprintln!(
            "grantcheck load: profile {} ({}) against {}",
            profile.name, profile.description, target.token_url
        );
    }
    if let (Some(pacing), false) = (&ctx.pacing, quiet) {
        eprintln!(
            "arrival rate: {} ({} iterations), at most {} in flight",
            pacing.plan,
            pacing.plan.iterations(),
            pacing.max_in_flight
        );
    }
    let progress = tokio::spawn(watch::progress(
        ctx.clone(),
        plan.goose.verbose > 0 || quiet,
        quiet,
    ));
    let clock = match &ctx.pacing {
        Some(_) => Some(
            pacer::spawn_clock(ctx.clone())
                .map_err(|e| Failure::runtime(format!("cannot start the arrival clock: {e}")))?,
        ),
        None => None,
    };
    // The plan starts when every user is ready, or at the latest after the margin allowed.
    let start_anyway = ctx.pacing.is_some().then(|| {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(arrival::START_FALLBACK).await;
            if let Some(pacing) = &ctx.pacing {
                pacing.set_start(Instant::now());
            }
        })
    });
    let run_id = plan.run_id.clone().unwrap_or_else(super::default_run_id);
    let shard = plan.shard.unwrap_or(Shard { index: 0, count: 1 });
    let users = ctx.expected_users as usize;
    let report = {
        let (run_id, name, rules) = (run_id.clone(), profile.name.clone(), thresholds.clone());
        move |ctx: &LoadContext| report(ctx, &run_id, shard, &name, rules.clone(), users)
    };
    let stopped = watch::Stopped::default();
    let watching = closed_loop
        && plan.shard.is_none()
        && !plan.goose.no_threshold_abort
        && !thresholds.is_empty();
    let watcher = watching.then(|| {
        let delay = plan
            .goose
            .threshold_abort_delay
            .as_deref()
            .and_then(goose::util::parse_timespan)
            .map_or(Duration::ZERO, |s| Duration::from_secs(s as u64));
        tokio::spawn(watch::thresholds(
            ctx.clone(),
            thresholds.clone(),
            report.clone(),
            delay,
            stopped.clone(),
        ))
    });
    let planned = planned_duration(&plan.goose, profile);
    // Every request times out at the hard stop; this bound only catches Goose itself hanging.
    let result = match planned {
        Some(planned) => {
            let launch = if ctx.pacing.is_some() {
                arrival::START_FALLBACK
            } else {
                Duration::ZERO
            };
            let limit = planned + HARD_STOP_GRACE + launch + Duration::from_secs(10);
            match tokio::time::timeout(limit, attack.execute()).await {
                Ok(result) => Some(result),
                Err(_) => {
                    progress.abort();
                    return Err(Failure::runtime(format!(
                        "the load run did not stop within {} s of its {} s plan",
                        limit.as_secs() - planned.as_secs(),
                        planned.as_secs()
                    )));
                }
            }
        }
        None => Some(attack.execute().await),
    };
    progress.abort();
    for task in [start_anyway, watcher].into_iter().flatten() {
        task.abort();
    }
    if let Some(pacing) = &ctx.pacing {
        pacing.stop();
    }
    if let Some(clock) = clock {
        let _ = tokio::task::spawn_blocking(move || clock.join()).await;
    }
    if let Some(path) = &plan.sample_log {
        ctx.write_samples(path)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    match result {
        Some(Ok(_)) | Some(Err(GooseError::ThresholdsFailed { .. })) | None => Ok(Measured {
            report: report(&ctx),
            stopped_by: stopped.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }),
        Some(Err(GooseError::InvalidOption {
            option,
            value,
            detail,
        })) => Err(Failure::usage(format!("{option} {value}: {detail}"))),
        Some(Err(e)) => Err(Failure::runtime(format!("the load test failed: {e}"))),
    }
}

/// The report of what the recorders hold.
fn report(
    ctx: &LoadContext,
    run_id: &str,
    shard: Shard,
    profile: &str,
    thresholds: Vec<String>,
    users: usize,
) -> ShardReport {
    let snapshot = ctx.recorders.snapshot();
    // An arrival-rate run's rate is over the plan's duration (Goose's run adds the launch and
    // an idle tail), or longer when the run fell behind and caught up after it.
    let secs = match &ctx.pacing {
        Some(pacing) => pacing.span().as_secs_f64(),
        None => ctx.measured().as_secs_f64(),
    };
    let mut report = ShardReport::new(run_id, shard, profile, thresholds, users);
    let (ok, failed) = snapshot
        .requests
        .values()
        .fold((0, 0), |(s, f), r| (s + r.success, f + r.fail));
    report.duration_s = secs.round() as usize;
    report.rps = (ok + failed) as f64 / secs.max(1e-9);
    report.arrival = ctx.pacing.as_ref().map(|p| ArrivalStats {
        rate_plan: p.plan.to_string(),
        planned: p.plan.iterations(),
        max_in_flight: p.max_in_flight as u64,
        started: snapshot.started,
        late: snapshot.late,
        started_after_plan: p.overran(),
        lag_us: snapshot.lag_us.clone(),
        latency_us: snapshot.intended_us.clone(),
        generator_lag_us: snapshot.generator_lag_us.clone(),
    });
    report.requests = snapshot.requests;
    report.errors = snapshot.errors;
    report.timeline = Some(ctx.recorders.timeline());
    report
}

/// The shared context of a run: endpoints, credentials, the pool, pacing, throttle.
async fn context(plan: &Plan, quiet: bool) -> Result<LoadContext, Failure> {
    let (profile, target) = (&plan.profile, &plan.target);
    let main = target
        .client(Role::Main)
        .ok_or_else(|| Failure::usage("the target has no main client"))?;
    let introspector = target.client(Role::Introspector).unwrap_or(main);
    let secret = |c: &crate::target::ClientCredentials| {
        c.secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let scope = plan.scope.as_deref();
    let token_pool = if profile.uses(TransactionKind::Introspect) {
        if !quiet {
            eprintln!(
                "issuing a pool of {} tokens for introspection",
                profile.pool_size
            );
        }
        pool::issue_pool(&plan.http, target, profile.pool_size, scope).await?
    } else {
        Vec::new()
    };
    let parse = |u: &str| {
        url::Url::parse(u).map_err(|e| Failure::usage(format!("'{u}' is not a URL: {e}")))
    };
    let optional = |u: &Option<String>| u.as_deref().map(parse).transpose();
    // The generator's own HTTP/1.1 client for plain-HTTP endpoints, unless the environment
    // asks for reqwest everywhere (to compare the two).
    let own_client = std::env::var("GRANTCHECK_LOAD_CLIENT").map_or(true, |c| c != "reqwest");
    let urls = Urls::new(
        parse(&target.token_url)?,
        optional(&target.introspection_url)?,
        optional(&target.revocation_url)?,
        optional(&target.resource_url)?,
        &target.nodes,
        own_client,
    );
    let mut context = LoadContext::new(
        urls,
        (&main.id, &secret(main)),
        (&introspector.id, &secret(introspector)),
        scope,
        token_pool,
        profile,
        plan.sample_log.is_some(),
    );
    context.max_body = plan.max_body;
    context.request_timeout = request_timeout(&plan.goose)?;
    let issue_body = String::from_utf8_lossy(&context.issue_body).into_owned();
    let dpop_key = target.dpop.as_ref().map(|d| d.key.clone());
    let load_client = |role: Role, bound: bool| -> Result<Option<LoadClient>, Failure> {
        let Some(client) = target.client(role) else {
            return Ok(None);
        };
        let http = client
            .method
            .cert()
            .and_then(|cert| target.mtls.as_ref()?.client(cert).cloned());
        let mut load = LoadClient::new(client, &issue_body, target.assertion_aud(), http)
            .map_err(|why| Failure::usage(format!("profile {}: {why}", profile.name)))?;
        load.dpop = dpop_key.clone().filter(|_| bound || client.dpop_bound);
        Ok(Some(load))
    };
    if profile.uses(TransactionKind::IssueJwt) {
        context.jwt_client = load_client(Role::KeyJwt, false)?;
    }
    if profile.uses(TransactionKind::IssueDpop) {
        context.dpop_client = load_client(Role::Main, true)?;
    }
    if profile.uses(TransactionKind::IssueMtls) {
        context.mtls_client = load_client(Role::Mtls, false)?;
    }
    if let Some(rate_plan) = &plan.rate_plan {
        let weights: Vec<usize> = profile.scenarios.iter().map(|s| s.weight).collect();
        context.pacing = Some(Pacing::new(rate_plan.clone(), &weights, plan.max_in_flight));
    }
    if let Some(per_second) = plan.goose.throttle_requests {
        context.throttle = Some(Throttle::new(per_second));
    }
    let users = launched_users(&plan.goose, profile);
    context.expected_users = users;
    // As Goose: no reset under --iterations (nor a test plan, nor an arrival rate).
    if context.pacing.is_none()
        && profile.test_plan.is_none()
        && plan.goose.iterations.is_none()
        && !plan.goose.no_reset_metrics
    {
        context.reset_at_users = Some(users);
    }
    if context.pacing.is_none() {
        let planned = planned_duration(&plan.goose, profile);
        context.hard_stop = planned.map(|d| Instant::now() + d + HARD_STOP_GRACE);
    }
    Ok(context)
}

/// `--timeout`, or 60 s.
fn request_timeout(goose: &GooseConfiguration) -> Result<Duration, Failure> {
    match &goose.timeout {
        Some(t) => goose::util::parse_timespan(t)
            .map(|secs| Duration::from_secs(secs as u64))
            .ok_or_else(|| Failure::usage(format!("--timeout '{t}' is not a time span"))),
        None => Ok(Duration::from_secs(60)),
    }
}

/// Goose's coordinated-omission mitigation backfills Goose's own request metrics, which
/// grantcheck no longer feeds; the open model (`--rate`) measures what it was for.
fn refuse_co_mitigation(goose: &GooseConfiguration) -> Result<(), Failure> {
    use goose::metrics::GooseCoordinatedOmissionMitigation as Co;
    match &goose.co_mitigation {
        None | Some(Co::Disabled) => Ok(()),
        Some(_) => Err(Failure::usage(
            "--co-mitigation is not supported: grantcheck records every response itself, off Goose's metrics; for latency that counts queueing, run an arrival rate (--rate 5000/s), which measures from each iteration's intended start",
        )),
    }
}

/// The most users Goose runs at once: `-u`, the profile's, a test plan's largest step, or
/// Goose's default (the cores).
fn launched_users(goose: &GooseConfiguration, profile: &Profile) -> u64 {
    if let Some(plan) = &profile.test_plan {
        return plan
            .split(';')
            .filter_map(|step| step.split_once(',')?.0.trim().parse::<u64>().ok())
            .max()
            .unwrap_or(0);
    }
    goose
        .users
        .or(profile.users)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())) as u64
}

/// Unless the user chose report files, Goose writes only its JSON (`load-<profile>.goose.json`:
/// users and phases; grantcheck's own reports hold every figure, with the data over time).
fn with_report_files(
    mut config: GooseConfiguration,
    dir: &std::path::Path,
    profile: &Profile,
) -> Result<GooseConfiguration, Failure> {
    if config.report_file.is_empty() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
        config.report_file.push(
            dir.join(format!("load-{}.goose.json", profile.name))
                .display()
                .to_string(),
        );
    }
    Ok(config)
}

fn build_attack(
    config: GooseConfiguration,
    profile: &Profile,
    target: &Target,
    ctx: Arc<LoadContext>,
    client_setup: goose::goose::Transaction,
) -> Result<GooseAttack, Failure> {
    let goose_error = |e: GooseError| Failure::usage(format!("load profile {}: {e}", profile.name));
    let host = url::Url::parse(&target.token_url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let mut attack = GooseAttack::initialize_with_config(config).map_err(goose_error)?;
    for (index, spec) in profile.scenarios.iter().enumerate() {
        let mut scenario = Scenario::new(&spec.name)
            .set_weight(spec.weight)
            .map_err(goose_error)?
            .register_transaction(client_setup.clone());
        if ctx.pacing.is_some() {
            scenario = scenario.register_transaction(pacer::paced(
                index,
                spec.transactions.clone(),
                ctx.clone(),
            ));
        } else {
            for kind in &spec.transactions {
                scenario =
                    scenario.register_transaction(transactions::transaction(*kind, ctx.clone()));
            }
        }
        attack = attack.register_scenario(scenario);
    }
    attack = set(attack, GooseDefault::Host, host.as_str())?;
    attack = set(attack, GooseDefault::NoPrintMetrics, true)?;
    // No unauthenticated controller port: parallel runs (tests, shards) would collide on it.
    attack = set(attack, GooseDefault::NoTelnet, true)?;
    if let Some(plan) = &profile.test_plan {
        attack = set(attack, GooseDefault::TestPlan, plan.as_str())?;
    } else {
        if let Some(users) = profile.users {
            attack = set(attack, GooseDefault::Users, users)?;
        }
        if let Some(run_time) = &profile.run_time {
            let secs = goose::util::parse_timespan(run_time).ok_or_else(|| {
                Failure::usage(format!(
                    "profile {}: run_time '{run_time}' is not a time span",
                    profile.name
                ))
            })?;
            attack = set(attack, GooseDefault::RunTime, secs)?;
        }
        if let Some(rate) = &profile.increase_rate {
            attack = set(attack, GooseDefault::IncreaseRate, rate.as_str())?;
        }
    }
    // Goose schedules; grantcheck records (no per-transaction or per-scenario metric either).
    attack = set(attack, GooseDefault::NoTransactionMetrics, true)?;
    attack = set(attack, GooseDefault::NoScenarioMetrics, true)?;
    Ok(attack)
}

fn set<T>(attack: GooseAttack, key: GooseDefault, value: T) -> Result<GooseAttack, Failure>
where
    GooseAttack: GooseDefaultType<T>,
{
    attack
        .set_default(key, value)
        .map(|boxed| *boxed)
        .map_err(|e| Failure::usage(format!("load settings: {e}")))
}

/// How long Goose's plan runs, computed as Goose builds it (ramp up, `--run-time`, ramp
/// down): `None` when the run has no end of its own (no run time, `--iterations`) or when a
/// `--test-plan` came from the command line (Goose keeps that one private).
fn planned_duration(goose: &GooseConfiguration, profile: &Profile) -> Option<Duration> {
    let span = |s: &str| goose::util::parse_timespan(s).map(|secs| secs as f64);
    if let Some(test_plan) = &profile.test_plan {
        let mut total = 0.0;
        for step in test_plan.split(';') {
            total += span(step.split_once(',')?.1.trim())?;
        }
        return Some(Duration::from_secs_f64(total));
    }
    if goose.iterations.is_some() {
        return None;
    }
    let run_time = span(goose.run_time.as_ref().or(profile.run_time.as_ref())?)?;
    let users = goose
        .users
        .or(profile.users)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        as f64;
    let rate = |r: Option<&String>| r.and_then(|r| r.parse::<f64>().ok()).filter(|r| *r > 0.0);
    let ramp_up = match goose.increase_time.as_deref().and_then(span) {
        Some(secs) => secs,
        None => {
            users
                / rate(
                    goose
                        .increase_rate
                        .as_ref()
                        .or(profile.increase_rate.as_ref()),
                )
                .unwrap_or(1.0)
        }
    };
    let ramp_down = match goose.decrease_time.as_deref().and_then(span) {
        Some(secs) => secs,
        None => rate(goose.decrease_rate.as_ref()).map_or(0.0, |r| users / r),
    };
    Some(Duration::from_secs_f64(ramp_up + run_time + ramp_down))
}
