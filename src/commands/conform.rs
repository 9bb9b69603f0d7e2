//! `grantcheck conform`: run the conformance cases against the embedded reference server or
//! an external target, report, and exit with the verdict.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;
use reference_server::{Fault, TlsIdentity, Variant};

use crate::case::{CaseSelection, PROFILES};
use crate::exit::{Exit, Failure};
use crate::http::TlsTrust;
use crate::preflight::{self, Preflight};
use crate::report::human::{ColorChoice, Human, Verbosity};
use crate::report::{self, Run, Summary};
use crate::runner::{self, CaseResult, Settings};
use crate::snapshot::{self, Mode as SnapshotMode};
use crate::target::{self, Target, TargetArgs};
use crate::verdict::{self, Evidence};

mod target_setup;

use target_setup::{
    embedded_credentials, fapi2_clients, resolve_target, unresolved_target, Embedded, Resolved,
};

#[derive(Debug, Args)]
pub struct ConformArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Named targets (`--target NAME`); default: ./grantcheck.toml when it exists.
    #[arg(help_heading = "Target", long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub selection: CaseSelection,
    /// Levels: rfc6749 (default), oauth21, strict.
    #[arg(help_heading = "Cases and profiles", long, default_value = "rfc6749", value_parser = clap::builder::PossibleValuesParser::new(PROFILES))]
    pub profile: String,
    /// Longest a case may wait for a token to expire on a real clock.
    #[arg(
        help_heading = "Limits",
        long,
        value_name = "SECS",
        default_value_t = 10
    )]
    pub max_wait: u64,
    /// The whole run's time limit, discovery and the preflight included: cases not started by
    /// then, and requests still waiting, end as errors with "run deadline reached" (exit 3).
    /// Default: 6 × --timeout + each step of the selected cases at --timeout/10 (+ --pace) +
    /// --max-wait + 2 s when an expiry case runs + 5 s, at most 3600 s (the run prints it).
    /// 0: no deadline.
    #[arg(help_heading = "Limits", long, value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Per-request timeout (discovery's and the preflight's requests too).
    #[arg(help_heading = "Limits", long, value_name = "SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout: u64,
    /// Least time between two requests, for targets that throttle (e.g. 0.2). A rate limit
    /// (429, or 503 with Retry-After) is waited out once when it fits in --max-wait;
    /// otherwise the case is blocked, never failed.
    #[arg(help_heading = "Limits", long, value_name = "SECS", value_parser = parse_seconds)]
    pub pace: Option<Duration>,
    /// How many copies of one request a race case sends at once, each on its own
    /// connection, released together by their last byte.
    #[arg(help_heading = "Races and clusters", long, value_name = "N", default_value_t = crate::settings::DEFAULT_RACE_WIDTH, value_parser = parse_race_width)]
    pub race_width: usize,
    /// The widest release spread (first to last final byte written) a race may have, in
    /// milliseconds; a wider race is tried again, up to 3 times, and then the case is not
    /// conclusive (blocked), never passed.
    #[arg(help_heading = "Races and clusters", long, value_name = "MS", default_value = "1", value_parser = parse_millis, env = "GRANTCHECK_RACE_SPREAD")]
    pub race_spread: Duration,
    /// Fail the brute-force race (RACE-006, opt-in: --only RACE-006) when more than K of
    /// its parallel wrong secrets were evaluated before throttling answered; without it the
    /// count is recorded.
    #[arg(help_heading = "Races and clusters", long, value_name = "K")]
    pub max_parallel_guesses: Option<usize>,
    /// How long a revocation on one node may take to reach every other node (`--node`),
    /// in milliseconds; each node is asked again until then (RFC 7009 §2.1: "Implementations
    /// should minimize that window").
    #[arg(help_heading = "Races and clusters", long, value_name = "MS", default_value = "1000", value_parser = parse_millis)]
    pub max_propagation: Duration,
    /// human (terminal) or json (the JSON report on stdout).
    #[arg(help_heading = "Output", long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Compare with (check), rewrite (update) or ignore (off) the target's snapshots;
    /// default: check when the target has snapshots, else off.
    #[arg(help_heading = "Snapshots", long, value_enum)]
    pub snapshots: Option<SnapshotMode>,
    /// Snapshots live in DIR/<target label>/.
    #[arg(
        help_heading = "Snapshots",
        long,
        value_name = "DIR",
        default_value = "snapshots"
    )]
    pub snapshot_dir: PathBuf,
    /// Where results.json, junit.xml, summary.md and report.html go.
    #[arg(
        help_heading = "Output",
        long,
        value_name = "DIR",
        default_value = "reports"
    )]
    pub report_dir: PathBuf,
    #[arg(help_heading = "Output", long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// A line for every case as it finishes, passes included, with why each skipped one
    /// was skipped (by default passes and skips are counted per area).
    #[arg(help_heading = "Output", short, long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Only the verdict line (and warnings a user must see); the reports are written as
    /// always.
    #[arg(help_heading = "Output", short, long)]
    pub quiet: bool,
    /// Start the embedded server with a fault mode, to see what a failure looks like
    /// (names: `grantcheck serve --help`).
    #[arg(
        help_heading = "Embedded server",
        long = "embedded-fault",
        value_name = "NAME"
    )]
    pub embedded_faults: Vec<Fault>,
    /// Start the embedded server with a legal variant (names: `grantcheck serve --help`):
    /// behaviour the RFCs allow, so every case must still pass.
    #[arg(
        help_heading = "Embedded server",
        long = "embedded-variant",
        value_name = "NAME"
    )]
    pub embedded_variants: Vec<Variant>,
    /// Token format of the embedded server.
    #[arg(help_heading = "Embedded server", long, value_enum, default_value_t = crate::commands::serve::FormatArg::Opaque)]
    pub embedded_token_format: crate::commands::serve::FormatArg,
    /// Serve the embedded server over HTTPS with a new self-signed certificate (trusted by
    /// this run only), so the TLS cases run too. Snapshots label: embedded-tls.
    #[arg(help_heading = "Embedded server", long)]
    pub embedded_tls: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub async fn run(mut args: ConformArgs) -> Result<Exit, Failure> {
    let named = args.target.apply_config(args.config.as_deref())?;
    let Some(mut cases) = super::selected_cases(&args.selection)? else {
        return Ok(Exit::NoCases);
    };
    // A profile's own cases (the fapi2 area) are part of that profile's runs only.
    cases.retain(|c| c.runs_under(&args.profile));
    if cases.is_empty() {
        eprintln!(
            "grantcheck: no case matches the filter under --profile {}",
            args.profile
        );
        return Ok(Exit::NoCases);
    }
    let fapi2 = args.profile == "fapi2";
    let settings = Settings {
        profile: args.profile.clone(),
        max_wait: Duration::from_secs(args.max_wait),
        request_timeout: Duration::from_secs(args.timeout),
        pace: args.pace,
        race_width: args.race_width,
        race_spread: args.race_spread,
        max_parallel_guesses: args.max_parallel_guesses,
        max_propagation: args.max_propagation,
        ..Settings::default()
    };
    let deadline = RunDeadline::new(args.deadline, &cases, &settings);
    let settings = Settings {
        deadline: deadline.at(),
        ..settings
    };
    let verbosity = match (args.quiet, args.verbose) {
        (true, _) => Verbosity::Quiet,
        (_, true) => Verbosity::Verbose,
        _ => Verbosity::Normal,
    };
    let mut human = Human::stderr(args.color, verbosity);
    let mut trust = TlsTrust::new(&args.target.ca_cert, args.target.insecure)?;
    if let Some(warning) = trust.warning() {
        human.warning(warning);
    }
    let embedded_tls = if args.embedded_tls {
        if !args.target.is_embedded() {
            return Err(Failure::usage(
                "--embedded-tls applies only without --target/--token-url",
            ));
        }
        let identity = TlsIdentity::generate(&[]).map_err(Failure::runtime)?;
        trust
            .add_pem(identity.certificate_pem().as_bytes())
            .map_err(Failure::internal)?;
        Some(identity)
    } else {
        None
    };
    let http = crate::http::client(settings.request_timeout, &trust)?;
    let embedded = Embedded {
        faults: &args.embedded_faults,
        variants: &args.embedded_variants,
        token_format: args.embedded_token_format,
        tls: embedded_tls,
        fapi2,
    };

    // The embedded server lives until the run ends.
    let resolved = match resolve_target(&args.target, embedded, &http, &settings).await {
        Ok(resolved) => resolved,
        Err(failure) if failure.exit == Exit::Runtime => {
            // Discovery failed: no case ran, and the reports still say why.
            let target = unresolved_target(&args.target, named.as_deref());
            let ended = RunEnd {
                args: &args,
                target: &target,
                preflight: None,
            };
            return Ok(ended.no_verdict(&failure.message, &mut human));
        }
        Err(failure) => return Err(failure),
    };
    let (mut target, _server) = match resolved {
        Resolved::External(t) => (*t, None),
        Resolved::Embedded(server) => {
            let mut target = target::embedded(&server, &http).await;
            target.assertion_audience = args.target.client_assertion_aud.unwrap_or_default();
            target.assertion_audience_given = args.target.client_assertion_aud.is_some();
            target.rfc9068 |= args.target.rfc9068;
            if fapi2 {
                fapi2_clients(&mut target);
            }
            if embedded_credentials(&args.target, &mut target)? {
                human.message(
                    "note: the embedded server's clients are used with the credentials given on the command line",
                );
            }
            (target, Some(server))
        }
    };
    if let Some(name) = named.clone() {
        target.label = name;
    }
    if let Some(alg) = args.target.dpop {
        target.dpop = Some(target::DpopKey::generate(alg).map_err(Failure::usage)?);
    }
    // FAPI 2.0 §5.3.2.1 item 8: assertions name the issuer, unless the user chose.
    if fapi2 && !target.assertion_audience_given {
        target.assertion_audience = target::AssertionAudience::Issuer;
    }
    crate::target::attach_client_certificates(
        &args.target,
        &mut target,
        settings.request_timeout,
        &trust,
    )?;
    target.race_tls = Some(trust.rustls_config(None).map_err(Failure::runtime)?);
    if target.embedded && !args.target.node.is_empty() {
        return Err(Failure::usage(
            "--node names the other nodes of --target's cluster; the embedded server is one node (start `grantcheck serve --nodes 3` and name it with --target)",
        ));
    }
    target
        .set_nodes(&args.target.node)
        .map_err(Failure::usage)?;
    if !target.embedded
        && target.token_url.starts_with("http://")
        && !crate::http::is_loopback(&target.token_url)
    {
        human.warning(&format!(
            "WARNING: {} is plain HTTP on a non-loopback host: RFC 6749 §3.2 requires TLS, and the client secret crosses the network in clear",
            target.token_url
        ));
    }
    human.started(&target.label, &target.token_url, cases.len());
    human.message(&deadline.describe());
    let preflight = preflight::run(&mut target, &settings, &http).await;
    human.preflight(&preflight);
    if let Some(fatal) = preflight.fatal() {
        // No verdict is possible: the reports still say why, and no case is judged.
        let ended = RunEnd {
            args: &args,
            target: &target,
            preflight: Some(&preflight),
        };
        return Ok(ended.no_verdict(fatal, &mut human));
    }
    // On a terminal, a real-clock wait says so (nothing else shows for seconds).
    let tell_waits = std::io::stderr().is_terminal() && verbosity > Verbosity::Quiet;
    let on_wait = |id: &str, wait: Duration| {
        if tell_waits && !wait.is_zero() {
            eprintln!(
                "  waiting {:.1} s on a real clock for {id}'s token to expire",
                wait.as_secs_f64()
            );
        }
    };
    let results = runner::run_cases_telling_waits(
        &target,
        &cases,
        &settings,
        &http,
        |r| human.case(r),
        &on_wait,
    )
    .await;
    finish(&args, &target, &results, &preflight, &mut human)
}

