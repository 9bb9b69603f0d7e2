//! `grantcheck load`: the command line of the load harness. It resolves the profile, the
//! shard's share, the target (the embedded server on its own runtime, or an external one)
//! and TLS trust, then hands a [`load::Plan`] to the engine in `crate::load`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use goose::config::GooseConfiguration;

use crate::exit::{Exit, Failure};
use crate::load::arrival::{parse_rate, RatePlan};
use crate::load::profile::Profile;
use crate::load::shard::Shard;
use crate::load::{self, capacity, compare, merge, EmbeddedServer};
use crate::target::TargetArgs;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadArgs {
    #[command(subcommand)]
    pub command: Option<LoadCommand>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What a load run needs: profile, target, reports, mode, Goose's options. `load` and
/// `load capacity` share them.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A built-in profile or a profile file (`--help` lists the built-in ones: `crate::cli`).
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
    /// The most of a response body read, in bytes; a longer body fails that request
    /// ("the response body (--max-body) exceeds the … limit") and is not read further.
    #[arg(long, value_name = "BYTES", default_value_t = load::DEFAULT_MAX_BODY)]
    pub max_body: usize,
    /// Arrival rate: start iterations at this constant rate (e.g. 5000/s, 300/m) for the
    /// run time (-t), whatever the server does, instead of N users looping (an open model).
    #[arg(long, value_name = "RATE", conflicts_with = "rate_plan")]
    pub rate: Option<String>,
    /// Arrival rate in stages: "FROM..TO:SPAN" ramps, "RATE:SPAN" holds, comma-separated,
    /// e.g. "0/s..5000/s:1m, 5000/s:5m". The run lasts the plan.
    #[arg(long, value_name = "PLAN")]
    pub rate_plan: Option<String>,
    /// With --rate/--rate-plan: the most iterations in flight at once (Goose users). An
    /// iteration due while all are busy starts late, is counted late, and its latency is
    /// measured from when it was due.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_in_flight: usize,
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
    /// Compare two load reports side by side; exit 5 on a regression beyond the limits.
    Compare(compare::CompareArgs),
    /// Find the highest arrival rate that meets every SLO, stepping and bisecting the rate.
    Capacity(Box<CapacityArgs>),
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// A rule every step must meet, in threshold syntax (repeatable): "p99<50ms" (latency
    /// from the intended start), "error-rate<0.1%"; "late<1%" is always added.
    #[arg(long, value_name = "RULE", required = true)]
    pub slo: Vec<String>,
    /// The first rate tried.
    #[arg(long, value_name = "RATE", default_value = "100/s")]
    pub start_rate: String,
    /// Never try a rate above this.
    #[arg(long, value_name = "RATE")]
    pub max_rate: Option<String>,
    /// How long each step runs at its rate.
    #[arg(long, value_name = "SPAN", default_value = "10s")]
    pub step: String,
    /// The search's whole time budget.
    #[arg(long, value_name = "SPAN", default_value = "5m")]
    pub max_time: String,
    /// Stop bisecting when the highest good and lowest bad rate are within this percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 5.0)]
    pub precision: f64,
    /// A step whose late iterations exceed this percent does not count as held: the
    /// harness could not keep the rate (raise --max-in-flight, or give it more CPU).
    #[arg(long, value_name = "PERCENT", default_value_t = 1.0)]
    pub max_late: f64,
    #[command(flatten)]
    pub run: RunArgs,
}

pub async fn run(args: LoadArgs) -> Result<Exit, Failure> {
    // `-V` is Goose's flag, which Goose answers only once its run starts: the version is
    // printed here instead, before any server or target is touched.
    let asks_version = match &args.command {
        Some(LoadCommand::Capacity(c)) => c.run.goose.version,
        Some(_) => false,
        None => args.run.goose.version,
    };
    if asks_version {
        println!("{}", version());
        return Ok(Exit::Success);
    }
    match args.command {
        Some(LoadCommand::Merge(merge_args)) => load::merge::run(merge_args),
        Some(LoadCommand::Compare(compare_args)) => compare::run(compare_args),
        Some(LoadCommand::Capacity(capacity_args)) => find_capacity(*capacity_args).await,
        None => {
            let (plan, embedded) = prepare(args.run).await?;
            let result = load::execute(plan).await;
            drop(embedded);
            result
        }
    }
}

/// What `load -V` prints: `grantcheck 0.1.0 (goose 0.19.0)`.
pub fn version() -> String {
    let goose = goose::client::GooseClientConfig::default().user_agent;
    format!(
        "grantcheck {} ({})",
        env!("CARGO_PKG_VERSION"),
        goose.replace('/', " ")
    )
}

