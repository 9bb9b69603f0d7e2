//! Scale-out: three shards of one run as separate processes against one server on
//! loopback, merged. The merge must equal what the union of the shards' raw samples gives:
//! counts exactly, percentiles within the histogram's resolution.

use std::collections::BTreeMap;
use std::path::Path;

use reference_server::ServerConfig;

use crate::common::cli::{grantcheck_in, temp_dir};
use crate::common::server;

/// The samples of every shard, by request name, sorted.
fn samples(dir: &Path) -> BTreeMap<String, Vec<u64>> {
    let mut all: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for i in 0..3 {
        let text = std::fs::read_to_string(dir.join(format!("samples-{i}.tsv"))).unwrap();
        for line in text.lines() {
            let (name, us) = line.rsplit_once('\t').unwrap();
            all.entry(name.to_owned())
                .or_default()
                .push(us.parse().unwrap());
        }
    }
    for v in all.values_mut() {
        v.sort_unstable();
    }
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn three_shards_merge_into_the_union_of_their_samples() {
    let server = server::start(ServerConfig::default()).await;
    let dir = temp_dir("shards");
    let (token_url, introspection_url) =
        (server.token_url("root"), server.introspection_url("root"));
    let dir2 = dir.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let children: Vec<_> = (0..3)
            .map(|i| {
                grantcheck_in(&dir2)
                    .args([
                        "load",
                        "--profile",
                        "issuance",
                        "--token-url",
                        &token_url,
                        "--introspection-url",
                        &introspection_url,
                    ])
                    .args([
                        "--client-id",
                        "myClient",
                        "--client-secret",
                        "forgerock",
                        "--introspect-client-id",
                        "rs-client",
                        "--introspect-client-secret",
                        "rs-secret",
                    ])
                    .args([
                        "--shard",
                        &format!("{i}/3"),
                        "--run-id",
                        "test-run",
                        "-u",
                        "7",
                        "-r",
                        "7",
                        "-t",
                        "2s",
                        "--no-reset-metrics",
                    ])
                    .args([
                        "--sample-log",
                        &format!("samples-{i}.tsv"),
                        "--report-dir",
                        ".",
                    ])
                    .output()
                    .unwrap()
            })
            .collect();
        children
    })
    .await
    .unwrap();
    for (i, output) in outputs.iter().enumerate() {
        assert_eq!(
            output.status.code(),
            Some(0),
            "shard {i}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // 7 users over 3 shards: 3, 2, 2.
    let users: Vec<u64> = (0..3)
        .map(|i| {
            let text = std::fs::read_to_string(dir.join(format!("shard-{i}-of-3.json"))).unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()["users"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(users, [3, 2, 2]);

    let output = grantcheck_in(&dir)
        .args([
            "load",
            "merge",
            "shard-0-of-3.json",
            "shard-1-of-3.json",
            "shard-2-of-3.json",
            "--report-dir",
            "merged",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("3 shards merged") && stderr.contains("threshold error-rate<1%: pass"),
        "{stderr}"
    );
    let merged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("merged/load-merged.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(merged["users"], 7);
    assert!(
        dir.join("merged/load-merged.md").exists() && dir.join("merged/load-merged.html").exists()
    );

    let union = samples(&dir);
    let requests = merged["requests"].as_object().unwrap();
    assert_eq!(
        requests.keys().cloned().collect::<Vec<_>>(),
        union.keys().cloned().collect::<Vec<_>>()
    );
    for (name, times) in &union {
        let r = &requests[name];
        let count = r["success"].as_u64().unwrap() + r["fail"].as_u64().unwrap();
        assert_eq!(
            count as usize,
            times.len(),
            "{name}: merged count vs samples"
        );
        let histogram: u64 = r["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b[1].as_u64().unwrap())
            .sum();
        assert_eq!(
            histogram as usize,
            times.len(),
            "{name}: histogram count vs samples"
        );
        assert_eq!(r["min_us"].as_u64().unwrap(), times[0], "{name}: fastest");
        assert_eq!(
            r["max_us"].as_u64().unwrap(),
            *times.last().unwrap(),
            "{name}: slowest"
        );
        // Percentiles from the merged histogram against the exact ones from the samples:
        // within a bucket (1/64 of the time) of the samples at that rank.
        let stats: grantcheck::load::shard::RequestStats =
            serde_json::from_value(r.clone()).unwrap();
        for p in [0.5f32, 0.9, 0.99] {
            let rank = ((p as f64 * times.len() as f64).ceil() as usize).clamp(1, times.len());
            let low = times[rank.saturating_sub(2)] as f64 * (1.0 - 1.0 / 64.0);
            let high = times[rank.min(times.len() - 1)] as f64 * (1.0 + 1.0 / 64.0) + 1.0;
            let got = stats.percentile_us(p) as f64;
            assert!(
                low <= got && got <= high,
                "{name} p{p}: merged {got} µs, samples around rank {rank}: {low}..{high}"
            );
        }
    }

    // A missing shard, or shards of different runs, are refused.
    let output = grantcheck_in(&dir)
        .args(["load", "merge", "shard-0-of-3.json", "shard-1-of-3.json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing 2/3"));
    // A threshold the merged run misses: exit 5.
    let output = grantcheck_in(&dir)
        .args([
            "load",
            "merge",
            "shard-0-of-3.json",
            "shard-1-of-3.json",
            "shard-2-of-3.json",
            "--threshold",
            "rps>=100000000",
            "--report-dir",
            "merged",
        ])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn arrival_rate_shards_take_their_share_and_merge_to_the_whole() {
    let server = server::start(ServerConfig::default()).await;
    let dir = temp_dir("rate-shards");
    let token_url = server.token_url("root");
    let dir2 = dir.clone();
    let outputs = tokio::task::spawn_blocking(move || {
        let children: Vec<_> = (0..2)
            .map(|i| {
                grantcheck_in(&dir2)
                    .args(["load", "--profile", "issuance", "--token-url", &token_url])
                    .args(["--client-id", "myClient", "--client-secret", "forgerock"])
                    .args(["--rate", "100/s", "-t", "2s", "--max-in-flight", "10"])
                    .args(["--shard", &format!("{i}/2"), "--run-id", "rate-run"])
                    .args(["--report-dir", "shards"])
                    .spawn()
                    .unwrap()
            })
            .collect();
        children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0));
    }
    for i in 0..2 {
        let shard: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("shards/shard-{i}-of-2.json"))).unwrap(),
        )
        .unwrap();
        // Each shard ran half the rate with half the in-flight bound.
        assert_eq!(shard["arrival"]["rate_plan"], "50/s:2s");
        assert_eq!(shard["arrival"]["planned"], 100);
        assert_eq!(shard["arrival"]["max_in_flight"], 5);
    }
    let output = grantcheck_in(&dir)
        .args([
            "load",
            "merge",
            "shards/shard-0-of-2.json",
            "shards/shard-1-of-2.json",
        ])
        .args(["--report-dir", "merged"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let merged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("merged/load-merged.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(merged["arrival"]["rate_plan"], "100/s:2s");
    assert_eq!(merged["arrival"]["planned"], 200);
    assert_eq!(merged["arrival"]["started"], 200);
    assert!(
        stderr.contains("arrival rate 100/s:2s: 200 of 200 iterations started"),
        "{stderr}"
    );
    server.shutdown().await;
}
