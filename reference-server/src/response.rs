//! What a decision answers: a [`Reply`] (status, the few headers this server sets, body),
//! OAuth error bodies (RFC 6749 §5.2) and cache headers. No HTTP library types: the server
//! module turns a `Reply` into a hyper response.

use bytes::Bytes;
use serde::Serialize;

/// An HTTP status code, as the decisions use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status(pub u16);

impl Status {
    pub const OK: Status = Status(200);
    pub const BAD_REQUEST: Status = Status(400);
    pub const UNAUTHORIZED: Status = Status(401);
    pub const FORBIDDEN: Status = Status(403);
    pub const NOT_FOUND: Status = Status(404);
    pub const METHOD_NOT_ALLOWED: Status = Status(405);
    pub const REQUEST_TIMEOUT: Status = Status(408);
    pub const PAYLOAD_TOO_LARGE: Status = Status(413);
    pub const TOO_MANY_REQUESTS: Status = Status(429);
    pub const REQUEST_HEADER_FIELDS_TOO_LARGE: Status = Status(431);
    pub const SERVICE_UNAVAILABLE: Status = Status(503);
}

pub const JSON: &str = "application/json";
pub const NO_STORE: &str = "no-store";
/// The legal variant `cache-control-private`.
pub const NO_STORE_PRIVATE: &str = "no-store, private";

/// A response. The server writes the headers that are set in this order: `Content-Type`,
/// `Allow`, `Cache-Control`, `Pragma`, `Retry-After`, `WWW-Authenticate`, `DPoP-Nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: Status,
    pub content_type: Option<&'static str>,
    /// `Allow`, with 405.
    pub allow: Option<&'static str>,
    pub cache_control: Option<&'static str>,
    /// `Pragma: no-cache`.
    pub pragma_no_cache: bool,
    /// `Retry-After` seconds.
    pub retry_after: Option<u64>,
    /// Left out of the response if it is not a valid header value.
    pub www_authenticate: Option<String>,
    /// `DPoP-Nonce` (RFC 9449 §8), likewise.
    pub dpop_nonce: Option<String>,
    pub body: Bytes,
}

impl Reply {
    /// An empty response with the given status and no headers.
    pub fn empty(status: Status) -> Reply {
        Reply {
            status,
            content_type: None,
            allow: None,
            cache_control: None,
            pragma_no_cache: false,
            retry_after: None,
            www_authenticate: None,
            dpop_nonce: None,
            body: Bytes::new(),
        }
    }

    /// A JSON response with the given status.
    pub fn json<T: Serialize + ?Sized>(status: Status, body: &T) -> Reply {
        // Room for the usual answer, so the buffer never grows while it is written.
        let mut bytes = Vec::with_capacity(256);
        serde_json::to_writer(&mut bytes, body).expect("serialising a JSON value cannot fail");
        Reply::with_body(status, JSON, Bytes::from(bytes))
    }

    /// A response with a body of the given media type.
    pub fn with_body(status: Status, content_type: &'static str, body: Bytes) -> Reply {
        Reply {
            content_type: Some(content_type),
            body,
            ..Reply::empty(status)
        }
    }

    /// Adds `Cache-Control: no-store` and, when asked, `Pragma: no-cache` (RFC 6749 §5.1).
    pub fn no_store(mut self, pragma: bool) -> Reply {
        self.cache_control = Some(NO_STORE);
        self.pragma_no_cache |= pragma;
        self
    }

