//! What was sent and what came back, and the redaction that keeps secrets and tokens out of
//! everything grantcheck prints or writes.

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;

/// A response as the checks see it (unredacted, never written anywhere).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    pub json: Option<Value>,
}

impl Response {
    /// The response in a few words, for blocked and preflight messages: `403 with an empty
    /// body`, `400 invalid_scope`, `200 text/html`.
    pub fn brief(&self) -> String {
        let error = self
            .json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str);
        if let Some(error) = error {
            return format!("{} {error}", self.status);
        }
        if self.body.is_empty() {
            return format!("{} with an empty body", self.status);
        }
        let media = self
            .header("content-type")
            .and_then(|v| v.split(';').next())
            .unwrap_or("no Content-Type")
            .trim();
        format!("{} {media}", self.status)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every field `name` as one list value (RFC 9110 §5.3: joined with ", "); empty when
    /// there is none.
    pub fn all_headers(&self, name: &str) -> String {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect();
        values.join(", ")
    }
}

/// A redacted request, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
}

/// A redacted response, for reports.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseRecord {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The JSON body, or the text body (truncated) when it is not JSON.
    pub body: Value,
    /// A JWT access token's header and claims; the token itself and its signature are never kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_jwt: Option<Value>,
}

/// Header and claims of a compact JWS, or `None` when `token` is not one.
pub fn decode_jwt(token: &str) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |s: &str| -> Option<Value> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    let header = decode(header)?;
    header.get("alg")?;
    Some(serde_json::json!({"header": header, "claims": decode(claims)?}))
}

/// One step's exchange.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    pub step: String,
    pub request: RequestRecord,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<ResponseRecord>,
    /// Why no response was received (timeout, connection refused, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a race step: the request and response above are one copy's (the first accepted,
    /// else the first); here, how many were sent and every answer counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub race: Option<RaceRecord>,
}

/// A race's copies and their answers, counted (no timing: snapshots show it).
#[derive(Debug, Clone, Serialize)]
pub struct RaceRecord {
    pub copies: usize,
    /// `1 × 200, 19 × 401 invalid_client`.
    pub answers: String,
    /// The release spread of the race these answers came from, in milliseconds (none for a
    /// step sent once per raced token). Reports show it; snapshots never do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread_ms: Option<f64>,
    /// The copies went one to each other node of a cluster (`each_node`), not at once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub to_nodes: bool,
}

/// Headers worth showing in a report; the rest are noise (dates, lengths, server banners).
pub const SHOWN_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "pragma",
    "www-authenticate",
    "allow",
    "location",
    "retry-after",
];

const REDACTED: &str = "<redacted>";
/// Form parameters and JSON members whose values are always secret.
const SECRET_NAMES: &[&str] = &[
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "client_assertion",
    "password",
];
/// Parameters that carry a client's credentials: their values are redacted wherever text
/// shows `name=value` (a URL's query, a body that echoes the request). Tokens are not
/// here: a case may send a made-up one, and issued ones are known by value.
const CREDENTIAL_NAMES: &[&str] = &["client_secret", "client_assertion", "password"];
/// Secrets this long are redacted wherever they occur in text. A shorter one ("b") would
/// blank unrelated text, so it is redacted where it stands as a whole value: a form or JSON
/// value, `=b` in a query, `"b"` or `'b'` quoted, `:b@` in a URL's user info.
const MIN_FINDABLE_LEN: usize = 4;
/// Text bodies are cut here in reports.
const MAX_TEXT_BODY: usize = 2048;

/// Replaces secrets and tokens with `<redacted>`.
#[derive(Debug, Default, Clone)]
pub struct Redactor {
    /// Every secret, whatever its length, and its form-encoded spelling; longest first, so a
    /// secret that contains another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// Remembers a value that must never be shown (also in its form-encoded spelling).
    pub fn add(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        for variant in [secret.to_owned(), crate::form::encode(secret)] {
            if !self.secrets.contains(&variant) {
                self.secrets.push(variant);
            }
        }
        self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }

