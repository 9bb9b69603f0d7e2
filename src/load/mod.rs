//! `grantcheck load`: Goose load profiles against the embedded reference server (on its own
//! runtime, so server and load do not share a scheduler) or an external target.

pub mod merge;
pub mod profile;
pub mod shard;
pub mod summary;
pub mod threshold;
pub mod transactions;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::{GooseAttack, GooseError, Scenario};
use reference_server::{ReferenceServer, ServerConfig};

use crate::commands::conform::{clients_from, TargetArgs};
use crate::config::ConfigFile;
use crate::exit::{Exit, Failure};
use crate::scenario::Role;
use crate::target::{self, EndpointOverrides, Target};
use profile::{Profile, TransactionKind};
use shard::{Shard, ShardReport};
use transactions::LoadContext;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub command: Option<LoadCommand>,
    /// A built-in profile (issuance, introspection, flow, bad-secret, mixed) or a profile file.
    #[arg(long, value_name = "NAME|FILE", default_value = "issuance")]
    pub profile: String,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Named targets (`--target NAME`); default: ./grantcheck.toml when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where Goose's HTML, JSON and Markdown reports go (unless --report-file is given).
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
    /// Token lifetime of the embedded server, short so memory stays flat under load.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub embedded_token_ttl: u64,
    /// Tokio workers of the embedded server's own runtime.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub embedded_workers: usize,
    /// Run shard I of N (I from 0, as JOB_COMPLETION_INDEX): this process's share of users,
    /// rate and test plan; writes shard-I-of-N.json for `grantcheck load merge`.
    #[arg(long, value_name = "I/N", env = "GRANTCHECK_SHARD")]
    pub shard: Option<Shard>,
    /// The run the shards belong to (the same for every shard of a run).
    #[arg(long, value_name = "ID", env = "GRANTCHECK_RUN_ID")]
    pub run_id: Option<String>,
    /// Also write every request's name and latency (µs) to FILE, to verify the histograms.
    #[arg(long, value_name = "FILE")]
    pub sample_log: Option<PathBuf>,
    /// Goose's own options: users, run time, test plan, thresholds, reports, logs...
    #[command(flatten, next_help_heading = "Goose")]
    pub goose: GooseConfiguration,
}

#[derive(Debug, clap::Subcommand)]
pub enum LoadCommand {
    /// Merge the shard reports of one run into one report, and judge its thresholds.
    Merge(merge::MergeArgs),
}

