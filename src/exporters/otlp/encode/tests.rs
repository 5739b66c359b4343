//! Unit tests of the OTLP encoder: every pipeline event kind as a log record
//! with its attributes (in step with JSON Lines), spans, unknown names and big
//! numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

use super::*;
use crate::pipeline::{
    run_span_id, CallKind, CallStatus, CallVolume, EventKind, GateDecision, Names, Phase, PipelineEvent,
    RowCounts, RowId, RunContext, RunId, RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use crate::ManualClock;

fn attributes(event: &PipelineEvent, names: &NamesView<'_>) -> Vec<KeyValue> {
    let mut attrs = Vec::new();
    write_attributes(&Resolved::new(event, Some(names), event.at()), &mut attrs, &mut Spares::default());
    attrs
}

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
        PipelineEvent::transform_completed(run, row, token, node, plugin, ms(3), TransformOutcome::Succeeded),
        PipelineEvent::transform_completed(run, row, token, node, plugin, ms(4), failed),
        PipelineEvent::gate_evaluated(run, row, token, names.intern("g"), GateDecision::Continue),
        PipelineEvent::gate_evaluated(
            run,
            row,
            token,
            names.intern("g"),
            GateDecision::Route { route: names.intern("r") },
        ),
        PipelineEvent::gate_evaluated(run, row, token, names.intern("g"), GateDecision::Fork { branches: 2 }),
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
        any_value::Value::BoolValue(b) => serde_json::Value::from(*b),
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
        let serde_json::Value::Object(mut json) = serde_json::to_value(event.resolved(&view)).unwrap() else {
            panic!("an object")
        };
        json.remove("ts");
        json.remove("severity");
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
    let mut encoder = Encoder::new(vec![string_attribute("service.name", "svc")]);
    let view = names.read();
    let request = encoder.logs(&events, Some(&view), Timestamp::EPOCH, 9).clone();
    let resource_logs = &request.resource_logs[0];
    assert_eq!(resource_logs.resource.as_ref().unwrap().attributes[0].key, "service.name");
    let scope = &resource_logs.scope_logs[0];
    assert_eq!(scope.scope.as_ref().unwrap().name, "ringtel");
    assert_eq!(scope.log_records.len(), events.len());
    for (record, event) in scope.log_records.iter().zip(&events) {
        assert_eq!(record.time_unix_nano, 5_000_000_000);
        assert_eq!(record.observed_time_unix_nano, 9);
        assert_eq!(record.trace_id, trace_id(RunId::new(42)));
        assert_eq!(record.event_name, event.name());
        let body = as_json(record.body.as_ref().unwrap());
        assert_eq!(body, event.resolved(&view).to_string().as_str());
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
            "INFO", "INFO", "INFO", "INFO", "ERROR", "INFO", "INFO", "INFO", "INFO", "INFO", "WARN", "INFO",
            "INFO", "ERROR", "ERROR", "ERROR"
        ]
    );
}

#[test]
fn events_with_durations_become_spans_under_the_run_span() {
    let names = Names::new();
    let clock = ManualClock::new(Timestamp::from_nanos(5_000_000_000));
    let events = every_kind(&names, &clock);
    let mut encoder = Encoder::new(Vec::new());
    let view = names.read();
    let request = encoder.traces(&events, Some(&view), Timestamp::EPOCH).expect("spans").clone();
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
    let again = encoder.traces(&events, Some(&view), Timestamp::EPOCH).unwrap();
    assert_eq!(again.resource_spans[0].scope_spans[0].spans[0].span_id, spans[0].span_id);

    let no_spans = &events[..3];
    assert!(encoder.traces(no_spans, Some(&view), Timestamp::EPOCH).is_none());
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
