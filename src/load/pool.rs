//! The introspection pool: tokens issued before the run, with the main client, every
//! answer checked.

use crate::case::Role;
use crate::exit::Failure;
use crate::target::Target;

/// Issues the introspection pool up front, with the main client, checking every answer.
pub(super) async fn issue_pool(
    http: &reqwest::Client,
    target: &Target,
    size: usize,
    scope: Option<&str>,
) -> Result<Vec<String>, Failure> {
    let main = target.client(Role::Main).expect("a main client");
    let secret = main
        .secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::form::encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut pool = Vec::with_capacity(size);
    for _ in 0..size.max(1) {
        let response = http
            .post(&target.token_url)
            .basic_auth(
                crate::form::encode(&main.id),
                Some(crate::form::encode(&secret)),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.clone())
            .send()
            .await
            .map_err(|e| {
                Failure::runtime(format!(
                    "issuing the introspection pool: {}",
                    crate::http::describe_error(&e)
                ))
            })?;
        let mut response = response;
        let status = response.status();
        let body = super::send::read_body(&mut response, super::DEFAULT_MAX_BODY)
            .await
            .map_err(|why| Failure::runtime(format!("issuing the introspection pool: {why}")))?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match json.get("access_token").and_then(|t| t.as_str()) {
            Some(token) if status.is_success() => pool.push(token.to_owned()),
            _ => {
                return Err(Failure::runtime(format!(
                    "issuing the introspection pool: status {status}, no access_token"
                )))
            }
        }
    }
    Ok(pool)
}
