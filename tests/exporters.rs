//! The built-in exporters: JSON Lines (round trip, rotation, append, a full
//! disk), Console (lines, summaries, a broken writer), Memory and Null.

mod common;

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringtel::exporters::{Console, ConsoleMode, JsonLines, JsonLinesError, Memory, Null};
use ringtel::pipeline::{
    GateDecision, Names, PipelineEvent, RowCounts, RowId, RunContext, RunId, TokenId, TokenOutcome,
    TransformOutcome,
};
use ringtel::{
    Backpressure, DropReason, Emitted, ExportErrorKind, Exporter, ManualClock, SystemClock, Telemetry,
    Timestamp,
};
use serde_json::Value;

use common::{close_losing_events, rows, PATIENCE};

/// A fresh, empty directory for one test, under cargo's target tmp dir.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exporters").join(test);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn read_lines(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "{} ends mid-line", path.display());
    text.lines().map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))).collect()
}

// ---- JSON Lines ----------------------------------------------------------

#[test]
fn json_lines_parse_back_and_match() {
    let dir = scratch("json_lines_parse_back_and_match");
    let path = dir.join("events.jsonl");
    let names = Arc::new(Names::new());
    let (node, plugin, gate, sink) =
        (names.intern("parse"), names.intern("csv"), names.intern("gate"), names.intern("warehouse"));
    let clock = ManualClock::new(Timestamp::from_nanos(1_000));
    let run = RunContext::new(RunId::new(9), &clock);
    let mut events = Vec::new();
    for i in 0..50 {
        let (row, token) = (RowId::new(i), TokenId::new(i));
        events.push(PipelineEvent::row_created(run, row, token));
        let outcome = TransformOutcome::Succeeded;
        events.push(PipelineEvent::transform_completed(
            run,
            row,
            token,
            node,
            plugin,
            Duration::ZERO,
            outcome,
        ));
        events.push(PipelineEvent::gate_evaluated(run, row, token, gate, GateDecision::Continue));
        events.push(PipelineEvent::token_completed(run, row, token, TokenOutcome::Completed, Some(sink)));
        clock.advance(Duration::from_micros(1));
    }
    events.push(PipelineEvent::progress(
        run,
        RowCounts { processed: 50, succeeded: 50, ..Default::default() },
        1.0,
    ));

    let mut exporter =
        JsonLines::builder(&path).names(Arc::clone(&names)).buffer_capacity(256).create().unwrap();
    for batch in events.chunks(17) {
        exporter.export(batch).unwrap();
    }
    exporter.flush().unwrap();
    let stats = exporter.stats();
    exporter.close().unwrap();
    assert_eq!(stats.lines_written, events.len() as u64);
    assert_eq!(stats.lines_discarded, 0);

    let lines = read_lines(&path);
    assert_eq!(lines.len(), events.len());
    let view = names.read();
    for (line, event) in lines.iter().zip(&events) {
        assert_eq!(line, &serde_json::to_value(event.resolved(&view)).unwrap());
        assert_eq!(line["ts"], event.at().as_nanos());
        assert_eq!(line["run"], 9);
        assert_eq!(line["event"], event.name());
    }
    assert_eq!(lines[1]["plugin"], "csv");
    assert_eq!(lines[3]["sink"], "warehouse");
    assert_eq!(fs::metadata(&path).unwrap().len(), stats.bytes_written);
}

