//! A chunked response body (RFC 9112 §7.1): chunks joined, extensions and trailers read and
//! dropped, the whole bounded by `--max-body`.

use bytes::{Buf, Bytes, BytesMut};

use super::{Http1, Why, WHAT};

/// The longest chunk-size or trailer line read (a size, extensions, a trailer field).
const MAX_LINE: usize = 8 * 1024;

/// Reads a chunked body from `conn`, at most `max` bytes of data.
pub(super) async fn read(conn: &mut Http1, max: usize) -> Result<Bytes, Why> {
    let mut body = BytesMut::new();
    loop {
        let size = chunk_size(&line(conn).await?)?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            while !line(conn).await?.is_empty() {}
            return Ok(body.freeze());
        }
        if (body.len() as u64).saturating_add(size) > max as u64 {
            let over = crate::http::over_limit(WHAT, max);
            return Err(format!("{over}: more came, the rest was not read"));
        }
        let size = size as usize;
        while conn.input.len() < size + 2 {
            if !conn.fill().await? {
                return Err(closed());
            }
        }
        body.extend_from_slice(&conn.input[..size]);
        if &conn.input[size..size + 2] != b"\r\n" {
            return Err(invalid("a chunk does not end with CRLF"));
        }
        conn.input.advance(size + 2);
    }
}

/// The next line (without its CRLF), consumed from the input.
async fn line(conn: &mut Http1) -> Result<Vec<u8>, Why> {
    loop {
        if let Some(end) = conn.input.windows(2).position(|w| w == b"\r\n") {
            let line = conn.input[..end].to_vec();
            conn.input.advance(end + 2);
            return Ok(line);
        }
        if conn.input.len() > MAX_LINE {
            return Err(invalid("a chunk line is too long"));
        }
        if !conn.fill().await? {
            return Err(closed());
        }
    }
}

/// The size of a chunk-size line: hex digits, then optional `;extensions`.
fn chunk_size(line: &[u8]) -> Result<u64, Why> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    let text = std::str::from_utf8(digits)
        .map_err(|_| invalid("a chunk size is not hexadecimal"))?
        .trim_matches(|c| c == ' ' || c == '\t');
    if text.is_empty() || text.len() > 15 {
        return Err(invalid("a chunk size is not hexadecimal"));
    }
    u64::from_str_radix(text, 16).map_err(|_| invalid("a chunk size is not hexadecimal"))
}

fn invalid(what: &str) -> Why {
    format!("request failed: invalid HTTP response: {what}")
}

fn closed() -> Why {
    "request failed: connection closed before the whole body came".to_owned()
}

#[cfg(test)]
mod tests {
    use super::chunk_size;

    #[test]
    fn chunk_sizes_are_hex_with_optional_extensions() {
        assert_eq!(chunk_size(b"1a").unwrap(), 26);
        assert_eq!(chunk_size(b"0").unwrap(), 0);
        assert_eq!(chunk_size(b"A;name=value").unwrap(), 10);
        assert!(chunk_size(b"").is_err());
        assert!(chunk_size(b"zz").is_err());
        assert!(chunk_size(b"ffffffffffffffffff").is_err());
    }
}
