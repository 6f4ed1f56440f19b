//! Limits on text that users and shops hand us: names, codes, ids and notes stay on one line,
//! within a length (codes as Shoptet allows them), so they cannot forge log lines or bloat records.

use super::{DomainError, required_text};

/// Longest product (variant) code: Shoptet's limit (shoptet-api.md §3).
pub const MAX_CODE_CHARS: usize = 64;
/// Longest picking session id, transport box id or order code given by a client.
pub const MAX_ID_CHARS: usize = 64;
/// Longest note, reason or resolution text.
pub const MAX_NOTE_CHARS: usize = 4000;

/// Trims `value`; refuses it when empty, longer than `max_chars`, or holding any control
/// character (a newline included: such text lands in log lines and line-based ctl output).
pub fn single_line(
    field: &'static str,
    value: &str,
    max_chars: usize,
) -> Result<String, DomainError> {
    if value.chars().any(char::is_control) {
        return Err(DomainError::InvalidArgument {
            field,
            reason: "must be one line without control characters".into(),
        });
    }
    let text = required_text(field, value)?;
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(DomainError::InvalidArgument {
            field,
            reason: format!("is {chars} characters; at most {max_chars} are allowed"),
        });
    }
    Ok(text)
}

/// A product (variant) code as Shoptet accepts it: at most [`MAX_CODE_CHARS`] characters of
/// `A-Z a-z 0-9 _ / space . -`.
pub fn product_code(field: &'static str, value: &str) -> Result<String, DomainError> {
    let code = single_line(field, value, MAX_CODE_CHARS)?;
    if let Some(bad) = code.chars().find(|c| !is_code_char(*c)) {
        return Err(DomainError::InvalidArgument {
            field,
            reason: format!(
                "contains {bad:?}; Shoptet codes use only letters A-Z, digits, space and _ / . -"
            ),
        });
    }
    Ok(code)
}

/// Whether Shoptet allows `c` in a variant code.
pub fn is_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | ' ' | '.' | '-')
}

/// A note, reason or resolution: line breaks allowed, other control characters not, at most
/// [`MAX_NOTE_CHARS`] characters.
pub fn note(field: &'static str, value: &str) -> Result<String, DomainError> {
    let text = required_text(field, value)?;
    let chars = text.chars().count();
    if chars > MAX_NOTE_CHARS {
        return Err(DomainError::InvalidArgument {
            field,
            reason: format!("is {chars} characters; at most {MAX_NOTE_CHARS} are allowed"),
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_shoptet_and_nothing_multi_line_passes() {
        assert_eq!(product_code("code", " TRI-042/M ").unwrap(), "TRI-042/M");
        assert!(product_code("code", "A\nB").is_err());
        assert!(product_code("code", "A\u{1b}[31m").is_err());
        assert!(product_code("code", "ŽLUŤ").is_err());
        assert!(product_code("code", &"X".repeat(MAX_CODE_CHARS)).is_ok());
        assert!(product_code("code", &"X".repeat(MAX_CODE_CHARS + 1)).is_err());
        assert!(product_code("code", &"X".repeat(500_000)).is_err());
        assert!(single_line("name", "shop\nFORGED", 100).is_err());
        assert!(single_line("name", "Obchod Žluťoučký", 100).is_ok());
        assert!(note("note", "two\nlines").is_ok());
        assert!(note("note", &"n".repeat(900_000)).is_err());
        assert!(note("note", "bell\u{7}").is_err());
    }
}