    /// Whether `value`, whole, is a secret.
    fn is_secret(&self, value: &str) -> bool {
        self.secrets.iter().any(|s| s == value)
    }

    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = if secret.len() >= MIN_FINDABLE_LEN {
                    out.replace(secret.as_str(), REDACTED)
                } else {
                    redact_whole_values(&out, secret)
                };
            }
        }
        redact_credential_parameters(&out)
    }

    pub fn header(&self, name: &str, value: &str) -> String {
        // A DPoP header is a proof (a JWT): nothing of it is shown.
        if name.eq_ignore_ascii_case("dpop") {
            return REDACTED.to_owned();
        }
        if name.eq_ignore_ascii_case("authorization") {
            let scheme = value.split(' ').next().unwrap_or("");
            return format!("{scheme} {REDACTED}").trim().to_owned();
        }
        if self.is_secret(value) {
            return REDACTED.to_owned();
        }
        self.text(value)
    }

    /// A form body with secret parameters' values replaced.
    pub fn form(&self, body: &str) -> String {
        body.split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if SECRET_NAMES.contains(&name) => format!("{name}={REDACTED}"),
                Some((name, value)) if self.is_secret(&form_decoded(value)) => {
                    format!("{name}={REDACTED}")
                }
                _ => self.text(pair),
            })
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| {
                        let v = if SECRET_NAMES.contains(&k.as_str()) && !v.is_null() {
                            Value::String(REDACTED.into())
                        } else {
                            self.json(v)
                        };
                        (k.clone(), v)
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::String(s) if self.is_secret(s) => Value::String(REDACTED.into()),
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }

    /// A response as a report shows it.
    pub fn response(&self, response: &Response) -> ResponseRecord {
        let headers = response
            .headers
            .iter()
            .filter(|(n, _)| SHOWN_HEADERS.contains(&n.as_str()))
            .map(|(n, v)| (n.clone(), self.header(n, v)))
            .collect();
        let body = match &response.json {
            Some(json) => self.json(json),
            None if response.body.is_empty() => Value::Null,
            None => {
                let text = String::from_utf8_lossy(&response.body);
                let cut: String = text.chars().take(MAX_TEXT_BODY).collect();
                let suffix = if cut.len() < text.len() { "…" } else { "" };
                Value::String(format!("{}{suffix}", self.text(&cut)))
            }
        };
        let access_token_jwt = response
            .json
            .as_ref()
            .and_then(|j| j.get("access_token"))
            .and_then(Value::as_str)
            .and_then(decode_jwt);
        ResponseRecord {
            status: response.status,
            headers,
            body,
            access_token_jwt,
        }
    }
}

