//! Strict `application/x-www-form-urlencoded` decoding (RFC 6749 Appendix B).
//!
//! Stricter than the WHATWG parser on purpose: an invalid percent-escape or a value that is
//! not UTF-8 after decoding is an error (→ 400 `invalid_request`), not something to repair.
//! RFC 6749 §3.2: parameters sent without a value are treated as omitted, and parameters must
//! not be repeated.

use std::borrow::Cow;
use std::fmt;

/// Why a form body (or a form-encoded Basic credential) was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// `%` not followed by two hex digits.
    BadPercentEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
    /// A parameter appears more than once (RFC 6749 §3.2).
    Repeated(String),
    /// More parameters than any legitimate request carries.
    TooManyParameters,
}

impl fmt::Display for FormError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormError::BadPercentEscape => f.write_str("malformed percent-encoding"),
            FormError::NotUtf8 => f.write_str("parameter is not valid UTF-8"),
            FormError::Repeated(name) => write!(f, "parameter '{name}' must not be repeated"),
            FormError::TooManyParameters => f.write_str("too many parameters"),
        }
    }
}

/// Upper bound on parameters per request: a token request has a handful.
pub const MAX_PARAMETERS: usize = 256;

/// Decoded form parameters in request order. Empty values are dropped (RFC 6749 §3.2).
/// Names and values borrow the body where decoding leaves them as they were (the usual
/// case: no `+` or `%`), so parsing a request allocates nothing but the list.
#[derive(Debug, Default, Clone)]
pub struct Form<'b> {
    pairs: Vec<(Cow<'b, str>, Cow<'b, str>)>,
}

impl<'b> Form<'b> {
    /// Parses a body. With `allow_repeats` a later value replaces an earlier one instead of
    /// being an error (only used by the `accept-repeated-parameters` fault mode).
    pub fn parse(body: &'b [u8], allow_repeats: bool) -> Result<Form<'b>, FormError> {
        let mut pairs: Vec<(Cow<'b, str>, Cow<'b, str>)> = Vec::with_capacity(4);
        for segment in body.split(|&b| b == b'&') {
            if segment.is_empty() {
                continue;
            }
            if pairs.len() >= MAX_PARAMETERS {
                return Err(FormError::TooManyParameters);
            }
            let (raw_name, raw_value) = match segment.iter().position(|&b| b == b'=') {
                Some(i) => (&segment[..i], &segment[i + 1..]),
                None => (segment, &b""[..]),
            };
            let name = decode_component(raw_name)?;
            let value = decode_component(raw_value)?;
            if let Some(existing) = pairs.iter_mut().find(|(n, _)| *n == name) {
                // A repeat is refused even when one of the two is empty: the request is
                // ambiguous either way.
                if !allow_repeats {
                    return Err(FormError::Repeated(name.into_owned()));
                }
                existing.1 = value;
                continue;
            }
            pairs.push((name, value));
        }
        pairs.retain(|(_, v)| !v.is_empty());
        Ok(Form { pairs })
    }

    /// The value of `name`, if present with a non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_ref())
    }

    /// Parameter names in request order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pairs.iter().map(|(n, _)| n.as_ref())
    }

    /// Adds a parameter unless it is already present (used to merge query parameters).
    pub fn insert_if_absent(&mut self, name: &str, value: &str) {
        if !value.is_empty() && self.get(name).is_none() {
            self.pairs
                .push((Cow::Owned(name.to_owned()), Cow::Owned(value.to_owned())));
        }
    }

    /// The same form, owning its names and values (for a body that does not outlive it).
    pub fn into_owned(self) -> Form<'static> {
        let pairs = self.pairs.into_iter();
        Form {
            pairs: pairs
                .map(|(n, v)| (Cow::Owned(n.into_owned()), Cow::Owned(v.into_owned())))
                .collect(),
        }
    }
}