/// `grantcheck load capacity`: a capacity search with the run's target and profile; writes
/// capacity.json, .md and .html; exit 5 when no rate met every SLO.
async fn find_capacity(mut args: CapacityArgs) -> Result<Exit, Failure> {
    let span = |flag: &str, text: &str| {
        goose::util::parse_timespan(text)
            .filter(|s| *s > 0)
            .map(|s| Duration::from_secs(s as u64))
            .ok_or_else(|| Failure::usage(format!("{flag} '{text}' is not a time span above 0")))
    };
    let search = capacity::Search {
        slos: args.slo.clone(),
        start_rate: parse_rate(&args.start_rate).map_err(Failure::usage)?,
        max_rate: args
            .max_rate
            .as_deref()
            .map(parse_rate)
            .transpose()
            .map_err(Failure::usage)?,
        step: span("--step", &args.step)?,
        max_time: span("--max-time", &args.max_time)?,
        precision: args.precision / 100.0,
        kept_rate: format!("late<{}%", args.max_late),
    };
    capacity::check_slos(&search.slos)?;
    if search.start_rate < 1.0 || search.precision.is_nan() || search.precision <= 0.0 {
        return Err(Failure::usage(
            "--start-rate must be at least 1/s and --precision above 0",
        ));
    }
    if args.run.rate.is_some() || args.run.rate_plan.is_some() || args.run.shard.is_some() {
        return Err(Failure::usage(
            "load capacity chooses the rates itself: leave out --rate, --rate-plan and --shard",
        ));
    }
    args.run.rate = Some(args.start_rate.clone());
    args.run.goose.run_time = Some(args.step.clone());
    let report_dir = args.run.report_dir.clone();
    let (mut plan, embedded) = prepare(args.run).await?;
    plan.thresholds.clear();
    eprintln!(
        "grantcheck load capacity: profile {} against {}, steps of {} s, at most {} in flight, SLOs {} and {}",
        plan.profile.name,
        plan.target.token_url,
        search.step.as_secs(),
        plan.max_in_flight,
        search.slos.join(", "),
        search.kept_rate
    );
    let outcome = capacity::search(&mut plan, &search).await;
    drop(embedded);
    let outcome = outcome?;
    eprintln!("{}", capacity::verdict(&outcome));
    std::fs::create_dir_all(&report_dir)
        .map_err(|e| Failure::runtime(format!("cannot create {}: {e}", report_dir.display())))?;
    let write = |name: &str, text: String| {
        let path = report_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
    };
    write(
        "capacity.json",
        serde_json::to_string_pretty(&outcome).expect("the outcome serialises") + "\n",
    )?;
    write("capacity.md", capacity::markdown(&outcome))?;
    write("capacity.html", capacity::html(&outcome))?;
    eprintln!("reports: {}", report_dir.display());
    Ok(if outcome.capacity.is_some() {
        Exit::Success
    } else {
        Exit::LoadThreshold
    })
}

