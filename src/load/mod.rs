//! The load engine behind `grantcheck load` (`crate::commands::load` is its command line):
//! Goose profiles against the embedded reference server (on its own runtime, so server and
//! load do not share a scheduler) or an external target, with every response checked.

pub mod arrival;
pub mod capacity;
pub mod chart;
pub mod compare;
pub mod merge;
pub mod profile;
pub mod shard;
pub mod summary;
pub mod threshold;
pub mod timeline;
pub mod transactions;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::{GooseAttack, GooseError, Scenario};
use reference_server::{ReferenceServer, ServerConfig};

use crate::case::Role;
use crate::exit::{Exit, Failure};
use crate::target::Target;
use profile::{Profile, TransactionKind};
use shard::{Shard, ShardReport};
use transactions::LoadContext;

/// A load run, resolved from the command line (`crate::commands::load`).
pub struct Plan {
    pub profile: Profile,
    /// Threshold rules, judged on the whole run: a shard only carries them to the merge.
    pub thresholds: Vec<String>,
    pub target: Target,
    /// The scope token requests name, if any.
    pub scope: Option<String>,
    pub trust: crate::http::TlsTrust,
    pub http: reqwest::Client,
    pub goose: GooseConfiguration,
    pub report_dir: PathBuf,
    pub sample_log: Option<PathBuf>,
    pub shard: Option<Shard>,
    pub run_id: Option<String>,
    /// The most of any response body read (`--max-body`).
    pub max_body: usize,
    /// Arrival-rate mode: when iterations start (`--rate`, `--rate-plan`).
    pub rate_plan: Option<arrival::RatePlan>,
    pub max_in_flight: usize,
}

/// The most of a response body `load` reads unless `--max-body` says otherwise: the same
/// 1 MiB as `conform`. A token endpoint's answer is a few hundred bytes.
pub const DEFAULT_MAX_BODY: usize = crate::http::MAX_BODY_BYTES;

/// How long after the plan's end in-flight requests may still finish before they time out.
const HARD_STOP_GRACE: Duration = Duration::from_secs(2);

