//! Any event → OTLP protobuf messages (the `opentelemetry-proto` prost
//! types), following the [encoding contract](crate::encoding): one log
//! record per event, and one span per event whose shape is a span.
//!
//! Requests are reused across batches: log records, spans, attributes and
//! their strings are overwritten in place, and what a smaller batch or a
//! shorter event does not use goes to spare pools that later batches take
//! from, so steady state allocates nothing per event whatever the mix of
//! batch sizes and event shapes (nested JSON values allocate).
//!
//! Attribute keys are `event`, `run` (if any) and the event's fields, under
//! their JSON Lines keys (see [`Resolved`]); the envelope's `ts`, `severity`,
//! `message`, `trace_id` and `span_id` go to the log record's own fields. A
//! unit test holds the two in step.

use std::fmt::{self, Write as _};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans, ScopeSpans, Span, Status};

use crate::encoding::resolved::{field_key, Text};
use crate::encoding::{FieldValue, Resolved, Shape, SpanKind, SpanStatus};
use crate::pipeline::trace::run_trace_id;
use crate::pipeline::NamesView;
use crate::{Event, Timestamp};

pub use crate::pipeline::{run_span_id, trace_id};

/// W3C trace flags: sampled. Every record ringtel exports was recorded.
const TRACE_FLAGS_SAMPLED: u32 = 0x01;

/// An OTLP string attribute.
pub(super) fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.to_owned())) }),
        ..Default::default()
    }
}

/// Overwrites `dst` with `value`'s text, reusing its allocation.
fn set_text(dst: &mut String, value: impl fmt::Display) {
    dst.clear();
    // Writing into a String cannot fail.
    let _ = write!(dst, "{value}");
}

fn set_bytes(dst: &mut Vec<u8>, bytes: &[u8]) {
    dst.clear();
    dst.extend_from_slice(bytes);
}

/// What reused requests do not use right now, kept for later batches.
#[derive(Debug, Clone, Default)]
struct Spares {
    records: Vec<LogRecord>,
    spans: Vec<Span>,
    attributes: Vec<KeyValue>,
    strings: Vec<String>,
}

impl Spares {
    /// Sets `slot` to a string value with `value`'s text, reusing the string
    /// it holds, or a spare one.
    fn set_string(&mut self, slot: &mut Option<any_value::Value>, value: impl fmt::Display) {
        match slot {
            Some(any_value::Value::StringValue(s)) => set_text(s, value),
            _ => {
                let mut s = self.strings.pop().unwrap_or_default();
                set_text(&mut s, value);
                *slot = Some(any_value::Value::StringValue(s));
            }
        }
    }

    /// Sets `slot` to a value that is not a string, keeping the string it
    /// held (if any) for later.
    fn set_other(&mut self, slot: &mut Option<any_value::Value>, value: any_value::Value) {
        if let Some(any_value::Value::StringValue(s)) = slot.replace(value) {
            self.strings.push(s);
        }
    }

    /// An unsigned integer: an OTLP integer (signed) when it fits, else its
    /// exact decimal string: clamping would silently change the value.
    fn set_unsigned(&mut self, slot: &mut Option<any_value::Value>, n: u64) {
        match i64::try_from(n) {
            Ok(n) => self.set_other(slot, any_value::Value::IntValue(n)),
            Err(_) => self.set_string(slot, n),
        }
    }

