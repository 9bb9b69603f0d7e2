//! Checks of authorization server metadata (RFC 8414): its issuer, its required members,
//! where it was found, and its endpoint URLs.

use super::{listed, pass_unless, Context, Verdict};

pub(super) fn metadata_issuer_matches(cx: &Context<'_>) -> Verdict {
    match (cx.member_str("issuer"), cx.issuer) {
        (Some(actual), Some(expected)) if actual == expected => Verdict::Pass,
        (Some(actual), Some(expected)) => Verdict::Fail(format!(
            "metadata issuer '{actual}' differs from the issuer '{expected}'"
        )),
        (None, _) => Verdict::Fail("metadata has no issuer".into()),
        (_, None) => Verdict::NotApplicable("the target's issuer is unknown (no --target)".into()),
    }
}

pub(super) fn metadata_required_members(cx: &Context<'_>) -> Verdict {
    let missing: Vec<&str> = ["issuer", "token_endpoint", "response_types_supported"]
        .into_iter()
        .filter(|m| cx.member(m).is_none())
        .collect();
    pass_unless(missing, |missing| {
        format!("metadata lacks {}", listed(&missing))
    })
}

pub(super) fn metadata_at_rfc8414_location(cx: &Context<'_>) -> Verdict {
    match cx.var("metadata_location") {
        Some("rfc8414") => Verdict::Pass,
        Some("appended") => Verdict::Fail(format!(
            "the metadata is only at {{issuer}}/.well-known/oauth-authorization-server, not where RFC 8414 §3.1 puts it (the well-known segment between host and path: {})",
            cx.var("rfc8414_metadata_url").unwrap_or("unknown")
        )),
        Some("openid") => Verdict::NotApplicable(
            "the server publishes OpenID Connect Discovery metadata only".into(),
        ),
        _ => Verdict::NotApplicable("where the metadata was found is unknown".into()),
    }
}

pub(super) fn metadata_no_fragment(cx: &Context<'_>) -> Verdict {
    let Some(map) = cx.object() else {
        return Verdict::Fail("metadata is not a JSON object".into());
    };
    let bad: Vec<&String> = map
        .iter()
        .filter(|(k, v)| {
            (k.ends_with("_endpoint") || *k == "issuer")
                && v.as_str().is_some_and(|s| s.contains('#'))
        })
        .map(|(k, _)| k)
        .collect();
    pass_unless(bad, |bad| format!("{} contain a fragment", listed(&bad)))
}

/// FAPI 2.0 §5.3.2.1 item 6: clients authenticate with mutual TLS or private_key_jwt only,
/// so `token_endpoint_auth_methods_supported` offers no secret method and not `none`. An
/// absent member means `client_secret_basic` (RFC 8414 §2's default), which is offered too.
pub(super) fn fapi2_auth_methods(cx: &Context<'_>) -> Verdict {
    const SECRETLESS: [&str; 3] = [
        "private_key_jwt",
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ];
    let Some(listed) = cx.member("token_endpoint_auth_methods_supported") else {
        return Verdict::Fail(
            "no token_endpoint_auth_methods_supported: RFC 8414 §2's default is client_secret_basic".into(),
        );
    };
    let Some(listed) = listed.as_array() else {
        return Verdict::Fail(format!(
            "token_endpoint_auth_methods_supported is not an array: {listed}"
        ));
    };
    let others: Vec<String> = listed
        .iter()
        .filter(|m| !m.as_str().is_some_and(|m| SECRETLESS.contains(&m)))
        .map(|m| m.as_str().map_or_else(|| m.to_string(), str::to_owned))
        .collect();
    super::pass_unless(others, |others| {
        format!(
            "token_endpoint_auth_methods_supported offers {} beside private_key_jwt and mutual TLS",
            super::listed(&others)
        )
    })
}
