//! `{…}` templates in case files: `{client.id}`, `{token}` (a captured value), and the
//! functions `{b64:…}` (Base64), `{form:…}` (form-urlencoding, RFC 6749 Appendix B),
//! `{upper:…}`, `{lower:…}`, `{chop:…}` (drops the last
//! character), `{repeat:N:…}`. `{{` and `}}` are literal braces.

use std::collections::HashMap;

use base64::Engine;

/// The largest text a `{repeat:…}` may produce (16 MiB).
const MAX_EXPANSION: usize = 16 << 20;

/// Values a template may name.
pub type Vars = HashMap<String, String>;

/// Expands `template` with `vars`; an unknown name or an unclosed brace is an error.
pub fn expand(template: &str, vars: &Vars) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return Err(format!("unmatched '}}' in template '{template}'"));
        }
        let end = matching_brace(tail)
            .ok_or_else(|| format!("unclosed '{{' in template '{template}'"))?;
        out.push_str(&evaluate(&tail[1..end], vars)?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Index of the `}` closing the `{` at index 0.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn evaluate(expr: &str, vars: &Vars) -> Result<String, String> {
    if let Some((function, argument)) = expr.split_once(':') {
        let function = function.trim();
        if function == "repeat" {
            let (count, text) = argument
                .split_once(':')
                .ok_or("repeat needs {repeat:N:text}")?;
            let count: usize = count
                .trim()
                .parse()
                .map_err(|_| format!("repeat count '{count}' is not a number"))?;
            let text = expand(text, vars)?;
            // Nested repeats multiply: bound the result, not only the count.
            if text.len().saturating_mul(count) > MAX_EXPANSION {
                return Err(format!("repeat would expand past {MAX_EXPANSION} bytes"));
            }
            return Ok(text.repeat(count));
        }
        let value = expand(argument, vars)?;
        return match function {
            "b64" => Ok(base64::engine::general_purpose::STANDARD.encode(value)),
            "form" => Ok(crate::form::encode(&value)),
            "upper" => Ok(value.to_uppercase()),
            "lower" => Ok(value.to_lowercase()),
            "chop" => {
                let mut v = value;
                v.pop();
                Ok(v)
            }
            other => Err(format!("unknown template function '{other}'")),
        };
    }
    vars.get(expr.trim())
        .cloned()
        .ok_or_else(|| format!("{UNKNOWN_VALUE}'{{{}}}'", expr.trim()))
}

const UNKNOWN_VALUE: &str = "unknown template value ";

/// The name an [`expand`] error says has no value, if that is what it says.
pub fn unknown_name(error: &str) -> Option<&str> {
    error
        .strip_prefix(UNKNOWN_VALUE)?
        .strip_prefix("'{")?
        .strip_suffix("}'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_names_and_functions() {
        let vars: Vars = [("client.id".to_string(), "s:1 %".to_string())].into();
        assert_eq!(
            expand("id={form:{client.id}}", &vars).unwrap(),
            "id=s%3A1+%25"
        );
        assert_eq!(
            expand("{b64:{client.id}:x}", &vars).unwrap(),
            "czoxICU6eA=="
        );
        assert_eq!(expand("{{literal}}", &vars).unwrap(), "{literal}");
        assert_eq!(expand("{repeat:3:ab}", &vars).unwrap(), "ababab");
        assert_eq!(
            unknown_name(&expand("{ nope }", &vars).unwrap_err()),
            Some("nope")
        );
        assert_eq!(unknown_name(&expand("{zip:x}", &vars).unwrap_err()), None);
        assert!(expand("{client.id", &vars).is_err());
        assert!(expand("x}", &vars).is_err());
        assert!(expand("{zip:x}", &vars).is_err());
        // Nested repeats multiply (seen while writing the template fuzz target).
        assert!(expand("{repeat:1048576:{repeat:1048576:x}}", &vars).is_err());
    }
}
