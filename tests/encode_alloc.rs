//! Encoding allocates nothing per event in steady state: JSON Lines writes
//! into its reused buffer, the console formats into its reused buffer, OTLP
//! overwrites its reused request (and encodes into a reused body), Redis
//! reuses its commands and packed request. Checked for a user's own event
//! type (through `serde_fields`) and for `PipelineEvent`.
//!
//! A counting global allocator counts only the allocations made by the
//! current thread while a flag is set; each case encodes one warm-up batch
//! first (buffers grow to size), then counts over 20 batches of 512.

use std::sync::Arc;

use prost::Message;
use ringtel::encoding::{serde_fields, Correlation, FieldVisitor, Severity, SpanId, TraceId};
use ringtel::exporters::otlp::OtlpExporter;
use ringtel::exporters::redis::{RedisStreams, StreamEncoding};
use ringtel::exporters::{Console, JsonLines};
use ringtel::pipeline::{Names, PipelineEvent, RowId, RunContext, RunId, TokenId};
use ringtel::{Event, Exporter, Granularity, ManualClock, Timestamp};
use serde::Serialize;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

/// A user's event: every scalar kind of field, borrowed text, correlation ids.
#[derive(Debug, Clone, Serialize)]
struct Fill {
    order: u64,
    delta: i64,
    price: f64,
    partial: bool,
    venue: &'static str,
}

