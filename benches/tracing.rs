//! The `tracing` layer against its peers (issue 17), one call site:
//! `tracing::info!(rows = i, table = "orders", "row done")`.
//!
//! - `event/ringtel_layer`: registry + ringtel's layer (ring of 2^16, `Drop`,
//!   a `Null` exporter behind the span pairing).
//! - `event/ringtel_layer_ring_4096`: the same with a ring of 4 096.
//! - `event/ringtel_layer_emit_time`: the same with `EventTime::Emit` (one
//!   clock read per event; the default, `Batch`, reads none).
//! - `event/fmt_non_blocking`: registry + `fmt` layer writing through
//!   tracing-appender's `non_blocking` to `io::sink()` (its default, lossy).
//! - `event/otel_batch`: registry + opentelemetry-appender-tracing's bridge +
//!   an `SdkLoggerProvider` with a `BatchLogProcessor` and a no-op exporter.
//! - `event/noop_layer`: registry + a layer that does nothing (the floor).
//! - `disabled/*`: a `debug!` call site the layer disables, against no
//!   subscriber at all.
//! - `span/*`: `info_span!("row", i)` created and dropped (new + close):
//!   ringtel's layer, tracing-opentelemetry with an `SdkTracerProvider`, a
//!   `BatchSpanProcessor` and a no-op exporter, and the no-op layer.
//! - `span/ringtel_layer_unpaired`: ringtel's span records to a `Null`
//!   exporter without the span pairing.
//! - `record_size/*`: the cost of emitting a 56-byte and a 64-byte event
//!   through a `Telemetry` (an `ArrayQueue` slot is the event plus an 8-byte
//!   stamp: 64 bytes, one cache line, for the 56-byte event).
//!
//! One quick run: `cargo bench -p ringtel-tests --bench tracing`. Each
//! peer's subscriber exists only during its own benchmark, so `tracing`'s
//! callsite interest is never shared between them.
//!
//! Instruction counts (callgrind, exact): `RINGTEL_TRACING_CALLGRIND=1 cargo
//! bench -p ringtel-tests --bench tracing` (see `tracing/instructions.rs`).

#[path = "tracing/instructions.rs"]
mod instructions;

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, BenchmarkGroup, Criterion};
use opentelemetry::logs::LoggerProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use ringtel::exporters::Null;
use ringtel::tracing::EventTime;
use ringtel::{Backpressure, Event, Granularity, Telemetry};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[inline(never)]
fn event(i: u64) {
    tracing::info!(rows = i, table = "orders", "row done");
}

#[inline(never)]
fn disabled(i: u64) {
    tracing::debug!(rows = i, table = "orders", "row done");
}

#[inline(never)]
fn span(i: u64) {
    let span = tracing::info_span!("row", i);
    drop(black_box(span));
}

struct NoopLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

#[derive(Debug)]
struct NoopLogs;
impl LogExporter for NoopLogs {
    fn export(&self, batch: LogBatch<'_>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        black_box(batch.iter().count());
        std::future::ready(Ok(()))
    }
}

#[derive(Debug)]
struct NoopSpans;
impl SpanExporter for NoopSpans {
    fn export(&self, batch: Vec<SpanData>) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        black_box(batch.len());
        std::future::ready(Ok(()))
    }
}

/// Registry + opentelemetry-appender-tracing's bridge + a `BatchLogProcessor`
/// with a no-op exporter.
fn otel_logs() -> (Dispatch, SdkLoggerProvider) {
    let provider =
        SdkLoggerProvider::builder().with_log_processor(BatchLogProcessor::builder(NoopLogs).build()).build();
    let bridge = opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
    (Dispatch::new(tracing_subscriber::registry().with(bridge)), provider)
}

/// Registry + tracing-opentelemetry + a `BatchSpanProcessor` with a no-op
/// exporter.
fn otel_spans() -> (Dispatch, SdkTracerProvider) {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(BatchSpanProcessor::builder(NoopSpans).build())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    (Dispatch::new(tracing_subscriber::registry().with(layer)), provider)
}

fn ringtel_layer(max: LevelFilter) -> (Dispatch, ringtel::tracing::TracingGuard) {
    ringtel_layer_timed(max, EventTime::Batch)
}