    /// Writes one field value into `slot`, with its type kept.
    fn set_value(&mut self, slot: &mut Option<any_value::Value>, value: Text<'_>) {
        match value {
            Text::Value(FieldValue::U64(n) | FieldValue::Nanos(n)) => self.set_unsigned(slot, n),
            Text::Value(FieldValue::I64(n)) => self.set_other(slot, any_value::Value::IntValue(n)),
            Text::Value(FieldValue::F64(x)) => self.set_other(slot, any_value::Value::DoubleValue(x)),
            Text::Value(FieldValue::Bool(b)) => self.set_other(slot, any_value::Value::BoolValue(b)),
            Text::Value(FieldValue::Str(s)) | Text::Name(s) => self.set_string(slot, s),
            Text::Value(FieldValue::Name(id)) | Text::UnknownName(id) => self.set_string(slot, id),
            // A bare integer (a 128-bit one outside the 64-bit range, say)
            // stays exact as its decimal string.
            Text::Value(FieldValue::Json(raw)) if is_integer(raw) => match raw.parse::<i64>() {
                Ok(n) => self.set_other(slot, any_value::Value::IntValue(n)),
                Err(_) => self.set_string(slot, raw),
            },
            Text::Value(FieldValue::Json(raw)) => match serde_json::from_str::<serde_json::Value>(raw) {
                Ok(json) => match json_value(&json) {
                    Some(value) => self.set_other(slot, value),
                    None => {
                        if let Some(any_value::Value::StringValue(s)) = slot.take() {
                            self.strings.push(s);
                        }
                    }
                },
                Err(_) => self.set_string(slot, raw),
            },
        }
    }
}

/// Whether `raw` is a JSON integer: an optional minus and digits only.
fn is_integer(raw: &str) -> bool {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Makes `items` exactly `len` long: surplus items go to `spare`, missing
/// ones come from it (or are new).
fn fit<T: Default>(items: &mut Vec<T>, len: usize, spare: &mut Vec<T>) {
    if items.len() > len {
        spare.extend(items.drain(len..));
    }
    while items.len() < len {
        items.push(spare.pop().unwrap_or_default());
    }
}

/// A JSON value as an OTLP value: objects as key-value lists, arrays as
/// arrays, numbers as integers where exact (`u64` above `i64::MAX` as its
/// decimal string), `null` as an empty value.
fn json_value(json: &serde_json::Value) -> Option<any_value::Value> {
    use serde_json::Value as J;
    Some(match json {
        J::Null => return None,
        J::Bool(b) => any_value::Value::BoolValue(*b),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => any_value::Value::IntValue(i),
            (None, Some(u), _) => any_value::Value::StringValue(u.to_string()),
            (None, None, Some(x)) => any_value::Value::DoubleValue(x),
            _ => any_value::Value::StringValue(n.to_string()),
        },
        J::String(s) => any_value::Value::StringValue(s.clone()),
        J::Array(items) => any_value::Value::ArrayValue(ArrayValue {
            values: items.iter().map(|v| AnyValue { value: json_value(v) }).collect(),
        }),
        J::Object(map) => any_value::Value::KvlistValue(KeyValueList {
            values: map
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(AnyValue { value: json_value(v) }),
                    ..Default::default()
                })
                .collect(),
        }),
    })
}

/// Overwrites a list of attributes in place, one slot after another.
struct Attributes<'v> {
    attrs: &'v mut Vec<KeyValue>,
    spares: &'v mut Spares,
    used: usize,
}

impl<'v> Attributes<'v> {
    fn new(attrs: &'v mut Vec<KeyValue>, spares: &'v mut Spares) -> Self {
        Attributes { attrs, spares, used: 0 }
    }

    fn push(&mut self, key: impl fmt::Display, value: Text<'_>) {
        if self.used == self.attrs.len() {
            self.attrs.push(self.spares.attributes.pop().unwrap_or_default());
        }
        let kv = &mut self.attrs[self.used];
        self.used += 1;
        set_text(&mut kv.key, key);
        self.spares.set_value(&mut kv.value.get_or_insert_with(AnyValue::default).value, value);
    }

    /// Keeps the slots this event did not use for later.
    fn finish(self) {
        self.spares.attributes.extend(self.attrs.drain(self.used..));
    }
}

