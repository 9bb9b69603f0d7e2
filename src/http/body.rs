//! The one reader of response bodies in `conform`: at most a bound of bytes, within a time,
//! whatever the target sends. A `Content-Length` over the bound is refused unread; an endless
//! or chunked body stops at the bound, so a target costs at most that much memory.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::describe_error;

/// The largest body any request of a conformance run reads (`Settings::max_body_bytes`,
/// discovery's metadata): 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Reads `what` (e.g. "the response body") from `response`: at most `max_bytes`, and all of
/// it by `started + timeout`. The errors name the limit that was hit.
pub async fn read_body(
    response: &mut reqwest::Response,
    what: &str,
    max_bytes: usize,
    started: Instant,
    timeout: Duration,
) -> Result<Bytes, String> {
    if let Some(length) = response.content_length().filter(|&n| n > max_bytes as u64) {
        return Err(format!(
            "{}: its Content-Length is {length}, not read",
            over_limit(what, max_bytes)
        ));
    }
    let mut body = BytesMut::new();
    loop {
        let remaining = timeout.saturating_sub(started.elapsed());
        let chunk = tokio::time::timeout(remaining, response.chunk())
            .await
            .map_err(|_| {
                format!(
                    "{what} did not arrive within {}",
                    seconds(timeout.as_secs_f64())
                )
            })?
            .map_err(|e| describe_error(&e))?;
        let Some(chunk) = chunk else { break };
        if body.len().saturating_add(chunk.len()) > max_bytes {
            return Err(format!(
                "{}: more came, the rest was not read",
                over_limit(what, max_bytes)
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// "the response body exceeds the 1 MiB limit (1048576 bytes)".
pub fn over_limit(what: &str, max_bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    let size = match max_bytes {
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n => return format!("{what} exceeds the limit of {n} bytes"),
    };
    format!("{what} exceeds the {size} limit ({max_bytes} bytes)")
}

fn seconds(secs: f64) -> String {
    if secs.fract() == 0.0 {
        format!("{secs:.0} s")
    } else {
        format!("{secs:.1} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_named_in_units_a_reader_knows() {
        assert_eq!(
            over_limit("the response body", MAX_BODY_BYTES),
            "the response body exceeds the 1 MiB limit (1048576 bytes)"
        );
        assert_eq!(
            over_limit("the metadata", 64 * 1024),
            "the metadata exceeds the 64 KiB limit (65536 bytes)"
        );
        assert_eq!(over_limit("x", 100), "x exceeds the limit of 100 bytes");
        assert_eq!(seconds(1.0), "1 s");
        assert_eq!(seconds(1.5), "1.5 s");
    }
}
