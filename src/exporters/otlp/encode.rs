//! `PipelineEvent` → OTLP protobuf messages (the `opentelemetry-proto` prost
//! types): one log record per event, and one span per event that has a
//! duration.
//!
//! Attribute keys are the JSON Lines field names (see
//! [`Resolved`](crate::pipeline::Resolved)) without `ts`, which becomes the
//! record's time; a unit test holds the two in step.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::{status::StatusCode, ResourceSpans, ScopeSpans, Span, Status};

use crate::pipeline::{
    CallStatus, CallVolume, EventKind, GateDecision, NameId, NamesView, PipelineEvent, RunId, RunStatus,
    TokenOutcome, TransformOutcome,
};

/// The first eight bytes of every trace id: ASCII `ringtel` and a zero byte,
/// so a derived trace id is never all zeros (invalid in W3C trace context)
/// and is recognisable in a tracing backend.
const TRACE_ID_PREFIX: [u8; 8] = *b"ringtel\0";

/// W3C trace flags: sampled. Every record ringtel exports was recorded.
const TRACE_FLAGS_SAMPLED: u32 = 0x01;

/// The OTLP trace id of a run: `ringtel\0` followed by the run id as eight
/// big-endian bytes. Every log record and span of the run carries it, so a
/// backend groups a run's telemetry into one trace.
///
/// # Examples
/// ```
/// use ringtel::exporters::otlp::trace_id;
/// use ringtel::pipeline::RunId;
///
/// let id = trace_id(RunId::new(42));
/// let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
/// assert_eq!(hex, "72696e6774656c00000000000000002a");
/// ```
pub fn trace_id(run: RunId) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&TRACE_ID_PREFIX);
    id[8..].copy_from_slice(&run.get().to_be_bytes());
    id
}

/// The span id of a run's root span (the span of its `RunFinished` event,
/// and the parent of every other span of the run): derived from the run id
/// alone, so spans exported before the run ends already point at it.
///
/// # Examples
/// ```
/// use ringtel::exporters::otlp::run_span_id;
/// use ringtel::pipeline::RunId;
///
/// assert_eq!(run_span_id(RunId::new(7)), run_span_id(RunId::new(7)));
/// assert_ne!(run_span_id(RunId::new(7)), run_span_id(RunId::new(8)));
/// assert_ne!(run_span_id(RunId::new(0)), [0; 8]);
/// ```
pub fn run_span_id(run: RunId) -> [u8; 8] {
    span_id_from(mix(mix(RUN_SPAN_SALT) ^ run.get()))
}

/// Separates the hash of a run's root span from those of its child spans.
const RUN_SPAN_SALT: u64 = u64::from_be_bytes(*b"run_span");

/// The splitmix64 finaliser (Steele, Lea & Flood, "Fast splittable
/// pseudorandom number generators", OOPSLA 2014): a bijection on `u64` that
/// spreads every input bit over the output, so nearby ids give unrelated
/// span ids.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A span id from a hash; an all-zero span id is invalid, so zero maps to 1.
fn span_id_from(hash: u64) -> [u8; 8] {
    hash.max(1).to_be_bytes()
}

/// What a duration-carrying event becomes as a span.
struct SpanShape {
    name: String,
    kind: SpanKind,
    duration_ns: u64,
    status: Status,
    /// `None` for the run's root span.
    parent: Option<[u8; 8]>,
    span_id: [u8; 8],
}

/// The span id of a child span: a hash of what identifies the event within
/// its run (kind, end time, duration, token, node or provider), so exporting
/// the same event twice gives the same id and distinct events get distinct
/// ids (up to 64-bit hash collisions).
fn child_span_id(event: &PipelineEvent, token: u64, name: NameId, duration_ns: u64) -> [u8; 8] {
    let mut h = mix(event.kind().tag().index() as u64);
    for part in [event.run().get(), event.at().as_nanos(), duration_ns, token, name.index() as u64] {
        h = mix(h ^ part);
    }
    span_id_from(h)
}