/// The event's attributes: `event` (its name), `run` (if it has one), then
/// its fields under their JSON Lines keys, types kept.
fn write_attributes<E: Event + ?Sized>(
    resolved: &Resolved<'_, E>,
    attrs: &mut Vec<KeyValue>,
    spares: &mut Spares,
) {
    let event = resolved.event();
    let mut out = Attributes::new(attrs, spares);
    out.push("event", Text::Value(FieldValue::Str(event.name())));
    if let Some(run) = event.correlation().run {
        out.push("run", Text::Value(FieldValue::U64(run)));
    }
    resolved.for_each(|key, value| out.push(field_key(key), value));
    out.finish();
}

/// The trace id of an event: its own, or derived from its run; an all-zero
/// id (invalid in W3C trace context) counts as none.
fn event_trace_id<E: Event + ?Sized>(event: &E) -> Option<[u8; 16]> {
    let ids = event.correlation();
    let own = ids.trace_id.filter(|t| t.0 != [0; 16]);
    own.or_else(|| ids.run.map(run_trace_id)).map(|t| t.0)
}

/// The span id a log record carries: the event's own, or its span's; an
/// all-zero id counts as none.
fn event_span_id<E: Event + ?Sized>(event: &E) -> Option<[u8; 8]> {
    let own = event.correlation().span_id.filter(|s| s.0 != [0; 8]);
    own.or(match event.shape() {
        Shape::Span(span) => Some(span.id),
        Shape::Log => None,
    })
    .map(|s| s.0)
}

/// The trace id of a span with no trace of its own and no run: `ringtel\0`
/// and its span id, so it is valid and stands as a trace of its own.
fn lone_trace_id(span: [u8; 8]) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(b"ringtel\0");
    id[8..].copy_from_slice(&span);
    id
}

/// A span's display name: `<name>` or `<name> <detail>`.
struct SpanName<'a>(&'a str, Option<Text<'a>>);

impl fmt::Display for SpanName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)?;
        match &self.1 {
            Some(Text::Value(FieldValue::Str(s)) | Text::Name(s)) => write!(f, " {s}"),
            Some(other) => write!(f, " {other}"),
            None => Ok(()),
        }
    }
}

/// A status message as plain text.
struct StatusText<'a>(Text<'a>);

impl fmt::Display for StatusText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Text::Value(FieldValue::Str(s)) | Text::Name(s) => f.write_str(s),
            other => other.fmt(f),
        }
    }
}

fn span_kind(kind: SpanKind) -> i32 {
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind as Otlp;
    (match kind {
        SpanKind::Internal => Otlp::Internal,
        SpanKind::Server => Otlp::Server,
        SpanKind::Client => Otlp::Client,
        SpanKind::Producer => Otlp::Producer,
        SpanKind::Consumer => Otlp::Consumer,
    }) as i32
}

/// Reused requests, and the parts of every request that do not depend on
/// the batch (the resource and the instrumentation scope).
#[derive(Debug, Clone)]
pub(super) struct Encoder {
    logs: ExportLogsServiceRequest,
    traces: ExportTraceServiceRequest,
    spares: Spares,
}

