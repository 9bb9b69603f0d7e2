//! The load engine behind `grantcheck load` (`crate::commands::load` is its command line):
//! Goose profiles against the embedded reference server (on its own runtime, so server and
//! load do not share a scheduler) or an external target, with every response checked.
//! Goose schedules users and scenarios; grantcheck sends, checks and records every response
//! itself (`send.rs`, `check.rs`, `recorder.rs`), off Goose's metrics aggregator.

pub mod arrival;
mod bound;
pub mod capacity;
pub mod chart;
pub mod check;
pub mod client;
pub mod compare;
pub mod context;
mod embedded;
mod engine;
mod http1;
pub mod merge;
pub mod pacer;
mod pool;
pub mod profile;
pub mod recorder;
mod send;
pub mod shard;
pub mod summary;
pub mod threshold;
pub mod timeline;
pub mod transactions;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

use goose::config::GooseConfiguration;

use crate::case::Role;
use crate::exit::{Exit, Failure};
use crate::target::Target;
pub use embedded::EmbeddedServer;
pub use engine::measure;
use profile::{Profile, TransactionKind};
use shard::{Shard, ShardReport};

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
pub(crate) const HARD_STOP_GRACE: Duration = Duration::from_secs(2);

/// What a run measured, before anything is printed or written.
pub struct Measured {
    pub report: ShardReport,
    /// The threshold that stopped the run early, with what was observed then (a closed
    /// loop stops at its first miss unless `--no-threshold-abort`).
    pub stopped_by: Option<(String, String)>,
}

/// Runs the plan: issues the introspection pool, runs Goose with every response checked,
/// prints the summary, writes the reports, and judges the thresholds.
pub async fn execute(plan: Plan) -> Result<Exit, Failure> {
    let Measured { report, stopped_by } = measure(&plan, false).await?;
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
    // The rule that stopped the run early is failed in every report too.
    if let Some((rule, observed)) = &stopped_by {
        match judged.iter_mut().find(|j| &j.rule == rule) {
            Some(j) => j.passed = false,
            None => judged.push(threshold::Judged {
                rule: rule.clone(),
                observed: observed.clone(),
                passed: false,
            }),
        }
    }
    let verdict = summary::LoadVerdict::of(&judged, &report);
    std::fs::create_dir_all(&plan.report_dir).map_err(|e| {
        Failure::runtime(format!("cannot create {}: {e}", plan.report_dir.display()))
    })?;
    if let Some(shard) = plan.shard {
        let path = shard::report_path(&plan.report_dir, shard);
        report.write(&path)?;
        eprintln!("shard report: {} (run {})", path.display(), report.run_id);
    }
    // Always: Goose's own files (`--report-file`) hold the run's users and phases, and no
    // request figure since grantcheck records the responses itself.
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
    eprintln!("reports: {}", plan.report_dir.display());
    for j in judged.iter().filter(|j| !j.passed) {
        eprintln!("THRESHOLD FAILED: {} (observed {})", j.rule, j.observed);
    }
    if let Some((rule, _)) = &stopped_by {
        eprintln!(
            "the run stopped early, after {} s: {rule} failed, and a run ends at its first missed threshold (--no-threshold-abort runs it to the end)",
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

fn has_mtls_client(target: &Target) -> bool {
    let cert = target.client(Role::Mtls).and_then(|c| c.method.cert());
    cert.is_some_and(|cert| {
        target
            .mtls
            .as_ref()
            .is_some_and(|m| m.client(cert).is_some())
    })
}

/// A profile that needs an endpoint the target lacks is refused before anything runs.
pub(crate) fn check_profile_fits(profile: &Profile, target: &Target) -> Result<(), Failure> {
    let needs = |kind| profile.uses(kind);
    let missing = if needs(TransactionKind::Introspect) && target.introspection_url.is_none() {
        Some("an introspection endpoint (--introspection-url)")
    } else if needs(TransactionKind::IssueDpop) && target.dpop.is_none() {
        Some("a DPoP key (--dpop ES256, RS256, PS256 or EdDSA)")
    } else if needs(TransactionKind::IssueJwt) && !has_private_key_jwt_client(target) {
        Some("a private_key_jwt client (--client-auth private_key_jwt --client-key FILE)")
    } else if needs(TransactionKind::IssueMtls) && !has_mtls_client(target) {
        Some("a mutual-TLS client over HTTPS (--client-auth tls_client_auth --client-cert FILE --client-cert-key FILE, or --mtls-client-id ID with them)")
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

/// A run id for shards started without one: the start time, to the second.
pub(crate) fn default_run_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("run-{secs}")
}
