//! Maps byte offsets in the TOML text to `line:column` and to the key they belong to, and back,
//! so that every configuration error names both the key and the line.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step of a key path: a table key or an index into an array (of tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySegment {
    /// A table key.
    Key(String),
    /// An index into an array.
    Index(usize),
}

/// A dotted key path such as `integration[0].token_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPath(pub Vec<KeySegment>);

impl KeyPath {
    /// Builds a path from a dotted string of plain keys (`control.socket_path`).
    pub fn parse_dotted(dotted: &str) -> Self {
        Self(
            dotted
                .split('.')
                .map(|k| KeySegment::Key(k.to_owned()))
                .collect(),
        )
    }

    /// Returns this path extended with a key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.clone();
        p.0.push(KeySegment::Key(key.to_owned()));
        p
    }

    /// Returns this path extended with an array index.
    pub fn index(&self, index: usize) -> Self {
        let mut p = self.clone();
        p.0.push(KeySegment::Index(index));
        p
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                KeySegment::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    f.write_str(k)?;
                }
                KeySegment::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The deepest key whose key or value span contains `offset`, with that key's span.
pub fn key_at(doc: &DeTable<'_>, offset: usize) -> Option<(KeyPath, Range<usize>)> {
    let mut best = None;
    descend_table(doc, offset, &KeyPath::default(), &mut best);
    best
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || (span.is_empty() && offset == span.start))
}

fn descend_table(
    table: &DeTable<'_>,
    offset: usize,
    path: &KeyPath,
    best: &mut Option<(KeyPath, Range<usize>)>,
) {
    for (key, value) in table.iter() {
        let here = path.key(key.get_ref());
        let key_span = key.span();
        if contains(&key_span, offset) || contains(&value.span(), offset) {
            *best = Some((here.clone(), key_span));
        }
        descend_value(value.get_ref(), offset, &here, best);
    }
}

fn descend_value(
    value: &DeValue<'_>,
    offset: usize,
    path: &KeyPath,
    best: &mut Option<(KeyPath, Range<usize>)>,
) {
    match value {
        DeValue::Table(t) => descend_table(t, offset, path, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let here = path.index(i);
                if contains(&item.span(), offset) && best.as_ref().is_none_or(|(p, _)| p != &here) {
                    // Keep the key span of the array itself; the index makes the path precise.
                    let span = best.as_ref().map_or(item.span(), |(_, s)| s.clone());
                    *best = Some((here.clone(), span));
                }
                descend_value(item.get_ref(), offset, &here, best);
            }
        }
        _ => {}
    }
}

/// The span of the key at `path` (or of the array element for a trailing index).
pub fn span_of(doc: &DeTable<'_>, path: &KeyPath) -> Option<Range<usize>> {
    let mut table = doc;
    let mut current: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut span = None;
    for seg in &path.0 {
        match seg {
            KeySegment::Key(k) => {
                if let Some(v) = current {
                    table = v.get_ref().as_table()?;
                }
                let (key, value) = table.get_key_value(k.as_str())?;
                span = Some(key.span());
                current = Some(value);
            }
            KeySegment::Index(i) => {
                let array = current?.get_ref().as_array()?;
                let item = array.get(*i)?;
                // Prefer the element's own span once we descend further; keep it as a fallback.
                span = Some(item.span());
                current = Some(item);
            }
        }
    }
    span
}
