//! `serve --nodes N` in-process (`ReferenceServer::start_cluster`): one issuer, each node's
//! own endpoints, and a token store each node sees through its own replica, which another
//! node's writes reach `replication_delay` later (issue 21).

use std::time::Duration;

use hyper::{Method, StatusCode};
use reference_server::{Fault, ReferenceCluster, ReferenceServer, ServerConfig};

use crate::common::server::*;

async fn cluster(config: ServerConfig, nodes: usize) -> ReferenceCluster {
    ReferenceServer::start_cluster(config, nodes, "127.0.0.1:0".parse().unwrap())
        .await
        .expect("the cluster starts")
}

fn delayed(ms: u64) -> ServerConfig {
    ServerConfig {
        replication_delay: Duration::from_millis(ms),
        ..ServerConfig::default()
    }
}

async fn active(node: &ReferenceServer, token: &str) -> bool {
    introspect(node, token).await["active"] == true
}

/// Whether each node finds `token` active now.
async fn actives(cluster: &ReferenceCluster, token: &str) -> Vec<bool> {
    let mut seen = Vec::new();
    for node in cluster.nodes() {
        seen.push(active(node, token).await);
    }
    seen
}

async fn revoke(node: &ReferenceServer, token: &str) {
    let url = node.revocation_url("root");
    let reply = post_basic(&url, "myClient", "forgerock", &format!("token={token}")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn every_node_names_one_issuer_and_its_own_endpoints() {
    let cluster = cluster(ServerConfig::default(), 3).await;
    let urls = cluster.urls();
    assert_eq!(urls.len(), 3);
    for (node, url) in cluster.nodes().iter().zip(&urls) {
        let reply = send(Method::GET, &node.metadata_url("root"), &[], "").await;
        let metadata = reply.json();
        assert_eq!(metadata["issuer"], cluster.issuer("root"));
        assert_eq!(metadata["issuer"], format!("{}/oauth2", urls[0]));
        let token_endpoint = metadata["token_endpoint"].as_str().unwrap();
        assert_eq!(token_endpoint, format!("{url}/oauth2/access_token"));
    }
    cluster.shutdown().await;
}

#[tokio::test]
async fn with_no_delay_the_nodes_are_consistent() {
    let cluster = cluster(ServerConfig::default(), 3).await;
    let token = issue(cluster.node(0), "myClient", "forgerock", None).await;
    assert_eq!(actives(&cluster, &token).await, [true, true, true]);
    let served = call_resource(cluster.node(2), &token).await;
    assert_eq!(served.status, StatusCode::OK, "node 3's resource");
    revoke(cluster.node(1), &token).await;
    assert_eq!(actives(&cluster, &token).await, [false, false, false]);
    cluster.shutdown().await;
}

#[tokio::test]
async fn writes_reach_the_other_nodes_after_the_replication_delay() {
    let cluster = cluster(delayed(300), 3).await;
    let token = issue(cluster.node(0), "myClient", "forgerock", None).await;
    assert_eq!(actives(&cluster, &token).await, [true, false, false]);
    let refused = call_resource(cluster.node(1), &token).await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "not on node 2 yet"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(actives(&cluster, &token).await, [true, true, true]);

    revoke(cluster.node(1), &token).await;
    assert_eq!(actives(&cluster, &token).await, [true, false, true]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(actives(&cluster, &token).await, [false, false, false]);
    cluster.shutdown().await;
}

/// `cluster-revocation-local`: the node that received the revocation refuses the token,
/// the others never stop serving it (the clean cluster: above).
pub async fn revocation_stays_local(fault: Fault) {
    let cluster = cluster(delayed(100).with_fault(fault), 3).await;
    let token = issue(cluster.node(0), "myClient", "forgerock", None).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    revoke(cluster.node(1), &token).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        actives(&cluster, &token).await,
        [true, false, true],
        "{fault}"
    );
    let served = call_resource(cluster.node(2), &token).await;
    assert_eq!(served.status, StatusCode::OK, "{fault}: node 3's resource");
    cluster.shutdown().await;
}