fn ringtel_layer_timed(max: LevelFilter, time: EventTime) -> (Dispatch, ringtel::tracing::TracingGuard) {
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(1 << 16)
        .backpressure(Backpressure::Drop)
        .max_level(max)
        .event_time(time)
        .exporter(Null::new())
        .start()
        .unwrap();
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

/// Benches `op(1)`, `op(2)`, … as `id` in `group`, with `dispatch` as the
/// thread's subscriber.
fn bench_under(group: &mut BenchmarkGroup<'_, WallTime>, id: &str, dispatch: &Dispatch, op: fn(u64)) {
    tracing::dispatcher::with_default(dispatch, || {
        let mut i = 0;
        group.bench_function(id, |b| {
            b.iter(|| {
                i += 1;
                op(i)
            })
        });
    });
}

fn report(name: &str, guard: ringtel::tracing::TracingGuard) {
    let report = guard.close(Duration::from_secs(5)).unwrap();
    let h = report.health();
    eprintln!(
        "{name}: offered {}, delivered {}, dropped {} (queue_full {}), truncated {} fields {} bytes",
        h.offered(),
        h.delivered(),
        h.dropped_total(),
        h.dropped(ringtel::DropReason::QueueFull),
        h.truncated_fields(),
        h.truncated_bytes()
    );
}

fn bench_events(c: &mut Criterion) {
    let mut group = c.benchmark_group("event");
    {
        let (dispatch, guard) = ringtel_layer(LevelFilter::TRACE);
        bench_under(&mut group, "ringtel_layer", &dispatch, event);
        drop(dispatch);
        report("event/ringtel_layer", guard);
    }
    {
        // The same with a ring of 4 096 records (295 KB of slots, which stay
        // in a core's L2) instead of 65 536 (4.7 MB): how much of the cost
        // per event is the slot's cache line coming back from memory.
        let (layer, guard) = ringtel::tracing::layer()
            .capacity(1 << 12)
            .backpressure(Backpressure::Drop)
            .exporter(Null::new())
            .start()
            .unwrap();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        bench_under(&mut group, "ringtel_layer_ring_4096", &dispatch, event);
        drop(dispatch);
        report("event/ringtel_layer_ring_4096", guard);
    }
    {
        let (dispatch, guard) = ringtel_layer_timed(LevelFilter::TRACE, EventTime::Emit);
        bench_under(&mut group, "ringtel_layer_emit_time", &dispatch, event);
        drop(dispatch);
        report("event/ringtel_layer_emit_time", guard);
    }
    {
        let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
        let dispatch = Dispatch::new(
            tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_writer(writer)),
        );
        bench_under(&mut group, "fmt_non_blocking", &dispatch, event);
        drop(dispatch);
        drop(guard);
    }
    {
        let (dispatch, provider) = otel_logs();
        bench_under(&mut group, "otel_batch", &dispatch, event);
        drop(dispatch);
        let _ = provider.shutdown();
        let _ = provider.logger("unused");
    }
    {
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
        bench_under(&mut group, "noop_layer", &dispatch, event);
    }
    group.finish();

    let mut group = c.benchmark_group("disabled");
    {
        let (dispatch, guard) = ringtel_layer(LevelFilter::INFO);
        bench_under(&mut group, "ringtel_layer", &dispatch, disabled);
        drop(dispatch);
        drop(guard);
    }
    {
        let mut i = 0;
        group.bench_function("no_subscriber", |b| {
            b.iter(|| {
                i += 1;
                disabled(i)
            })
        });
    }
    group.finish();
}

fn bench_spans(c: &mut Criterion) {
    let mut group = c.benchmark_group("span");
    {
        let (dispatch, guard) = ringtel_layer(LevelFilter::TRACE);
        bench_under(&mut group, "ringtel_layer", &dispatch, span);
        drop(dispatch);
        report("span/ringtel_layer", guard);
    }
    {
        // Records straight to a `Null` exporter, no span pairing: what the
        // exporter side's pairing (a hash-table insert and remove per span,
        // on a worker thread sharing the two cores) costs the caller.
        let (layer, guard) = ringtel::tracing::layer()
            .capacity(1 << 16)
            .backpressure(Backpressure::Drop)
            .telemetry(|t| t.exporter(Null::new()))
            .start()
            .unwrap();
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(layer));
        bench_under(&mut group, "ringtel_layer_unpaired", &dispatch, span);
        drop(dispatch);
        report("span/ringtel_layer_unpaired", guard);
    }
    {
        let (dispatch, provider) = otel_spans();
        bench_under(&mut group, "tracing_opentelemetry", &dispatch, span);
        drop(dispatch);
        let _ = provider.shutdown();
    }
    {
        let dispatch = Dispatch::new(tracing_subscriber::registry().with(NoopLayer));
        bench_under(&mut group, "noop_layer", &dispatch, span);
    }
    group.finish();
}

#[derive(Clone, Copy)]
struct Sized<const N: usize>([u8; N]);
impl<const N: usize> Event for Sized<N> {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
}

fn emit_sized<const N: usize>(c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    let telemetry = Telemetry::<Sized<N>>::builder()
        .capacity(1 << 16)
        .backpressure(Backpressure::Drop)
        .exporter(Null::new())
        .start()
        .unwrap();
    let mut i = 0u8;
    c.bench_function(format!("{N}_bytes"), |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let _ = telemetry.emit(Sized([black_box(i); N]));
        })
    });
    let report = telemetry.close(Duration::from_secs(5)).unwrap();
    let h = report.health();
    eprintln!(
        "record_size/{N}: offered {}, delivered {}, dropped {}",
        h.offered(),
        h.delivered(),
        h.dropped_total()
    );
}

fn bench_record_size(c: &mut Criterion) {
    let mut group = c.benchmark_group("record_size");
    emit_sized::<56>(&mut group);
    emit_sized::<64>(&mut group);
    group.finish();
}

fn quick() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = quick();
    targets = bench_events, bench_spans, bench_record_size
}

fn main() {
    if let Ok(scenario) = std::env::var(instructions::SCENARIO_ENV) {
        instructions::run_scenario(&scenario);
    } else if std::env::var_os(instructions::PARENT_ENV).is_some() {
        instructions::run();
    } else {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
}
