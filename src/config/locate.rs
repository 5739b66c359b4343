//! Where in a TOML or JSON document a key is: for errors that name the
//! line and column.

use std::fmt;

/// A place in a configuration document: 1-based line and column (the
/// column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    /// The line, from 1.
    pub line: usize,
    /// The column, from 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` of `text`.
    pub(super) fn at(text: &str, offset: usize) -> Location {
        let offset = floor_char_boundary(text, offset);
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Location { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
    }

    /// The byte offset of this location in `text` (clamped to its end).
    pub(super) fn offset_in(self, text: &str) -> usize {
        let line_start: usize =
            text.split_inclusive('\n').take(self.line.saturating_sub(1)).map(str::len).sum();
        let line = &text[line_start.min(text.len())..];
        let column: usize = line.chars().take(self.column.saturating_sub(1)).map(char::len_utf8).sum();
        (line_start + column).min(text.len())
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// The dotted key path (`breaker.cooldown`) whose key or value holds byte
/// `offset` of a TOML document, if the document parses.
pub(super) fn toml_key_at(text: &str, offset: usize) -> Option<String> {
    fn walk(table: &dyn toml_edit::TableLike, offset: usize, path: &mut Vec<String>) -> bool {
        let holds = |span: Option<std::ops::Range<usize>>| {
            span.is_some_and(|s| s.start <= offset && offset < s.end.max(s.start + 1))
        };
        for (name, _) in table.iter() {
            let Some((key, item)) = table.get_key_value(name) else { continue };
            path.push(name.to_owned());
            let inner = item.as_table_like().is_some_and(|inner| walk(inner, offset, path));
            if inner || holds(key.span()) || holds(item.span()) {
                return true;
            }
            path.pop();
        }
        false
    }
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut path = Vec::new();
    walk(document.as_table(), offset, &mut path).then(|| path.join("."))
}

/// Where the key of a dotted field path (`breaker.cooldown`) is in a TOML
/// document.
pub(super) fn toml_key_location(text: &str, field: &str) -> Option<Location> {
    let document = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = document.as_table();
    let mut parts = field.split('.').peekable();
    while let Some(part) = parts.next() {
        let (key, item) = table.get_key_value(part)?;
        if parts.peek().is_none() {
            return key.span().map(|span| Location::at(text, span.start));
        }
        table = item.as_table_like()?;
    }
    None
}

/// Key paths in JSON text, by a scan that knows strings, objects and arrays
/// (the text is known to be JSON, or was up to where it failed to parse).
pub(super) mod json {
    enum Frame {
        Object { expect_key: bool, key: Option<String> },
        Array,
    }

    /// Scans `text`, calling `on_key(path, key_offset)` for every object key;
    /// stops at byte `stop` (or the end) and returns the keys open there.
    fn scan(text: &str, stop: usize, mut on_key: impl FnMut(&[Frame], usize) -> bool) -> Vec<String> {
        let bytes = text.as_bytes();
        let mut stack: Vec<Frame> = Vec::new();
        let mut i = 0;
        while i < bytes.len() && i < stop {
            match bytes[i] {
                b'{' => stack.push(Frame::Object { expect_key: true, key: None }),
                b'[' => stack.push(Frame::Array),
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => {
                    if let Some(Frame::Object { expect_key, key }) = stack.last_mut() {
                        *expect_key = true;
                        *key = None;
                    }
                }
                b'"' => {
                    let start = i;
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                    let end = i.min(bytes.len());
                    if let Some(Frame::Object { expect_key: expect_key @ true, key }) = stack.last_mut() {
                        *key = Some(text.get(start + 1..end).unwrap_or_default().to_owned());
                        *expect_key = false;
                        if on_key(&stack, start) {
                            break;
                        }
                    }
                }
                _ => {}
            }
            i += 1;
        }
        keys(&stack)
    }

    fn keys(stack: &[Frame]) -> Vec<String> {
        stack
            .iter()
            .filter_map(|frame| match frame {
                Frame::Object { key, .. } => key.clone(),
                Frame::Array => None,
            })
            .collect()
    }

    /// The keys whose values hold byte `offset`, outermost first.
    pub(in crate::config) fn path_at(text: &str, offset: usize) -> Vec<String> {
        scan(text, offset, |_, _| false)
    }

    /// The byte offset of the first key with the dotted path `field`.
    pub(in crate::config) fn key_offset(text: &str, field: &str) -> Option<usize> {
        let mut found = None;
        scan(text, usize::MAX, |stack, offset| {
            if keys(stack).join(".") == field {
                found = Some(offset);
            }
            found.is_some()
        });
        found
    }
}
