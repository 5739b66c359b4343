//! `PipelineEvent`: size, granularity, constructors, the `Names` registry, and
//! both renderings (JSON and the compact line).

use std::sync::Arc;
use std::time::Duration;

use ringtel::exporters::Memory;
use ringtel::pipeline::{
    CallKind, CallStatus, CallVolume, EventKind, EventTag, GateDecision, NameId, Names, Phase, PipelineEvent,
    RowCounts, RowId, RowOutcome, RunContext, RunId, RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{Emitted, Event, Granularity, ManualClock, Telemetry, Timestamp};
use serde_json::{json, Value};

const T0: u64 = 1_700_000_000_000_000_000;

struct Fixture {
    names: Arc<Names>,
    clock: ManualClock,
    node: NameId,
    plugin: NameId,
    gate: NameId,
    route: NameId,
    sink: NameId,
    provider: NameId,
    error: NameId,
    pipeline: NameId,
}

impl Fixture {
    fn new() -> Fixture {
        let names = Arc::new(Names::new());
        Fixture {
            node: names.intern("enrich"),
            plugin: names.intern("llm_enricher"),
            gate: names.intern("quality_gate"),
            route: names.intern("needs_review"),
            sink: names.intern("warehouse"),
            provider: names.intern("openai"),
            error: names.intern("rate_limited"),
            pipeline: names.intern("demo"),
            names,
            clock: ManualClock::new(Timestamp::from_nanos(T0)),
        }
    }

    fn run(&self) -> RunContext<'_> {
        RunContext::new(RunId::new(42), &self.clock)
    }

    /// One event of every kind, with its expected JSON (without ts/run).
    fn every_kind(&self) -> Vec<(PipelineEvent, Value)> {
        let run = self.run();
        let (row, token) = (RowId::new(7), TokenId::new(8));
        let ms = Duration::from_millis(3);
        vec![
            (
                PipelineEvent::run_started(run, self.pipeline),
                json!({"event": "run_started", "pipeline": "demo"}),
            ),
            (
                PipelineEvent::run_finished(run, RunStatus::Completed, 1_000, Duration::from_secs(2)),
                json!({"event": "run_finished", "status": "completed", "rows": 1000, "duration_ns": 2_000_000_000u64}),
            ),
            (
                PipelineEvent::phase_changed(run, Phase::Process),
                json!({"event": "phase_changed", "phase": "process"}),
            ),
            (
                PipelineEvent::row_created(run, row, token),
                json!({"event": "row_created", "row": 7, "token": 8}),
            ),
            (
                PipelineEvent::transform_completed(
                    run,
                    row,
                    token,
                    self.node,
                    self.plugin,
                    ms,
                    TransformOutcome::Succeeded,
                ),
                json!({"event": "transform_completed", "row": 7, "token": 8, "node": "enrich",
                       "plugin": "llm_enricher", "duration_ns": 3_000_000, "outcome": "succeeded"}),
            ),
            (
                PipelineEvent::transform_completed(
                    run,
                    row,
                    token,
                    self.node,
                    self.plugin,
                    ms,
                    TransformOutcome::Failed { error: self.error },
                ),
                json!({"event": "transform_completed", "row": 7, "token": 8, "node": "enrich",
                       "plugin": "llm_enricher", "duration_ns": 3_000_000, "outcome": "failed",
                       "error": "rate_limited"}),
            ),
            (
                PipelineEvent::gate_evaluated(run, row, token, self.gate, GateDecision::Continue),
                json!({"event": "gate_evaluated", "row": 7, "token": 8, "gate": "quality_gate", "decision": "continue"}),
            ),
            (
                PipelineEvent::gate_evaluated(
                    run,
                    row,
                    token,
                    self.gate,
                    GateDecision::Route { route: self.route },
                ),
                json!({"event": "gate_evaluated", "row": 7, "token": 8, "gate": "quality_gate",
                       "decision": "route", "route": "needs_review"}),
            ),
            (
                PipelineEvent::gate_evaluated(run, row, token, self.gate, GateDecision::Fork { branches: 3 }),
                json!({"event": "gate_evaluated", "row": 7, "token": 8, "gate": "quality_gate",
                       "decision": "fork", "branches": 3}),
            ),
            (
                PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(self.sink)),
                json!({"event": "token_completed", "row": 7, "token": 8, "outcome": "completed", "sink": "warehouse"}),
            ),
            (
                PipelineEvent::token_completed(run, row, token, TokenOutcome::Failed, None),
                json!({"event": "token_completed", "row": 7, "token": 8, "outcome": "failed"}),
            ),
            (
                PipelineEvent::progress(
                    run,
                    RowCounts { processed: 10, succeeded: 7, failed: 2, quarantined: 1 },
                    2.5,
                ),
                json!({"event": "progress", "processed": 10, "succeeded": 7, "failed": 2, "quarantined": 1,
                       "rows_per_second": 2.5}),
            ),
            (
                PipelineEvent::external_call_completed(
                    run,
                    token,
                    CallKind::Llm,
                    self.provider,
                    ms,
                    CallStatus::Ok,
                    CallVolume::Tokens { prompt: 100, completion: 20 },
                ),
                json!({"event": "external_call_completed", "token": 8, "call": "llm", "provider": "openai",
                       "duration_ns": 3_000_000, "status": "ok", "prompt_tokens": 100, "completion_tokens": 20}),
            ),
            (
                PipelineEvent::external_call_completed(
                    run,
                    token,
                    CallKind::Sql,
                    self.provider,
                    ms,
                    CallStatus::TimedOut,
                    CallVolume::bytes(10, 20),
                ),
                json!({"event": "external_call_completed", "token": 8, "call": "sql", "provider": "openai",
                       "duration_ns": 3_000_000, "status": "timed_out", "bytes_sent": 10, "bytes_received": 20}),
            ),
            (
                PipelineEvent::external_call_completed(
                    run,
                    token,
                    CallKind::Http,
                    self.provider,
                    ms,
                    CallStatus::Failed,
                    CallVolume::None,
                ),
                json!({"event": "external_call_completed", "token": 8, "call": "http", "provider": "openai",
                       "duration_ns": 3_000_000, "status": "failed"}),
            ),
        ]
    }
}