pub async fn run(mut args: LoadArgs) -> Result<Exit, Failure> {
    if let Some(LoadCommand::Merge(merge_args)) = args.command.take() {
        return merge::run(merge_args);
    }
    refuse_secret_logs(&args.goose)?;
    let mut profile = profile::load(&args.profile)?;
    // Rules are judged on the whole run: a shard only carries them to the merge.
    let thresholds: Vec<String> = profile
        .thresholds
        .iter()
        .chain(&args.goose.threshold)
        .cloned()
        .collect();
    if let Some(shard) = args.shard {
        take_share(shard, &mut profile, &mut args.goose).map_err(Failure::usage)?;
    }
    let config = ConfigFile::load(args.config.as_deref())?;
    crate::config::apply(&mut args.target, &config)?;
    let trust = crate::http::TlsTrust::new(
        &args.target.ca_cert,
        args.target.insecure || args.goose.accept_invalid_certs,
    )?;
    if let Some(warning) = trust.warning() {
        eprintln!("{warning}");
    }
    let http = crate::http::client(Duration::from_secs(10), &trust)?;

    let (target, _embedded) = if crate::commands::conform::is_embedded(&args.target) {
        let embedded = EmbeddedServer::start(args.embedded_token_ttl, args.embedded_workers)?;
        (embedded.target.clone(), Some(embedded))
    } else {
        let clients = clients_from(&args.target)?;
        let scopes = args
            .target
            .scope
            .iter()
            .flat_map(|s| s.split(' '))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let overrides = EndpointOverrides {
            token_url: args.target.token_url.clone(),
            introspection_url: args.target.introspection_url.clone(),
            revocation_url: args.target.revocation_url.clone(),
            resource_url: args.target.resource_url.clone(),
        };
        (
            target::discover(
                &http,
                args.target.target.as_deref(),
                overrides,
                clients,
                scopes,
                None,
            )
            .await?,
            None,
        )
    };
    check_profile_fits(&profile, &target)?;

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
    let scope = args
        .target
        .scope
        .as_deref()
        .and_then(|s| s.split(' ').next())
        .filter(|s| !s.is_empty());
    let pool = if profile.uses(TransactionKind::Introspect) {
        eprintln!(
            "issuing a pool of {} tokens for introspection",
            profile.pool_size
        );
        issue_pool(&http, &target, profile.pool_size, scope).await?
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
    let ctx = Arc::new(LoadContext::new(
        urls,
        (&main.id, &secret(main)),
        (&introspector.id, &secret(introspector)),
        scope,
        pool,
        profile.unique_tokens,
        profile.introspect_sample,
        args.sample_log.is_some(),
    ));

    let goose_config = with_report_files(args.goose.clone(), &args.report_dir, &profile)?;
    let request_timeout = match &args.goose.timeout {
        Some(t) => goose::util::parse_timespan(t)
            .map(|secs| Duration::from_secs(secs as u64))
            .ok_or_else(|| Failure::usage(format!("--timeout '{t}' is not a time span")))?,
        None => Duration::from_secs(60),
    };
    let setup = transactions::client_setup(request_timeout, trust);
    let attack = build_attack(goose_config, &profile, &target, ctx.clone(), setup)?;
    eprintln!(
        "grantcheck load: profile {} ({}) against {}",
        profile.name, profile.description, target.token_url
    );
    let progress = tokio::spawn(progress(ctx.clone()));
    let result = attack.execute().await;
    progress.abort();
    if let Some(path) = &args.sample_log {
        ctx.write_samples(path)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))?;
    }
    let run_id = args.run_id.clone().unwrap_or_else(default_run_id);
    let shard = args.shard.unwrap_or(Shard { index: 0, count: 1 });
    let finish = |metrics: &goose::metrics::GooseMetrics| -> Result<(), Failure> {
        let report =
            ShardReport::from_metrics(metrics, &run_id, shard, &profile.name, thresholds.clone());
        eprint!("{}", summary::render(&report));
        if args.shard.is_some() {
            std::fs::create_dir_all(&args.report_dir).map_err(|e| {
                Failure::runtime(format!("cannot create {}: {e}", args.report_dir.display()))
            })?;
            let path = shard::report_path(&args.report_dir, shard);
            report.write(&path)?;
            eprintln!("shard report: {} (run {run_id})", path.display());
        }
        eprintln!("reports: {}", args.report_dir.display());
        Ok(())
    };
    match result {
        Ok(metrics) => {
            finish(&metrics)?;
            Ok(Exit::Success)
        }
        Err(GooseError::ThresholdsFailed { failed, metrics }) => {
            finish(&metrics)?;
            for rule in &failed {
                eprintln!(
                    "THRESHOLD FAILED: {} (observed {})",
                    rule.rule, rule.observed
                );
            }
            Ok(Exit::LoadThreshold)
        }
        Err(GooseError::InvalidOption {
            option,
            value,
            detail,
        }) => Err(Failure::usage(format!("{option} {value}: {detail}"))),
        Err(e) => Err(Failure::runtime(format!("the load test failed: {e}"))),
    }
}

