//! Reading the TOML files users write (cases, load profiles, grantcheck.toml) with errors
//! that name the file, line and column.

use serde::de::DeserializeOwned;

/// Parses `text`; on error, `origin:line:column: message`.
pub fn parse<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, String> {
    toml::from_str(text).map_err(|e| {
        let place = e
            .span()
            .map(|span| {
                let before = &text[..span.start.min(text.len())];
                let line = before.matches('\n').count() + 1;
                let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                format!(":{line}:{column}")
            })
            .unwrap_or_default();
        format!("{origin}{place}: {}", e.message())
    })
}