impl Event for Fill {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
    fn name(&self) -> &str {
        "fill"
    }
    fn severity(&self) -> Severity {
        Severity::Warn
    }
    fn correlation(&self) -> Correlation {
        Correlation { run: Some(3), trace_id: Some(TraceId([7; 16])), span_id: Some(SpanId([9; 8])) }
    }
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

const BATCH: usize = 512;
const BATCHES: u64 = 20;

fn fills() -> Vec<Fill> {
    (0..BATCH as u64)
        .map(|i| Fill {
            order: u64::MAX - i,
            delta: -(i as i64),
            price: i as f64 * 0.25,
            partial: i % 2 == 0,
            venue: "XNAS \"main\"",
        })
        .collect()
}

fn rows(names: &Names) -> Vec<PipelineEvent> {
    let _ = names.intern("warm");
    let clock = ManualClock::new(Timestamp::from_nanos(1_000));
    let run = RunContext::new(RunId::new(1), &clock);
    (0..BATCH as u64).map(|i| PipelineEvent::row_created(run, RowId::new(i), TokenId::new(i))).collect()
}

/// Exports `BATCHES` batches after one warm-up batch; returns the
/// allocations per event of the measured ones.
fn per_event(mut export: impl FnMut()) -> f64 {
    export();
    let n = allocations_in(|| {
        for _ in 0..BATCHES {
            export();
        }
    });
    n as f64 / (BATCHES as f64 * BATCH as f64)
}

fn dev_null_json_lines() -> JsonLines {
    // A device: the exporter writes through its buffer, never truncates or rotates.
    JsonLines::builder("/dev/null").buffer_capacity(1 << 20).create().expect("/dev/null opens")
}

#[test]
fn json_lines_encodes_a_user_event_without_allocating() {
    let batch = fills();
    let mut exporter = dev_null_json_lines();
    let taken = Timestamp::from_nanos(5);
    let n = per_event(|| exporter.export_taken(&batch, taken).unwrap());
    assert_eq!(n, 0.0, "allocations per event");
}

#[test]
fn json_lines_encodes_pipeline_events_without_allocating() {
    let names = Arc::new(Names::new());
    let batch = rows(&names);
    let mut exporter =
        JsonLines::builder("/dev/null").names(names).buffer_capacity(1 << 20).create().unwrap();
    let n = per_event(|| exporter.export_taken(&batch, Timestamp::EPOCH).unwrap());
    assert_eq!(n, 0.0, "allocations per event");
}

#[test]
fn console_formats_a_user_event_without_allocating() {
    let batch = fills();
    let mut console = Console::new(std::io::sink());
    let n = per_event(|| console.export_taken(&batch, Timestamp::EPOCH).unwrap());
    assert_eq!(n, 0.0, "allocations per event");
}

#[test]
fn otlp_reuses_its_request_for_a_user_event() {
    let batch = fills();
    let mut exporter = OtlpExporter::builder("http://127.0.0.1:9").build().unwrap();
    let mut body = Vec::with_capacity(1 << 20);
    let n = per_event(|| {
        let request = exporter.encode_logs(&batch);
        body.clear();
        request.encode(&mut body).unwrap();
    });
    assert_eq!(n, 0.0, "allocations per event (request encoded into a reused body)");
}

#[test]
fn otlp_reuses_its_request_for_pipeline_events() {
    let names = Arc::new(Names::new());
    let batch = rows(&names);
    let mut exporter = OtlpExporter::builder("http://127.0.0.1:9").names(names).build().unwrap();
    let n = per_event(|| {
        let _ = exporter.encode_logs(&batch);
    });
    assert_eq!(n, 0.0, "allocations per event");
}

/// The pipeline example's mix (every row kind, progress, a failed transform
/// with an interned error name) in batches whose sizes change: OTLP's
/// reused request takes what a smaller batch or a shorter event left unused
/// from its spare pools.
#[test]
fn otlp_allocates_nothing_for_mixed_kinds_in_batches_of_changing_size() {
    use ringtel::pipeline::{GateDecision, RowCounts, TokenOutcome, TransformOutcome};
    let names = Arc::new(Names::new());
    let (node, plugin, gate, sink, error) = (
        names.intern("enrich"),
        names.intern("llm"),
        names.intern("gate"),
        names.intern("warehouse"),
        names.intern("rate_limited"),
    );
    let clock = ManualClock::new(Timestamp::from_nanos(1_000));
    let run = RunContext::new(RunId::new(1), &clock);
    let mut mixed = Vec::new();
    for i in 0..110 {
        let (row, token) = (RowId::new(i), TokenId::new(i));
        let outcome =
            if i % 3 == 0 { TransformOutcome::Failed { error } } else { TransformOutcome::Succeeded };
        let took = std::time::Duration::from_micros(i);
        mixed.push(PipelineEvent::row_created(run, row, token));
        mixed.push(PipelineEvent::transform_completed(run, row, token, node, plugin, took, outcome));
        mixed.push(PipelineEvent::gate_evaluated(run, row, token, gate, GateDecision::Continue));
        mixed.push(PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(sink)));
        let counts = RowCounts { processed: i, succeeded: i, failed: 0, quarantined: 0 };
        mixed.push(PipelineEvent::progress(run, counts, 2.5));
    }
    let sizes = [500, 7, 333, 1, 500, 64];
    let mut exporter = OtlpExporter::builder("http://127.0.0.1:9").names(names).build().unwrap();
    let mut body = Vec::with_capacity(1 << 22);
    let mut round = |exporter: &mut OtlpExporter| {
        for (k, &n) in sizes.iter().enumerate() {
            // Each size from another offset, so every slot sees other kinds.
            let batch = &mixed[k * 3..k * 3 + n];
            body.clear();
            exporter.encode_logs(batch).encode(&mut body).unwrap();
            if let Some(traces) = exporter.encode_traces(batch) {
                body.clear();
                traces.encode(&mut body).unwrap();
            }
        }
    };
    // Warm-up: strings move between slots and the spare pools, and a slot
    // can take a string too short for its new value (a reallocation) until
    // every pooled string has grown to fit. Capacities only grow and are
    // bounded by the longest value, so this ends; measured here, it took
    // about 40 rounds.
    for _ in 0..100 {
        round(&mut exporter);
    }
    let n = allocations_in(|| {
        for _ in 0..10 {
            round(&mut exporter);
        }
    });
    assert_eq!(n, 0, "allocations over 10 rounds of {sizes:?} after the warm-up");
}

#[test]
fn redis_reuses_its_commands_for_a_user_event() {
    let batch = fills();
    for encoding in [StreamEncoding::Fields, StreamEncoding::Json { field: "json".to_owned() }] {
        let mut exporter =
            RedisStreams::builder("redis://127.0.0.1:9").encoding(encoding.clone()).build().unwrap();
        let n = per_event(|| {
            let _ = exporter.encode_batch(&batch).unwrap();
        });
        assert_eq!(n, 0.0, "allocations per event with {encoding:?}");
    }
}

/// The counter counts: a batch of fresh exporters does allocate.
#[test]
fn the_counter_sees_allocations() {
    let batch = fills();
    let n = allocations_in(|| {
        let mut exporter = RedisStreams::builder("redis://127.0.0.1:9").build().unwrap();
        let _ = exporter.encode_batch(&batch).unwrap();
    });
    assert!(n > 0);
    let _ = Exporter::<Fill>::name(&dev_null_json_lines());
}
