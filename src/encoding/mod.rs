//! The encoding contract: what every built-in exporter reads from an event,
//! whatever its type.
//!
//! An [`Event`](crate::Event) describes itself through defaulted methods:
//!
//! | method | default | used for |
//! |---|---|---|
//! | [`name`](crate::Event::name) | the type's name (`Tick` for `my_crate::Tick`) | JSONL `event`, OTLP `event_name`, the console line |
//! | [`timestamp`](crate::Event::timestamp) | `None`: ringtel stamps the event when the consumer takes its batch from the ring | JSONL `ts`, OTLP time, span end |
//! | [`severity`](crate::Event::severity) | [`Severity::Info`] | JSONL `severity`, OTLP severity number and text |
//! | [`correlation`](crate::Event::correlation) | none | JSONL `run` / `trace_id` / `span_id`, OTLP trace and span ids |
//! | [`message`](crate::Event::message) | `None` | JSONL `message`, OTLP body (the console line when `None`) |
//! | [`shape`](crate::Event::shape) | [`Shape::Log`] | OTLP: a [`Shape::Span`] event is also sent as a span |
//! | [`fields`](crate::Event::fields) | no fields | every exporter's typed fields |
//!
//! Fields are visited, not collected: [`Event::fields`](crate::Event::fields)
//! calls a [`FieldVisitor`] once per field with a typed [`FieldValue`], and each
//! exporter writes it straight into its own reused buffer (JSON text, OTLP
//! attributes, Redis arguments). Nothing is boxed, cloned or collected per
//! event, and integers stay exact: a `u64` above `i64::MAX` is a JSON integer,
//! and in OTLP (whose integers are signed) its exact decimal string.
//!
//! # A user's own event in three lines: `serde`
//! Derive `Serialize` and hand the event to [`serde_fields`]: each field of
//! the struct becomes one field, with its type kept (unsigned, signed, float,
//! bool, string); nested values (a `Vec`, a map, a nested struct, an enum
//! variant with data) become [`FieldValue::Json`] where the format allows
//! nesting. This is the recommended way: one line, no macro crate, and the
//! walk is monomorphised for the type (no `dyn` dispatch per value inside
//! serde), so it costs about what a hand-written visitor costs.
//!
//! ```
//! use ringtel::encoding::{serde_fields, FieldValue, FieldVisitor};
//! use ringtel::{Event, Granularity};
//!
//! #[derive(serde::Serialize)]
//! struct Tick { symbol: &'static str, price: f64, seq: u64 }
//!
//! impl Event for Tick {
//!     fn granularity(&self) -> Granularity { Granularity::Rows }
//!     fn fields(&self, out: &mut dyn FieldVisitor) { serde_fields(self, out) }
//! }
//!
//! let mut seen = Vec::new();
//! Tick { symbol: "ABC", price: 1.5, seq: 7 }
//!     .fields(&mut |key: &str, value: FieldValue<'_>| seen.push(format!("{key}={value:?}")));
//! assert_eq!(seen, ["symbol=Str(\"ABC\")", "price=F64(1.5)", "seq=U64(7)"]);
//! assert_eq!(Tick { symbol: "", price: 0.0, seq: 0 }.name(), "Tick");
//! ```
//!
//! # By hand
//! Implement [`fields`](crate::Event::fields) with one call per field when an
//! event holds interned names ([`FieldValue::Name`], resolved by each
//! exporter through the [`Names`](crate::Names) registry it was given) or
//! needs a layout serde does not give. [`PipelineEvent`](crate::PipelineEvent)
//! is implemented this way.
//!
//! # Time
//! An event that returns `None` from `timestamp` is stamped with the time the
//! consumer took its batch from the ring (one clock read per batch, by the
//! telemetry's clock), and every event of a batch gets the same stamp. That
//! costs the hot path nothing, and costs precision: the stamp is later than
//! the emit by the time the event waited in the ring. On a quiet ring that is
//! at most the consumer's idle wait (`consumer_idle_max`, 5 ms by default);
//! under load it is the queueing delay, which includes waiting while the
//! previous batch exports. An event that needs its emit time carries its own
//! `Timestamp`, read at the call site (for instance from a
//! [`SystemClock`](crate::SystemClock): a vDSO `clock_gettime`, no system
//! call).
//!
//! # Where the formats differ
//! - JSON Lines and Redis write a float that is not finite as `null`; OTLP
//!   keeps it as a double (NaN, ±inf), which protobuf can carry.
//! - Redis `Fields` stores strings as their bare text, so the string `"42"`
//!   and the number `42` read back alike there; JSON Lines and OTLP keep the
//!   difference (use the Redis `Json` encoding where it matters).
//! - OTLP integers are signed: a `u64` above `i64::MAX` (and a 128-bit
//!   integer outside the 64-bit range) is sent as its exact decimal string.

#[cfg(not(loom))]
pub(crate) mod resolved;
mod serde_fields;

use std::fmt;

#[cfg(not(loom))]
pub(crate) use resolved::LineText;
#[cfg(not(loom))]
pub use resolved::Resolved;
pub use serde_fields::serde_fields;

/// How severe an event is: the OpenTelemetry log severities.
///
/// # Examples
/// ```
/// use ringtel::encoding::Severity;
/// assert_eq!(Severity::Warn.number(), 13);
/// assert_eq!(Severity::Warn.as_str(), "WARN");
/// assert!(Severity::Error > Severity::Info);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Severity {
    /// Fine-grained detail.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal operation (the default).
    #[default]
    Info,
    /// Something unexpected that the program handled.
    Warn,
    /// A failure.
    Error,
    /// A failure the program cannot continue after.
    Fatal,
}