#[test]
fn json_lines_through_telemetry_keeps_every_event_in_producer_order() {
    const PRODUCERS: u64 = 4;
    const PER_PRODUCER: u64 = 2_000;
    let dir = scratch("json_lines_through_telemetry");
    let path = dir.join("events.jsonl");
    let names = Arc::new(Names::new());
    let clock = SystemClock::new();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock)
        .capacity(256)
        .backpressure(Backpressure::Block)
        .exporter(JsonLines::builder(&path).names(Arc::clone(&names)).create().unwrap())
        .start()
        .unwrap();
    std::thread::scope(|scope| {
        for p in 0..PRODUCERS {
            let (telemetry, clock) = (&telemetry, &clock);
            scope.spawn(move || {
                let run = RunContext::new(RunId::new(1), clock);
                for seq in 0..PER_PRODUCER {
                    let id = p * 1_000_000 + seq;
                    let e = PipelineEvent::row_created(run, RowId::new(id), TokenId::new(id));
                    assert_eq!(telemetry.emit(e), Emitted::Queued);
                }
            });
        }
    });
    telemetry.flush(PATIENCE).unwrap();
    let report = telemetry.close(PATIENCE).unwrap();
    let health = report.health();
    assert_eq!(health.delivered(), PRODUCERS * PER_PRODUCER);
    assert!(health.is_conserved());

    let lines = read_lines(&path);
    assert_eq!(lines.len() as u64, PRODUCERS * PER_PRODUCER);
    let mut next = vec![0u64; PRODUCERS as usize];
    for line in &lines {
        let id = line["row"].as_u64().unwrap();
        let (p, seq) = ((id / 1_000_000) as usize, id % 1_000_000);
        assert_eq!(seq, next[p], "producer {p} out of order");
        next[p] += 1;
    }
}

#[test]
fn json_lines_rotates_by_size_and_keeps_n_files() {
    let dir = scratch("json_lines_rotates");
    let path = dir.join("events.jsonl");
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let max_bytes = 1_000;
    let mut exporter = JsonLines::builder(&path)
        .names(Arc::new(Names::new()))
        .rotate(max_bytes, 3)
        .buffer_capacity(300)
        .create()
        .unwrap();
    let events = rows(run, 0..200);
    for batch in events.chunks(7) {
        exporter.export(batch).unwrap();
    }
    let stats = exporter.stats();
    assert!(stats.rotations >= 4, "{stats:?}");
    assert_eq!(exporter.rotated_path(2), dir.join("events.jsonl.2"));
    exporter.close().unwrap();

    let files = [exporter.rotated_path(3), exporter.rotated_path(2), exporter.rotated_path(1), path.clone()];
    assert!(!exporter.rotated_path(4).exists(), "only 3 rotated files are kept");
    let mut seen = Vec::new();
    for file in &files {
        let len = fs::metadata(file).unwrap().len();
        assert!(len > 0 && len <= max_bytes, "{} is {len} bytes", file.display());
        seen.extend(read_lines(file).iter().map(|l| l["row"].as_u64().unwrap()));
    }
    // The newest lines, in order, ending with the last row.
    let first = 200 - seen.len() as u64;
    assert_eq!(seen, (first..200).collect::<Vec<_>>());
}

#[test]
fn json_lines_gives_an_oversized_line_a_file_of_its_own() {
    let dir = scratch("json_lines_oversized_line");
    let path = dir.join("events.jsonl");
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut exporter =
        JsonLines::builder(&path).names(Arc::new(Names::new())).rotate(10, 5).create().unwrap();
    exporter.export(&rows(run, 0..3)).unwrap();
    exporter.close().unwrap();
    for (file, row) in [(exporter.rotated_path(2), 0), (exporter.rotated_path(1), 1), (path, 2)] {
        let lines = read_lines(&file);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["row"], row);
    }
}

#[test]
fn json_lines_truncates_or_appends() {
    let dir = scratch("json_lines_truncates_or_appends");
    let path = dir.join("events.jsonl");
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let names = Arc::new(Names::new());
    for append in [false, true] {
        let mut exporter =
            JsonLines::builder(&path).names(Arc::clone(&names)).append(append).create().unwrap();
        exporter.export(&rows(run, 0..2)).unwrap();
        exporter.close().unwrap();
    }
    assert_eq!(read_lines(&path).len(), 4, "the second exporter appended");
    let mut exporter = JsonLines::builder(&path).names(names).create().unwrap();
    exporter.export(&rows(run, 0..1)).unwrap();
    exporter.close().unwrap();
    assert_eq!(read_lines(&path).len(), 1, "create truncates");
    let err = exporter.export(&rows(run, 0..1)).unwrap_err();
    assert_eq!(err.to_string(), "export error: json lines exporter is closed");
}

