//! Checks of the target's TLS under the FAPI 2.0 profile. They judge what the preflight's
//! probes found (`crate::tls_probe`, kept in the target's baseline), not the step's
//! response: a step only gives the case a harmless request of its own.

use super::{Context, Verdict};
use crate::tls_probe::{version_name, Answer, ProbeKind, TlsProbe, TLS1_1};

/// Why the TLS checks skip a plain-HTTP target.
const PLAIN_HTTP: &str =
    "plain HTTP: FAPI 2.0 §5.2.1 item 1 requires TLS; the TLS probes need https";

/// FAPI 2.0 §5.2.1 item 2: no origin goes on with a TLS 1.1 or TLS 1.0 ClientHello.
pub(super) fn tls_no_version_below_1_2(cx: &Context<'_>) -> Verdict {
    judge(cx, ProbeKind::is_legacy_version, |probe, version, suite| {
        // A server that answers a 1.1 hello with TLS 1.2 has not taken the old version.
        (version <= TLS1_1).then(|| {
            format!(
                "{} answered {} with a ServerHello for {} ({}): it accepts a version below TLS 1.2",
                probe.origin,
                probe.kind.describe(),
                version_name(version),
                crate::tls_probe::suite_name(suite)
            )
        })
    })
}

/// FAPI 2.0 §5.2.2 item 1: no origin goes on with a TLS 1.2 ClientHello that offers only
/// suites BCP 195 does not recommend.
pub(super) fn tls_only_recommended_suites(cx: &Context<'_>) -> Verdict {
    judge(
        cx,
        |kind| kind == ProbeKind::WeakTls12Suites,
        |probe, version, suite| {
            Some(format!(
                "{} answered {} with a ServerHello for {} choosing {}: it permits a suite BCP 195 does not recommend",
                probe.origin,
                probe.kind.describe(),
                version_name(version),
                crate::tls_probe::suite_name(suite)
            ))
        },
    )
}

/// Fails with every probe of `kinds` whose ServerHello `finding` names; otherwise blocks
/// when a probe could not be made, else passes saying how each origin refused.
fn judge(
    cx: &Context<'_>,
    kinds: impl Fn(ProbeKind) -> bool,
    finding: impl Fn(&TlsProbe, u16, u16) -> Option<String>,
) -> Verdict {
    let Some(probes) = cx.tls_probes else {
        return Verdict::NotApplicable(PLAIN_HTTP.into());
    };
    let probes: Vec<&TlsProbe> = probes.iter().filter(|p| kinds(p.kind)).collect();
    if probes.is_empty() {
        return Verdict::Blocked(
            "the preflight made no TLS probe of this target (they run under --profile fapi2 for https endpoints)"
                .into(),
        );
    }
    let mut found = Vec::new();
    let mut unreachable = Vec::new();
    for probe in &probes {
        match &probe.answer {
            Answer::ServerHello { version, suite } => {
                found.extend(finding(probe, *version, *suite));
            }
            Answer::Unreachable(why) => unreachable.push(format!(
                "{} could not be probed with {}: {why}",
                probe.origin,
                probe.kind.describe()
            )),
            Answer::Alert { .. } | Answer::Refused(_) => {}
        }
    }
    if !found.is_empty() {
        return Verdict::Fail(found.join("; "));
    }
    if !unreachable.is_empty() {
        return Verdict::Blocked(unreachable.join("; "));
    }
    Verdict::Pass
}

#[cfg(test)]
pub(super) mod tests;