/// When the run must end: `--deadline SECS`, none (`--deadline 0`), or the default for the
/// selected cases ([`runner::default_deadline`]). Counted from the start, discovery and the
/// preflight included.
enum RunDeadline {
    Given(Duration, Instant),
    Default(Duration, Instant),
    None,
}

impl RunDeadline {
    fn new(given: Option<u64>, cases: &[crate::case::Case], settings: &Settings) -> RunDeadline {
        let now = Instant::now();
        match given {
            Some(0) => RunDeadline::None,
            Some(secs) => {
                let budget = Duration::from_secs(secs);
                RunDeadline::Given(budget, now + budget)
            }
            None => {
                let budget = runner::default_deadline(cases, settings);
                RunDeadline::Default(budget, now + budget)
            }
        }
    }

    fn at(&self) -> Option<Instant> {
        match self {
            RunDeadline::Given(_, at) | RunDeadline::Default(_, at) => Some(*at),
            RunDeadline::None => None,
        }
    }

    /// The line the run's header shows.
    fn describe(&self) -> String {
        match self {
            RunDeadline::Given(budget, _) => {
                format!("deadline: {} s (--deadline)", whole_seconds(*budget))
            }
            RunDeadline::Default(budget, _) => format!(
                "deadline: {} s (the default for these cases and --timeout; --deadline SECS to change, 0 for none)",
                whole_seconds(*budget)
            ),
            RunDeadline::None => "deadline: none (--deadline 0)".to_owned(),
        }
    }
}