impl Severity {
    /// The OpenTelemetry `SeverityNumber` (the first of its range: `TRACE` 1,
    /// `DEBUG` 5, `INFO` 9, `WARN` 13, `ERROR` 17, `FATAL` 21).
    pub fn number(self) -> i32 {
        match self {
            Severity::Trace => 1,
            Severity::Debug => 5,
            Severity::Info => 9,
            Severity::Warn => 13,
            Severity::Error => 17,
            Severity::Fatal => 21,
        }
    }

    /// The OpenTelemetry severity text: `TRACE`, `DEBUG`, `INFO`, `WARN`,
    /// `ERROR`, `FATAL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A W3C / OpenTelemetry trace id: 16 bytes, never all zeros when valid.
///
/// # Examples
/// ```
/// use ringtel::encoding::TraceId;
/// assert_eq!(TraceId([0xab; 16]).to_string(), "abababababababababababababababab");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId(pub [u8; 16]);

/// A W3C / OpenTelemetry span id: 8 bytes, never all zeros when valid.
///
/// # Examples
/// ```
/// use ringtel::encoding::SpanId;
/// assert_eq!(SpanId([0, 0, 0, 0, 0, 0, 0, 42]).to_string(), "000000000000002a");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpanId(pub [u8; 8]);

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

/// The ids that tie an event to others: its run, its trace, its span. Each is
/// absent unless the event sets it.
///
/// The OTLP exporter derives a trace id from `run` when `trace_id` is absent
/// (see `exporters::otlp::trace_id`), so every event of a run lands in one
/// trace; a span's own id is the log record's span id when `span_id` is
/// absent.
///
/// # Examples
/// ```
/// use ringtel::encoding::{Correlation, SpanId};
/// let ids = Correlation { run: Some(7), span_id: Some(SpanId([1; 8])), ..Correlation::NONE };
/// assert_eq!(ids.trace_id, None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Correlation {
    /// The run (job, request, batch) the event belongs to.
    pub run: Option<u64>,
    /// The trace it belongs to.
    pub trace_id: Option<TraceId>,
    /// The span it belongs to (or is).
    pub span_id: Option<SpanId>,
}

impl Correlation {
    /// No ids at all.
    pub const NONE: Correlation = Correlation { run: None, trace_id: None, span_id: None };
}

/// One typed field value, borrowed from the event for the length of one
/// [`FieldVisitor::field`] call.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FieldValue<'a> {
    /// An unsigned integer, exact over its whole range.
    U64(u64),
    /// A signed integer, exact over its whole range.
    I64(i64),
    /// A float; NaN and infinities are JSON `null`.
    F64(f64),
    /// A boolean.
    Bool(bool),
    /// Text.
    Str(&'a str),
    /// A name interned in a [`Names`](crate::Names) registry, resolved by the
    /// exporter through the registry it was given (or written `#index` when
    /// it has none, or the registry did not issue it).
    #[cfg(not(loom))]
    Name(crate::pipeline::NameId),
    /// A duration in nanoseconds: an integer in JSON and OTLP, a duration on
    /// the console (`1.5ms`), where a key ending in `_ns` loses that suffix.
    Nanos(u64),
    /// A nested value (array or object) as compact JSON text: JSON Lines and
    /// Redis write it as is, OTLP as an array or key-value list.
    Json(&'a str),
}

/// Receives an event's fields, one call per field, in the event's order.
///
/// Closures `FnMut(&str, FieldValue<'_>)` are visitors.
pub trait FieldVisitor {
    /// One field.
    fn field(&mut self, key: &str, value: FieldValue<'_>);
}

impl<F: FnMut(&str, FieldValue<'_>)> FieldVisitor for F {
    fn field(&mut self, key: &str, value: FieldValue<'_>) {
        self(key, value)
    }
}

/// What an event is, beyond a log record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape<'a> {
    /// A log record only.
    Log,
    /// A log record that also describes a finished span: the OTLP exporter
    /// sends it as a span too, ending at the event's time.
    Span(SpanRecord<'a>),
}

/// A finished span, as an event describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanRecord<'a> {
    /// The span's name, or the first word of it (`"transform"`).
    pub name: &'a str,
    /// A second word of the name, when there is one (`Name(node)`, giving
    /// `"transform enrich"`).
    pub detail: Option<FieldValue<'a>>,
    /// What the span stands for.
    pub kind: SpanKind,
    /// How long it ran; it started this long before the event's time.
    pub duration_ns: u64,
    /// How it ended.
    pub status: SpanStatus<'a>,
    /// Its id.
    pub id: SpanId,
    /// Its parent's id; `None` for a root span.
    pub parent: Option<SpanId>,
}

/// What a span stands for: the OpenTelemetry span kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// Work inside the program.
    Internal,
    /// Handling a request from outside.
    Server,
    /// A call to something outside (HTTP, a database, a model provider).
    Client,
    /// Handing a message on.
    Producer,
    /// Taking a message in.
    Consumer,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpanStatus<'a> {
    /// Not set: the instrumentation's way of saying "nothing went wrong".
    Unset,
    /// Explicitly successful.
    Ok,
    /// Failed, with a description.
    Error(FieldValue<'a>),
}

/// The last path segment of `T`'s name, without generics: `Tick` for
/// `my_crate::events::Tick<u8>`. The default [`Event::name`](crate::Event::name).
pub(crate) fn short_type_name<T: ?Sized>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        struct Plain;
        struct Generic<T>(T);
        assert_eq!(short_type_name::<Plain>(), "Plain");
        assert_eq!(short_type_name::<Generic<Vec<u8>>>(), "Generic");
        assert_eq!(short_type_name::<u64>(), "u64");
    }
}