#[test]
fn event_fits_in_64_bytes_and_is_copy_send() {
    fn assert_copy_send<T: Copy + Send + 'static>() {}
    assert_copy_send::<PipelineEvent>();
    assert!(std::mem::size_of::<PipelineEvent>() <= 64, "{}", std::mem::size_of::<PipelineEvent>());
    assert_eq!(std::mem::size_of::<Option<NameId>>(), 4);
}

#[test]
fn granularity_follows_the_taxonomy() {
    let f = Fixture::new();
    for (event, expected) in f.every_kind() {
        let granularity = match expected["event"].as_str().unwrap() {
            "run_started" | "run_finished" | "phase_changed" => Granularity::Lifecycle,
            "external_call_completed" => Granularity::Full,
            _ => Granularity::Rows,
        };
        assert_eq!(event.granularity(), granularity, "{}", event.name());
        assert_eq!(event.kind().granularity(), granularity);
        assert_eq!(event.granularity().is_critical(), granularity == Granularity::Lifecycle);
    }
}

#[test]
fn constructors_stamp_time_and_run_from_the_context() {
    let f = Fixture::new();
    let run = f.run();
    let first = PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1));
    f.clock.advance(Duration::from_millis(5));
    let second = PipelineEvent::row_created(run, RowId::new(2), TokenId::new(2));
    assert_eq!(first.at(), Timestamp::from_nanos(T0));
    assert_eq!(second.at(), Timestamp::from_nanos(T0 + 5_000_000));
    assert_eq!(first.run(), RunId::new(42));
    assert_eq!(run.id(), RunId::new(42));
    assert_eq!(*first.kind(), EventKind::RowCreated { row: RowId::new(1), token: TokenId::new(1) });
    let explicit = PipelineEvent::new(first.at(), first.run(), *first.kind());
    assert_eq!(explicit, first);
}