fn status(code: StatusCode, message: impl Into<String>) -> Status {
    Status { code: code as i32, message: message.into() }
}

fn unset() -> Status {
    status(StatusCode::Unset, String::new())
}

/// The span of `event`, if it has a duration.
///
/// Success leaves the status `Unset`, as the OpenTelemetry specification
/// asks of instrumentation; a failure sets `Error` with the outcome (and the
/// error kind, for a transform) as the message.
fn span_shape(event: &PipelineEvent, names: &NamesView<'_>) -> Option<SpanShape> {
    let parent = Some(run_span_id(event.run()));
    match *event.kind() {
        EventKind::TransformCompleted { token, node, duration_ns, outcome, .. } => Some(SpanShape {
            name: format!("transform {}", resolve(names, node)),
            kind: SpanKind::Internal,
            duration_ns,
            status: match outcome {
                TransformOutcome::Succeeded => unset(),
                TransformOutcome::Failed { error } => status(StatusCode::Error, resolve(names, error)),
            },
            parent,
            span_id: child_span_id(event, token.get(), node, duration_ns),
        }),
        EventKind::ExternalCallCompleted {
            token, call, provider, duration_ns, status: call_status, ..
        } => Some(SpanShape {
            name: format!("{} {}", call.as_str(), resolve(names, provider)),
            kind: SpanKind::Client,
            duration_ns,
            status: match call_status {
                CallStatus::Ok => unset(),
                CallStatus::Failed | CallStatus::TimedOut => status(StatusCode::Error, call_status.as_str()),
            },
            parent,
            span_id: child_span_id(event, token.get(), provider, duration_ns),
        }),
        EventKind::RunFinished { status: run_status, duration_ns, .. } => Some(SpanShape {
            name: "run".to_owned(),
            kind: SpanKind::Internal,
            duration_ns,
            status: match run_status {
                RunStatus::Completed => unset(),
                RunStatus::Failed | RunStatus::Interrupted => status(StatusCode::Error, run_status.as_str()),
            },
            parent: None,
            span_id: run_span_id(event.run()),
        }),
        EventKind::RunStarted { .. }
        | EventKind::PhaseChanged { .. }
        | EventKind::RowCreated { .. }
        | EventKind::GateEvaluated { .. }
        | EventKind::TokenCompleted { .. }
        | EventKind::Progress { .. } => None,
    }
}

/// The log severity of an event: `Error` for a failed transform, call or
/// run; `Warn` for an interrupted run and a failed or quarantined token;
/// `Info` otherwise.
fn severity(event: &PipelineEvent) -> SeverityNumber {
    match *event.kind() {
        EventKind::TransformCompleted { outcome: TransformOutcome::Failed { .. }, .. }
        | EventKind::RunFinished { status: RunStatus::Failed, .. }
        | EventKind::ExternalCallCompleted { status: CallStatus::Failed | CallStatus::TimedOut, .. } => {
            SeverityNumber::Error
        }
        EventKind::RunFinished { status: RunStatus::Interrupted, .. }
        | EventKind::TokenCompleted { outcome: TokenOutcome::Failed | TokenOutcome::Quarantined, .. } => {
            SeverityNumber::Warn
        }
        _ => SeverityNumber::Info,
    }
}

fn severity_text(severity: SeverityNumber) -> &'static str {
    match severity {
        SeverityNumber::Error => "ERROR",
        SeverityNumber::Warn => "WARN",
        _ => "INFO",
    }
}

/// A name resolved through `names`, or `#index` for one it did not issue
/// (as the JSON Lines exporter writes it).
fn resolve(names: &NamesView<'_>, id: NameId) -> String {
    match names.resolve(id) {
        Some(name) => name.to_owned(),
        None => id.to_string(),
    }
}

fn string_value(value: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(value.into())) }
}