/// A form value decoded (`+` is a space); undecodable bytes stay as they were.
fn form_decoded(value: &str) -> String {
    url::form_urlencoded::parse(format!("v={value}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `text` with every occurrence of a short `secret` that stands as a whole value redacted:
/// the whole text, after `=` up to a delimiter, between matching quotes, or between `:` and
/// `@` (a URL's user info). Other occurrences are ordinary text ("b" in "bearer").
fn redact_whole_values(text: &str, secret: &str) -> String {
    if text == secret {
        return REDACTED.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(secret) {
        let before = if at > 0 {
            rest[..at].chars().last()
        } else {
            out.chars().last()
        };
        let after_at = at + secret.len();
        let after = rest[after_at..].chars().next();
        let whole = match (before, after) {
            (Some('='), None) => true,
            (Some('='), Some(c)) => ends_value(c),
            (Some(q @ ('"' | '\'' | '`')), Some(c)) => q == c,
            (Some(':'), Some('@')) => true,
            _ => false,
        };
        out.push_str(&rest[..at]);
        out.push_str(if whole { REDACTED } else { secret });
        rest = &rest[after_at..];
    }
    out.push_str(rest);
    out
}

/// Whether `c` ends a `name=value` in text: the next parameter, a space, a quote or the
/// markup or punctuation around it.
fn ends_value(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '&' | '#' | '"' | '\'' | '`' | '<' | '>' | ',' | ';' | ')'
        )
}

/// `text` with the value of every credential parameter (`client_secret=…`) redacted.
fn redact_credential_parameters(text: &str) -> String {
    let mut out = text.to_owned();
    for name in CREDENTIAL_NAMES {
        let key = format!("{name}=");
        let mut from = 0;
        while let Some(found) = out[from..].find(&key) {
            let start = from + found;
            let value_start = start + key.len();
            let part_of_a_longer_name = out[..start]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_');
            let value_end = out[value_start..]
                .find(ends_value)
                .map_or(out.len(), |i| value_start + i);
            let value = &out[value_start..value_end];
            if !part_of_a_longer_name
                && !value.is_empty()
                && !out[value_start..].starts_with(REDACTED)
            {
                out.replace_range(value_start..value_end, REDACTED);
            }
            from = value_start;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_disappear_everywhere() {
        let mut r = Redactor::default();
        r.add("p+w/=:&ä q");
        r.add("tok-123456");
        assert_eq!(r.header("Authorization", "Basic abc"), "Basic <redacted>");
        assert_eq!(
            r.form("grant_type=client_credentials&client_secret=x&note=p%2Bw%2F%3D%3A%26%C3%A4+q"),
            "grant_type=client_credentials&client_secret=<redacted>&note=<redacted>"
        );
        let json = serde_json::json!({"access_token": "abc", "echo": "tok-123456!", "scope": null});
        assert_eq!(
            r.json(&json),
            serde_json::json!({"access_token": "<redacted>", "echo": "<redacted>!", "scope": null})
        );
        assert_eq!(r.text("x"), "x");
    }

    /// A one-character secret is redacted wherever it is a value, and nowhere else: the
    /// letter stays in every word that merely contains it.
    #[test]
    fn a_one_character_secret_is_redacted_as_a_value_without_blanking_its_letter() {
        let mut r = Redactor::default();
        r.add("b");
        r.add("forgerock");
        assert_eq!(
            r.text("http://h/oauth2/access_token?client_id=bob&client_secret=b"),
            "http://h/oauth2/access_token?client_id=bob&client_secret=<redacted>"
        );
        assert_eq!(r.text("/t?x=b&y=b#z"), "/t?x=<redacted>&y=<redacted>#z");
        assert_eq!(
            r.form("grant_type=client_credentials&client_id=bob&other=b&client_secret=b"),
            "grant_type=client_credentials&client_id=bob&other=<redacted>&client_secret=<redacted>"
        );
        let json = serde_json::json!({"echo": "b", "error": "bad secret 'b' for bob", "list": ["b", "abc"]});
        assert_eq!(
            r.json(&json),
            serde_json::json!({"echo": "<redacted>", "error": "bad secret '<redacted>' for bob", "list": ["<redacted>", "abc"]})
        );
        assert_eq!(r.header("x-echo", "b"), "<redacted>");
        assert_eq!(r.text("b"), "<redacted>");
        assert_eq!(
            r.text("https://bob:b@host/"),
            "https://bob:<redacted>@host/"
        );
        let body = "bearer tokens belong to a client; bob's body is unbroken (forgerock)";
        assert_eq!(
            r.text(body),
            "bearer tokens belong to a client; bob's body is unbroken (<redacted>)"
        );
    }

    /// A credential parameter's value is redacted in text whether or not the secret is known
    /// (a case's wrong secret, a server's echo), and only once.
    #[test]
    fn credential_parameters_are_redacted_in_text() {
        let r = Redactor::default();
        assert_eq!(
            r.text("<p>client_secret=wrong&x=1 client_assertion=eyJ.a.b</p>"),
            "<p>client_secret=<redacted>&x=1 client_assertion=<redacted></p>"
        );
        assert_eq!(
            r.text("?client_secret=<redacted>&my_client_secret=v&client_secret="),
            "?client_secret=<redacted>&my_client_secret=v&client_secret="
        );
    }
}
