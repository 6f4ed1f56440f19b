//! A log writer that keeps every record on one line: control characters inside a record (a
//! newline in a product name from the shop, an escape sequence) are written escaped, so text
//! from users and shops can never forge or hide log lines.

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// Wraps a [`MakeWriter`] so that each record it writes has its control characters escaped
/// (`\n`, `\r`, `\t`, `\u{..}`), except the newline that ends the record.
#[derive(Debug, Clone)]
pub struct EscapeControls<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for EscapeControls<M> {
    type Writer = EscapingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EscapingWriter(self.0.make_writer())
    }
}

/// The writer of [`EscapeControls`]; the formatter hands it one whole record per write.
#[derive(Debug)]
pub struct EscapingWriter<W>(W);

impl<W: Write> Write for EscapingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (body, end) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, &b"\n"[..]),
            None => (buf, &b""[..]),
        };
        let text = String::from_utf8_lossy(body);
        if !text.chars().any(char::is_control) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut escaped = String::with_capacity(text.len() + 16);
        for c in text.chars() {
            match c {
                '\n' => escaped.push_str("\\n"),
                '\r' => escaped.push_str("\\r"),
                '\t' => escaped.push_str("\\t"),
                c if c.is_control() => escaped.push_str(&c.escape_unicode().to_string()),
                c => escaped.push(c),
            }
        }
        let mut bytes = escaped.into_bytes();
        bytes.extend_from_slice(end);
        self.0.write_all(&bytes)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_stays_on_one_line() {
        let mut out = EscapingWriter(Vec::new());
        out.write_all(b"INFO code=A\nERROR forged \x1b[2Jline\n")
            .unwrap();
        out.write_all(b"INFO plain\n").unwrap();
        let text = String::from_utf8(out.0).unwrap();
        assert_eq!(
            text,
            "INFO code=A\\nERROR forged \\u{1b}[2Jline\nINFO plain\n"
        );
    }
}
