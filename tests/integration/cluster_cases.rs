//! The cluster cases (CLUSTER-001..003, scenarios/cluster) against `serve --nodes 3`
//! in-process: a consistent cluster passes them every run; a replication delay fails the
//! read-your-writes cases (and blocks the propagation case, whose premise is that the other
//! nodes know the token); a revocation that stays on its node warns the propagation case
//! with each node's figure; a single node skips them.

use std::collections::BTreeMap;
use std::time::Duration;

use reference_server::{Fault, ReferenceCluster, ReferenceServer, ServerConfig, ROOT_REALM};

use crate::common::cli::{run_async, temp_dir};

async fn start(config: ServerConfig) -> ReferenceCluster {
    ReferenceServer::start_cluster(config, 3, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the cluster starts")
}

/// `command` against node 1 of a cluster with `nodes` as `--node`, the fixture clients, and
/// `extra` after them.
fn cluster_args(
    command: &str,
    first: &ReferenceServer,
    nodes: &[String],
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        command,
        "--target",
        &first.issuer(ROOT_REALM),
        "--resource-url",
        &first.resource_url(),
        "--client-id",
        "myClient",
        "--client-secret",
        "forgerock",
        "--introspect-client-id",
        "rs-client",
        "--introspect-client-secret",
        "rs-secret",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    for node in nodes {
        args.extend(["--node".to_owned(), node.clone()]);
    }
    args
}

/// `conform --only cluster` against node 1 with `nodes` as `--node`; each case's outcome
/// and the run's stderr.
async fn run(first: &ReferenceServer, nodes: &[String]) -> (BTreeMap<String, String>, String) {
    let reports = temp_dir("cluster-cases");
    let args = cluster_args(
        "conform",
        first,
        nodes,
        &[
            "--only",
            "cluster",
            "--snapshots",
            "off",
            "-v",
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    );
    let output = run_async(args).await;
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let text = std::fs::read_to_string(reports.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&text).unwrap();
    let outcomes = results["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    (outcomes, stderr)
}

fn expect(got: &BTreeMap<String, String>, wanted: [&str; 3], stderr: &str) {
    let ids = ["CLUSTER-001", "CLUSTER-002", "CLUSTER-003"];
    for (id, outcome) in ids.iter().zip(wanted) {
        assert_eq!(
            got.get(*id).map(String::as_str),
            Some(outcome),
            "{id}: {got:?}\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consistent_cluster_passes_the_cluster_cases_every_run() {
    let cluster = start(ServerConfig::default()).await;
    let urls = cluster.urls();
    for _ in 0..10 {
        let (got, stderr) = run(cluster.node(0), &urls[1..]).await;
        expect(&got, ["pass", "pass", "pass"], &stderr);
        assert!(stderr.contains("cluster: revocation on "), "{stderr}");
    }
    // The target's own origin among the nodes is left out: it is not another node.
    let (got, stderr) = run(cluster.node(0), &urls).await;
    expect(&got, ["pass", "pass", "pass"], &stderr);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_delay_and_a_local_revocation_are_caught() {
    let delayed = ServerConfig {
        replication_delay: Duration::from_millis(300),
        ..ServerConfig::default()
    };
    let cluster = start(delayed).await;
    let (got, stderr) = run(cluster.node(0), &cluster.urls()[1..]).await;
    expect(&got, ["fail", "fail", "blocked"], &stderr);
    cluster.shutdown().await;

    let local = ServerConfig::default().with_fault(Fault::ClusterRevocationLocal);
    let cluster = start(local).await;
    let urls = cluster.urls();
    let (got, stderr) = run(cluster.node(0), &urls[1..]).await;
    expect(&got, ["pass", "pass", "warn"], &stderr);
    for node in &urls[1..] {
        assert!(
            stderr.contains(&format!("{node} not within 1000 ms")),
            "{stderr}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_node_skips_the_cluster_cases() {
    let cluster = start(ServerConfig::default()).await;
    let (got, stderr) = run(cluster.node(0), &[]).await;
    expect(&got, ["skip", "skip", "skip"], &stderr);
    assert!(stderr.contains("--node URL"), "{stderr}");
    cluster.shutdown().await;
}

/// `load --profile flow` with `--node`: each revoked token is introspected on every other
/// node; a consistent cluster answers inactive everywhere (no error), a revocation that
/// stays on its node is an error naming the node (issue 21, item 5).
#[tokio::test(flavor = "multi_thread")]
async fn load_flow_asks_every_node_about_a_revoked_token() {
    for (config, clean) in [
        (ServerConfig::default(), true),
        (
            ServerConfig::default().with_fault(Fault::ClusterRevocationLocal),
            false,
        ),
    ] {
        let cluster = start(config).await;
        let first = cluster.node(0);
        let reports = temp_dir("cluster-load");
        let args = cluster_args(
            "load",
            first,
            &cluster.urls()[1..],
            &[
                "--profile",
                "flow",
                "-u",
                "2",
                "-r",
                "2",
                "-t",
                "2s",
                "--no-reset-metrics",
                "--no-threshold-abort",
                "--report-dir",
                reports.to_str().unwrap(),
            ],
        );
        let output = run_async(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let json = std::fs::read_to_string(reports.join("load-flow.json")).unwrap();
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let row = &report["requests"]["POST introspect (revoked, other nodes)"];
        let (passed, errors) = (
            row["success"].as_u64().unwrap_or(0),
            row["fail"].as_u64().unwrap_or(0),
        );
        let requests = passed + errors;
        assert!(requests > 0, "{row}");
        if clean {
            assert_eq!(output.status.code(), Some(0), "{stderr}");
            assert_eq!(errors, 0, "{stderr}");
        } else {
            assert_eq!(output.status.code(), Some(5), "{stderr}");
            assert_eq!(errors, requests, "{stderr}");
            assert!(
                stderr.contains("a revoked token is still active (on node http://127.0.0.1:"),
                "{stderr}"
            );
        }
        cluster.shutdown().await;
    }
}
