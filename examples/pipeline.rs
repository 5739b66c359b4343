//! The main job: a simulated row-processing pipeline that emits
//! `PipelineEvent`s through ringtel to a JSON Lines file and a console
//! summary, and shows what ringtel guarantees while it runs and at the end.
//!
//! ```text
//! cargo run --release --example pipeline
//! cargo run --release --example pipeline -- --slow-exporter-ms 20 --backpressure drop
//! cargo run --release --example pipeline -- --rows 2000 --health-json | jq .
//! ```
//!
//! A source hands out rows; worker threads run three transforms (parse,
//! enrich with an LLM call for some rows, look up in SQL) and a gate, with
//! seeded variation: occasional malformed rows, LLM timeouts, slow calls. A
//! sink thread completes tokens and emits progress. A progress bar (stderr)
//! shows rows/s, events/s, queue fill and drops from `Telemetry::health()`;
//! at the end a table shows the final `Health` and checks conservation:
//! `offered = filtered + delivered + dropped`, and `offered` = the emit()
//! calls this program counted itself.
//!
//! Exit status: 0 when both checks pass, 1 when one fails, 2 for a bad flag
//! or configuration value (one line on stderr naming it).

use std::error::Error;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use comfy_table::{presets, Cell, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{RngExt, SeedableRng};
use rand_xorshift::XorShiftRng;
use ringtel::exporters::{Console, JsonLines};
use ringtel::pipeline::{
    CallKind, CallStatus, CallVolume, GateDecision, NameId, Names, Phase, PipelineEvent, ProgressTicker,
    RowCounts, RowId, RowOutcome, RunContext, RunId, RunStatus, TokenId, TokenOutcome, TransformOutcome,
};
use ringtel::{
    Backpressure, Clock, Config, ConsumerState, DropReason, Emitted, ExportError, Exporter, Granularity,
    Health, SystemClock, Telemetry, Timestamp,
};

/// Rows in a default run: about ten seconds on a 2-core machine in release
/// mode (the run is paced by simulated external calls, not by ringtel).
const DEFAULT_ROWS: u64 = 100_000;
/// Rotated JSON Lines files kept beside the current one.
const JSONL_KEEP: usize = 2;
const DEFAULT_OUT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/ringtel-pipeline/events.jsonl");

/// A simulated pipeline emitting telemetry through ringtel.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version, about, long_about = None)]
struct Args {
    /// Rows the source produces.
    #[arg(long, default_value_t = DEFAULT_ROWS)]
    rows: u64,
    /// Worker threads running the transforms and the gate.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    threads: u32,
    /// Ring capacity in events [default: from --config, else 65536].
    #[arg(long)]
    capacity: Option<usize>,
    /// What emit does when the ring is full: block, block-for=<ms>, drop or drop-oldest
    /// [default: from --config, else drop].
    #[arg(long, value_name = "POLICY", value_parser = parse_backpressure)]
    backpressure: Option<Backpressure>,
    /// The most detailed events recorded: lifecycle, rows or full [default: from --config, else rows].
    #[arg(long, value_name = "LEVEL", value_parser = parse_granularity)]
    granularity: Option<Granularity>,
    /// The JSON Lines file [default: target/ringtel-pipeline/events.jsonl in this checkout].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Rotate the JSON Lines file at this many MiB, keeping 2 old files.
    #[arg(long, value_name = "MIB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..))]
    rotate_mib: u64,
    /// Add an exporter that sleeps this long per batch, so drops and backpressure show.
    #[arg(long, value_name = "MS")]
    slow_exporter_ms: Option<u64>,
    /// A ringtel configuration file (TOML); the flags above override it.
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// Print the final Health as one JSON object on stdout, and nothing else there.
    #[arg(long)]
    health_json: bool,
    /// Seed for the simulated variation; the same seed gives the same row outcomes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Emit a Progress event every this many rows...
    #[arg(long, value_name = "ROWS", default_value_t = 10_000)]
    progress_every_rows: u64,
    /// ...or every this many milliseconds, whichever comes first.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    progress_every_ms: u64,
}

fn parse_backpressure(text: &str) -> Result<Backpressure, String> {
    match text {
        "block" => Ok(Backpressure::Block),
        "drop" => Ok(Backpressure::Drop),
        "drop-oldest" => Ok(Backpressure::DropOldest),
        _ => text
            .strip_prefix("block-for=")
            .and_then(|ms| ms.trim_end_matches("ms").parse::<u64>().ok())
            .map(|ms| Backpressure::BlockFor(Duration::from_millis(ms)))
            .ok_or_else(|| "expected block, block-for=<ms>, drop or drop-oldest".to_owned()),
    }
}

fn parse_granularity(text: &str) -> Result<Granularity, String> {
    match text {
        "lifecycle" => Ok(Granularity::Lifecycle),
        "rows" => Ok(Granularity::Rows),
        "full" => Ok(Granularity::Full),
        _ => Err("expected lifecycle, rows or full".to_owned()),
    }
}

/// A configuration or setup problem: reported as one line, exit status 2.
struct UsageError(String);

impl<E: Error> From<E> for UsageError {
    fn from(err: E) -> Self {
        UsageError(err.to_string())
    }
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            let text = err.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: invalid arguments"));
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(UsageError(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The run's configuration: the file, then the flags on top, validated.
fn load_config(args: &Args) -> Result<Config, UsageError> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--config {}: {e}", path.display())))?;
            Config::from_toml_str(&text)
                .map_err(|e| UsageError(format!("--config {}: {e}", path.display())))?
        }
        None => Config::default(),
    };
    if let Some(capacity) = args.capacity {
        config.capacity = capacity;
    }
    if let Some(backpressure) = args.backpressure {
        config.backpressure = backpressure;
    }
    if let Some(granularity) = args.granularity {
        config.granularity = granularity;
    }
    config.validate().map_err(|e| {
        let flag = match e.field() {
            "capacity" if args.capacity.is_some() => " (from --capacity)",
            f if f.starts_with("backpressure") && args.backpressure.is_some() => " (from --backpressure)",
            _ => "",
        };
        UsageError(format!("{e}{flag}"))
    })?;
    Ok(config)
}

/// Every name the run uses, interned once before the first event.
#[derive(Clone, Copy)]
struct Ids {
    pipeline: NameId,
    parse: NameId,
    csv_parser: NameId,
    enrich: NameId,
    llm_enricher: NameId,
    lookup: NameId,
    sql_lookup: NameId,
    quality_gate: NameId,
    needs_review: NameId,
    warehouse: NameId,
    review_queue: NameId,
    quarantine: NameId,
    openai: NameId,
    postgres: NameId,
    malformed_record: NameId,
    llm_timeout: NameId,
}

impl Ids {
    fn intern(names: &Names) -> Ids {
        Ids {
            pipeline: names.intern("demo_pipeline"),
            parse: names.intern("parse"),
            csv_parser: names.intern("csv_parser"),
            enrich: names.intern("enrich"),
            llm_enricher: names.intern("llm_enricher"),
            lookup: names.intern("lookup"),
            sql_lookup: names.intern("sql_lookup"),
            quality_gate: names.intern("quality_gate"),
            needs_review: names.intern("needs_review"),
            warehouse: names.intern("warehouse"),
            review_queue: names.intern("review_queue"),
            quarantine: names.intern("quarantine"),
            openai: names.intern("openai-sim"),
            postgres: names.intern("postgres-sim"),
            malformed_record: names.intern("malformed_record"),
            llm_timeout: names.intern("llm_timeout"),
        }
    }
}

/// What this program saw `emit` return: its own count, checked against
/// `Health` at the end.
#[derive(Debug, Default, Clone, Copy)]
struct EmitCounts {
    calls: u64,
    queued: u64,
    filtered: u64,
    dropped: u64,
}

impl EmitCounts {
    fn add(&mut self, other: EmitCounts) {
        self.calls += other.calls;
        self.queued += other.queued;
        self.filtered += other.filtered;
        self.dropped += other.dropped;
    }
}

/// A producer's handle: emits and counts what `emit` returned.
struct Emitter<'t> {
    telemetry: &'t Telemetry<PipelineEvent>,
    counts: EmitCounts,
}