/// Resolves the profile, the shard's share, the mode, TLS trust and the target (starting
/// the embedded server, whose guard the caller keeps for the run) into a plan.
async fn prepare(mut args: RunArgs) -> Result<(load::Plan, Option<EmbeddedServer>), Failure> {
    refuse_secret_logs(&args.goose)?;
    // Goose logs every phase at INFO and every failed request at WARN on the terminal;
    // grantcheck prints its own progress, summary and errors by kind, so Goose's lines wait
    // for -v.
    if args.goose.verbose == 0 && args.goose.quiet == 0 {
        args.goose.quiet = 2;
    }
    let mut profile = load::profile::load(&args.profile)?;
    // Rules are judged on the whole run: a shard only carries them to the merge.
    let thresholds: Vec<String> = profile
        .thresholds
        .iter()
        .chain(&args.goose.threshold)
        .cloned()
        .collect();
    // An arrival-rate run takes its shard's share of the rate and of the in-flight bound
    // itself; Goose's users are then that bound, not to be divided again.
    let rate_plan = arrival_mode(&mut args, &mut profile)?;
    if let Some(shard) = args.shard {
        take_share(shard, &mut profile, &mut args.goose, rate_plan.is_none())
            .map_err(Failure::usage)?;
    }
    args.target.apply_config(args.config.as_deref())?;
    let mut trust = crate::http::TlsTrust::new(
        &args.target.ca_cert,
        args.target.insecure || args.goose.accept_invalid_certs,
    )?;
    if let Some(warning) = trust.warning() {
        eprintln!("{warning}");
    }
    use crate::load::profile::TransactionKind as Kind;
    // Mutual TLS needs TLS: the embedded server of an `issue_mtls` profile serves HTTPS
    // with a certificate of its own, which this run trusts.
    let embedded_tls = if args.target.is_embedded() && profile.uses(Kind::IssueMtls) {
        let identity = reference_server::TlsIdentity::generate(&[]).map_err(Failure::runtime)?;
        trust
            .add_pem(identity.certificate_pem().as_bytes())
            .map_err(Failure::internal)?;
        Some(identity)
    } else {
        None
    };
    let http = crate::http::client(Duration::from_secs(10), &trust)?;

    let origin = args.goose.host.as_deref().map(host_origin).transpose()?;
    let (mut target, embedded) = if args.target.is_embedded() {
        if origin.is_some() {
            return Err(Failure::usage(
                "-H/--host sends the target's requests to another origin: name the target too (--target or --token-url); the embedded server answers only at its own",
            ));
        }
        let embedded =
            EmbeddedServer::start(args.embedded_token_ttl, args.embedded_workers, embedded_tls)?;
        (embedded.target.clone(), Some(embedded))
    } else {
        let discovery = crate::settings::Settings::default();
        (args.target.resolve_external(&http, &discovery).await?, None)
    };
    if let Some(origin) = &origin {
        rehost(&mut target, origin)?;
    }
    if !args.target.node.is_empty() {
        if target.embedded {
            return Err(Failure::usage(
                "--node names the other nodes of --target's cluster; the embedded server is one node (start `grantcheck serve --nodes 3` and name it with --target)",
            ));
        }
        if !profile.uses(Kind::Flow) {
            eprintln!("note: --node is used by the flow transaction only (each other node must refuse a token once its revocation returned); this profile has none");
        }
    }
    target
        .set_nodes(&args.target.node)
        .map_err(Failure::usage)?;
    if let Some(alg) = args.target.dpop {
        target.dpop = Some(crate::target::DpopKey::generate(alg).map_err(Failure::usage)?);
    }
    crate::target::attach_client_certificates(
        &args.target,
        &mut target,
        Duration::from_secs(10),
        &trust,
    )?;
    let mut scope = args
        .target
        .scope
        .as_deref()
        .and_then(|s| s.split(' ').next())
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    // The preflight's first token is asked for as the main client authenticates (any
    // method, with a DPoP proof when the answer asks for one): it also finds the assertion
    // `aud` the target takes and whether the client is DPoP-bound.
    token_preflight(&mut target, &http, &mut scope).await?;
    let plan = load::Plan {
        profile,
        thresholds,
        target,
        scope,
        trust,
        http,
        goose: args.goose,
        report_dir: args.report_dir,
        sample_log: args.sample_log,
        shard: args.shard,
        run_id: args.run_id,
        max_body: args.max_body,
        rate_plan,
        max_in_flight: args.max_in_flight,
    };
    Ok((plan, embedded))
}

/// One token for the main client before any load, as `conform`'s preflight asks for it: a
/// target that is no token endpoint, or refuses the client, ends here with what came back
/// and what to check (exit 3) instead of a run of errors until a threshold stops it. A
/// target that issues only with a scope lends the load its scope, as it does the cases.
async fn token_preflight(
    target: &mut crate::target::Target,
    http: &reqwest::Client,
    scope: &mut Option<String>,
) -> Result<(), Failure> {
    let settings = crate::settings::Settings::default();
    let preflight = crate::preflight::token_only(target, &settings, http).await;
    if let Some(fatal) = preflight.fatal() {
        return Err(Failure::runtime(format!(
            "preflight: {fatal}; no load was run"
        )));
    }
    if let (None, Some(wanted)) = (&scope, &target.baseline.token_scope) {
        eprintln!(
            "preflight: {} issues a token only with a scope: the load asks for scope={wanted} (--scope sets another)",
            target.token_url
        );
        *scope = Some(wanted.clone());
    }
    Ok(())
}