/// The raw (still encoded) value of the first parameter whose raw name is `name`, as a fault
/// mode that reads the body without decoding it sees it; `Some("")` for `name=` or `name`.
pub fn raw_value<'b>(body: &'b [u8], name: &str) -> Option<&'b [u8]> {
    body.split(|&b| b == b'&').find_map(|segment| {
        let (raw_name, raw_value) = match segment.iter().position(|&b| b == b'=') {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &b""[..]),
        };
        (raw_name == name.as_bytes()).then_some(raw_value)
    })
}

/// True when the body sends `name` without a value (`name=` or `name`), which
/// [`Form::parse`] drops as RFC 6749 §3.2 asks; only fault modes look.
pub fn sent_empty(body: &[u8], name: &str) -> bool {
    raw_value(body, name).is_some_and(<[u8]>::is_empty)
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result must be UTF-8.
/// Borrowed when there is nothing to decode.
pub fn decode_component(raw: &[u8]) -> Result<Cow<'_, str>, FormError> {
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| FormError::NotUtf8);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    // Runs without `+` or `%` (most of a value, often all of it) are copied whole.
    while let Some(at) = rest.iter().position(|&b| b == b'+' || b == b'%') {
        out.extend_from_slice(&rest[..at]);
        if rest[at] == b'+' {
            out.push(b' ');
            rest = &rest[at + 1..];
            continue;
        }
        let hi = rest.get(at + 1).and_then(|&b| hex_value(b));
        let lo = rest.get(at + 2).and_then(|&b| hex_value(b));
        match (hi, lo) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return Err(FormError::BadPercentEscape),
        }
        rest = &rest[at + 3..];
    }
    out.extend_from_slice(rest);
    String::from_utf8(out)
        .map(Cow::Owned)
        .map_err(|_| FormError::NotUtf8)
}

/// Encodes a component the way RFC 6749 Appendix B asks (space as `+`).
pub fn encode_component(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for &b in value.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[(b >> 4) as usize]));
                out.push(char::from(HEX[(b & 0xf) as usize]));
            }
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_values_are_what_the_body_says_undecoded() {
        let body = b"grant_type=client%5Fcredentials&client_secret=&scope";
        assert_eq!(
            raw_value(body, "grant_type"),
            Some(&b"client%5Fcredentials"[..])
        );
        assert!(sent_empty(body, "client_secret") && sent_empty(body, "scope"));
        assert!(!sent_empty(body, "grant_type") && !sent_empty(body, "client_id"));
        assert_eq!(raw_value(body, "client_id"), None);
    }

    #[test]
    fn decodes_plus_and_percent() {
        let form = Form::parse(b"grant_type=client%5Fcredentials&scope=read+write", false).unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("read write"));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let form = Form::parse(b"&&grant_type=&foo&scope=read&", false).unwrap();
        assert_eq!(form.get("grant_type"), None);
        assert_eq!(form.get("foo"), None);
        assert_eq!(form.get("scope"), Some("read"));
    }

    #[test]
    fn repeats_are_refused_unless_allowed() {
        let err = Form::parse(b"scope=a&scope=b", false).unwrap_err();
        assert_eq!(err, FormError::Repeated("scope".into()));
        let form = Form::parse(b"scope=a&scope=b", true).unwrap();
        assert_eq!(form.get("scope"), Some("b"));
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(decode_component(b"%zz"), Err(FormError::BadPercentEscape));
        assert_eq!(decode_component(b"%4"), Err(FormError::BadPercentEscape));
        assert_eq!(decode_component(b"%FF%FE"), Err(FormError::NotUtf8));
        assert_eq!(decode_component(b"\xC3\x28"), Err(FormError::NotUtf8));
        let many: String = (0..=MAX_PARAMETERS).map(|i| format!("p{i}=1&")).collect();
        assert_eq!(
            Form::parse(many.as_bytes(), false).unwrap_err(),
            FormError::TooManyParameters
        );
    }

    #[test]
    fn encode_round_trips() {
        for s in ["s:1 %&+", "p+w/=:&ä", "plain"] {
            assert_eq!(decode_component(encode_component(s).as_bytes()).unwrap(), s);
        }
        assert_eq!(encode_component("a b"), "a+b");
    }
}