/// Narrows the profile and Goose's options to this shard's share. Thresholds are left to
/// the merge, which judges the whole run.
fn take_share(
    shard: Shard,
    profile: &mut Profile,
    goose: &mut GooseConfiguration,
) -> Result<(), String> {
    profile.thresholds.clear();
    goose.threshold.clear();
    let users = goose.users.or(profile.users);
    if let Some(users) = users {
        let share = shard.share(users);
        if share == 0 {
            return Err(format!(
                "shard {}/{} gets none of {users} users: give at least {} users",
                shard.index, shard.count, shard.count
            ));
        }
        goose.users = Some(share);
        profile.users = Some(share);
    }
    if let Some(rate) = goose
        .increase_rate
        .clone()
        .or(profile.increase_rate.clone())
    {
        let share = shard.share_rate(&rate)?;
        goose.increase_rate = Some(share.clone());
        profile.increase_rate = Some(share);
    }
    if let Some(plan) = &profile.test_plan {
        profile.test_plan = Some(shard.share_plan(plan)?);
    }
    if let Some(limit) = goose.throttle_requests {
        goose.throttle_requests = Some(shard.share(limit).max(1));
    }
    Ok(())
}

/// A run id for shards started without one: the start time, to the second.
fn default_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("run-{secs}")
}

/// Goose's request, debug and error logs record request headers (and `--request-body` the
/// body): the client's Basic credentials and tokens. Secrets never reach logs, so these
/// options are refused.
fn refuse_secret_logs(goose: &GooseConfiguration) -> Result<(), Failure> {
    let leaky = [
        ("--request-log", goose.request_log.is_some()),
        ("--debug-log", goose.debug_log.is_some()),
        ("--error-log", goose.error_log.is_some()),
        ("--request-body", goose.request_body),
    ];
    match leaky.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(Failure::usage(format!(
            "{flag} would write client credentials or tokens into a log; grantcheck refuses it (the HTML/JSON/Markdown reports and the transaction log are safe)"
        ))),
        None => Ok(()),
    }
}

/// A profile that needs an endpoint the target lacks is refused before anything runs.
fn check_profile_fits(profile: &Profile, target: &Target) -> Result<(), Failure> {
    let needs = |kind| profile.uses(kind);
    let missing = if needs(TransactionKind::Introspect) && target.introspection_url.is_none() {
        Some("an introspection endpoint (--introspection-url)")
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

/// Writes Goose's HTML, JSON and Markdown reports into the report dir unless the user
/// chose report files.
fn with_report_files(
    mut config: GooseConfiguration,
    dir: &std::path::Path,
    profile: &Profile,
) -> Result<GooseConfiguration, Failure> {
    if config.report_file.is_empty() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Failure::usage(format!("cannot create {}: {e}", dir.display())))?;
        for ext in ["html", "json", "md"] {
            config.report_file.push(
                dir.join(format!("load-{}.{ext}", profile.name))
                    .display()
                    .to_string(),
            );
        }
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
    for spec in &profile.scenarios {
        let mut scenario = Scenario::new(&spec.name)
            .set_weight(spec.weight)
            .map_err(goose_error)?
            .register_transaction(client_setup.clone());
        for kind in &spec.transactions {
            scenario = scenario.register_transaction(transactions::transaction(*kind, ctx.clone()));
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
        .map(|(k, v)| format!("{k}={}", reference_server::form::encode_component(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut pool = Vec::with_capacity(size);
    for _ in 0..size.max(1) {
        let response = http
            .post(&target.token_url)
            .basic_auth(
                reference_server::form::encode_component(&main.id),
                Some(reference_server::form::encode_component(&secret)),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| {
                Failure::runtime(format!(
                    "issuing the introspection pool: {}",
                    target::describe_error(&e)
                ))
            })?;
        let status = response.status();
        let json: serde_json::Value = response.json().await.unwrap_or_default();
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

/// A progress line every 5 s: requests so far, rate, errors.
async fn progress(ctx: Arc<LoadContext>) {
    let started = Instant::now();
    let mut last = 0u64;
    let every = Duration::from_secs(5);
    let tty = std::io::stderr().is_terminal();
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
struct EmbeddedServer {
    target: Target,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    fn start(token_ttl: u64, workers: usize) -> Result<EmbeddedServer, Failure> {
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
