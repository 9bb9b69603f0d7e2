//! A cluster of reference servers in one process: N listeners, one issuer, one client
//! registry, one signing key, one token store that each node sees through its own view
//! (`crate::cluster`: what another node wrote reaches it `replication_delay` later).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use super::{check_tls, url_host, ReferenceServer};
use crate::app::App;
use crate::cluster::NodeView;
use crate::config::{Fault, ServerConfig};
use crate::jwt::JwtSigner;

/// The most nodes a cluster has.
pub const MAX_NODES: usize = 64;

/// Running nodes; dropping it stops them all.
pub struct ReferenceCluster {
    nodes: Vec<ReferenceServer>,
}

impl ReferenceServer {
    /// Starts `nodes` nodes (1 to [`MAX_NODES`]): the first binds `addr`, the others the
    /// ports after it (or ephemeral ports when `addr`'s is 0). Every node publishes the same
    /// issuer (the first node's URL, or the public URL) and its own endpoints; tokens and
    /// revocations reach the other nodes after `config.replication_delay`.
    pub async fn start_cluster(
        config: ServerConfig,
        nodes: usize,
        addr: SocketAddr,
    ) -> io::Result<ReferenceCluster> {
        ReferenceServer::start_cluster_with_signer(config, JwtSigner::fixture(), nodes, addr).await
    }

    pub async fn start_cluster_with_signer(
        config: ServerConfig,
        signer: JwtSigner,
        nodes: usize,
        addr: SocketAddr,
    ) -> io::Result<ReferenceCluster> {
        check_tls(&config)?;
        if !(1..=MAX_NODES).contains(&nodes) {
            let why = format!("a cluster has 1 to {MAX_NODES} nodes, not {nodes}");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
        }
        let mut listeners = Vec::with_capacity(nodes);
        for i in 0..nodes {
            let at = if addr.port() == 0 {
                addr
            } else {
                let port = u16::try_from(usize::from(addr.port()) + i).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "no port left for every node")
                })?;
                SocketAddr::new(addr.ip(), port)
            };
            listeners.push(TcpListener::bind(at).await?);
        }
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let issuer_base = match &config.public_url {
            Some(public) => public.trim_end_matches('/').to_owned(),
            None => format!("{scheme}://{}", url_host(listeners[0].local_addr()?)),
        };
        let (epoch, signer) = (Instant::now(), Arc::new(signer));
        let local = config.has(Fault::ClusterRevocationLocal);
        let mut servers: Vec<ReferenceServer> = Vec::with_capacity(nodes);
        for (index, listener) in listeners.into_iter().enumerate() {
            let view = NodeView::new(index as u16, config.replication_delay, epoch, local);
            let first = servers.first().map(|s| &s.handler.app);
            let server = ReferenceServer::serve_on(listener, config.clone(), |config, url| {
                App::node(
                    config,
                    signer.clone(),
                    (issuer_base.clone(), url),
                    first,
                    view,
                )
            })?;
            servers.push(server);
        }
        Ok(ReferenceCluster { nodes: servers })
    }
}

impl ReferenceCluster {
    /// The nodes, first to last.
    pub fn nodes(&self) -> &[ReferenceServer] {
        &self.nodes
    }

    /// Node `index` (0-based).
    pub fn node(&self, index: usize) -> &ReferenceServer {
        &self.nodes[index]
    }

    /// Every node's base URL (where its endpoints are), first to last.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.base_url().to_owned()).collect()
    }

    /// The cluster's issuer of a realm, the same on every node.
    pub fn issuer(&self, realm: &str) -> String {
        self.nodes[0].issuer(realm)
    }

    /// Stops every node (each finishes its in-flight requests).
    pub async fn shutdown(self) {
        for node in self.nodes {
            node.shutdown().await;
        }
    }
}