/// Runs the plan and measures it: issues the introspection pool, runs Goose with every
/// response checked. `quiet` leaves the terminal to the caller (capacity search).
pub async fn measure(plan: &Plan, quiet: bool) -> Result<Measured, Failure> {
    let Plan {
        profile,
        thresholds,
        target,
        http,
        ..
    } = plan;
    let (profile, thresholds, target, http) = (profile, thresholds.clone(), target, http);
    check_profile_fits(profile, target)?;

    let main = target
        .client(Role::Main)
        .expect("a target has a main client");
    let introspector = target.client(Role::Introspector).unwrap_or(main);
    let secret = |c: &crate::target::ClientCredentials| {
        c.secret
            .as_ref()
            .map(|s| s.expose().to_owned())
            .unwrap_or_default()
    };
    let scope = plan.scope.as_deref();
    let pool = if profile.uses(TransactionKind::Introspect) {
        if !quiet {
            eprintln!(
                "issuing a pool of {} tokens for introspection",
                profile.pool_size
            );
        }
        issue_pool(http, target, profile.pool_size, scope).await?
    } else {
        Vec::new()
    };
    let parse = |u: &str| {
        url::Url::parse(u).map_err(|e| Failure::usage(format!("'{u}' is not a URL: {e}")))
    };
    let optional = |u: &Option<String>| u.as_deref().map(parse).transpose();
    let urls = transactions::Urls {
        token: parse(&target.token_url)?,
        introspection: optional(&target.introspection_url)?,
        revocation: optional(&target.revocation_url)?,
        resource: optional(&target.resource_url)?,
    };
    let mut context = LoadContext::new(
        urls,
        (&main.id, &secret(main)),
        (&introspector.id, &secret(introspector)),
        scope,
        pool,
        profile,
        plan.sample_log.is_some(),
    );
    context.max_body = plan.max_body;
    if profile.uses(TransactionKind::IssueDpop) {
        context.dpop_key = target.dpop.as_ref().map(|d| d.key.clone());
    }
    if profile.uses(TransactionKind::IssueJwt) {
        context.jwt = target.client(Role::KeyJwt).and_then(|client| {
            client.jwt_key.clone().map(|key| transactions::JwtSigner {
                key,
                client_id: client.id.clone(),
                audience: target.assertion_aud().to_owned(),
            })
        });
    }
    if let Some(rate_plan) = &plan.rate_plan {
        let weights: Vec<usize> = profile.scenarios.iter().map(|s| s.weight).collect();
        context.pacing = Some(arrival::Pacing::new(
            rate_plan.clone(),
            &weights,
            plan.max_in_flight,
        ));
    }
    let planned = planned_duration(&plan.goose, profile);
    if context.pacing.is_none() {
        context.hard_stop = planned.map(|d| Instant::now() + d + HARD_STOP_GRACE);
    }
    let ctx = Arc::new(context);

    let goose_config = with_report_files(plan.goose.clone(), &plan.report_dir, profile)?;
    let request_timeout = match &plan.goose.timeout {
        Some(t) => goose::util::parse_timespan(t)
            .map(|secs| Duration::from_secs(secs as u64))
            .ok_or_else(|| Failure::usage(format!("--timeout '{t}' is not a time span")))?,
        None => Duration::from_secs(60),
    };
    let client = crate::http::client_builder(request_timeout, &plan.trust)
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
    let progress = tokio::spawn(progress(
        ctx.clone(),
        plan.goose.verbose > 0 || quiet,
        quiet,
    ));
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
                Ok(result) => result,
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
        None => attack.execute().await,
    };
    progress.abort();
    if let Some(task) = start_anyway {
        task.abort();
    }
    if let Some(path) = &plan.sample_log {
        ctx.write_samples(path)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    let run_id = plan.run_id.clone().unwrap_or_else(default_run_id);
    let shard = plan.shard.unwrap_or(Shard { index: 0, count: 1 });
    let report = |metrics: &goose::metrics::GooseMetrics| {
        let mut report =
            ShardReport::from_metrics(metrics, &run_id, shard, &profile.name, thresholds.clone());
        report.timeline = Some(ctx.timeline.data());
        report.arrival = ctx.pacing.as_ref().map(|p| p.stats());
        if let Some(pacing) = &ctx.pacing {
            // Goose's duration includes launching the users and the idle tail after the
            // plan; the rate is the plan's.
            let secs = pacing.plan.duration().as_secs_f64();
            let (ok, failed) = report.total();
            report.duration_s = secs.round() as usize;
            report.rps = (ok + failed) as f64 / secs.max(1e-9);
        }
        report
    };
    match result {
        Ok(metrics) => Ok(Measured {
            report: report(&metrics),
            goose_failed: Vec::new(),
        }),
        Err(GooseError::ThresholdsFailed { failed, metrics }) => Ok(Measured {
            report: report(&metrics),
            goose_failed: failed
                .into_iter()
                .map(|rule| (rule.rule, rule.observed))
                .collect(),
        }),
        Err(GooseError::InvalidOption {
            option,
            value,
            detail,
        }) => Err(Failure::usage(format!("{option} {value}: {detail}"))),
        Err(e) => Err(Failure::runtime(format!("the load test failed: {e}"))),
    }
}

/// What a run measured, before anything is printed or written.
pub struct Measured {
    pub report: ShardReport,
    /// Thresholds Goose judged failed, with what it observed: Goose stopped the run then
    /// unless `--no-threshold-abort`.
    pub goose_failed: Vec<(String, String)>,
}

