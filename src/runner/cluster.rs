//! Cluster steps (`each_node`): the step's request sent to every other node behind the
//! issuer (`--node`), the same endpoint on that node's origin; the answers are judged as a
//! set. With `until_refused` the nodes that still accept the token are asked again, in
//! rounds every 25 ms, until each refuses it or `--max-propagation` has passed; how long
//! each took (from the end of the step before, the revocation) is the case's `propagation`.

use std::time::{Duration, Instant};

use super::state::CaseState;
use super::{Run, Stop};
use crate::case::{Endpoint, Step};
use crate::exchange::Response;
use crate::http::{BuiltRequest, SendError};
use crate::outcome::{NodeDelay, Propagation};
use crate::target::{on_node, Target};

/// How often a node is asked again while it still accepts a revoked token.
const POLL: Duration = Duration::from_millis(25);

impl Run<'_> {
    /// Sends the request `build` makes for a URL to every other node of `target` (the
    /// step's endpoint `base_url` moved there); every node's last answer, in node order.
    pub(super) async fn each_node(
        &self,
        http: &reqwest::Client,
        step: &Step,
        base_url: &str,
        state: &mut CaseState,
        mut build: impl FnMut(&CaseState, &str) -> Result<BuiltRequest, Stop>,
    ) -> Result<Vec<Response>, Stop> {
        let target: &Target = self.target;
        let started = Instant::now();
        let bound = self.settings.max_propagation;
        let urls = target
            .nodes
            .iter()
            .map(|node| {
                on_node(base_url, node).ok_or_else(|| {
                    Stop::Errored(format!("cannot move {base_url} to the node {node}"))
                })
            })
            .collect::<Result<Vec<_>, Stop>>()?;
        // Each node's last answer, and (with `until_refused`) when it first refused. Nodes
        // are asked in rounds, so one slow node does not delay when the others are asked.
        let mut answers: Vec<Option<Response>> = vec![None; urls.len()];
        let mut refused_at: Vec<Option<Duration>> = vec![None; urls.len()];
        loop {
            for (i, (node, url)) in target.nodes.iter().zip(&urls).enumerate() {
                if refused_at[i].is_some() {
                    continue;
                }
                let request = build(state, url)?;
                let answer =
                    match crate::http::exchange(http, &request, self.settings, self.pacer).await {
                        Ok(answer) => answer,
                        Err(SendError::Transport(e)) => {
                            return Err(Stop::Errored(format!("node {node}: {e}")))
                        }
                        Err(SendError::RateLimited(e)) => {
                            return Err(Stop::Blocked(format!("node {node}: {e}")))
                        }
                    };
                if refuses(step.endpoint, &answer) {
                    refused_at[i] = Some(started.elapsed());
                }
                answers[i] = Some(answer);
            }
            let waited = started.elapsed();
            if !step.until_refused || refused_at.iter().all(Option::is_some) || waited >= bound {
                break;
            }
            tokio::time::sleep(POLL.min(bound.saturating_sub(waited))).await;
        }
        let delays: Vec<NodeDelay> = target
            .nodes
            .iter()
            .zip(&refused_at)
            .map(|(node, at)| NodeDelay {
                node: node.clone(),
                ms: at.map(|d| d.as_millis() as u64),
            })
            .collect();
        let answers: Vec<Response> = answers.into_iter().flatten().collect();
        if step.until_refused {
            let from = url::Url::parse(&target.token_url)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default();
            state.propagation = Some(Propagation {
                from,
                max_ms: bound.as_millis() as u64,
                nodes: delays,
            });
        }
        Ok(answers)
    }
}

/// Whether `answer` refuses the token it was asked about: an introspection's `active:
/// false`, or a 4xx from the resource.
fn refuses(endpoint: Endpoint, answer: &Response) -> bool {
    match endpoint {
        Endpoint::Introspection => answer
            .json
            .as_ref()
            .and_then(|j| j.get("active"))
            .is_some_and(|a| *a == serde_json::Value::Bool(false)),
        Endpoint::Resource => (400..500).contains(&answer.status),
        _ => false,
    }
}