impl Emitter<'_> {
    fn emit(&mut self, event: PipelineEvent) {
        self.counts.calls += 1;
        match self.telemetry.emit(event) {
            Emitted::Queued => self.counts.queued += 1,
            Emitted::Filtered => self.counts.filtered += 1,
            Emitted::Dropped(_) => self.counts.dropped += 1,
        }
    }
}

/// One row's result, from a worker to the sink.
struct RowDone {
    row: RowId,
    token: TokenId,
    outcome: TokenOutcome,
    sink: Option<NameId>,
}

/// Parsing: some real CPU work over a synthetic record.
fn parse_record(row: u64, rng: &mut XorShiftRng) -> u64 {
    let len = rng.random_range(200..600usize);
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ row;
    for i in 0..len {
        hash ^= (i as u64).wrapping_mul(row | 1);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    std::hint::black_box(hash)
}

/// One worker: takes rows from the shared source until it is exhausted.
fn worker(
    run: RunContext<'_>,
    ids: Ids,
    seed: u64,
    rows: u64,
    source: &AtomicU64,
    done: mpsc::SyncSender<RowDone>,
    mut out: Emitter<'_>,
) -> EmitCounts {
    loop {
        let n = source.fetch_add(1, Ordering::Relaxed);
        if n >= rows {
            return out.counts;
        }
        // Seeded per row, so a seed gives the same outcomes whatever the
        // thread interleaving.
        let mut rng = XorShiftRng::seed_from_u64(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (row, token) = (RowId::new(n), TokenId::new(n));
        out.emit(PipelineEvent::row_created(run, row, token));

        let started = run.now();
        parse_record(n, &mut rng);
        let malformed = rng.random_bool(0.004);
        let outcome = if malformed {
            TransformOutcome::Failed { error: ids.malformed_record }
        } else {
            TransformOutcome::Succeeded
        };
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.parse,
            ids.csv_parser,
            run.now().saturating_duration_since(started),
            outcome,
        ));
        if malformed {
            let _ = done.send(RowDone {
                row,
                token,
                outcome: TokenOutcome::Quarantined,
                sink: Some(ids.quarantine),
            });
            continue;
        }

        // Enrich: one row in eight asks a (simulated, slow) language model.
        let started = run.now();
        let mut failed = false;
        if rng.random_bool(0.125) {
            let timed_out = rng.random_bool(0.02);
            let wait = if timed_out { 12_000 } else { rng.random_range(1_000..5_000u64) };
            thread::sleep(Duration::from_micros(wait));
            let (status, volume) = if timed_out {
                (CallStatus::TimedOut, CallVolume::None)
            } else {
                let prompt = rng.random_range(80..400u32);
                (CallStatus::Ok, CallVolume::Tokens { prompt, completion: rng.random_range(10..120u32) })
            };
            out.emit(PipelineEvent::external_call_completed(
                run,
                token,
                CallKind::Llm,
                ids.openai,
                Duration::from_micros(wait),
                status,
                volume,
            ));
            failed = timed_out;
        }
        let outcome = if failed {
            TransformOutcome::Failed { error: ids.llm_timeout }
        } else {
            TransformOutcome::Succeeded
        };
        let took = run.now().saturating_duration_since(started);
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.enrich,
            ids.llm_enricher,
            took,
            outcome,
        ));
        if failed {
            let _ = done.send(RowDone { row, token, outcome: TokenOutcome::Failed, sink: None });
            continue;
        }

        // Lookup: a fast SQL query (its latency is simulated, not slept).
        let query = Duration::from_micros(rng.random_range(50..400u64));
        let bytes = CallVolume::bytes(rng.random_range(100..300u64), rng.random_range(200..4_000u64));
        out.emit(PipelineEvent::external_call_completed(
            run,
            token,
            CallKind::Sql,
            ids.postgres,
            query,
            CallStatus::Ok,
            bytes,
        ));
        let outcome = TransformOutcome::Succeeded;
        out.emit(PipelineEvent::transform_completed(
            run,
            row,
            token,
            ids.lookup,
            ids.sql_lookup,
            query,
            outcome,
        ));

        // The gate: most rows continue to the warehouse, some need review.
        let review = rng.random_bool(0.08);
        let decision =
            if review { GateDecision::Route { route: ids.needs_review } } else { GateDecision::Continue };
        out.emit(PipelineEvent::gate_evaluated(run, row, token, ids.quality_gate, decision));
        let (outcome, sink) = if review {
            (TokenOutcome::Routed, ids.review_queue)
        } else {
            (TokenOutcome::Completed, ids.warehouse)
        };
        let _ = done.send(RowDone { row, token, outcome, sink: Some(sink) });
    }
}

