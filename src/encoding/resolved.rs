//! [`Resolved`]: an event with its time fixed and its names resolved, as
//! one JSON object (`Serialize`) and as one human-readable line (`Display`).

use std::fmt;
use std::time::Duration;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::FieldValue;
use crate::pipeline::{NameId, NamesView};
use crate::{Event, Timestamp};

/// The keys every JSON Lines object starts with. A field with one of these
/// names is written as `field.<name>`, so it can never hide the envelope.
pub(crate) const RESERVED_KEYS: [&str; 7] =
    ["ts", "run", "trace_id", "span_id", "event", "severity", "message"];

/// The key a field is written under: its own, or `field.<key>` if reserved.
pub(crate) fn field_key(key: &str) -> FieldKey<'_> {
    // By length first: most keys are rejected by one compare.
    let reserved = match key.len() {
        2 => key == "ts",
        3 => key == "run",
        5 => key == "event",
        7 => key == "span_id" || key == "message",
        8 => key == "trace_id" || key == "severity",
        _ => false,
    };
    debug_assert_eq!(reserved, RESERVED_KEYS.contains(&key));
    if reserved {
        FieldKey::Prefixed(key)
    } else {
        FieldKey::Plain(key)
    }
}

/// A field's key as written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FieldKey<'a> {
    Plain(&'a str),
    /// A reserved name, written `field.<name>`.
    Prefixed(&'a str),
}

impl fmt::Display for FieldKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldKey::Plain(key) => f.write_str(key),
            FieldKey::Prefixed(key) => write!(f, "field.{key}"),
        }
    }
}

impl Serialize for FieldKey<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            FieldKey::Plain(key) => serializer.serialize_str(key),
            FieldKey::Prefixed(_) => serializer.collect_str(self),
        }
    }
}

/// An event with its time fixed (its own, or the time its batch was taken
/// from the ring) and its interned names resolved: `Serialize` as one flat
/// JSON object, `Display` as one compact line. Every built-in exporter
/// encodes through it or through the same rules.
///
/// The JSON object (one JSON Lines line):
///
/// | key | value |
/// |---|---|
/// | `ts` | nanoseconds since the Unix epoch |
/// | `run`, `trace_id`, `span_id` | the [`Correlation`](super::Correlation) ids the event has (ids as lowercase hex) |
/// | `event` | [`Event::name`] |
/// | `severity` | `TRACE` … `FATAL` |
/// | `message` | [`Event::message`], if any |
/// | then each field | integers exact (`u64` and `i64` over their whole range), floats (`null` when not finite), bools, strings, names resolved (`"#index"` when unknown), durations as `*_ns` integers, nested values as JSON |
///
/// A field named like an envelope key is written `field.<name>`.
///
/// The line: `<secs>.<millis> <SEVERITY> [run=<id> ]<event>[: <message>] key=value…`,
/// text (names, strings, nested JSON) written bare when unambiguous and
/// quoted with Rust escapes otherwise, the message bare unless it holds a
/// `=`, a quote, a backslash or a control character, so nothing can split
/// the line or forge a `key=value` pair; floats in their shortest
/// exact form (`2.5`, `1e300`); durations as durations (`duration=3ms`, the
/// `_ns` dropped).
///
/// # Examples
/// ```
/// use ringtel::encoding::{serde_fields, FieldVisitor, Resolved, Severity};
/// use ringtel::{Event, Granularity, Timestamp};
///
/// #[derive(serde::Serialize)]
/// struct Tick { symbol: &'static str, price: f64 }
/// impl Event for Tick {
///     fn granularity(&self) -> Granularity { Granularity::Rows }
///     fn severity(&self) -> Severity { Severity::Warn }
///     fn fields(&self, out: &mut dyn FieldVisitor) { serde_fields(self, out) }
/// }
///
/// let tick = Tick { symbol: "A B", price: 2.5 };
/// let resolved = Resolved::new(&tick, None, Timestamp::from_nanos(1_500_000_000));
/// assert_eq!(
///     serde_json::to_string(&resolved)?,
///     r#"{"ts":1500000000,"event":"Tick","severity":"WARN","symbol":"A B","price":2.5}"#,
/// );
/// assert_eq!(resolved.to_string(), r#"1.500 WARN Tick symbol="A B" price=2.5"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub struct Resolved<'a, E: ?Sized> {
    event: &'a E,
    names: Option<&'a NamesView<'a>>,
    taken_at: Timestamp,
}