#[test]
fn json_lines_creation_errors_name_the_problem() {
    let dir = scratch("json_lines_creation_errors");
    let missing = dir.join("no-such-dir").join("events.jsonl");
    let err = JsonLines::builder(&missing).names(Arc::new(Names::new())).create().unwrap_err();
    assert!(matches!(err, JsonLinesError::Open { .. }));
    let text = err.to_string();
    assert!(text.starts_with(&format!("cannot open `{}`: ", missing.display())), "{text}");
    assert!(std::error::Error::source(&err).is_some());

    let err = JsonLines::builder(dir.join("x.jsonl"))
        .names(Arc::new(Names::new()))
        .rotate(100, 0)
        .create()
        .unwrap_err();
    assert_eq!(err.to_string(), "invalid value 0 for `rotation.keep`: expected an integer >= 1");
}

#[cfg(target_os = "linux")]
#[test]
fn json_lines_on_a_full_disk_returns_typed_errors() {
    let names = Arc::new(Names::new());
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut exporter = JsonLines::builder("/dev/full").names(names).create().unwrap();
    for _ in 0..3 {
        let err = exporter.export(&rows(run, 0..10)).unwrap_err();
        assert_eq!(err.kind(), ExportErrorKind::Io);
        assert!(err.message().starts_with("/dev/full: "), "{err}");
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<io::Error>()).unwrap();
        assert_eq!(source.raw_os_error(), Some(28), "ENOSPC");
    }
    let stats = exporter.stats();
    assert_eq!((stats.lines_written, stats.lines_discarded), (0, 30));
    exporter.flush().unwrap();
    exporter.close().unwrap();
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_counted_by_the_telemetry() {
    const EVENTS: u64 = 500;
    let names = Arc::new(Names::new());
    let clock = ManualClock::default();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .exporter(JsonLines::builder("/dev/full").names(names).create().unwrap())
        .start()
        .unwrap();
    let run = RunContext::new(RunId::new(1), &clock);
    for event in rows(run, 0..EVENTS) {
        let _ = telemetry.emit(event);
    }
    let _ = telemetry.flush(PATIENCE);
    let health = telemetry.health();
    let exporter = &health.exporters()[0];
    assert!(exporter.failures() >= 1, "{health}");
    let last = exporter.last_error().expect("the error is kept");
    assert!(last.message.contains("No space left on device"), "{}", last.message);

    let report = close_losing_events(&telemetry, PATIENCE);
    let health = report.health();
    assert_eq!(health.offered(), EVENTS);
    assert_eq!(health.delivered(), 0);
    assert!(health.dropped(DropReason::ExportFailed) >= 1, "{health}");
    assert_eq!(health.dropped_total(), EVENTS, "every event is accounted for: {health}");
    assert!(health.is_conserved());
}

// ---- Console -------------------------------------------------------------

/// A writer whose bytes a test can read while an exporter owns it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl SharedBuf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct BrokenPipe;

impl Write for BrokenPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader went away"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "reader went away"))
    }
}

#[test]
fn console_writes_one_line_per_event() {
    let names = Arc::new(Names::new());
    let sink = names.intern("warehouse");
    let clock = ManualClock::new(Timestamp::from_nanos(3_250_000_000));
    let run = RunContext::new(RunId::new(2), &clock);
    let mut console = Console::new(Vec::new()).names(names).named("screen");
    assert_eq!(Exporter::<PipelineEvent>::name(&console), "screen");
    assert_eq!(console.mode(), ConsoleMode::Events);
    console
        .export(&[
            PipelineEvent::row_created(run, RowId::new(1), TokenId::new(1)),
            PipelineEvent::token_completed(
                run,
                RowId::new(1),
                TokenId::new(1),
                TokenOutcome::Routed,
                Some(sink),
            ),
        ])
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(console.get_ref()),
        "3.250 INFO run=2 row_created row=1 token=1\n\
         3.250 INFO run=2 token_completed row=1 token=1 outcome=routed sink=warehouse\n"
    );
}

#[test]
fn console_summary_is_periodic_and_final() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(5), &clock);
    let mut console =
        Console::new(Vec::new()).names(Arc::new(Names::new())).summary_every(Duration::from_secs(2));
    console.export(&rows(run, 0..4)).unwrap();
    clock.advance(Duration::from_secs(2));
    let progress = RowCounts { processed: 4, succeeded: 3, failed: 1, quarantined: 0 };
    console.export(&[PipelineEvent::progress(run, progress, 2.0)]).unwrap();
    clock.advance(Duration::from_secs(1));
    console.export(&rows(run, 4..5)).unwrap();
    console.close().unwrap();
    let text = String::from_utf8_lossy(console.get_ref()).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "2.000 run=5 summary events=5 (+5) row_created=4 progress=1 | processed=4 succeeded=3 failed=1 \
             quarantined=0 rows_per_second=2.0",
            "3.000 run=5 summary events=6 (+1) row_created=5 progress=1 | processed=4 succeeded=3 failed=1 \
             quarantined=0 rows_per_second=2.0",
        ]
    );
}