/// Runs the plan: issues the introspection pool, runs Goose with every response checked,
/// prints the summary, writes the reports, and judges the thresholds.
pub async fn execute(plan: Plan) -> Result<Exit, Failure> {
    let Measured {
        report,
        goose_failed,
    } = measure(&plan, false).await?;
    // Goose's own end-of-run metrics are always off: this summary replaces them, and
    // --no-print-metrics leaves it out (the reports are written all the same).
    if !plan.goose.no_print_metrics {
        eprint!("{}", summary::render(&report));
    }
    // Every rule with what was observed, passed or not. A shard leaves them to the merge.
    let mut judged = Vec::new();
    if plan.shard.is_none() {
        for rule in &plan.thresholds {
            match threshold::judge(rule, &report) {
                Ok(j) => {
                    eprintln!(
                        "threshold {}: {} (observed {})",
                        j.rule,
                        if j.passed { "pass" } else { "FAILED" },
                        j.observed
                    );
                    judged.push(j);
                }
                Err(why) => eprintln!("threshold {rule}: not judged here ({why})"),
            }
        }
    }
    // A rule Goose judged failed (and stopped the run on) is failed in every report too.
    for (rule, observed) in &goose_failed {
        match judged.iter_mut().find(|j| &j.rule == rule) {
            Some(j) => j.passed = false,
            None => judged.push(threshold::Judged {
                rule: rule.clone(),
                observed: observed.clone(),
                passed: false,
            }),
        }
    }
    let verdict = summary::LoadVerdict::of(&judged);
    std::fs::create_dir_all(&plan.report_dir).map_err(|e| {
        Failure::runtime(format!("cannot create {}: {e}", plan.report_dir.display()))
    })?;
    if let Some(shard) = plan.shard {
        let path = shard::report_path(&plan.report_dir, shard);
        report.write(&path)?;
        eprintln!("shard report: {} (run {})", path.display(), report.run_id);
    }
    if plan.goose.report_file.is_empty() {
        let path = |ext: &str| {
            plan.report_dir
                .join(format!("load-{}.{ext}", plan.profile.name))
        };
        report.write(&path("json"))?;
        let write = |ext: &str, text: String| {
            std::fs::write(path(ext), text)
                .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path(ext).display())))
        };
        write("md", summary::markdown(&report, &judged))?;
        write("html", summary::html(&report, &judged))?;
    }
    eprintln!("reports: {}", plan.report_dir.display());
    for (rule, observed) in &goose_failed {
        eprintln!("THRESHOLD FAILED: {rule} (observed {observed})");
    }
    if !goose_failed.is_empty() && !plan.goose.no_threshold_abort {
        eprintln!(
            "the run stopped early, after {} s: Goose ends a run when a threshold fails (--no-threshold-abort runs it to the end)",
            report.duration_s
        );
    }
    eprintln!("{} (exit {})", verdict.headline, verdict.exit as u8);
    Ok(verdict.exit)
}

fn has_private_key_jwt_client(target: &Target) -> bool {
    let key = target.client(Role::KeyJwt).and_then(|c| c.jwt_key.as_ref());
    key.is_some_and(|k| !k.is_symmetric())
}

/// A profile that needs an endpoint the target lacks is refused before anything runs.
fn check_profile_fits(profile: &Profile, target: &Target) -> Result<(), Failure> {
    let needs = |kind| profile.uses(kind);
    let missing = if needs(TransactionKind::Introspect) && target.introspection_url.is_none() {
        Some("an introspection endpoint (--introspection-url)")
    } else if needs(TransactionKind::IssueDpop) && target.dpop.is_none() {
        Some("a DPoP key (--dpop ES256, RS256, PS256 or EdDSA)")
    } else if needs(TransactionKind::IssueJwt) && !has_private_key_jwt_client(target) {
        Some("a private_key_jwt client (--client-auth private_key_jwt --client-key FILE)")
    } else if needs(TransactionKind::Flow)
        && (target.revocation_url.is_none() || target.introspection_url.is_none())
    {
        // The resource step is left out when the target has no --resource-url.
        Some("an introspection and a revocation endpoint")
    } else {
        None
    };
    match missing {
        Some(what) => Err(Failure::usage(format!(
            "profile {} needs {what}",
            profile.name
        ))),
        None => Ok(()),
    }
}

