//! Encode cost per event: JSON Lines (to `/dev/null`, through its buffer) and
//! OTLP (logs and traces requests encoded to protobuf in a reused buffer),
//! for `PipelineEvent` and for a user's own event type (through
//! `serde_fields`), batches of 512. Results and the before/after comparison
//! are in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use prost::Message;
use ringtel::encoding::{serde_fields, FieldVisitor};
use ringtel::exporters::otlp::OtlpExporter;
use ringtel::exporters::JsonLines;
use ringtel::pipeline::{
    GateDecision, Names, PipelineEvent, RowCounts, RowId, RunContext, RunId, TokenId, TokenOutcome,
    TransformOutcome,
};
use ringtel::{Event, Exporter, Granularity, ManualClock, Timestamp};

const BATCH: u64 = 512;

/// A user's event: 40 bytes, four scalar fields and borrowed text.
#[derive(serde::Serialize)]
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
    fn fields(&self, out: &mut dyn FieldVisitor) {
        serde_fields(self, out)
    }
}

fn fills() -> Vec<Fill> {
    (0..BATCH)
        .map(|i| Fill {
            order: i,
            delta: -(i as i64),
            price: i as f64 * 0.25,
            partial: i % 2 == 0,
            venue: "XNAS",
        })
        .collect()
}

/// The pipeline example's mix: per row, created, transformed, gated,
/// completed; a progress event every 64 rows.
fn rows(names: &Names) -> Vec<PipelineEvent> {
    let clock = ManualClock::new(Timestamp::from_nanos(1_700_000_000_000_000_000));
    let run = RunContext::new(RunId::new(7), &clock);
    let (node, plugin, gate, sink) =
        (names.intern("enrich"), names.intern("llm"), names.intern("gate"), names.intern("warehouse"));
    let mut out = Vec::new();
    let mut i = 0;
    while out.len() < BATCH as usize {
        let (row, token) = (RowId::new(i), TokenId::new(i));
        out.push(PipelineEvent::row_created(run, row, token));
        let took = Duration::from_micros(i % 100);
        out.push(PipelineEvent::transform_completed(
            run,
            row,
            token,
            node,
            plugin,
            took,
            TransformOutcome::Succeeded,
        ));
        out.push(PipelineEvent::gate_evaluated(run, row, token, gate, GateDecision::Continue));
        out.push(PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(sink)));
        if i % 64 == 63 {
            let counts = RowCounts { processed: i, succeeded: i, failed: 0, quarantined: 0 };
            out.push(PipelineEvent::progress(run, counts, 1234.5));
        }
        i += 1;
    }
    out.truncate(BATCH as usize);
    out
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(BATCH));
    let names = Arc::new(Names::new());
    let pipeline = rows(&names);
    let user = fills();
    let taken = Timestamp::from_nanos(1_700_000_000_000_000_000);

    let mut jsonl = JsonLines::builder("/dev/null").names(Arc::clone(&names)).create().unwrap();
    group.bench_function("jsonl/pipeline_event", |b| {
        b.iter(|| jsonl.export_taken(black_box(&pipeline), taken).unwrap())
    });
    let mut jsonl = JsonLines::builder("/dev/null").create().unwrap();
    group.bench_function("jsonl/user_event", |b| {
        b.iter(|| jsonl.export_taken(black_box(&user), taken).unwrap())
    });

    let mut body = Vec::with_capacity(1 << 20);
    let mut otlp = OtlpExporter::builder("http://127.0.0.1:9").names(Arc::clone(&names)).build().unwrap();
    group.bench_function("otlp/pipeline_event", |b| {
        b.iter(|| {
            body.clear();
            otlp.encode_logs(black_box(&pipeline)).encode(&mut body).unwrap();
            if let Some(traces) = otlp.encode_traces(black_box(&pipeline)) {
                body.clear();
                traces.encode(&mut body).unwrap();
            }
            black_box(&body);
        })
    });
    let mut otlp = OtlpExporter::builder("http://127.0.0.1:9").build().unwrap();
    group.bench_function("otlp/user_event", |b| {
        b.iter(|| {
            body.clear();
            otlp.encode_logs(black_box(&user)).encode(&mut body).unwrap();
            black_box(&body);
        })
    });
    let _ = Exporter::<Fill>::name(&jsonl);
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
