//! The `tracing` layer end to end: exact conservation with four threads,
//! level filtering, truncation counted exactly, and records through every
//! built-in exporter (JSON Lines, console, OTLP logs and spans against the
//! real receiver, Redis Streams against a real server). Nothing waits by
//! sleeping: closes and flushes wait with deadlines.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::server::{free_port, require, ServerProcess};
use common::PATIENCE;
use ringtel::encoding::FieldValue;
use ringtel::exporters::otlp::OtlpExporter;
use ringtel::exporters::redis::RedisStreams;
use ringtel::exporters::{Console, JsonLines, Memory};
use ringtel::tracing::{PairedRecord, RecordKind, TracingRecord, RECORD_SIZE};
use ringtel::{Backpressure, DropReason, Event, Granularity};
use serde_json::Value;
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

fn dispatch(layer: ringtel::tracing::RingtelLayer) -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(layer))
}

#[test]
fn the_record_is_at_most_one_cache_line() {
    assert!(std::mem::size_of::<TracingRecord>() <= 64);
    assert_eq!(std::mem::size_of::<TracingRecord>(), RECORD_SIZE);
}

#[test]
fn four_threads_conserve_exactly_through_the_layer() {
    const THREADS: u64 = 4;
    const EVENTS: u64 = 5_000;
    const SPANS: u64 = 200;
    let memory = Memory::<TracingRecord>::new(0);
    let seen = memory.handle();
    // A small ring with `Drop`, so some records are dropped; `Rows`
    // granularity, so every `debug!` (a `Full` record) is filtered.
    let (layer, guard) = ringtel::tracing::layer()
        .capacity(256)
        .backpressure(Backpressure::Drop)
        .telemetry(|t| t.granularity(Granularity::Rows).exporter(memory))
        .start()
        .unwrap();
    let dispatch = dispatch(layer);
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    for i in 0..EVENTS {
                        if i % 5 == 0 {
                            tracing::debug!(thread = t, i, "detail");
                        } else {
                            tracing::info!(rows = i, table = "orders", "row done");
                        }
                    }
                    for i in 0..SPANS {
                        let span = tracing::info_span!("work", i);
                        drop(span.enter());
                    }
                })
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let report = guard.close(PATIENCE).unwrap();
    let health = report.health();
    let records = THREADS * (EVENTS + 2 * SPANS);
    // Ringtel's own drop warnings, raised inside the layer's emit, come back
    // to the layer when `tracing` does not stop them itself (it does for an
    // event inside an event, not for one inside a span's close): each is
    // counted as `OwnThread`, never recorded.
    let own = health.dropped(DropReason::OwnThread);
    assert_eq!(health.offered() - own, records, "{health}");
    assert_eq!(health.filtered(), THREADS * EVENTS / 5, "{health}");
    assert_eq!(health.offered(), health.filtered() + health.delivered() + health.dropped_total(), "{health}");
    assert!(health.is_conserved());
    assert_eq!(seen.received(), health.delivered());
    assert_eq!(health.dropped_total(), health.dropped(DropReason::QueueFull) + own, "{health}");
    assert!(own <= health.dropped(DropReason::QueueFull), "{health}");
}

#[test]
fn levels_above_the_maximum_are_disabled_at_the_callsite() {
    let memory = Memory::<PairedRecord>::new(16);
    let seen = memory.handle();
    let (layer, guard) =
        ringtel::tracing::layer().max_level(LevelFilter::INFO).exporter(memory).start().unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        assert!(!tracing::enabled!(tracing::Level::DEBUG));
        assert!(tracing::enabled!(tracing::Level::INFO));
        tracing::trace!("no");
        tracing::debug!("no");
        let span = tracing::debug_span!("no span");
        drop(span.enter());
        tracing::info!("yes");
        tracing::warn!("yes");
        tracing::error!("yes");
    });
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().offered(), 3);
    assert_eq!(report.health().delivered(), 3);
    let severities: Vec<_> = seen.events().iter().map(|e| e.severity().as_str()).collect();
    assert_eq!(severities, ["INFO", "WARN", "ERROR"]);
}

