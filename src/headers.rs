//! Parsing of HTTP header values: authentication challenges (`WWW-Authenticate`, RFC 9110
//! §11.6.1), media types (`Content-Type`) and comma-separated directive lists
//! (`Cache-Control`).

/// The value of an auth-param in a challenge (`error="invalid_token"` → `invalid_token`).
pub fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find(&format!("{name}=")) {
        let start = search + found;
        let boundary = start == 0 || matches!(lower.as_bytes()[start - 1], b' ' | b',');
        let value_start = start + name.len() + 1;
        if boundary {
            let rest = &challenge[value_start..];
            return Some(if let Some(quoted) = rest.strip_prefix('"') {
                quoted.split('"').next().unwrap_or("").to_owned()
            } else {
                rest.split([',', ' ']).next().unwrap_or("").to_owned()
            });
        }
        search = value_start;
    }
    None
}

/// The scheme of a challenge (`Basic realm=…` → `Basic`).
pub fn challenge_scheme(challenge: &str) -> &str {
    challenge
        .trim_start()
        .split([' ', ','])
        .next()
        .unwrap_or("")
}

/// The media type of a `Content-Type` value, without its parameters
/// (`application/json; charset=utf-8` → `application/json`).
pub fn media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Whether a `Content-Type` value, if any, is `application/json` (any case, parameters
/// allowed).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .map(media_type)
        .is_some_and(|m| m.eq_ignore_ascii_case("application/json"))
}

/// Whether a comma-separated header value (`Cache-Control`) lists `directive`, compared
/// case-insensitively.
pub fn lists_directive(value: &str, directive: &str) -> bool {
    value
        .split(',')
        .any(|d| d.trim().eq_ignore_ascii_case(directive))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges() {
        let c = r#"Bearer realm="x", error="invalid_token", error_description="no""#;
        assert_eq!(challenge_scheme(c), "Bearer");
        assert_eq!(
            challenge_param(c, "error").as_deref(),
            Some("invalid_token")
        );
        assert_eq!(challenge_param(c, "realm").as_deref(), Some("x"));
        assert_eq!(challenge_param(r#"Basic realm="a""#, "error"), None);
        assert_eq!(
            challenge_param("Bearer error=invalid_token", "error").as_deref(),
            Some("invalid_token")
        );
    }

    #[test]
    fn parses_media_types_and_directives() {
        assert_eq!(
            media_type(" application/json ; charset=utf-8"),
            "application/json"
        );
        assert!(is_json(Some("Application/JSON")));
        assert!(!is_json(Some("text/html")));
        assert!(!is_json(None));
        assert!(lists_directive("private, No-Store", "no-store"));
        assert!(!lists_directive("no-cache", "no-store"));
    }
}