#[test]
fn durations_saturate() {
    let f = Fixture::new();
    let e = PipelineEvent::run_finished(f.run(), RunStatus::Failed, 0, Duration::MAX);
    assert!(matches!(e.kind(), EventKind::RunFinished { duration_ns: u64::MAX, .. }));
    assert_eq!(CallVolume::bytes(u64::MAX, 1), CallVolume::Bytes { sent: u32::MAX, received: 1 });
}

#[test]
fn json_has_every_field_with_names_resolved() {
    let f = Fixture::new();
    let view = f.names.read();
    for (event, expected) in f.every_kind() {
        let text = serde_json::to_string(&event.resolved(&view)).unwrap();
        let mut value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["ts"], json!(T0), "{text}");
        assert_eq!(value["run"], json!(42), "{text}");
        let object = value.as_object_mut().unwrap();
        object.remove("ts");
        object.remove("run");
        let severity = object.remove("severity").expect("a severity");
        assert_eq!(severity, event.severity().as_str(), "{text}");
        assert_eq!(value, expected, "{text}");
        assert_eq!(expected["event"], event.name());
    }
}

#[test]
fn json_keys_come_first_in_a_stable_order() {
    let f = Fixture::new();
    let view = f.names.read();
    let event = PipelineEvent::row_created(f.run(), RowId::new(1), TokenId::new(2));
    assert_eq!(
        serde_json::to_string(&event.resolved(&view)).unwrap(),
        format!(r#"{{"ts":{T0},"run":42,"event":"row_created","severity":"INFO","row":1,"token":2}}"#)
    );
}

#[test]
fn unknown_names_render_as_their_index() {
    let f = Fixture::new();
    let other = Names::new();
    let view = other.read();
    let event =
        PipelineEvent::gate_evaluated(f.run(), RowId::new(1), TokenId::new(1), f.gate, GateDecision::Discard);
    let value: Value = serde_json::to_value(event.resolved(&view)).unwrap();
    assert_eq!(value["gate"], format!("#{}", f.gate.index()));
    assert!(event.resolved(&view).to_string().contains(&format!("gate=#{}", f.gate.index())));
}

#[test]
fn compact_lines_read_naturally() {
    let f = Fixture::new();
    let view = f.names.read();
    let lines: Vec<String> = f.every_kind().iter().map(|(e, _)| e.resolved(&view).to_string()).collect();
    assert_eq!(lines[0], "1700000000.000 INFO run=42 run_started pipeline=demo");
    assert_eq!(
        lines[5],
        "1700000000.000 ERROR run=42 transform_completed row=7 token=8 node=enrich plugin=llm_enricher \
         duration=3ms outcome=failed error=rate_limited"
    );
    assert_eq!(
        lines[11],
        "1700000000.000 INFO run=42 progress processed=10 succeeded=7 failed=2 quarantined=1 rows_per_second=2.5"
    );
    for line in &lines {
        assert!(!line.contains('\n'), "{line}");
    }
}

#[test]
fn tags_match_kinds() {
    let f = Fixture::new();
    for (event, _) in f.every_kind() {
        let tag = event.kind().tag();
        assert_eq!(tag.name(), event.name());
        assert_eq!(EventTag::ALL[tag.index()], tag);
    }
    let mut names: Vec<&str> = EventTag::ALL.iter().map(|t| t.name()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EventTag::COUNT);
}

#[test]
fn outcome_names_are_stable() {
    assert_eq!(RunStatus::Interrupted.as_str(), "interrupted");
    assert_eq!(Phase::Export.to_string(), "export");
    assert_eq!(TokenOutcome::Quarantined.as_str(), "quarantined");
    assert_eq!(CallKind::Http.as_str(), "http");
    assert_eq!(CallStatus::TimedOut.as_str(), "timed_out");
    assert_eq!(GateDecision::Fork { branches: 2 }.as_str(), "fork");
    assert_eq!(RowOutcome::from(TokenOutcome::Routed), RowOutcome::Succeeded);
    assert_eq!(RowOutcome::from(TokenOutcome::Discarded), RowOutcome::Other);
    assert_eq!(RowOutcome::from(TokenOutcome::Quarantined), RowOutcome::Quarantined);
    assert_eq!(RowOutcome::from(TokenOutcome::Failed), RowOutcome::Failed);
}

#[test]
fn names_intern_once_and_resolve() {
    let names = Names::new();
    assert!(names.is_empty());
    let a = names.intern("a");
    let b = names.intern("b");
    assert_ne!(a, b);
    assert_eq!(names.intern("a"), a);
    assert_eq!((a.index(), b.index()), (0, 1));
    assert_eq!(names.len(), 2);
    assert_eq!(names.lookup("b"), Some(b));
    assert_eq!(names.lookup("c"), None);
    assert_eq!(names.resolve(b).as_deref(), Some("b"));
    assert_eq!(names.read().resolve(a), Some("a"));
    assert_eq!(format!("{names:?}"), r#"["a", "b"]"#);
}

#[test]
fn names_interned_concurrently_agree() {
    let names = Arc::new(Names::new());
    let words: Vec<String> = (0..64).map(|i| format!("node-{i}")).collect();
    let ids: Vec<Vec<NameId>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let (names, words) = (&names, &words);
                scope.spawn(move || {
                    // Each thread interns in a different order.
                    let mut order: Vec<usize> = (0..words.len()).collect();
                    order.rotate_left(t * 16);
                    let mut ids = vec![None; words.len()];
                    for i in order {
                        ids[i] = Some(names.intern(&words[i]));
                    }
                    ids.into_iter().map(Option::unwrap).collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(names.len(), words.len());
    for per_thread in &ids[1..] {
        assert_eq!(per_thread, &ids[0]);
    }
    let view = names.read();
    for (word, id) in words.iter().zip(&ids[0]) {
        assert_eq!(view.resolve(*id), Some(word.as_str()));
    }
}

#[test]
fn telemetry_filters_by_granularity() {
    let f = Fixture::new();
    let memory = Memory::new(64);
    let handle = memory.handle();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(f.clock.clone())
        .granularity(Granularity::Rows)
        .exporter(memory)
        .start()
        .unwrap();
    let mut expected = Vec::new();
    for (event, _) in f.every_kind() {
        let outcome = telemetry.emit(event);
        if event.granularity() == Granularity::Full {
            assert_eq!(outcome, Emitted::Filtered);
        } else {
            assert_eq!(outcome, Emitted::Queued);
            expected.push(event);
        }
    }
    let report = telemetry.close(Duration::from_secs(20)).unwrap();
    assert_eq!(handle.events(), expected, "emit order is kept");
    let health = report.health();
    assert_eq!(health.filtered(), 3);
    assert_eq!(health.delivered(), expected.len() as u64);
    assert!(health.is_conserved());
}

#[test]
fn names_interned_from_many_threads_get_one_id_each_and_resolve_through_an_open_view() {
    let names = Names::new();
    let view = names.read();
    // 4 threads intern the same 200 names in different orders while the
    // view is held: interning never waits on a view, and every name gets
    // exactly one id, which resolves back to it.
    let ids: Vec<Vec<NameId>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u32)
            .map(|t| {
                let names = &names;
                scope.spawn(move || {
                    (0..200u32).map(|i| names.intern(&format!("name-{}", (i * (t + 1) * 7) % 200))).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(names.len(), 200);
    for (t, ids) in ids.iter().enumerate() {
        for (i, &id) in ids.iter().enumerate() {
            let expected = format!("name-{}", (i as u32 * (t as u32 + 1) * 7) % 200);
            assert_eq!(view.resolve(id), Some(expected.as_str()));
            assert_eq!(names.lookup(&expected), Some(id));
        }
    }
}