/// The fields of a record, as `key=value` text, `message` excluded.
fn fields(event: &impl Event) -> Vec<String> {
    let mut out = Vec::new();
    event.fields(&mut |key: &str, value: FieldValue<'_>| out.push(format!("{key}={value:?}")));
    out
}

#[test]
fn truncated_fields_and_bytes_are_counted_exactly() {
    let memory = Memory::<PairedRecord>::new(16);
    let seen = memory.handle();
    let (layer, guard) = ringtel::tracing::layer().exporter(memory).start().unwrap();
    let long = "x".repeat(100);
    tracing::dispatcher::with_default(&dispatch(layer), || {
        tracing::info!("{long}");
        tracing::info!(a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8, i = 9, j = 10, k = 11);
        // Multi-byte characters are cut at a character boundary.
        tracing::info!("{}", "é".repeat(40));
    });
    let report = guard.close(PATIENCE).unwrap();
    let health = report.health();
    let events = seen.events();
    assert_eq!(events.len(), 3);

    let inline = RECORD_SIZE - 36;
    // One text entry: tag, field index and length bytes, then the text.
    let kept = inline - 3;
    assert_eq!(events[0].message(), Some(&long[..kept]));
    let first_bytes = (100 - kept) as u64;

    // Small integers take 3 bytes each (tag, index, one byte).
    let stored = fields(&events[1]);
    let kept_fields = inline / 3;
    assert_eq!(stored.len(), kept_fields, "{stored:?}");
    assert_eq!(stored[0], "a=I64(1)");

    let accented = events[2].message().unwrap();
    assert_eq!(accented.len(), kept / 2 * 2, "whole characters only");
    let third_bytes = (80 - accented.len()) as u64;

    assert_eq!(health.truncated_fields(), (11 - kept_fields) as u64, "{health}");
    assert_eq!(health.truncated_bytes(), first_bytes + third_bytes, "{health}");
}

/// A `Write` whose bytes the test reads after the exporter closed.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One span `job` with a child `step`, an event in each, and one outside.
fn instrumented() {
    let job = tracing::info_span!("job", table = "orders");
    let entered = job.enter();
    tracing::info!(rows = 1_u64, table = "orders", "row done");
    {
        let step = tracing::info_span!("step", n = 2_u64);
        let _step = step.enter();
        tracing::warn!(late = true, "slow row");
    }
    drop(entered);
    drop(job);
    tracing::error!(code = -3_i64, "outside");
}

#[test]
fn json_lines_and_console_write_level_target_fields_and_span_ids() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tracing");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("json_lines.jsonl");
    let _ = fs::remove_file(&path);
    let console = Shared::default();
    let (layer, guard) = ringtel::tracing::layer()
        .exporter(JsonLines::create(&path).unwrap())
        .exporter(Console::new(console.clone()))
        .start()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), instrumented);
    guard.close(PATIENCE).unwrap();

    let lines: Vec<Value> =
        fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Three events and two finished spans (step closes first).
    assert_eq!(lines.len(), 5, "{lines:#?}");
    let row = &lines[0];
    assert_eq!(row["event"], "tracing_layer");
    assert_eq!(row["severity"], "INFO");
    assert_eq!(row["message"], "row done");
    assert_eq!((row["rows"].as_u64(), row["table"].as_str()), (Some(1), Some("orders")));
    let job = lines.iter().find(|l| l["event"] == "job").unwrap();
    let step = lines.iter().find(|l| l["event"] == "step").unwrap();
    let slow = &lines[1];
    assert_eq!(slow["severity"], "WARN");
    assert_eq!(slow["late"], true);
    assert_eq!(row["span_id"], job["span_id"]);
    assert_eq!(slow["span_id"], step["span_id"]);
    assert_eq!(slow["trace_id"], job["trace_id"]);
    assert_eq!(step["trace_id"], job["trace_id"]);
    assert!(job["duration_ns"].as_u64().unwrap() >= step["duration_ns"].as_u64().unwrap());
    assert_eq!(step["parent_span_id"], job["span_id"]);
    assert!(job.get("parent_span_id").is_none());
    let outside = lines.iter().find(|l| l["message"] == "outside").unwrap();
    assert_eq!(outside["code"], -3);
    assert!(outside.get("span_id").is_none());

    let text = String::from_utf8(console.0.lock().unwrap().clone()).unwrap();
    let first = text.lines().next().unwrap();
    assert!(first.ends_with(" INFO tracing_layer: row done rows=1 table=orders"), "{text}");
    assert!(text.lines().any(|l| l.contains(" WARN tracing_layer: slow row late=true")), "{text}");
    assert!(text.lines().any(|l| l.contains(" INFO step ") && l.contains("n=2")), "{text}");
}

#[test]
fn records_keep_their_thread_kind_and_parent() {
    let memory = Memory::<TracingRecord>::new(16);
    let seen = memory.handle();
    let (layer, guard) = ringtel::tracing::layer()
        .span_activity(ringtel::tracing::SpanActivity::EnterExit)
        .telemetry(|t| t.exporter(memory))
        .start()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), instrumented);
    guard.close(PATIENCE).unwrap();
    let records = seen.events();
    let kinds: Vec<_> = records.iter().map(TracingRecord::kind).collect();
    use RecordKind::*;
    assert_eq!(
        kinds,
        [NewSpan, Enter, Event, NewSpan, Enter, Event, Exit, CloseSpan, Exit, CloseSpan, Event],
        "{records:#?}"
    );
    assert_eq!(records[3].parent_id(), records[0].span_id());
    assert_eq!(records[2].span_id(), records[0].span_id());
    assert!(records.iter().all(|r| r.thread() == records[0].thread() && r.thread() != 0));
    // Span records always carry their time; events only with `EventTime::Emit`.
    assert!(records.iter().all(|r| r.time().is_some() == (r.kind() != Event)));
}

