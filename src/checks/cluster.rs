//! Cluster checks: they judge the answers of an `each_node` step, one per other node behind
//! the issuer (`--node`), in node order (`Context::race` carries them as a set).

use super::race::{active, tally, RaceAnswers};
use super::{Context, Verdict};

fn nodes<'a>(cx: &Context<'a>) -> Result<&'a RaceAnswers<'a>, Verdict> {
    cx.race.ok_or_else(|| {
        Verdict::Blocked("a cluster check on a single answer (the step is not each_node)".into())
    })
}

/// Every other node introspects the token active, for the client it was issued to
/// (`{issued_to}`) when it names one.
pub(super) fn active_on_every_node(cx: &Context<'_>) -> Verdict {
    let set = match nodes(cx) {
        Ok(s) => s,
        Err(v) => return v,
    };
    let n = set.answers.len();
    let not = set
        .answers
        .iter()
        .filter(|a| active(a) != Some(true))
        .count();
    if not > 0 {
        return Verdict::Fail(format!(
            "{not} of {n} other nodes did not introspect the token active right after another node issued it ({})",
            tally(set.answers)
        ));
    }
    let issued_to = cx.var("issued_to");
    let other = set
        .answers
        .iter()
        .filter_map(|a| a.json.as_ref()?.get("client_id")?.as_str())
        .find(|c| Some(*c) != issued_to);
    match other {
        Some(c) => Verdict::Fail(format!(
            "another node says the token belongs to {c}, not {}",
            issued_to.unwrap_or("the client that asked")
        )),
        None => Verdict::Pass,
    }
}

/// Every other node's resource accepts the token (a 2xx).
pub(super) fn accepted_on_every_node(cx: &Context<'_>) -> Verdict {
    let set = match nodes(cx) {
        Ok(s) => s,
        Err(v) => return v,
    };
    let n = set.answers.len();
    let refused = set
        .answers
        .iter()
        .filter(|a| !(200..300).contains(&a.status))
        .count();
    if refused > 0 {
        return Verdict::Fail(format!(
            "{refused} of {n} other nodes' resources refused the token right after another node issued it ({})",
            tally(set.answers)
        ));
    }
    Verdict::Pass
}

/// Every other node refuses the revoked token within `--max-propagation`: introspection
/// `active: false` (RFC 7662 §2.2), or a 4xx at the resource. The step asked each node
/// again until then, so a node still accepting it is one the revocation did not reach.
pub(super) fn refused_on_every_node(cx: &Context<'_>) -> Verdict {
    let set = match nodes(cx) {
        Ok(s) => s,
        Err(v) => return v,
    };
    let n = set.answers.len();
    let still = set
        .answers
        .iter()
        .filter(|a| {
            active(a) == Some(true) || (200..300).contains(&a.status) && active(a).is_none()
        })
        .count();
    if still > 0 {
        return Verdict::Fail(format!(
            "{still} of {n} other nodes still accepted the token when --max-propagation had passed since its revocation on another node ({})",
            tally(set.answers)
        ));
    }
    let unjudged = set
        .answers
        .iter()
        .filter(|a| active(a).is_none() && !(400..500).contains(&a.status))
        .count();
    if unjudged > 0 {
        return Verdict::Blocked(format!(
            "{unjudged} of {n} other nodes gave neither an active member nor a refusal ({})",
            tally(set.answers)
        ));
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests;
