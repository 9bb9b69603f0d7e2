//! Checks of how the server treats the transport: plain HTTP and redirects that would make a
//! client send its credentials again.

use super::{Context, Verdict};

pub(super) fn cleartext_refused(cx: &Context<'_>) -> Verdict {
    let status = cx.response.status;
    let error = cx.member_str("error");
    if cx.member("access_token").is_some() {
        Verdict::Fail(format!("issued a token over plain HTTP (status {status})"))
    } else if (200..300).contains(&status) {
        Verdict::Fail(format!("answered {status} over plain HTTP"))
    } else if status == 401 || error == Some("invalid_client") {
        Verdict::Fail(format!(
            "authenticated the client over plain HTTP: {status} {} to credentials sent in clear",
            error.unwrap_or("(no error code)")
        ))
    } else {
        Verdict::Pass
    }
}

pub(super) fn no_credential_resending_redirect(cx: &Context<'_>) -> Verdict {
    let r = cx.response;
    match r.status {
        307 | 308 => Verdict::Fail(format!(
            "{} redirect to {}: a client that follows it sends its credentials again",
            r.status,
            r.header("location").unwrap_or("(no Location)")
        )),
        _ => Verdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::tests::{response, verdict};
    use crate::checks::{Check, Verdict};

    /// The legal ways to refuse plain HTTP pass; every way of serving it fails.
    #[test]
    fn cleartext_refusal_accepts_legal_refusals_only() {
        const JSON: (&str, &str) = ("content-type", "application/json");
        let keeps = [
            response(302, &[("location", "https://as.example/t")], ""),
            response(
                400,
                &[("content-type", "text/html")],
                "<h1>The plain HTTP request was sent to HTTPS port</h1>",
            ),
            response(
                400,
                &[JSON],
                r#"{"error":"invalid_request","error_description":"TLS required"}"#,
            ),
            response(403, &[], "TLS required"),
            response(404, &[], "not found"),
            response(426, &[("upgrade", "TLS/1.2")], ""),
        ];
        for r in &keeps {
            assert_eq!(
                verdict(Check::CleartextRefused, r, None, &[]),
                Verdict::Pass,
                "{}",
                r.status
            );
        }
        let breaks = [
            response(
                200,
                &[JSON],
                r#"{"access_token":"t","token_type":"Bearer"}"#,
            ),
            response(400, &[JSON], r#"{"error":"invalid_client"}"#),
            response(401, &[("www-authenticate", "Basic realm=\"x\"")], ""),
            response(204, &[], ""),
        ];
        for r in &breaks {
            assert!(
                matches!(
                    verdict(Check::CleartextRefused, r, None, &[]),
                    Verdict::Fail(_)
                ),
                "{}",
                r.status
            );
        }
    }
}