/// The sink: completes tokens, counts rows, emits progress.
fn sink(
    run: RunContext<'_>,
    mut ticker: ProgressTicker<'_>,
    done: mpsc::Receiver<RowDone>,
    rows_done: &AtomicU64,
    mut out: Emitter<'_>,
) -> (EmitCounts, RowCounts) {
    loop {
        match done.recv_timeout(ticker.every()) {
            Ok(RowDone { row, token, outcome, sink }) => {
                out.emit(PipelineEvent::token_completed(run, row, token, outcome, sink));
                if let Some(progress) = ticker.record(RowOutcome::from(outcome)) {
                    out.emit(progress);
                }
                rows_done.fetch_add(1, Ordering::Relaxed);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(progress) = ticker.poll() {
                    out.emit(progress);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    out.emit(ticker.finish());
    (out.counts, ticker.counts())
}

/// An exporter that sleeps per batch (`--slow-exporter-ms`): the consumer
/// serves exporters in turn, so it slows every one of them, the ring fills,
/// and backpressure and drops become visible.
#[derive(Debug)]
struct SlowExporter {
    delay: Duration,
}

impl Exporter<PipelineEvent> for SlowExporter {
    fn name(&self) -> &str {
        "slow"
    }
    fn export(&mut self, _batch: &[PipelineEvent]) -> Result<(), ExportError> {
        thread::sleep(self.delay);
        Ok(())
    }
}

/// Routes the console exporter's lines above the progress bar.
struct BarWriter {
    bar: ProgressBar,
    pending: Vec<u8>,
}

impl Write for BarWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            self.bar.println(String::from_utf8_lossy(&line[..end]));
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn progress_bar(args: &Args) -> ProgressBar {
    if args.health_json || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(args.rows), ProgressDrawTarget::stderr_with_hz(10));
    let style = ProgressStyle::with_template(
        "{spinner} {elapsed_precise} [{bar:24}] {human_pos}/{human_len} rows | {msg}",
    )
    .expect("the template is valid")
    .progress_chars("=> ");
    bar.set_style(style);
    bar
}

/// Refreshes the bar from `Health`: events/s, queue fill, drops.
struct Monitor {
    last_at: Instant,
    last_offered: u64,
    last_rows: u64,
}

impl Monitor {
    fn refresh(&mut self, bar: &ProgressBar, health: &Health, rows_done: u64) {
        let now = Instant::now();
        let dt = now.duration_since(self.last_at).as_secs_f64();
        let rate = |now: u64, then: u64| if dt > 0.0 { now.saturating_sub(then) as f64 / dt } else { 0.0 };
        let (rows_per_sec, events_per_sec) =
            (rate(rows_done, self.last_rows), rate(health.offered(), self.last_offered));
        self.last_at = now;
        self.last_offered = health.offered();
        self.last_rows = rows_done;
        let fill = 100.0 * health.queue_len() as f64 / health.capacity().max(1) as f64;
        bar.set_position(rows_done);
        bar.set_message(format!(
            "{} rows/s | {} events/s | queue {fill:>3.0}% of {} | dropped {} | blocked {}",
            human(rows_per_sec as u64),
            human(events_per_sec as u64),
            human(health.capacity() as u64),
            human(health.dropped_total()),
            health.blocked_producers(),
        ));
    }
}

/// `1234567` as `1,234,567`.
fn human(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn run(args: &Args) -> Result<bool, UsageError> {
    let config = load_config(args)?;
    let clock = SystemClock::new();
    let run_id = RunId::new(clock.now().as_nanos() / 1_000_000);
    let run = RunContext::new(run_id, &clock);
    let every = Duration::from_millis(args.progress_every_ms);
    ProgressTicker::new(run, args.progress_every_rows, every).map_err(|e| {
        let flag = if e.field() == "every_rows" { "--progress-every-rows" } else { "--progress-every-ms" };
        UsageError(format!("{e} (from {flag})"))
    })?;

    let names = Arc::new(Names::new());
    let ids = Ids::intern(&names);
    let out_path = args.out.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    if let Some(dir) = out_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| UsageError(format!("--out {}: {e}", out_path.display())))?;
    }
    // Rotated files of an earlier run would be overwritten by this run's
    // rotations anyway; remove them so the files beside `--out` are this run's.
    for index in 1..=JSONL_KEEP {
        let _ = std::fs::remove_file(rotated_path(&out_path, index));
    }
    let json_lines = JsonLines::builder(&out_path, Arc::clone(&names))
        .rotate(args.rotate_mib * 1024 * 1024, JSONL_KEEP)
        .create()
        .map_err(|e| UsageError(format!("--out: {e}")))?;

    let bar = progress_bar(args);
    let console_out: Box<dyn Write + Send> = if bar.is_hidden() {
        Box::new(io::stderr())
    } else {
        Box::new(BarWriter { bar: bar.clone(), pending: Vec::new() })
    };
    let console = Console::new(console_out, Arc::clone(&names)).summary_every(Duration::from_secs(2));
    let mut builder = Telemetry::<PipelineEvent>::builder()
        .config(config.clone())
        .clock(clock)
        .exporter(json_lines)
        .exporter(console);
    if let Some(ms) = args.slow_exporter_ms {
        builder = builder.exporter(SlowExporter { delay: Duration::from_millis(ms) });
    }
    let telemetry = builder.start()?;

    let mut main_out = Emitter { telemetry: &telemetry, counts: EmitCounts::default() };
    let started = run.now();
    let wall = Instant::now();
    main_out.emit(PipelineEvent::run_started(run, ids.pipeline));
    main_out.emit(PipelineEvent::phase_changed(run, Phase::Source));
    main_out.emit(PipelineEvent::phase_changed(run, Phase::Process));

    let source = AtomicU64::new(0);
    let rows_done = AtomicU64::new(0);
    let mut emitted = EmitCounts::default();
    let mut rows = RowCounts::default();
    thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::sync_channel::<RowDone>(4_096);
        let workers: Vec<_> = (0..args.threads)
            .map(|_| {
                let done = done_tx.clone();
                let out = Emitter { telemetry: &telemetry, counts: EmitCounts::default() };
                let (clock, source, seed, total) = (&clock, &source, args.seed, args.rows);
                scope.spawn(move || {
                    worker(RunContext::new(run_id, clock), ids, seed, total, source, done, out)
                })
            })
            .collect();
        drop(done_tx);
        let sink = {
            let out = Emitter { telemetry: &telemetry, counts: EmitCounts::default() };
            let (clock, rows_done, every_rows) = (&clock, &rows_done, args.progress_every_rows);
            scope.spawn(move || {
                let run = RunContext::new(run_id, clock);
                let ticker = ProgressTicker::new(run, every_rows, every).expect("validated above");
                sink(run, ticker, done_rx, rows_done, out)
            })
        };
        let mut monitor = Monitor { last_at: Instant::now(), last_offered: 0, last_rows: 0 };
        while !sink.is_finished() {
            thread::sleep(Duration::from_millis(100));
            monitor.refresh(&bar, &telemetry.health(), rows_done.load(Ordering::Relaxed));
        }
        for handle in workers {
            emitted.add(handle.join().expect("a worker panicked"));
        }
        let (sink_counts, row_counts) = sink.join().expect("the sink panicked");
        emitted.add(sink_counts);
        rows = row_counts;
    });

    main_out.emit(PipelineEvent::phase_changed(run, Phase::Sink));
    let duration = run.now().saturating_duration_since(started);
    main_out.emit(PipelineEvent::run_finished(run, RunStatus::Completed, rows.processed, duration));
    emitted.add(main_out.counts);
    let run_time = wall.elapsed();
    bar.finish_and_clear();

    let closing = Instant::now();
    let report = match telemetry.close(config.close_timeout) {
        Ok(report) => report,
        Err(err) => match err.report() {
            Some(report) => {
                eprintln!("warning: {err}");
                report.clone()
            }
            None => {
                eprintln!("error: {err}");
                return Ok(false);
            }
        },
    };
    let close_time = closing.elapsed();
    let health = report.health();
    let checks = Checks::new(health, emitted);
    print_report(&Report {
        health,
        emitted,
        rows,
        run_time,
        close_time,
        checks,
        out: &out_path,
        now: clock.now(),
    });
    if args.health_json {
        let json = serde_json::to_string(health).expect("Health serializes to JSON");
        println!("{json}");
    }
    Ok(checks.conserved && checks.counted)
}

