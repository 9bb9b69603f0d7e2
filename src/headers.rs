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

/// The scheme of a challenge (`Basic realm=…` → `Basic`): the first one when the value
/// holds several.
pub fn challenge_scheme(challenge: &str) -> &str {
    challenge
        .trim_start()
        .split([' ', ','])
        .next()
        .unwrap_or("")
}

/// One challenge of a `WWW-Authenticate` value: its scheme and the text of its parameters
/// (`DPoP algs="ES256", error="invalid_token"` → `DPoP`, `algs="ES256", error="invalid_token"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge<'a> {
    pub scheme: &'a str,
    pub params: String,
}

impl Challenge<'_> {
    /// The value of one of its parameters (see [`challenge_param`]).
    pub fn param(&self, name: &str) -> Option<String> {
        challenge_param(&self.params, name)
    }
}

/// The challenges in a `WWW-Authenticate` value, which may hold several separated by commas
/// (RFC 9110 §11.6.1; RFC 9449 Figure 18: `Bearer error="invalid_token", DPoP algs="ES256"`).
/// A comma-separated element that starts with a token not followed by `=` begins a new
/// challenge; the others are its parameters. Commas inside quoted strings do not split.
pub fn challenges(value: &str) -> Vec<Challenge<'_>> {
    let mut elements = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                elements.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    elements.push(&value[start..]);
    let mut found: Vec<Challenge<'_>> = Vec::new();
    for element in elements
        .into_iter()
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let head_end = element.find([' ', '\t', '=']).unwrap_or(element.len());
        let starts_challenge = !element[head_end..].trim_start().starts_with('=');
        if starts_challenge {
            found.push(Challenge {
                scheme: &element[..head_end],
                params: element[head_end..].trim().to_owned(),
            });
        } else if let Some(last) = found.last_mut() {
            if !last.params.is_empty() {
                last.params.push_str(", ");
            }
            last.params.push_str(element);
        }
    }
    found
}

/// The challenge with `scheme` (compared case-insensitively) among those in `value`.
pub fn find_challenge<'a>(value: &'a str, scheme: &str) -> Option<Challenge<'a>> {
    challenges(value)
        .into_iter()
        .find(|c| c.scheme.eq_ignore_ascii_case(scheme))
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
    fn finds_each_challenge_among_several() {
        // RFC 9449 Figures 17 and 18.
        let both = "Bearer, DPoP algs=\"ES256 PS256\"";
        let found = challenges(both);
        assert_eq!(found.len(), 2);
        assert_eq!((found[0].scheme, found[0].params.as_str()), ("Bearer", ""));
        assert_eq!(
            find_challenge(both, "dpop")
                .unwrap()
                .param("algs")
                .as_deref(),
            Some("ES256 PS256")
        );
        let invalid = r#"Bearer error="invalid_token", error_description="Invalid, token", DPoP algs="ES256 PS256""#;
        let bearer = find_challenge(invalid, "Bearer").unwrap();
        assert_eq!(bearer.param("error").as_deref(), Some("invalid_token"));
        let dpop = find_challenge(invalid, "DPoP").unwrap();
        assert_eq!(dpop.param("error"), None);
        assert_eq!(dpop.param("algs").as_deref(), Some("ES256 PS256"));
        let one = r#"DPoP error="invalid_dpop_proof", algs="ES256""#;
        assert_eq!(challenges(one).len(), 1);
        assert_eq!(
            find_challenge(one, "DPoP")
                .unwrap()
                .param("error")
                .as_deref(),
            Some("invalid_dpop_proof")
        );
        assert!(find_challenge(one, "Bearer").is_none());
        assert!(challenges("").is_empty());
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