/// The OTLP receiver for `test` (see tests/otlp.rs), or `None` with a loud
/// SKIPPED line when python3 or the proto package is missing.
fn otlp_receiver(test: &str) -> Option<(ServerProcess, std::path::PathBuf, u16)> {
    let python = require("python3", test)?;
    let probe = Command::new(&python)
        .args(["-c", "import opentelemetry.proto.collector.logs.v1.logs_service_pb2"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        assert!(!common::server::servers_required(), "{test}: opentelemetry-proto is not importable");
        eprintln!("SKIPPED {test}: the Python package `opentelemetry-proto` is not importable");
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("otlp");
    fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{test}.jsonl"));
    let _ = fs::remove_file(&out);
    let port = free_port();
    let mut command = Command::new(python);
    command
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/otlp_receiver.py"))
        .arg("--port")
        .arg(port.to_string())
        .arg("--out")
        .arg(&out);
    Some((ServerProcess::start("otlp_receiver", command, port), out, port))
}

/// Spins (no sleep: the span must simply last) until `at_least` passed.
fn spin_for(at_least: Duration) {
    let start = Instant::now();
    while start.elapsed() < at_least {
        std::hint::spin_loop();
    }
}

#[test]
fn spans_are_paired_and_sent_to_the_otlp_receiver_with_parents_and_durations() {
    let Some((_server, out, port)) = otlp_receiver("tracing_spans") else { return };
    let exporter = OtlpExporter::builder(format!("http://127.0.0.1:{port}")).build().unwrap();
    let (layer, guard) = ringtel::tracing::layer().exporter(exporter).start().unwrap();
    let started = Instant::now();
    let mut inner_took = Duration::ZERO;
    tracing::dispatcher::with_default(&dispatch(layer), || {
        let outer = tracing::info_span!("outer", job = 7_u64);
        let _outer = outer.enter();
        spin_for(Duration::from_millis(5));
        let inner_started = Instant::now();
        {
            let inner = tracing::info_span!("inner");
            let _inner = inner.enter();
            tracing::info!(rows = 3_u64, "inside");
            spin_for(Duration::from_millis(20));
        }
        inner_took = inner_started.elapsed();
    });
    let outer_took = started.elapsed();
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().delivered(), 5, "{}", report.health());
    assert!(report.health().is_conserved());

    let lines: Vec<Value> =
        fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let spans: Vec<&Value> = lines.iter().filter(|l| l["signal"] == "span").collect();
    assert_eq!(spans.len(), 2, "{lines:#?}");
    let span = |name: &str| *spans.iter().find(|s| s["name"] == name).unwrap();
    let (outer, inner) = (span("outer"), span("inner"));
    assert_eq!(inner["parent_span_id"], outer["span_id"]);
    assert_eq!(outer["parent_span_id"], "");
    assert_eq!(inner["trace_id"], outer["trace_id"]);
    assert_eq!(outer["attributes"]["job"], 7);
    let duration = |s: &Value| {
        Duration::from_nanos(
            s["end_time_unix_nano"].as_u64().unwrap() - s["start_time_unix_nano"].as_u64().unwrap(),
        )
    };
    assert!(duration(inner) >= Duration::from_millis(20) && duration(inner) <= inner_took, "{inner}");
    assert!(duration(outer) >= Duration::from_millis(25) && duration(outer) <= outer_took, "{outer}");
    assert!(duration(outer) > duration(inner));

    let logs: Vec<&Value> = lines.iter().filter(|l| l["signal"] == "log").collect();
    let inside = logs.iter().find(|l| l["body"] == "inside").unwrap();
    assert_eq!(inside["severity_text"], "INFO");
    assert_eq!(inside["severity_number"], 9);
    assert_eq!(inside["attributes"]["rows"], 3);
    assert_eq!(inside["trace_id"], inner["trace_id"]);
    assert_eq!(inside["span_id"], inner["span_id"]);
}

#[test]
fn unmatched_closes_and_evictions_are_counted() {
    let memory = Memory::<PairedRecord>::new(64);
    let (layer, guard) = ringtel::tracing::layer().open_spans(2).exporter(memory).start().unwrap();
    let stats = guard.span_pairing()[0].1.clone();
    assert_eq!(guard.span_pairing()[0].0, "memory");
    tracing::dispatcher::with_default(&dispatch(layer), || {
        let spans: Vec<_> = (0..5_u64).map(|i| tracing::info_span!("open", i)).collect();
        drop(spans);
    });
    guard.close(PATIENCE).unwrap();
    // Five opened into a table of two: three evicted, their closes unmatched.
    assert_eq!((stats.evicted(), stats.unmatched_closes(), stats.paired(), stats.open()), (3, 3, 2, 0));
}

#[test]
fn redis_streams_carry_tracing_records() {
    let Some(binary) = require("redis-server", "redis_streams_carry_tracing_records") else { return };
    let port = free_port();
    let mut command = Command::new(binary);
    command.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    let _server = ServerProcess::start("redis", command, port);
    let url = format!("redis://127.0.0.1:{port}/");
    let exporter = RedisStreams::builder(url.clone()).stream("tracing").build().unwrap();
    let (layer, guard) = ringtel::tracing::layer().exporter(exporter).start().unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), instrumented);
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().delivered(), 7);
    let mut connection = redis::Client::open(url).unwrap().get_connection().unwrap();
    let entries: Vec<(String, Vec<String>)> =
        redis::cmd("XRANGE").arg("tracing").arg("-").arg("+").query(&mut connection).unwrap();
    assert_eq!(entries.len(), 5);
    let first = &entries[0].1;
    let get = |key: &str| first.iter().position(|k| k == key).map(|i| first[i + 1].as_str());
    assert_eq!(get("message"), Some("row done"));
    assert_eq!(get("severity"), Some("INFO"));
    assert_eq!(get("table"), Some("orders"));
    assert_eq!(get("rows"), Some("1"));
    assert!(get("span_id").is_some());
}

