//! What runs beside the load: the progress line, and the threshold watch that stops a
//! closed-loop run at the first rule it misses (as Goose did when it judged the thresholds:
//! once a second from when every user is launched, unless `--no-threshold-abort`).

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::context::LoadContext;
use super::threshold;

/// A progress line every 5 s: requests so far, rate, errors. It rewrites itself on a
/// terminal, unless Goose's own log lines (`-v`) share it: then each is a line of its own.
pub(super) async fn progress(ctx: Arc<LoadContext>, logs_on_terminal: bool, quiet: bool) {
    if quiet {
        return;
    }
    let started = Instant::now();
    let mut last = 0u64;
    let every = Duration::from_secs(5);
    let tty = std::io::stderr().is_terminal() && !logs_on_terminal;
    loop {
        tokio::time::sleep(every).await;
        let (ok, failures) = ctx.recorders.counts();
        let now = ok + failures;
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
        last = now.max(last);
    }
}

/// The rule that stopped the run, with what was observed.
pub(super) type Stopped = Arc<Mutex<Option<(String, String)>>>;

/// Judges `rules` on the figures so far once a second, from when every user is launched and
/// `delay` after; the first that fails stops the run through Goose's killswitch.
pub(super) async fn thresholds(
    ctx: Arc<LoadContext>,
    rules: Vec<String>,
    report: impl Fn(&LoadContext) -> super::shard::ShardReport,
    delay: Duration,
    stopped: Stopped,
) {
    while !ctx.all_launched() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = Instant::now() + delay;
    tokio::time::sleep_until(tokio::time::Instant::from_std(first)).await;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let report = report(&ctx);
        for rule in &rules {
            let Ok(judged) = threshold::judge(rule, &report) else {
                continue;
            };
            if !judged.passed && judged.observed != "no samples" {
                *stopped.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((judged.rule.clone(), judged.observed.clone()));
                goose::trigger_killswitch(&format!("threshold {} failed", judged.rule));
                return;
            }
        }
    }
}
