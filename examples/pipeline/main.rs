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
//! at the end a table shows the final `Health`, each exporter's row first,
//! and checks conservation (`offered = filtered + delivered + dropped`),
//! that `offered` = the emit() calls this program counted itself, and that
//! every exporter took every event (`delivered` alone only says that at
//! least one did). The progress bar and the table fit the terminal's width.
//!
//! The events go to a JSON Lines file, by default
//! `<target dir>/ringtel-pipeline/events.jsonl` next to the built example
//! (the path is printed when the run starts), rotated at `--rotate-mib` with
//! `--keep-rotated` old files: at most 16 MiB by default.
//!
//! Exit status: 0 when every check passes, 1 when one fails (conservation,
//! this program's own count, or an exporter that lost events), 2 for a bad
//! flag, configuration value or `--out` path (one line on stderr naming it),
//! 130 after Ctrl-C (the run stops taking rows, finishes with
//! `run_finished` status `interrupted`, closes and prints the table; a second
//! Ctrl-C exits at once).

mod out;
mod progress;
mod report;
mod rows;

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use ringtel::exporters::{Console, JsonLines};
use ringtel::pipeline::{
    Names, Phase, PipelineEvent, ProgressTicker, RowCounts, RunContext, RunId, RunStatus,
};
use ringtel::{Backpressure, Clock, CloseError, Config, Granularity, SystemClock, Telemetry};

use out::{OutPath, OutSource};
use progress::{progress_bar, ConsoleWriter, Monitor};
use report::{print_report, rotated_path, terminal_width, Checks, Report, Verdict};
use rows::{sink, worker, EmitCounts, Emitter, Ids, RowDone, SlowExporter};

/// Rows in a default run: about ten seconds on a 2-core machine in release
/// mode (the run is paced by simulated external calls, not by ringtel).
const DEFAULT_ROWS: u64 = 100_000;
/// Default size at which the JSON Lines file is rotated, in MiB.
const DEFAULT_ROTATE_MIB: u64 = 8;
/// Default number of rotated JSON Lines files kept beside the current one.
const DEFAULT_KEEP_ROTATED: usize = 1;
/// Most rotated files `--keep-rotated` accepts.
const MAX_KEEP_ROTATED: usize = 16;

/// A simulated row-processing pipeline emitting telemetry through ringtel to a
/// JSON Lines file and the console, with a progress bar and a final health
/// table that checks every event is accounted for.
#[derive(Debug, Parser)]
#[command(name = "pipeline", version, long_about = None)]
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
    /// The JSON Lines file; its directory must exist [default:
    /// <target dir>/ringtel-pipeline/events.jsonl, next to this binary].
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,
    /// Rotate the JSON Lines file when it would pass this many MiB.
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_ROTATE_MIB,
          value_parser = clap::value_parser!(u64).range(1..=1024))]
    rotate_mib: u64,
    /// Rotated JSON Lines files kept beside the current one (older ones are deleted).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_KEEP_ROTATED,
          value_parser = parse_keep)]
    keep_rotated: usize,
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

fn parse_keep(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(keep) if (1..=MAX_KEEP_ROTATED).contains(&keep) => Ok(keep),
        _ => Err(format!("expected an integer in 1..={MAX_KEEP_ROTATED}")),
    }
}

/// A configuration or setup problem: reported as one line, exit status 2.
struct UsageError(String);

impl<E: Error> From<E> for UsageError {
    fn from(err: E) -> Self {
        UsageError(err.to_string())
    }
}

/// Exit status after Ctrl-C: 128 + SIGINT, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