    /// The body as JSON (for tests).
    #[cfg(test)]
    pub fn json_body(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Writes `text` as a JSON string, exactly as serde_json does: as it is between quotes when
/// nothing in it needs escaping (the tokens and scopes this server writes), else escaped by
/// serde_json.
pub fn write_json_str(out: &mut Vec<u8>, text: &str) {
    if !needs_escape(text.as_bytes()) {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(out, text).expect("a string serialises");
    }
}

/// Whether any byte is one serde_json escapes (below 0x20, `"`, `\\`), eight bytes at a time.
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte of `v` below `n` (n <= 0x80) sets its high bit here; none does otherwise.
    let below = |v: u64, n: u64| v.wrapping_sub(n * ONES) & !v & HIGH;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let quote = below(v ^ (u64::from(b'"') * ONES), 1);
        let backslash = below(v ^ (u64::from(b'\\') * ONES), 1);
        if below(v, 0x20) | quote | backslash != 0 {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// 404 for paths the server does not serve.
pub fn not_found() -> Reply {
    error_json(Status::NOT_FOUND, "not_found", "no such endpoint")
}

/// 405 with `Allow` (RFC 9110 §15.5.6), body in OAuth error form so clients can read it.
pub fn method_not_allowed(allow: &'static str) -> Reply {
    let reply = error_json(
        Status::METHOD_NOT_ALLOWED,
        "invalid_request",
        "method not allowed",
    );
    Reply {
        allow: Some(allow),
        ..reply.no_store(true)
    }
}

/// `{"error": …, "error_description": …}` with the given status and no other header.
pub fn error_json(status: Status, error: &str, description: &str) -> Reply {
    #[derive(Serialize)]
    struct ErrorBody<'a> {
        error: &'a str,
        error_description: &'a str,
    }
    Reply::json(
        status,
        &ErrorBody {
            error,
            error_description: description,
        },
    )
}

/// The error codes of RFC 6749 §5.2, RFC 7009 §2.2.1 that this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// Only the fault `assertion-refusal-invalid-grant` answers with it (for client
    /// authentication it is invalid_client, RFC 7523 §3.2).
    InvalidGrant,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidGrant => "invalid_grant",
        }
    }
}

/// An OAuth error answer. `description` must stay within the RFC 6749 §5.2 character set
/// (printable ASCII without `"` and `\`); it never echoes request data.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub status: Status,
    pub code: ErrorCode,
    pub description: &'static str,
    /// `WWW-Authenticate` value, required with 401.
    pub challenge: Option<String>,
    /// `Retry-After` seconds, with 429.
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// The given status and code, no challenge.
    pub fn new(status: Status, code: ErrorCode, description: &'static str) -> OAuthError {
        OAuthError {
            status,
            code,
            description,
            challenge: None,
            retry_after: None,
        }
    }

    /// 400 with the given code.
    pub fn bad_request(code: ErrorCode, description: &'static str) -> OAuthError {
        OAuthError::new(Status::BAD_REQUEST, code, description)
    }

    /// 429 with `Retry-After`: too many failed authentications for this client from here.
    pub fn too_many_failures(retry_after: u64) -> OAuthError {
        OAuthError {
            retry_after: Some(retry_after),
            ..OAuthError::new(
                Status::TOO_MANY_REQUESTS,
                ErrorCode::InvalidClient,
                "too many failed authentication attempts for this client from this address; retry later",
            )
        }
    }

    /// 401 `invalid_client` with a Basic challenge naming the realm (RFC 6749 §5.2).
    pub fn invalid_client(realm: &str, description: &'static str) -> OAuthError {
        OAuthError {
            challenge: Some(format!(
                "Basic realm=\"{realm}\", error=\"invalid_client\", error_description=\"{description}\""
            )),
            ..OAuthError::new(Status::UNAUTHORIZED, ErrorCode::InvalidClient, description)
        }
    }

    pub fn into_reply(self) -> Reply {
        let reply = error_json(self.status, self.code.as_str(), self.description);
        Reply {
            retry_after: self.retry_after,
            www_authenticate: self.challenge,
            ..reply.no_store(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_written_as_serde_writes_them() {
        let mut samples: Vec<String> = vec![String::new(), "caf\u{e9} \u{7f}".into()];
        for special in [
            '"', '\\', '\n', '\u{1f}', '\u{0}', ' ', '~', '\u{80}', '\u{ff}',
        ] {
            for at in 0..20 {
                let mut text: String = "abcdefghijklmnopqrs".into();
                text.insert(at.min(text.len()), special);
                samples.push(text);
            }
        }
        for text in samples {
            let mut out = Vec::new();
            write_json_str(&mut out, &text);
            assert_eq!(out, serde_json::to_vec(&text).unwrap(), "{text:?}");
        }
    }
}