fn key_value(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

/// An OTLP string attribute.
pub(super) fn string_attribute(key: &str, value: &str) -> KeyValue {
    key_value(key, any_value::Value::StringValue(value.to_owned()))
}

/// The event's attributes: `event` (the snake_case kind), `run`, then the
/// kind's fields under their JSON Lines names. Integers above `i64::MAX`
/// (OTLP integers are signed) are sent as their exact decimal string.
pub(super) fn attributes(event: &PipelineEvent, names: &NamesView<'_>) -> Vec<KeyValue> {
    // OTLP integers are i64; a larger u64 (an id, say) is sent as its exact
    // decimal string: clamping would silently change the value.
    let int = |n: u64| match i64::try_from(n) {
        Ok(n) => any_value::Value::IntValue(n),
        Err(_) => any_value::Value::StringValue(n.to_string()),
    };
    let text = |s: &str| any_value::Value::StringValue(s.to_owned());
    let name = |id: NameId| any_value::Value::StringValue(resolve(names, id));
    let mut out = Vec::with_capacity(10);
    let mut field = |key: &str, value: any_value::Value| out.push(key_value(key, value));
    field("event", text(event.name()));
    field("run", int(event.run().get()));
    match *event.kind() {
        EventKind::RunStarted { pipeline } => field("pipeline", name(pipeline)),
        EventKind::RunFinished { status, rows, duration_ns } => {
            field("status", text(status.as_str()));
            field("rows", int(rows));
            field("duration_ns", int(duration_ns));
        }
        EventKind::PhaseChanged { phase } => field("phase", text(phase.as_str())),
        EventKind::RowCreated { row, token } => {
            field("row", int(row.get()));
            field("token", int(token.get()));
        }
        EventKind::TransformCompleted { row, token, node, plugin, duration_ns, outcome } => {
            field("row", int(row.get()));
            field("token", int(token.get()));
            field("node", name(node));
            field("plugin", name(plugin));
            field("duration_ns", int(duration_ns));
            field("outcome", text(outcome.as_str()));
            if let TransformOutcome::Failed { error } = outcome {
                field("error", name(error));
            }
        }
        EventKind::GateEvaluated { row, token, gate, decision } => {
            field("row", int(row.get()));
            field("token", int(token.get()));
            field("gate", name(gate));
            field("decision", text(decision.as_str()));
            match decision {
                GateDecision::Route { route } => field("route", name(route)),
                GateDecision::Fork { branches } => field("branches", int(u64::from(branches))),
                GateDecision::Continue | GateDecision::Discard => {}
            }
        }
        EventKind::TokenCompleted { row, token, outcome, sink } => {
            field("row", int(row.get()));
            field("token", int(token.get()));
            field("outcome", text(outcome.as_str()));
            if let Some(sink) = sink {
                field("sink", name(sink));
            }
        }
        EventKind::Progress { counts, rows_per_second } => {
            field("processed", int(counts.processed));
            field("succeeded", int(counts.succeeded));
            field("failed", int(counts.failed));
            field("quarantined", int(counts.quarantined));
            field("rows_per_second", any_value::Value::DoubleValue(rows_per_second));
        }
        EventKind::ExternalCallCompleted { token, call, provider, duration_ns, status, volume } => {
            field("token", int(token.get()));
            field("call", text(call.as_str()));
            field("provider", name(provider));
            field("duration_ns", int(duration_ns));
            field("status", text(status.as_str()));
            match volume {
                CallVolume::None => {}
                CallVolume::Tokens { prompt, completion } => {
                    field("prompt_tokens", int(u64::from(prompt)));
                    field("completion_tokens", int(u64::from(completion)));
                }
                CallVolume::Bytes { sent, received } => {
                    field("bytes_sent", int(u64::from(sent)));
                    field("bytes_received", int(u64::from(received)));
                }
            }
        }
    }
    out
}

/// The parts of every request that do not depend on the batch: the resource
/// and the instrumentation scope. Built once, cloned into each request.
#[derive(Debug, Clone)]
pub(super) struct Encoder {
    resource: Resource,
    scope: InstrumentationScope,
}

impl Encoder {
    /// An encoder whose requests carry `resource_attributes`.
    pub(super) fn new(resource_attributes: Vec<KeyValue>) -> Encoder {
        Encoder {
            resource: Resource { attributes: resource_attributes, ..Default::default() },
            scope: InstrumentationScope {
                name: "ringtel".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
                ..Default::default()
            },
        }
    }

    /// One log record per event, in batch order; `observed_ns` is when the
    /// exporter saw them (nanoseconds since the Unix epoch).
    pub(super) fn logs(
        &self,
        batch: &[PipelineEvent],
        names: &NamesView<'_>,
        observed_ns: u64,
    ) -> ExportLogsServiceRequest {
        let log_records = batch
            .iter()
            .map(|event| {
                let severity = severity(event);
                let span_id = span_shape(event, names).map(|s| s.span_id.to_vec()).unwrap_or_default();
                LogRecord {
                    time_unix_nano: event.at().as_nanos(),
                    observed_time_unix_nano: observed_ns,
                    severity_number: severity as i32,
                    severity_text: severity_text(severity).to_owned(),
                    body: Some(string_value(event.resolved(names).to_string())),
                    attributes: attributes(event, names),
                    flags: TRACE_FLAGS_SAMPLED,
                    trace_id: trace_id(event.run()).to_vec(),
                    span_id,
                    event_name: format!("ringtel.{}", event.name()),
                    ..Default::default()
                }
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(self.scope.clone()),
                    log_records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    /// One span per event with a duration (`TransformCompleted`,
    /// `ExternalCallCompleted`, and `RunFinished` as the run's root span), or
    /// `None` if the batch has none.
    pub(super) fn traces(
        &self,
        batch: &[PipelineEvent],
        names: &NamesView<'_>,
    ) -> Option<ExportTraceServiceRequest> {
        let spans: Vec<Span> = batch
            .iter()
            .filter_map(|event| {
                let shape = span_shape(event, names)?;
                let end = event.at().as_nanos();
                Some(Span {
                    trace_id: trace_id(event.run()).to_vec(),
                    span_id: shape.span_id.to_vec(),
                    parent_span_id: shape.parent.map(|p| p.to_vec()).unwrap_or_default(),
                    flags: TRACE_FLAGS_SAMPLED,
                    name: shape.name,
                    kind: shape.kind as i32,
                    start_time_unix_nano: end.saturating_sub(shape.duration_ns),
                    end_time_unix_nano: end,
                    attributes: attributes(event, names),
                    status: Some(shape.status),
                    ..Default::default()
                })
            })
            .collect();
        if spans.is_empty() {
            return None;
        }
        Some(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(self.resource.clone()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(self.scope.clone()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::pipeline::{
        CallKind, Names, Phase, RowCounts, RowId, RunContext, TokenId, TokenOutcome, TransformOutcome,
    };
    use crate::{ManualClock, Timestamp};

    /// One event of every kind and every variant that changes the fields.
    fn every_kind(names: &Names, clock: &ManualClock) -> Vec<PipelineEvent> {
        let run = RunContext::new(RunId::new(42), clock);
        let (row, token) = (RowId::new(3), TokenId::new(4));
        let (node, plugin) = (names.intern("enrich"), names.intern("llm"));
        let failed = TransformOutcome::Failed { error: names.intern("rate_limited") };
        let ms = Duration::from_millis;
        vec![
            PipelineEvent::run_started(run, names.intern("demo")),
            PipelineEvent::phase_changed(run, Phase::Process),
            PipelineEvent::row_created(run, row, token),
            PipelineEvent::transform_completed(
                run,
                row,
                token,
                node,
                plugin,
                ms(3),
                TransformOutcome::Succeeded,
            ),
            PipelineEvent::transform_completed(run, row, token, node, plugin, ms(4), failed),
            PipelineEvent::gate_evaluated(run, row, token, names.intern("g"), GateDecision::Continue),
            PipelineEvent::gate_evaluated(
                run,
                row,
                token,
                names.intern("g"),
                GateDecision::Route { route: names.intern("r") },
            ),
            PipelineEvent::gate_evaluated(
                run,
                row,
                token,
                names.intern("g"),
                GateDecision::Fork { branches: 2 },
            ),
            PipelineEvent::gate_evaluated(run, row, token, names.intern("g"), GateDecision::Discard),
            PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(names.intern("s"))),
            PipelineEvent::token_completed(run, row, token, TokenOutcome::Quarantined, None),
            PipelineEvent::progress(
                run,
                RowCounts { processed: 5, succeeded: 4, failed: 1, quarantined: 0 },
                2.5,
            ),
            PipelineEvent::external_call_completed(
                run,
                token,
                CallKind::Llm,
                names.intern("openai"),
                ms(850),
                CallStatus::Ok,
                CallVolume::Tokens { prompt: 120, completion: 40 },
            ),
            PipelineEvent::external_call_completed(
                run,
                token,
                CallKind::Http,
                names.intern("api"),
                ms(20),
                CallStatus::TimedOut,
                CallVolume::bytes(10, 20),
            ),
            PipelineEvent::external_call_completed(
                run,
                token,
                CallKind::Sql,
                names.intern("db"),
                ms(1),
                CallStatus::Failed,
                CallVolume::None,
            ),
            PipelineEvent::run_finished(run, RunStatus::Failed, 5, Duration::from_secs(2)),
        ]
    }

    fn as_json(value: &AnyValue) -> serde_json::Value {
        match value.value.as_ref().expect("a value") {
            any_value::Value::StringValue(s) => serde_json::Value::from(s.as_str()),
            any_value::Value::IntValue(n) => serde_json::Value::from(*n),
            any_value::Value::DoubleValue(x) => serde_json::Value::from(*x),
            other => panic!("unexpected attribute value {other:?}"),
        }
    }

    #[test]
    fn attributes_match_the_json_lines_fields_for_every_kind() {
        let names = Names::new();
        let clock = ManualClock::new(Timestamp::from_nanos(1_000));
        let events = every_kind(&names, &clock);
        let covered: std::collections::BTreeSet<_> = events.iter().map(|e| e.kind().tag()).collect();
        assert_eq!(covered.len(), crate::pipeline::EventTag::COUNT, "every kind is covered");
        let view = names.read();
        for event in &events {
            let serde_json::Value::Object(mut json) = serde_json::to_value(event.resolved(&view)).unwrap()
            else {
                panic!("an object")
            };
            json.remove("ts");
            let attrs = attributes(event, &view);
            let keys: Vec<&str> = attrs.iter().map(|kv| kv.key.as_str()).collect();
            let json_keys: Vec<&str> = json.keys().map(String::as_str).collect();
            let mut sorted = keys.clone();
            sorted.sort_unstable();
            let mut json_sorted = json_keys.clone();
            json_sorted.sort_unstable();
            assert_eq!(sorted, json_sorted, "{}", event.name());
            let ours: BTreeMap<&str, serde_json::Value> =
                attrs.iter().map(|kv| (kv.key.as_str(), as_json(kv.value.as_ref().unwrap()))).collect();
            for (key, value) in &json {
                assert_eq!(&ours[key.as_str()], value, "{} {key}", event.name());
            }
        }
    }

    #[test]
    fn every_event_is_a_log_record_with_the_run_trace_id() {
        let names = Names::new();
        let clock = ManualClock::new(Timestamp::from_nanos(5_000_000_000));
        let events = every_kind(&names, &clock);
        let encoder = Encoder::new(vec![string_attribute("service.name", "svc")]);
        let request = encoder.logs(&events, &names.read(), 9);
        let resource_logs = &request.resource_logs[0];
        assert_eq!(resource_logs.resource.as_ref().unwrap().attributes[0].key, "service.name");
        let scope = &resource_logs.scope_logs[0];
        assert_eq!(scope.scope.as_ref().unwrap().name, "ringtel");
        assert_eq!(scope.log_records.len(), events.len());
        for (record, event) in scope.log_records.iter().zip(&events) {
            assert_eq!(record.time_unix_nano, 5_000_000_000);
            assert_eq!(record.observed_time_unix_nano, 9);
            assert_eq!(record.trace_id, trace_id(RunId::new(42)));
            assert_eq!(record.event_name, format!("ringtel.{}", event.name()));
            let body = as_json(record.body.as_ref().unwrap());
            assert_eq!(body, event.resolved(&names.read()).to_string().as_str());
            let has_span = matches!(
                event.kind(),
                EventKind::TransformCompleted { .. }
                    | EventKind::ExternalCallCompleted { .. }
                    | EventKind::RunFinished { .. }
            );
            assert_eq!(record.span_id.len(), if has_span { 8 } else { 0 }, "{}", event.name());
        }
        let severities: Vec<&str> = scope.log_records.iter().map(|r| r.severity_text.as_str()).collect();
        assert_eq!(
            severities,
            [
                "INFO", "INFO", "INFO", "INFO", "ERROR", "INFO", "INFO", "INFO", "INFO", "INFO", "WARN",
                "INFO", "INFO", "ERROR", "ERROR", "ERROR"
            ]
        );
    }

    #[test]
    fn events_with_durations_become_spans_under_the_run_span() {
        let names = Names::new();
        let clock = ManualClock::new(Timestamp::from_nanos(5_000_000_000));
        let events = every_kind(&names, &clock);
        let encoder = Encoder::new(Vec::new());
        let request = encoder.traces(&events, &names.read()).expect("spans");
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        let summary: Vec<(&str, i32, i32, &str)> = spans
            .iter()
            .map(|s| {
                let status = s.status.as_ref().unwrap();
                (s.name.as_str(), s.kind, status.code, status.message.as_str())
            })
            .collect();
        let (unset, error) = (StatusCode::Unset as i32, StatusCode::Error as i32);
        let (internal, client) = (SpanKind::Internal as i32, SpanKind::Client as i32);
        assert_eq!(
            summary,
            [
                ("transform enrich", internal, unset, ""),
                ("transform enrich", internal, error, "rate_limited"),
                ("llm openai", client, unset, ""),
                ("http api", client, error, "timed_out"),
                ("sql db", client, error, "failed"),
                ("run", internal, error, "failed"),
            ]
        );
        let root = run_span_id(RunId::new(42));
        for span in spans {
            assert_eq!(span.trace_id, trace_id(RunId::new(42)));
            assert_eq!(span.end_time_unix_nano, 5_000_000_000);
            assert!(span.start_time_unix_nano < span.end_time_unix_nano);
            if span.name == "run" {
                assert_eq!(span.span_id, root);
                assert!(span.parent_span_id.is_empty());
                assert_eq!(span.start_time_unix_nano, 3_000_000_000);
            } else {
                assert_eq!(span.parent_span_id, root);
            }
        }
        let mut ids: Vec<&[u8]> = spans.iter().map(|s| s.span_id.as_slice()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), spans.len(), "span ids are distinct");
        // The same event gives the same span id.
        let again = encoder.traces(&events, &names.read()).unwrap();
        assert_eq!(again.resource_spans[0].scope_spans[0].spans[0].span_id, spans[0].span_id);

        let no_spans = &events[..3];
        assert!(encoder.traces(no_spans, &names.read()).is_none());
    }

    #[test]
    fn unknown_names_render_as_index_and_big_numbers_as_decimal_strings() {
        let names = Names::new();
        let other = Names::new();
        let _ = other.intern("a");
        let foreign = other.intern("b");
        let clock = ManualClock::new(Timestamp::from_nanos(1));
        let run = RunContext::new(RunId::new(u64::MAX), &clock);
        let event = PipelineEvent::run_started(run, foreign);
        let attrs = attributes(&event, &names.read());
        assert_eq!(as_json(attrs[1].value.as_ref().unwrap()), u64::MAX.to_string());
        assert_eq!(as_json(attrs[2].value.as_ref().unwrap()), "#1");
    }

    #[test]
    fn ids_are_never_zero() {
        assert_ne!(trace_id(RunId::new(0)), [0; 16]);
        assert_eq!(span_id_from(0), [0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