#[test]
fn console_reports_a_broken_writer() {
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    let mut console = Console::new(BrokenPipe).names(Arc::new(Names::new()));
    let err = console.export(&rows(run, 0..3)).unwrap_err();
    assert_eq!(err.kind(), ExportErrorKind::Io);
    assert_eq!(err.to_string(), "i/o error: reader went away");
    assert_eq!(console.flush().unwrap_err().kind(), ExportErrorKind::Io);
}

#[test]
fn console_through_telemetry() {
    let out = SharedBuf::default();
    let clock = ManualClock::default();
    let telemetry = Telemetry::<PipelineEvent>::builder()
        .clock(clock.clone())
        .exporter(Console::new(out.clone()).names(Arc::new(Names::new())))
        .start()
        .unwrap();
    let run = RunContext::new(RunId::new(1), &clock);
    for event in rows(run, 0..100) {
        assert_eq!(telemetry.emit(event), Emitted::Queued);
    }
    telemetry.close(PATIENCE).unwrap();
    let text = out.text();
    assert_eq!(text.lines().count(), 100);
    assert!(text.lines().last().unwrap().ends_with("row_created row=99 token=99"));
}

// ---- Memory and Null -----------------------------------------------------

#[test]
fn memory_keeps_the_last_n_and_counts_evictions() {
    let mut memory = Memory::<u32>::new(5).named("mem");
    let handle = memory.handle();
    let other = handle.clone();
    assert!(handle.is_empty());
    memory.export(&[1, 2, 3]).unwrap();
    memory.export(&[4, 5, 6, 7]).unwrap();
    assert_eq!(handle.events(), vec![3, 4, 5, 6, 7]);
    memory.export(&(10..20).collect::<Vec<_>>()).unwrap();
    assert_eq!(other.events(), vec![15, 16, 17, 18, 19]);
    assert_eq!((handle.received(), handle.evicted(), handle.batches()), (17, 12, 3));
    assert_eq!(handle.take(), vec![15, 16, 17, 18, 19]);
    assert_eq!(handle.len(), 0);
    assert_eq!(Exporter::<u32>::name(&memory), "mem");

    let mut counting_only = Memory::<u32>::new(0);
    counting_only.export(&[1, 2]).unwrap();
    let h = counting_only.handle();
    assert_eq!((h.len(), h.received(), h.evicted()), (0, 2, 2));
}

#[test]
fn memory_through_telemetry_sees_flush_and_close() {
    let memory = Memory::new(1_000);
    let handle = memory.handle();
    let clock = ManualClock::default();
    let telemetry =
        Telemetry::<PipelineEvent>::builder().clock(clock.clone()).exporter(memory).start().unwrap();
    let run = RunContext::new(RunId::new(1), &clock);
    let events = rows(run, 0..300);
    for &event in &events {
        let _ = telemetry.emit(event);
    }
    telemetry.flush(PATIENCE).unwrap();
    assert_eq!(handle.events(), events);
    assert!(handle.flushes() >= 1);
    assert!(!handle.is_closed());
    telemetry.close(PATIENCE).unwrap();
    assert!(handle.is_closed());
}

#[test]
fn null_accepts_everything() {
    let telemetry =
        Telemetry::<PipelineEvent>::builder().exporter(Null::new().named("void")).start().unwrap();
    let clock = ManualClock::default();
    let run = RunContext::new(RunId::new(1), &clock);
    for event in rows(run, 0..1_000) {
        let _ = telemetry.emit(event);
    }
    let report = telemetry.close(PATIENCE).unwrap();
    let health = report.health();
    assert_eq!(health.delivered() + health.dropped_total(), 1_000);
    assert_eq!(health.exporters()[0].name(), "void");
    assert_eq!(health.exporters()[0].failures(), 0);
    assert!(health.is_conserved());
}
