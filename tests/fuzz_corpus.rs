//! Replays every fuzz corpus and regression file (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) through the fuzz targets' own harnesses, on
//! stable, under `cargo test --workspace`. The harnesses are the same files the
//! fuzz targets include (`fuzz/harness/*.rs`), not copies.

#[path = "../fuzz/harness/config.rs"]
mod config;
#[path = "../fuzz/harness/encode.rs"]
mod encode;
#[path = "../fuzz/harness/ops.rs"]
mod ops;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// Longest one input may run before the replay calls it a hang. An `ops`
/// input runs in milliseconds; its own internal deadlines are 10 s.
const PER_INPUT: Duration = Duration::from_secs(60);

/// The files of `fuzz/<kind>/<target>/`, sorted (missing directory: none).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz").join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.expect("readable directory entry").path()).collect(),
        Err(_) => Vec::new(),
    };
    files.retain(|p| p.is_file() && p.file_name().is_some_and(|n| !n.to_string_lossy().starts_with('.')));
    files.sort();
    files
}

/// Runs `harness` on one file on its own thread, so a hang fails the test
/// (naming the file) instead of stalling it.
fn replay_one(path: &Path, harness: fn(&[u8])) {
    let data = std::fs::read(path).expect("readable corpus file");
    let (tx, rx) = mpsc::channel();
    let name = path.display().to_string();
    let worker = std::thread::Builder::new()
        .name(format!("replay {name}"))
        .spawn(move || {
            harness(&data);
            let _ = tx.send(());
        })
        .expect("spawn a replay thread");
    match rx.recv_timeout(PER_INPUT) {
        Ok(()) => worker.join().expect("finished"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The harness panicked: re-raise with the file's name.
            if let Err(payload) = worker.join() {
                eprintln!("fuzz input failed: {name}");
                std::panic::resume_unwind(payload);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("fuzz input hung for {PER_INPUT:?}: {name}"),
    }
}

/// Replays every corpus and regression file of `target`; returns how many.
fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        for path in inputs(kind, target) {
            replay_one(&path, harness);
            n += 1;
        }
    }
    n
}

#[test]
fn ops_corpus_and_regressions_replay_cleanly() {
    let n = replay("ops", ops::run);
    assert!(n > 0, "fuzz/corpus/ops/ is empty");
}

#[test]
fn config_corpus_and_regressions_replay_cleanly() {
    let n = replay("config", config::run);
    assert!(n > 0, "fuzz/corpus/config/ is empty");
}

#[test]
fn encode_corpus_and_regressions_replay_cleanly() {
    let n = replay("encode", encode::run);
    assert!(n > 0, "fuzz/corpus/encode/ is empty");
}

#[test]
fn empty_and_tiny_inputs_are_handled() {
    for data in [&[][..], &[0], &[0xff; 3], &[1, 2, 3, 4, 5, 6, 7, 8, 9]] {
        ops::run(data);
        config::run(data);
        encode::run(data);
    }
}

// ---------------------------------------------------------------------------
// Regression tests for what fuzzing found (fuzz/README.md, "Findings").
//
// Each input is also in `fuzz/regressions/<target>/` and replays above. While
// a bug is open, its harness tolerates it through one `SKIP_OPEN_*` constant
// (so fuzzing goes on past it) and its test below is `#[ignore]`d; fixing
// one: remove the `#[ignore]`, set the constant to `false`.

mod regressions {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use ringtel::pipeline::{Names, PipelineEvent, RunContext, RunId};
    use ringtel::{
        CloseError, Config, ConfigLoadError, Event, ExportError, Exporter, ExporterOptions, Granularity,
        ManualClock, Telemetry, Timestamp, MAX_COUNT_SETTING,
    };

    struct Tick;
    impl Event for Tick {
        fn granularity(&self) -> Granularity {
            Granularity::Rows
        }
    }

    /// Accepts everything and counts its `close` calls.
    struct CountCloses(Arc<AtomicU64>);
    impl Exporter<Tick> for CountCloses {
        fn name(&self) -> &str {
            "count-closes"
        }
        fn export(&mut self, _: &[Tick]) -> Result<(), ExportError> {
            Ok(())
        }
        fn close(&mut self) -> Result<(), ExportError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    /// ops, `exporter-added-before-close-never-closed` (fixed): an
    /// `add_exporter` still queued when the consumer saw `close` was dropped:
    /// never added, never closed, never in `Health` (C7, C14).
    #[test]
    fn an_exporter_added_before_close_is_closed_exactly_once() {
        for round in 0..300 {
            let closes = Arc::new(AtomicU64::new(0));
            let telemetry = Telemetry::<Tick>::builder().start().unwrap();
            for _ in 0..2 {
                telemetry.add_exporter(CountCloses(Arc::clone(&closes)), ExporterOptions::default()).unwrap();
            }
            let report = telemetry.close(Duration::from_secs(20)).unwrap();
            assert_eq!(report.health().exporters().len(), 2, "round {round}: {}", report.health());
            assert_eq!(closes.load(Ordering::SeqCst), 2, "round {round}");
        }
    }