/// The two checks the run must pass.
#[derive(Debug, Clone, Copy)]
struct Checks {
    /// `offered = filtered + delivered + dropped`, nothing left in flight.
    conserved: bool,
    /// `offered` and `filtered` equal what this program counted itself.
    counted: bool,
}

impl Checks {
    fn new(health: &Health, emitted: EmitCounts) -> Checks {
        Checks {
            conserved: health.is_conserved() && health.in_flight() == 0 && health.queue_len() == 0,
            counted: emitted.calls == health.offered() && emitted.filtered == health.filtered(),
        }
    }
}

struct Report<'a> {
    health: &'a Health,
    emitted: EmitCounts,
    rows: RowCounts,
    run_time: Duration,
    close_time: Duration,
    checks: Checks,
    out: &'a Path,
    now: Timestamp,
}

/// `<path>.<index>`, as `JsonLines` names rotated files.
fn rotated_path(path: &Path, index: usize) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{index}"));
    PathBuf::from(name)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✓ pass"
    } else {
        "✗ FAIL"
    }
}

fn print_report(r: &Report<'_>) {
    let h = r.health;
    let secs = r.run_time.as_secs_f64().max(1e-9);
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["ringtel health", "value"]);
    let mut row = |key: &str, value: String| {
        table.add_row(vec![Cell::new(key), Cell::new(value)]);
    };
    row(
        "run",
        format!(
            "{} rows in {:.2} s ({} rows/s): {} succeeded, {} failed, {} quarantined",
            human(r.rows.processed),
            secs,
            human((r.rows.processed as f64 / secs) as u64),
            human(r.rows.succeeded),
            human(r.rows.failed),
            human(r.rows.quarantined),
        ),
    );
    row(
        "events",
        format!("{} offered, {} events/s", human(h.offered()), human((h.offered() as f64 / secs) as u64)),
    );
    row("close", format!("drained, flushed and closed in {:.3} s", r.close_time.as_secs_f64()));
    row("offered", human(h.offered()));
    row("filtered", format!("{} (granularity {:?})", human(h.filtered()), h.granularity()));
    row("delivered", human(h.delivered()));
    for reason in DropReason::ALL {
        row(&format!("dropped: {reason}"), human(h.dropped(reason)));
    }
    row("dropped total", human(h.dropped_total()));
    row("ring", format!("capacity {}, backpressure {:?}", human(h.capacity() as u64), h.backpressure()));
    for e in h.exporters() {
        let last_error = e.last_error().map_or_else(String::new, |l| format!("; last error: {}", l.message));
        row(
            &format!("exporter {}", e.name()),
            format!(
                "{}, breaker {} (opened {}x): {} events in {} batches, {} skipped, {} failures, \
                 {} flush failures, {} panics{last_error}",
                e.state(),
                match e.breaker() {
                    ringtel::BreakerState::Closed { .. } => "closed",
                    ringtel::BreakerState::Open { .. } => "open",
                    ringtel::BreakerState::HalfOpen { .. } => "half-open",
                },
                e.breaker_opened(),
                human(e.events_exported()),
                human(e.batches_exported()),
                human(e.skipped_events()),
                e.failures(),
                e.flush_failures(),
                e.panics(),
            ),
        );
    }
    let consumer = match h.consumer() {
        ConsumerState::Running => "running".to_owned(),
        ConsumerState::Stopped => "stopped".to_owned(),
        ConsumerState::Dead { message } => format!("dead: {message}"),
    };
    let heartbeat = h.last_heartbeat().map_or_else(
        || "never".to_owned(),
        |t| format!("{:.1} ms before this report", r.now.saturating_duration_since(t).as_secs_f64() * 1e3),
    );
    row("consumer", format!("{consumer}; last heartbeat {heartbeat}"));
    row(
        "offered = filtered + delivered + dropped",
        format!(
            "{} = {} + {} + {}  {}",
            h.offered(),
            h.filtered(),
            h.delivered(),
            h.dropped_total(),
            verdict(r.checks.conserved)
        ),
    );
    row(
        "emit() calls counted by this program",
        format!(
            "{} calls (filtered {}, dropped at emit {}) = offered {}  {}",
            r.emitted.calls,
            r.emitted.filtered,
            r.emitted.dropped,
            h.offered(),
            verdict(r.checks.counted)
        ),
    );
    let size = std::fs::metadata(r.out).map_or(0, |m| m.len());
    let rotated = (1..=JSONL_KEEP).filter(|i| rotated_path(r.out, *i).exists()).count();
    row(
        "json lines",
        format!(
            "{} ({:.1} MiB, {rotated} rotated files beside it)",
            r.out.display(),
            size as f64 / (1024.0 * 1024.0)
        ),
    );
    eprintln!("{table}");
}
