//! A cluster of nodes (`serve --nodes N`, `ReferenceServer::start_cluster`): one issuer, one
//! client registry, one signing key, and one token store that every node writes; but each
//! node has its own VIEW of the store, as replicas do. A token or a revocation written on
//! node i becomes visible on node j ≠ i only `replication_delay` after it was written; a
//! node sees its own writes at once (read-your-writes). With a delay of 0 the nodes are
//! consistent. Under the fault `cluster-revocation-local` a revocation is seen only by the
//! node that received it, never replicated.
//!
//! The model is honest and small: every token record carries where and when it was written
//! and revoked ([`Replica`]); a read on a node ignores what it would not have received yet.
//! A single server has no view (`App::node` is `None`) and never reads the stamps.

use std::time::{Duration, Instant};

/// Where and when something was written: the node (0-based) and milliseconds since the
/// cluster started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stamp {
    pub node: u16,
    pub at_ms: u64,
}

/// A token record's replication stamps: its write, and its revocations (one per node that
/// revoked it, since under `cluster-revocation-local` each is seen by its node only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replica {
    pub written: Stamp,
    pub revoked: Option<Box<Vec<Stamp>>>,
}

impl Replica {
    pub fn written(stamp: Stamp) -> Replica {
        Replica {
            written: stamp,
            revoked: None,
        }
    }

    /// Records a revocation on `stamp.node`.
    pub fn revoke(&mut self, stamp: Stamp) {
        self.revoked
            .get_or_insert_with(Default::default)
            .push(stamp);
    }
}

/// One node's view of the shared store.
#[derive(Debug, Clone)]
pub struct NodeView {
    pub index: u16,
    delay_ms: u64,
    /// The cluster's start, shared by its nodes: stamps are milliseconds since.
    epoch: Instant,
    /// The fault `cluster-revocation-local`.
    local_revocations: bool,
}

impl NodeView {
    pub fn new(index: u16, delay: Duration, epoch: Instant, local_revocations: bool) -> NodeView {
        NodeView {
            index,
            delay_ms: delay.as_millis().try_into().unwrap_or(u64::MAX),
            epoch,
            local_revocations,
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch
            .elapsed()
            .as_millis()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// A write made on this node now.
    pub fn stamp(&self) -> Stamp {
        Stamp {
            node: self.index,
            at_ms: self.now_ms(),
        }
    }

    fn received(&self, stamp: Stamp, now_ms: u64) -> bool {
        stamp.node == self.index || now_ms.saturating_sub(stamp.at_ms) >= self.delay_ms
    }

    /// Whether this node sees the token: its write has reached it, and no revocation has.
    pub fn sees(&self, replica: &Replica) -> bool {
        let now = self.now_ms();
        if !self.received(replica.written, now) {
            return false;
        }
        let revoked =
            replica.revoked.iter().flat_map(|r| r.iter()).any(|r| {
                r.node == self.index || (!self.local_revocations && self.received(*r, now))
            });
        !revoked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(index: u16, delay_ms: u64, epoch: Instant, local: bool) -> NodeView {
        NodeView::new(index, Duration::from_millis(delay_ms), epoch, local)
    }

    #[test]
    fn writes_reach_other_nodes_after_the_delay_and_their_own_at_once() {
        let epoch = Instant::now() - Duration::from_secs(10);
        let (one, two) = (view(0, 300, epoch, false), view(1, 300, epoch, false));
        let mut replica = Replica::written(one.stamp());
        assert!(one.sees(&replica), "read-your-writes");
        assert!(!two.sees(&replica), "not replicated yet");
        replica.written.at_ms -= 300;
        assert!(two.sees(&replica), "replicated after the delay");
        replica.revoke(two.stamp());
        assert!(!two.sees(&replica), "revoked where it was revoked");
        assert!(one.sees(&replica), "the revocation is not replicated yet");
        replica.revoked.as_mut().unwrap()[0].at_ms -= 300;
        assert!(!one.sees(&replica), "and then it is");
    }

    #[test]
    fn a_zero_delay_is_consistent_and_local_revocations_never_leave_their_node() {
        let epoch = Instant::now();
        let (one, two) = (view(0, 0, epoch, true), view(1, 0, epoch, true));
        let mut replica = Replica::written(one.stamp());
        assert!(two.sees(&replica));
        replica.revoke(one.stamp());
        assert!(!one.sees(&replica));
        replica.revoked.as_mut().unwrap()[0].at_ms = 0;
        assert!(
            two.sees(&replica),
            "cluster-revocation-local: never replicated"
        );
    }
}