fn main() -> ExitCode {
    // First, so that a Ctrl-C at any later point ends the run gracefully. A
    // second Ctrl-C, while the run winds down, exits at once.
    let interrupted = Arc::new(AtomicBool::new(false));
    for result in [
        signal_hook::flag::register_conditional_shutdown(
            signal_hook::consts::SIGINT,
            i32::from(EXIT_INTERRUPTED),
            Arc::clone(&interrupted),
        ),
        signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&interrupted)),
    ] {
        if let Err(err) = result {
            eprintln!("warning: Ctrl-C will not end the run gracefully: {err}");
        }
    }
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(err) if !err.use_stderr() => err.exit(), // --help, --version
        Err(err) => {
            let text = err.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: invalid arguments"));
            return ExitCode::from(2);
        }
    };
    match run(&args, &interrupted) {
        Ok(Verdict::Pass) => ExitCode::SUCCESS,
        Ok(Verdict::Fail) => ExitCode::from(1),
        Ok(Verdict::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
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

fn run(args: &Args, interrupted: &AtomicBool) -> Result<Verdict, UsageError> {
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
    let out = match &args.out {
        Some(path) => OutPath::given(path),
        None => OutPath::default_location(),
    }
    .map_err(|e| UsageError(e.to_string()))?;
    let keep = args.keep_rotated;
    // Rotated files of an earlier run would be overwritten by this run's
    // rotations anyway; remove them so the files beside `--out` are this run's.
    for index in 1..=MAX_KEEP_ROTATED {
        let _ = std::fs::remove_file(rotated_path(out.path(), index));
    }
    let json_lines = JsonLines::builder(out.path())
        .names(Arc::clone(&names))
        .rotate(args.rotate_mib * 1024 * 1024, keep)
        .create()
        .map_err(|e| UsageError(format!("--out {}: {e}", out.path().display())))?;
    let width = terminal_width();
    let announce = format!(
        "events -> {}{} (rotated at {} MiB, {keep} old {} kept: at most {} MiB)",
        out.path().display(),
        match out.source() {
            OutSource::Default => " [default]",
            OutSource::Given => "",
        },
        args.rotate_mib,
        if keep == 1 { "file" } else { "files" },
        args.rotate_mib * (keep as u64 + 1),
    );
    eprintln!("{}", progress::wrap(&announce, usize::from(width)).join("\n"));

    let bar = progress_bar(args, width);
    let console_out =
        ConsoleWriter { bar: (!bar.is_hidden()).then(|| bar.clone()), width, pending: Vec::new() };
    let console = Console::new(console_out).names(Arc::clone(&names)).summary_every(Duration::from_secs(2));
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
    let mut stopped_early = false;
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
        let mut monitor = Monitor::new(width);
        while !sink.is_finished() {
            thread::sleep(Duration::from_millis(100));
            if interrupted.load(Ordering::Relaxed) && !stopped_early {
                // The source runs dry: every worker finishes its current
                // row and stops; the sink drains what they completed.
                source.fetch_max(args.rows, Ordering::Relaxed);
                stopped_early = true;
                bar.println(
                    "interrupted: finishing the rows in progress, then closing (Ctrl-C again to quit now)",
                );
            }
            monitor.refresh(&bar, &telemetry.health(), rows_done.load(Ordering::Relaxed));
        }
        for handle in workers {
            emitted.add(handle.join().expect("a worker panicked"));
        }
        let (sink_counts, row_counts) = sink.join().expect("the sink panicked");
        emitted.add(sink_counts);
        rows = row_counts;
    });
    // A Ctrl-C after the last row still counts: the run did not end as asked.
    let status = if stopped_early || interrupted.load(Ordering::Relaxed) {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };

    main_out.emit(PipelineEvent::phase_changed(run, Phase::Sink));
    let duration = run.now().saturating_duration_since(started);
    main_out.emit(PipelineEvent::run_finished(run, status, rows.processed, duration));
    emitted.add(main_out.counts);
    let run_time = wall.elapsed();
    bar.finish_and_clear();

    let closing = Instant::now();
    let report = match telemetry.close(config.close_timeout) {
        Ok(report) => report,
        // The table below names every exporter that lost events, and the
        // checks fail the run.
        Err(CloseError::EventsLost { report }) => report,
        Err(err) => match err.report() {
            Some(report) => {
                eprintln!("warning: {err}");
                report.clone()
            }
            None => {
                eprintln!("error: {err}");
                return Ok(Verdict::Fail);
            }
        },
    };
    let close_time = closing.elapsed();
    let health = report.health();
    let checks = Checks::new(health, emitted);
    print_report(
        &Report {
            health,
            emitted,
            rows,
            status,
            run_time,
            close_time,
            checks: &checks,
            out: out.path(),
            keep,
            now: clock.now(),
        },
        width,
    );
    if args.health_json {
        let json = serde_json::to_string(health).expect("Health serializes to JSON");
        println!("{json}");
    }
    Ok(checks.verdict(status))
}
