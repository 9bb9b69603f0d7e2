//! The one-screen summary after a load run: throughput, latency percentiles and errors by
//! kind, per request and in aggregate. Goose's own HTML/JSON/Markdown reports hold the rest.

use std::fmt::Write as _;

use goose::metrics::{GooseMetrics, GooseRequestMetricTimingData};

/// Percentiles shown, as Goose computes them from its response-time buckets.
const PERCENTILES: [(f32, &str); 4] = [(0.5, "p50"), (0.9, "p90"), (0.99, "p99"), (0.999, "p99.9")];

pub fn render(metrics: &GooseMetrics, profile: &str) -> String {
    let seconds = metrics.duration.max(1) as f64;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\ngrantcheck load: profile {profile}, {} users, {} s measured",
        metrics.maximum_users, metrics.duration
    );
    let _ = writeln!(
        out,
        "  {:<40} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "request", "requests", "errors", "req/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms"
    );
    let mut names: Vec<&String> = metrics.requests.keys().collect();
    names.sort();
    let mut all = GooseRequestMetricTimingData::default();
    let (mut total, mut failed) = (0usize, 0usize);
    for name in names {
        let r = &metrics.requests[name];
        let count = r.success_count + r.fail_count;
        total += count;
        failed += r.fail_count;
        merge(&mut all, &r.raw_data);
        row(
            &mut out,
            name,
            count,
            r.fail_count,
            count as f64 / seconds,
            &r.raw_data,
        );
    }
    row(
        &mut out,
        "all requests",
        total,
        failed,
        total as f64 / seconds,
        &all,
    );
    if !metrics.errors.is_empty() {
        let _ = writeln!(out, "  errors by kind:");
        let mut errors: Vec<_> = metrics.errors.values().collect();
        errors.sort_by_key(|e| std::cmp::Reverse(e.occurrences));
        for e in errors {
            let _ = writeln!(out, "  {:>10}  {}: {}", e.occurrences, e.name, e.error);
        }
    }
    out
}

fn row(
    out: &mut String,
    name: &str,
    count: usize,
    failed: usize,
    rps: f64,
    times: &GooseRequestMetricTimingData,
) {
    let ms = |p: f32| times.percentile_us(p) as f64 / 1000.0;
    let _ = writeln!(
        out,
        "  {:<40} {:>10} {:>8} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        truncate(name, 40),
        count,
        failed,
        rps,
        ms(PERCENTILES[0].0),
        ms(PERCENTILES[1].0),
        ms(PERCENTILES[2].0),
        ms(PERCENTILES[3].0),
    );
}

/// Adds `other`'s buckets to `into`: percentiles over all requests come from the merged
/// histogram, never from averaging per-request percentiles.
fn merge(into: &mut GooseRequestMetricTimingData, other: &GooseRequestMetricTimingData) {
    for (bucket, count) in other.times_us.iter() {
        let existing = into.times_us.get(bucket).copied().unwrap_or(0);
        into.times_us.insert(*bucket, existing + count);
    }
    if into.counter == 0 || other.minimum_time_us < into.minimum_time_us {
        into.minimum_time_us = other.minimum_time_us;
    }
    into.maximum_time_us = into.maximum_time_us.max(other.maximum_time_us);
    into.total_time_us += other.total_time_us;
    into.counter += other.counter;
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}
