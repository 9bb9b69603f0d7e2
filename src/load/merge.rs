//! `grantcheck load merge REPORT...`: one exact report from the shards of one run. Counts
//! and errors add up; latency histograms are merged bucket by bucket and percentiles computed
//! from the merged histogram (never averaged); thresholds are judged on the whole.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;

use super::shard::{ShardReport, FORMAT};
use super::timeline::TimelineData;
use super::{summary, threshold};
use crate::exit::{Exit, Failure};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Shard reports (`shard-I-of-N.json`) of one run.
    #[arg(required = true, value_name = "REPORT")]
    pub reports: Vec<PathBuf>,
    /// More rules to judge, besides those the shards carry (e.g. "p99<50ms", "rps>=5000").
    #[arg(long = "threshold", value_name = "RULE")]
    pub thresholds: Vec<String>,
    /// Where load-merged.{json,md,html} go.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub report_dir: PathBuf,
}

/// Merges shard reports; refuses a mix of runs, a repeated shard or a missing one.
pub fn merge(reports: &[ShardReport]) -> Result<ShardReport, Failure> {
    let first = reports
        .first()
        .ok_or_else(|| Failure::usage("no shard reports to merge"))?;
    let Some(count) = first.shards.first().map(|s| s.count) else {
        return Err(Failure::usage(format!(
            "the shard report of run {} lists no shard",
            first.run_id
        )));
    };
    if count == 0 {
        return Err(Failure::usage("a run of 0 shards cannot be merged"));
    }
    let mut seen = BTreeSet::new();
    for r in reports {
        if r.shards.is_empty() {
            return Err(Failure::usage(format!(
                "a shard report of run {} lists no shard",
                r.run_id
            )));
        }
        if r.run_id != first.run_id || r.profile != first.profile {
            return Err(Failure::usage(format!(
                "shards of different runs: run {} ({}) and run {} ({})",
                first.run_id, first.profile, r.run_id, r.profile
            )));
        }
        for shard in &r.shards {
            if shard.index >= shard.count {
                return Err(Failure::usage(format!(
                    "shard {}/{} does not exist: a run of {} shards has shards 0 to {}",
                    shard.index,
                    shard.count,
                    shard.count,
                    shard.count.saturating_sub(1)
                )));
            }
            if shard.count != count || !seen.insert(shard.index) {
                return Err(Failure::usage(format!(
                    "shard {}/{} appears twice or does not fit the others",
                    shard.index, shard.count
                )));
            }
        }
    }
    if seen.len() != count {
        let missing: Vec<usize> = (0..count).filter(|i| !seen.contains(i)).collect();
        return Err(Failure::usage(format!(
            "run {} has {count} shards; missing {}",
            first.run_id,
            missing
                .iter()
                .map(|i| format!("{i}/{count}"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut merged = ShardReport {
        format: FORMAT.into(),
        run_id: first.run_id.clone(),
        shard: None,
        shards: Vec::new(),
        profile: first.profile.clone(),
        users: 0,
        duration_s: 0,
        rps: 0.0,
        thresholds: Vec::new(),
        requests: Default::default(),
        errors: Default::default(),
        timeline: None,
        arrival: None,
        meta: None,
    };
    let overflow = || Failure::usage("the shard reports' counts add up past 2^64: not a real run");
    for r in reports {
        merged.shards.extend(r.shards.iter().copied());
        merged.users = merged.users.checked_add(r.users).ok_or_else(overflow)?;
        merged.duration_s = merged.duration_s.max(r.duration_s);
        // The shards ran at the same time: their rates add up.
        merged.rps += r.rps;
        for rule in &r.thresholds {
            if !merged.thresholds.contains(rule) {
                merged.thresholds.push(rule.clone());
            }
        }
        for (name, stats) in &r.requests {
            merged
                .requests
                .entry(name.clone())
                .or_default()
                .absorb_checked(stats)
                .ok_or_else(overflow)?;
        }
        for (kind, n) in &r.errors {
            let slot = merged.errors.entry(kind.clone()).or_default();
            *slot = slot.checked_add(*n).ok_or_else(overflow)?;
        }
    }
    merged.shards.sort_by_key(|s| s.index);
    merged.meta = first.meta.clone();
    let timelines: Vec<&TimelineData> =
        reports.iter().filter_map(|r| r.timeline.as_ref()).collect();
    merged.timeline = TimelineData::merge(&timelines);
    for r in reports {
        if let Some(stats) = &r.arrival {
            match &mut merged.arrival {
                None => merged.arrival = Some(stats.clone()),
                Some(sum) => sum.absorb(stats).ok_or_else(overflow)?,
            }
        }
    }
    // Each shard ran its share of the rate: the merged run ran the whole of it.
    if let Some(arrival) = &mut merged.arrival {
        if let Ok(plan) = arrival.rate_plan.parse::<super::arrival::RatePlan>() {
            arrival.rate_plan = plan.scaled(merged.shards.len() as f64).to_string();
        }
    }
    Ok(merged)
}

pub fn run(args: MergeArgs) -> Result<Exit, Failure> {
    let reports = args
        .reports
        .iter()
        .map(|p| ShardReport::read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut merged = merge(&reports)?;
    for rule in args.thresholds {
        if !merged.thresholds.contains(&rule) {
            merged.thresholds.push(rule);
        }
    }
    let judged = merged
        .thresholds
        .iter()
        .map(|rule| threshold::judge(rule, &merged))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Failure::usage)?;
    eprint!("{}", summary::render(&merged));
    std::fs::create_dir_all(&args.report_dir).map_err(|e| {
        Failure::runtime(format!("cannot create {}: {e}", args.report_dir.display()))
    })?;
    merged.write(&args.report_dir.join("load-merged.json"))?;
    let write = |name: &str, text: String| {
        let path = args.report_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| Failure::runtime(format!("cannot write {}: {e}", path.display())))
    };
    write("load-merged.md", summary::markdown(&merged, &judged))?;
    write("load-merged.html", summary::html(&merged, &judged))?;
    eprintln!("reports: {}", args.report_dir.display());
    for j in &judged {
        eprintln!(
            "threshold {}: {} (observed {})",
            j.rule,
            if j.passed { "pass" } else { "FAILED" },
            j.observed
        );
    }
    // The same verdict the merged reports show.
    let verdict = summary::LoadVerdict::of(&judged, &merged);
    eprintln!("{} (exit {})", verdict.headline, verdict.exit as u8);
    Ok(verdict.exit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::shard::{RequestStats, Shard};

    fn report(index: usize, count: usize, requests: usize) -> ShardReport {
        let mut r = ShardReport {
            run_id: "run-1".into(),
            profile: "issuance".into(),
            shards: vec![Shard { index, count }],
            ..ShardReport::default()
        };
        r.requests.insert(
            "POST issue".into(),
            RequestStats {
                success: requests,
                histogram: vec![(100, requests)],
                ..RequestStats::default()
            },
        );
        r
    }

    #[test]
    fn hostile_shard_reports_are_refused_without_a_panic() {
        let message = |reports: &[ShardReport]| merge(reports).unwrap_err().message;
        let no_shard = ShardReport {
            shards: Vec::new(),
            ..report(0, 2, 1)
        };
        assert!(message(&[no_shard]).contains("lists no shard"));
        let out_of_range = message(&[report(0, 2, 1), report(5, 2, 1)]);
        assert!(
            out_of_range.contains("shard 5/2 does not exist"),
            "{out_of_range}"
        );
        assert!(message(&[report(0, 0, 1)]).contains("0 shards"));
        let huge = message(&[report(0, 2, usize::MAX), report(1, 2, 1)]);
        assert!(huge.contains("past 2^64"), "{huge}");
        assert!(message(&[report(0, 3, 1), report(1, 3, 1)]).contains("missing 2/3"));
        let merged = merge(&[report(0, 2, 3), report(1, 2, 4)]).unwrap();
        assert_eq!(merged.requests["POST issue"].success, 7);
    }
}