#[test]
fn log_records_go_through_the_same_record() {
    let memory = Memory::<PairedRecord>::new(16);
    let seen = memory.handle();
    let (_layer, guard) = ringtel::tracing::layer().exporter(memory).start().unwrap();
    let bridge = guard.log_bridge(log::LevelFilter::Info);
    log::Log::log(
        &bridge,
        &log::Record::builder()
            .level(log::Level::Warn)
            .target("app::db")
            .line(Some(42))
            .args(format_args!("slow {}", 12))
            .build(),
    );
    log::Log::log(
        &bridge,
        &log::Record::builder()
            .level(log::Level::Debug)
            .target("app::db")
            .args(format_args!("filtered by the bridge's level"))
            .build(),
    );
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().offered(), 1);
    let events = seen.events();
    assert_eq!(events[0].name(), "app::db");
    assert_eq!(events[0].severity().as_str(), "WARN");
    assert_eq!(events[0].message(), Some("slow 12"));
    assert_eq!(fields(&events[0]), ["log.target=Str(\"app::db\")", "log.line=U64(42)"]);
}

#[test]
fn an_env_filter_in_front_of_the_layer_filters_as_usual() {
    let memory = Memory::<PairedRecord>::new(16);
    let seen = memory.handle();
    let (layer, guard) = ringtel::tracing::layer().exporter(memory).start().unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::EnvFilter::new("warn,tracing_layer::inner=debug"))
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("filtered out");
        tracing::warn!("kept");
        tracing::debug!(target: "tracing_layer::inner", "kept too");
    });
    let report = guard.close(PATIENCE).unwrap();
    assert_eq!(report.health().offered(), 2);
    let messages: Vec<_> = seen.events().iter().map(|e| e.message().unwrap().to_owned()).collect();
    assert_eq!(messages, ["kept", "kept too"]);
}

/// Blocks in `export` until the process ends.
struct Hang;
impl ringtel::Exporter<PairedRecord> for Hang {
    fn name(&self) -> &str {
        "hang"
    }
    fn export(&mut self, _: &[PairedRecord]) -> Result<(), ringtel::ExportError> {
        loop {
            std::thread::park();
        }
    }
}

#[test]
fn dropping_the_guard_is_bounded_by_the_close_timeout_even_with_a_hung_exporter() {
    let (layer, guard) = ringtel::tracing::layer()
        .close_timeout(Duration::from_millis(300))
        .telemetry(|t| t.export_timeout(Duration::from_millis(100)))
        .exporter(Hang)
        .start()
        .unwrap();
    let telemetry = layer.telemetry().clone();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..100_u64 {
            tracing::info!(i, "to a hung exporter");
        }
    });
    let started = Instant::now();
    drop(guard);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(5), "drop waited {waited:?}");
    let health = telemetry.health();
    assert_eq!(health.offered(), 100);
    assert!(health.is_conserved(), "{health}");
    assert_eq!(health.delivered(), 0, "{health}");
}