/// Unless the user chose report files, Goose writes only its JSON (`load-<profile>.goose.json`):
/// grantcheck writes the HTML, Markdown and JSON reports itself, with the data over time
/// (Goose's HTML report loads its charts from a CDN and is blank offline).
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
            scenario = scenario.register_transaction(transactions::paced(
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
    for rule in &profile.thresholds {
        attack = set(attack, GooseDefault::Threshold, rule.as_str())?;
    }
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

/// Issues the introspection pool up front, with the main client, checking every answer.
async fn issue_pool(
    http: &reqwest::Client,
    target: &Target,
    size: usize,
    scope: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let main = target.client(Role::Main).expect("a main client");
    let secret = main
        .secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::form::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut pool = Vec::with_capacity(size);
    for _ in 0..size.max(1) {
        let response = http
            .post(&target.token_url)
            .basic_auth(
                crate::form::encode(&main.id),
                Some(crate::form::encode(&secret)),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| {
                Failure::runtime(format!(
                    "issuing the introspection pool: {}",
                    crate::http::describe_error(&e)
                ))
            })?;
        let mut response = response;
        let status = response.status();
        let body = transactions::read_body(&mut response, DEFAULT_MAX_BODY)
            .await
            .map_err(|why| Failure::runtime(format!("issuing the introspection pool: {why}")))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match json.get("access_token").and_then(|t| t.as_str()) {
            Some(token) if status.is_success() => pool.push(token.to_owned()),
            _ => {
                return Err(Failure::runtime(format!(
                    "issuing the introspection pool: status {status}, no access_token"
                )))
            }
        }
    }
    Ok(pool)
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

/// A progress line every 5 s: requests so far, rate, errors. It rewrites itself on a
/// terminal, unless Goose's own log lines (`-v`) share it: then each is a line of its own.
async fn progress(ctx: Arc<LoadContext>, logs_on_terminal: bool, quiet: bool) {
    if quiet {
        return;
    }
    let started = Instant::now();
    let mut last = 0u64;
    let every = Duration::from_secs(5);
    let tty = std::io::stderr().is_terminal() && !logs_on_terminal;
    loop {
        tokio::time::sleep(every).await;
        let now = ctx.requests.load(Ordering::Relaxed);
        let failures = ctx.failures.load(Ordering::Relaxed);
        let line = format!(
            "[{:>4}s] {now} requests, {:.0}/s, {failures} errors",
            started.elapsed().as_secs(),
            (now - last) as f64 / every.as_secs_f64()
        );
        if tty {
            eprint!("\r{line}   ");
        } else {
            eprintln!("{line}");
        }
        last = now;
    }
}

/// The reference server on a runtime and thread of its own.
pub(crate) struct EmbeddedServer {
    pub target: Target,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    pub fn start(token_ttl: u64, workers: usize) -> Result<EmbeddedServer, Failure> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ServerConfig {
            token_ttl: Duration::from_secs(token_ttl.max(1)),
            ..ServerConfig::default()
        };
        let thread = std::thread::Builder::new()
            .name("reference-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers.max(1))
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match ReferenceServer::start(
                        config,
                        "127.0.0.1:0".parse().expect("valid address"),
                    )
                    .await
                    {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok(Target::reference(&server)));
                            let _ = stopped.await;
                            server.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| Failure::runtime(format!("cannot start the embedded server: {e}")))?;
        let target = ready_rx
            .recv()
            .map_err(|_| Failure::runtime("the embedded server thread ended early"))?
            .map_err(|e| Failure::runtime(format!("cannot start the embedded server: {e}")))?;
        Ok(EmbeddedServer {
            target,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A run id for shards started without one: the start time, to the second.
fn default_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("run-{secs}")
}