impl<E: ?Sized> Clone for Resolved<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E: ?Sized> Copy for Resolved<'_, E> {}

impl<E: ?Sized> fmt::Debug for Resolved<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolved").field("taken_at", &self.taken_at).finish_non_exhaustive()
    }
}

impl<'a, E: Event + ?Sized> Resolved<'a, E> {
    /// `event`, with names resolved through `names` (if given) and stamped
    /// with `taken_at` unless it carries its own time.
    pub fn new(event: &'a E, names: Option<&'a NamesView<'a>>, taken_at: Timestamp) -> Self {
        Resolved { event, names, taken_at }
    }

    /// The event's own time, or the time its batch was taken.
    pub fn time(&self) -> Timestamp {
        self.event.timestamp().unwrap_or(self.taken_at)
    }

    /// The event.
    pub fn event(&self) -> &'a E {
        self.event
    }

    /// `value` with a [`FieldValue::Name`] resolved.
    #[cfg(feature = "otlp")]
    pub(crate) fn text(&self, value: FieldValue<'a>) -> Text<'a> {
        resolve(self.names, value)
    }

    /// Writes ` key=value` for each field, as the line does.
    pub(crate) fn write_fields(&self, out: &mut impl fmt::Write) -> fmt::Result {
        let mut result = Ok(());
        self.for_each(|key, value| {
            if result.is_ok() {
                let shown = match value {
                    Text::Value(FieldValue::Nanos(_)) => key.strip_suffix("_ns").unwrap_or(key),
                    _ => key,
                };
                result = write!(out, " {}={value}", LineText(shown));
            }
        });
        result
    }

    /// Calls `field` for each field with names resolved.
    pub(crate) fn for_each(&self, mut field: impl FnMut(&str, Text<'_>)) {
        let names = self.names;
        self.event.fields(&mut |key: &str, value: FieldValue<'_>| field(key, resolve(names, value)));
    }
}

/// A field value with names resolved: what the encoders write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Text<'a> {
    /// Every value but a name.
    Value(FieldValue<'a>),
    /// A name the registry knows.
    Name(&'a str),
    /// A name it does not know (or no registry): written `#index`.
    UnknownName(NameId),
}

pub(crate) fn resolve<'a>(names: Option<&'a NamesView<'a>>, value: FieldValue<'a>) -> Text<'a> {
    match value {
        FieldValue::Name(id) => match names.and_then(|n| n.resolve(id)) {
            Some(name) => Text::Name(name),
            None => Text::UnknownName(id),
        },
        other => Text::Value(other),
    }
}

/// A field value as JSON: numbers exact (a float that is not finite is
/// `null`), names resolved, nested JSON written as it is (re-encoded
/// compactly if it holds a line break, so a JSON Lines line never splits).
impl Serialize for Text<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Text::Value(FieldValue::U64(n) | FieldValue::Nanos(n)) => serializer.serialize_u64(n),
            Text::Value(FieldValue::I64(n)) => serializer.serialize_i64(n),
            Text::Value(FieldValue::F64(x)) => serializer.serialize_f64(x),
            Text::Value(FieldValue::Bool(b)) => serializer.serialize_bool(b),
            Text::Value(FieldValue::Str(s)) | Text::Name(s) => serializer.serialize_str(s),
            Text::Value(FieldValue::Json(raw)) if raw.contains(['\n', '\r']) => {
                match serde_json::from_str::<serde_json::Value>(raw) {
                    Ok(value) => value.serialize(serializer),
                    Err(_) => serializer.serialize_str(raw),
                }
            }
            Text::Value(FieldValue::Json(raw)) => {
                match serde_json::from_str::<&serde_json::value::RawValue>(raw) {
                    Ok(raw) => raw.serialize(serializer),
                    // Not valid JSON after all: keep it, as text.
                    Err(_) => serializer.serialize_str(raw),
                }
            }
            Text::Value(FieldValue::Name(id)) | Text::UnknownName(id) => serializer.collect_str(&id),
        }
    }
}