/// Seconds, rounded up (a deadline shown is never earlier than the real one).
fn whole_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// How a run differs from the one a target's golden snapshots record.
enum NotGolden {
    /// Another server behaviour or other levels: its snapshots would differ by design.
    Bent(String),
    /// A subset of the cases: comparable, and `--snapshots update` rewrites just those, but
    /// its differences are not left pending for acceptance.
    Filtered,
}

fn golden_difference(args: &ConformArgs) -> Option<NotGolden> {
    let faults: Vec<&str> = args.embedded_faults.iter().map(|f| f.name()).collect();
    let variants: Vec<&str> = args.embedded_variants.iter().map(|v| v.name()).collect();
    if !faults.is_empty() {
        Some(NotGolden::Bent(format!(
            "uses --embedded-fault {}",
            faults.join(",")
        )))
    } else if !variants.is_empty() {
        Some(NotGolden::Bent(format!(
            "uses --embedded-variant {}",
            variants.join(",")
        )))
    } else if args.profile != PROFILES[0] {
        Some(NotGolden::Bent(format!("uses --profile {}", args.profile)))
    } else if args.embedded_token_format != crate::commands::serve::FormatArg::Opaque {
        Some(NotGolden::Bent(
            "uses --embedded-token-format jwt".to_owned(),
        ))
    } else if !args.selection.only.is_empty() || !args.selection.skip.is_empty() {
        Some(NotGolden::Filtered)
    } else {
        None
    }
}