/// Arrival-rate mode (`--rate`, `--rate-plan`, or `rate_plan` in the profile): resolves the
/// plan (a shard's share of it) and sets Goose up to carry it: the users are the in-flight
/// bound, all launched within half a second, and the run lasts the plan.
fn arrival_mode(args: &mut RunArgs, profile: &mut Profile) -> Result<Option<RatePlan>, Failure> {
    let usage = |m: String| Failure::usage(m);
    let plan: RatePlan = if let Some(text) = &args.rate_plan {
        if args.goose.run_time.is_some() {
            return Err(usage(
                "--rate-plan sets the run's length; leave out -t/--run-time".into(),
            ));
        }
        text.parse().map_err(usage)?
    } else if let Some(rate) = &args.rate {
        let rate = parse_rate(rate).map_err(usage)?;
        let span = args
            .goose
            .run_time
            .as_deref()
            .or(profile.run_time.as_deref())
            .ok_or_else(|| usage("--rate needs a run time: -t 1m, or use --rate-plan".into()))?;
        let secs = goose::util::parse_timespan(span)
            .filter(|s| *s > 0)
            .ok_or_else(|| usage(format!("--run-time '{span}' is not a time span above 0")))?;
        RatePlan::constant(rate, secs as f64)
    } else if let Some(text) = &profile.rate_plan {
        text.parse()
            .map_err(|e| usage(format!("profile {}: {e}", profile.name)))?
    } else {
        return Ok(None);
    };
    if plan.peak() <= 0.0 {
        return Err(usage("the arrival rate must be above 0".into()));
    }
    if args.goose.users.is_some() || profile.test_plan.is_some() || args.goose.iterations.is_some()
    {
        return Err(usage(
            "an arrival rate sets when requests start: leave out -u/--users, --iterations and the profile's test_plan (--max-in-flight bounds concurrency)".into(),
        ));
    }
    if args.max_in_flight == 0 {
        return Err(usage("--max-in-flight must be at least 1".into()));
    }
    let (plan, in_flight) = match args.shard {
        Some(shard) => (
            plan.scaled(1.0 / shard.count as f64),
            shard.share(args.max_in_flight).max(1),
        ),
        None => (plan, args.max_in_flight),
    };
    args.max_in_flight = in_flight;
    args.goose.users = Some(in_flight);
    args.goose.increase_rate = Some(format!("{}", in_flight * 2));
    args.goose.run_time = Some(format!(
        "{}",
        (plan.duration().as_secs_f64() + load::arrival::START_MARGIN_S).ceil() as u64
    ));
    profile.users = None;
    profile.run_time = None;
    profile.increase_rate = None;
    // grantcheck judges these runs itself (Goose's p99 would be service time, and it would
    // stop the run at the first miss).
    profile.thresholds.clear();
    args.goose.threshold.clear();
    Ok(Some(plan))
}

/// Narrows the profile and Goose's options to this shard's share. Thresholds are left to
/// the merge, which judges the whole run.
fn take_share(
    shard: Shard,
    profile: &mut Profile,
    goose: &mut GooseConfiguration,
    users_too: bool,
) -> Result<(), String> {
    profile.thresholds.clear();
    goose.threshold.clear();
    if !users_too {
        if let Some(limit) = goose.throttle_requests {
            goose.throttle_requests = Some(shard.share(limit).max(1));
        }
        return Ok(());
    }
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

/// Goose's request, debug and error logs record request headers (and `--request-body` the
/// body): the client's Basic credentials and tokens. Secrets never reach logs, so these
/// options are refused.
/// `-H/--host URL` as Goose users know it: the origin (`scheme://host[:port]`) every request
/// of the run goes to.
fn host_origin(host: &str) -> Result<url::Url, Failure> {
    let bad = |why: &str| {
        Failure::usage(format!(
            "-H/--host '{host}' {why}: give scheme://host[:port], e.g. http://10.0.0.5:8080"
        ))
    };
    let url = url::Url::parse(host).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("is not an http or https origin"));
    }
    if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
        return Err(bad("has more than an origin"));
    }
    Ok(url)
}

/// The target's endpoints at `origin`, their paths and queries unchanged: the token pool,
/// every transaction and the reports all use these. (A JWT client's assertions then name
/// this token URL as `aud`, unless `--client-assertion-aud issuer`.)
fn rehost(target: &mut crate::target::Target, origin: &url::Url) -> Result<(), Failure> {
    let endpoints = [
        Some(&mut target.token_url),
        target.introspection_url.as_mut(),
        target.revocation_url.as_mut(),
        target.resource_url.as_mut(),
    ];
    for endpoint in endpoints.into_iter().flatten() {
        let mut url = url::Url::parse(endpoint)
            .map_err(|e| Failure::usage(format!("'{endpoint}' is not a URL: {e}")))?;
        let moved = url.set_scheme(origin.scheme()).is_ok()
            && url.set_host(origin.host_str()).is_ok()
            && url.set_port(origin.port()).is_ok();
        if !moved {
            return Err(Failure::usage(format!(
                "-H/--host {origin} cannot replace the origin of {endpoint}"
            )));
        }
        *endpoint = url.to_string();
    }
    Ok(())
}

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