impl Encoder {
    /// An encoder whose requests carry `resource_attributes`.
    pub(super) fn new(resource_attributes: Vec<KeyValue>) -> Encoder {
        let resource = Resource { attributes: resource_attributes, ..Default::default() };
        let scope = InstrumentationScope {
            name: "ringtel".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ..Default::default()
        };
        Encoder {
            logs: ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(resource.clone()),
                    scope_logs: vec![ScopeLogs { scope: Some(scope.clone()), ..Default::default() }],
                    ..Default::default()
                }],
            },
            traces: ExportTraceServiceRequest {
                resource_spans: vec![ResourceSpans {
                    resource: Some(resource),
                    scope_spans: vec![ScopeSpans { scope: Some(scope), ..Default::default() }],
                    ..Default::default()
                }],
            },
            spares: Spares::default(),
        }
    }

    /// The logs request as last encoded.
    pub(super) fn logs_request(&self) -> &ExportLogsServiceRequest {
        &self.logs
    }

    /// The traces request as last encoded.
    pub(super) fn traces_request(&self) -> &ExportTraceServiceRequest {
        &self.traces
    }

    /// One log record per event, in batch order, in the reused request;
    /// events without a time of their own get `taken_at`; `observed_ns` is
    /// when the exporter saw them (nanoseconds since the Unix epoch).
    pub(super) fn logs<E: Event>(
        &mut self,
        batch: &[E],
        names: Option<&NamesView<'_>>,
        taken_at: Timestamp,
        observed_ns: u64,
    ) -> &ExportLogsServiceRequest {
        let records = &mut self.logs.resource_logs[0].scope_logs[0].log_records;
        let spares = &mut self.spares;
        fit(records, batch.len(), &mut spares.records);
        for (record, event) in records.iter_mut().zip(batch) {
            let resolved = Resolved::new(event, names, taken_at);
            let severity = event.severity();
            record.time_unix_nano = resolved.time().as_nanos();
            record.observed_time_unix_nano = observed_ns;
            record.severity_number = severity.number();
            set_text(&mut record.severity_text, severity);
            let body = &mut record.body.get_or_insert_with(AnyValue::default).value;
            match event.message() {
                Some(message) => spares.set_string(body, message),
                None => spares.set_string(body, resolved),
            }
            write_attributes(&resolved, &mut record.attributes, spares);
            record.flags = TRACE_FLAGS_SAMPLED;
            set_bytes(&mut record.trace_id, event_trace_id(event).as_ref().map_or(&[][..], |t| &t[..]));
            set_bytes(&mut record.span_id, event_span_id(event).as_ref().map_or(&[][..], |s| &s[..]));
            set_text(&mut record.event_name, event.name());
        }
        &self.logs
    }

    /// One span per event whose shape is a span, in the reused request; or
    /// `None` if the batch has none.
    pub(super) fn traces<E: Event>(
        &mut self,
        batch: &[E],
        names: Option<&NamesView<'_>>,
        taken_at: Timestamp,
    ) -> Option<&ExportTraceServiceRequest> {
        let spans = &mut self.traces.resource_spans[0].scope_spans[0].spans;
        let spares = &mut self.spares;
        let mut used = 0;
        for event in batch {
            let Shape::Span(record) = event.shape() else { continue };
            if used == spans.len() {
                spans.push(spares.spans.pop().unwrap_or_default());
            }
            let span = &mut spans[used];
            used += 1;
            let resolved = Resolved::new(event, names, taken_at);
            let end = resolved.time().as_nanos();
            let trace = event_trace_id(event).unwrap_or_else(|| lone_trace_id(record.id.0));
            set_bytes(&mut span.trace_id, &trace);
            set_bytes(&mut span.span_id, &record.id.0);
            set_bytes(&mut span.parent_span_id, record.parent.as_ref().map_or(&[][..], |p| &p.0[..]));
            span.flags = TRACE_FLAGS_SAMPLED;
            set_text(&mut span.name, SpanName(record.name, record.detail.map(|d| resolved.text(d))));
            span.kind = span_kind(record.kind);
            span.start_time_unix_nano = end.saturating_sub(record.duration_ns);
            span.end_time_unix_nano = end;
            write_attributes(&resolved, &mut span.attributes, spares);
            let status = span.status.get_or_insert_with(Status::default);
            match record.status {
                SpanStatus::Unset => {
                    status.code = StatusCode::Unset as i32;
                    status.message.clear();
                }
                SpanStatus::Ok => {
                    status.code = StatusCode::Ok as i32;
                    status.message.clear();
                }
                SpanStatus::Error(message) => {
                    status.code = StatusCode::Error as i32;
                    set_text(&mut status.message, StatusText(resolved.text(message)));
                }
            }
        }
        spares.spans.extend(spans.drain(used..));
        if used == 0 {
            None
        } else {
            Some(&self.traces)
        }
    }
}

#[cfg(test)]
mod tests;