/// `--race-width N`: 2 to 1000 copies.
fn parse_race_width(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (2..=1000).contains(&n) => Ok(n),
        _ => Err(format!("'{text}' is not a width from 2 to 1000")),
    }
}

/// `--race-spread 0.5`: milliseconds, fractions allowed.
fn parse_millis(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 && ms <= 10_000.0 => {
            Ok(Duration::from_secs_f64(ms / 1000.0))
        }
        _ => Err(format!("'{text}' is not a number of milliseconds above 0")),
    }
}

/// `--pace 0.2`: seconds, fractions allowed.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number of seconds"))?;
    if !(0.0..=60.0).contains(&secs) {
        return Err("give 0 to 60 seconds".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

fn finish(
    args: &ConformArgs,
    target: &Target,
    results: &[CaseResult],
    preflight: &Preflight,
    human: &mut Human<std::io::Stderr>,
) -> Result<Exit, Failure> {
    let summary = Summary::of(results);
    let snapshot_dir = snapshot::target_dir(&args.snapshot_dir, target);
    // Golden snapshots stay golden: a run that bends the server or the levels is not compared
    // unless asked, a filtered one is compared but leaves nothing to accept, and neither may
    // overwrite them.
    let differs = golden_difference(args);
    let mode = match (args.snapshots, &differs) {
        (Some(SnapshotMode::Update), Some(NotGolden::Bent(why))) => {
            return Err(Failure::usage(format!(
                "--snapshots update would overwrite {}'s golden snapshots with a run that {why}; run without it to update them",
                target.label
            )))
        }
        (Some(mode), _) => mode,
        (None, Some(NotGolden::Bent(why))) => {
            human.message(&format!("snapshots: not compared (this run {why})"));
            SnapshotMode::Off
        }
        (None, _) => snapshot::default_mode(&snapshot_dir),
    };
    let snapshots = snapshot::apply(mode, &snapshot_dir, target, results, differs.is_none())
        .map_err(|e| Failure {
            exit: Exit::Internal,
            message: format!("snapshots in {}: {e}", snapshot_dir.display()),
        })?;
    let in_ci = in_ci();
    let compared = (mode != SnapshotMode::Off).then_some(&snapshots);
    let verdict = verdict::decide(&Evidence {
        summary,
        ended_early: None,
        preflight: Some(preflight),
        snapshots: compared,
        in_ci,
    });
    let run = Run {
        target,
        profile: &args.profile,
        results,
        summary,
        snapshots: compared,
        insecure: args.target.insecure,
        preflight: Some(preflight),
        verdict: &verdict,
    };
    if mode != SnapshotMode::Off {
        human.snapshots(&snapshots, &snapshot_dir, mode, in_ci);
    }
    human.finished(&run);
    if let Err(e) = report::write_files(&run, &args.report_dir) {
        return Err(Failure {
            exit: Exit::Internal,
            message: format!("cannot write reports to {}: {e}", args.report_dir.display()),
        });
    }
    human.message(&format!(
        "report: {}",
        args.report_dir.join("report.html").display()
    ));
    if args.format == Format::Json {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(report::json::render(&run).as_bytes());
    }
    human.verdict(&verdict);
    Ok(verdict.exit())
}

/// CI=true (and not "false"): new snapshots fail the run instead of waiting for review.
fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// A run that ended before any case: discovery failed, or the preflight found the main
/// client unable to get a token.
struct RunEnd<'a> {
    args: &'a ConformArgs,
    target: &'a Target,
    preflight: Option<&'a Preflight>,
}

impl RunEnd<'_> {
    /// Says why on the terminal, writes every report with the NO VERDICT headline (so a CI
    /// step that reads reports/summary.md under `if: always()` finds one), and gives exit 3.
    fn no_verdict(&self, why: &str, human: &mut Human<std::io::Stderr>) -> Exit {
        let verdict = verdict::decide(&Evidence {
            ended_early: Some(why),
            preflight: self.preflight,
            ..Evidence::default()
        });
        let run = Run {
            target: self.target,
            profile: &self.args.profile,
            results: &[],
            summary: Summary::default(),
            snapshots: None,
            insecure: self.args.target.insecure,
            preflight: self.preflight,
            verdict: &verdict,
        };
        let dir = &self.args.report_dir;
        match report::write_files(&run, dir) {
            Ok(()) => human.message(&format!("report: {}", dir.join("report.html").display())),
            Err(e) => human.warning(&format!("cannot write reports to {}: {e}", dir.display())),
        }
        if self.args.format == Format::Json {
            let _ = std::io::stdout()
                .lock()
                .write_all(report::json::render(&run).as_bytes());
        }
        human.verdict(&verdict);
        verdict.exit()
    }
}