/// Whether `text` can be written unquoted in a `key=value` line.
pub(crate) fn is_bare(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with('#')
        && text.chars().all(|c| !c.is_whitespace() && !c.is_control() && !matches!(c, '"' | '\\' | '='))
}

/// Text bare when unambiguous, else quoted with Rust escapes.
pub(crate) struct LineText<'a>(pub(crate) &'a str);

impl fmt::Display for LineText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_bare(self.0) {
            f.write_str(self.0)
        } else {
            write!(f, "{:?}", self.0)
        }
    }
}

impl fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Text::Value(FieldValue::U64(n)) => write!(f, "{n}"),
            Text::Value(FieldValue::I64(n)) => write!(f, "{n}"),
            Text::Value(FieldValue::F64(x)) => write!(f, "{x:?}"),
            Text::Value(FieldValue::Bool(b)) => write!(f, "{b}"),
            Text::Value(FieldValue::Nanos(n)) => write!(f, "{:?}", Duration::from_nanos(n)),
            Text::Value(FieldValue::Str(s)) | Text::Name(s) => LineText(s).fmt(f),
            // Quoting keeps line breaks, `=` and spaces inside the JSON
            // from splitting the line or forging pairs.
            Text::Value(FieldValue::Json(raw)) => LineText(raw).fmt(f),
            Text::Value(FieldValue::Name(id)) | Text::UnknownName(id) => fmt::Display::fmt(&id, f),
        }
    }
}

impl<E: Event + ?Sized> Serialize for Resolved<'_, E> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("ts", &self.time().as_nanos())?;
        let ids = self.event.correlation();
        if let Some(run) = ids.run {
            map.serialize_entry("run", &run)?;
        }
        if let Some(trace) = ids.trace_id {
            map.serialize_entry("trace_id", &format_args!("{trace}"))?;
        }
        if let Some(span) = ids.span_id {
            map.serialize_entry("span_id", &format_args!("{span}"))?;
        }
        map.serialize_entry("event", self.event.name())?;
        map.serialize_entry("severity", self.event.severity().as_str())?;
        if let Some(message) = self.event.message() {
            map.serialize_entry("message", message)?;
        }
        let mut entries = JsonEntries { map, names: self.names, result: Ok(()) };
        self.event.fields(&mut entries);
        entries.result?;
        entries.map.end()
    }
}

/// Writes each field as one JSON object entry: names resolved, reserved
/// keys prefixed; the first error stops the rest.
struct JsonEntries<'n, M: SerializeMap> {
    map: M,
    names: Option<&'n NamesView<'n>>,
    result: Result<(), <M as SerializeMap>::Error>,
}

impl<M: SerializeMap> super::FieldVisitor for JsonEntries<'_, M> {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        if self.result.is_ok() {
            self.result = self.map.serialize_entry(&field_key(key), &resolve(self.names, value));
        }
    }
}

impl<E: Event + ?Sized> fmt::Display for Resolved<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.time().as_nanos();
        write!(
            f,
            "{}.{:03} {} ",
            nanos / 1_000_000_000,
            nanos % 1_000_000_000 / 1_000_000,
            self.event.severity()
        )?;
        if let Some(run) = self.event.correlation().run {
            write!(f, "run={run} ")?;
        }
        LineText(self.event.name()).fmt(f)?;
        if let Some(message) = self.event.message() {
            // Bare when it cannot be mistaken (spaces are fine: it reads
            // like `fmt`'s output); quoted when it holds a `=`, a quote, a
            // backslash or a control character, so it can neither split the
            // line nor pass for a `key=value` pair.
            if message.is_empty()
                || message.contains(|c: char| c.is_control() || matches!(c, '"' | '\\' | '='))
            {
                write!(f, ": {message:?}")?;
            } else {
                write!(f, ": {message}")?;
            }
        }
        self.write_fields(f)
    }
}