    /// ops, same bug, the other side: an exporter added after close is
    /// still closed exactly once.
    #[test]
    fn an_exporter_added_after_close_is_closed_exactly_once() {
        let closes = Arc::new(AtomicU64::new(0));
        let telemetry = Telemetry::<Tick>::builder().start().unwrap();
        telemetry.close(Duration::from_secs(20)).unwrap();
        telemetry.add_exporter(CountCloses(Arc::clone(&closes)), ExporterOptions::default()).unwrap();
        assert_eq!(closes.load(Ordering::SeqCst), 1);
    }

    /// ops, `timed-out-close-report-misses-popped-events` (fixed): a close
    /// that timed out while the consumer held events it had popped but not
    /// yet recorded returned a report missing them (C1, C7).
    #[test]
    fn a_timed_out_close_reports_every_event_emitted_before_it() {
        for round in 0..2_000 {
            let telemetry = Telemetry::<Tick>::builder()
                .capacity(11)
                .batch_size(8)
                .consumer_idle(Duration::from_micros(10), Duration::from_micros(125))
                .exporter(CountCloses(Arc::new(AtomicU64::new(0))))
                .start()
                .unwrap();
            let queued = (0..14).filter(|_| telemetry.emit(Tick).is_queued()).count() as u64;
            let report = match telemetry.close(Duration::ZERO) {
                Ok(report) => report,
                Err(CloseError::Timeout { report }) => report,
                Err(e) => panic!("{e}"),
            };
            let h = report.health();
            assert_eq!(h.accepted(), queued, "round {round}: the report misses popped events:\n{h}");
            assert!(h.is_conserved(), "round {round}:\n{h}");
        }
    }

    /// config, `to-toml-string-panics-on-u64-above-i64-max` (fixed): a config
    /// that loaded from JSON and validated made `to_toml_string` panic, since
    /// TOML integers are `i64`. Validation now caps both counts at
    /// `MAX_COUNT_SETTING` (i64::MAX), and `to_toml_string` validates first.
    #[test]
    fn every_valid_config_can_be_written_as_toml() {
        for field in ["drop_log_interval", "total_failure_threshold"] {
            let json = format!("{{\"{field}\": {}}}", u64::MAX);
            match Config::from_json_str(&json) {
                Err(ConfigLoadError::Invalid(err)) => assert_eq!(err.field(), field),
                other => panic!("{field} = u64::MAX must be a range error, got {other:?}"),
            }
            let json = format!("{{\"{field}\": {MAX_COUNT_SETTING}}}");
            let config = Config::from_json_str(&json).expect("the largest accepted count loads");
            let toml = config.to_toml_string().expect("a valid config writes as TOML");
            assert_eq!(Config::from_toml_str(&toml).unwrap(), config);
        }
    }

    /// config, `toml-parse-error-without-message` (fixed): for `capacity = `
    /// the error said "malformed TOML config: " and nothing else (C11).
    #[test]
    fn a_toml_parse_error_says_what_and_where() {
        for text in ["capacity = ", "tapacity = "] {
            match Config::from_toml_str(text) {
                Err(err @ ConfigLoadError::Parse(_)) => {
                    let ConfigLoadError::Parse(parse) = &err else { unreachable!() };
                    assert!(!parse.message().trim().is_empty(), "{text:?}");
                    assert_eq!(parse.location().map(|l| l.line), Some(1), "{text:?}: {err}");
                    assert!(err.to_string().contains("line 1"), "{text:?}: {err}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    /// encode, `display-line-split-by-name-with-newline` (fixed): a name
    /// holding a line break was written verbatim into the one-line rendering
    /// (`pipeline/render.rs`, `Display for Resolved`, the `Console` format),
    /// splitting one event over several lines. Such names are now quoted
    /// with escapes.
    #[test]
    fn the_display_line_is_one_line_whatever_the_names() {
        let names = Names::new();
        let clock = ManualClock::new(Timestamp::from_nanos(1));
        let run = RunContext::new(RunId::new(1), &clock);
        for (name, shown) in [
            ("evil\nfake line", r#"pipeline="evil\nfake line""#),
            ("cr\rhere", r#"pipeline="cr\rhere""#),
            ("a b", r#"pipeline="a b""#),
            ("x=1", r#"pipeline="x=1""#),
            ("", r#"pipeline="""#),
            ("#3", r##"pipeline="#3""##),
            ("plain_name", "pipeline=plain_name"),
        ] {
            let event = PipelineEvent::run_started(run, names.intern(name));
            let line = event.resolved(&names.read()).to_string();
            assert!(!line.contains(['\n', '\r']), "{line:?}");
            assert!(line.ends_with(shown), "{name:?} shows as {line:?}, expected it to end with {shown:?}");
        }
    }
}
