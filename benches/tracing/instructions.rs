//! Instruction counts for the tracing bench, stable on a noisy machine: the
//! bench binary re-runs itself under `valgrind --tool=callgrind` once per
//! scenario, collecting only inside the scenario's loop function
//! (`--toggle-collect`) on the calling thread (`--separate-threads=yes`,
//! profile `-01`), so ringtel's consumer and exporter threads and the peers'
//! background threads never count. Per-operation counts subtract the bare
//! loop (`baseline`) and divide by the loop length.
//!
//! `RINGTEL_TRACING_CALLGRIND=1 cargo bench -p ringtel-tests --bench tracing`
//! prints the table instead of running criterion; profiles stay in
//! `target/ringtel-bench/tracing-callgrind/` for `callgrind_annotate`.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ringtel::{Backpressure, Emitted, Telemetry};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

use super::{disabled, event, span, NoopLayer, Sized};

/// Set in the child to run one scenario.
pub const SCENARIO_ENV: &str = "RINGTEL_TRACING_CALLGRIND_SCENARIO";
/// Set (to anything) to print the instruction table instead of running criterion.
pub const PARENT_ENV: &str = "RINGTEL_TRACING_CALLGRIND";
const N_ENV: &str = "RINGTEL_TRACING_CALLGRIND_N";

/// Every scenario and what one loop iteration does.
pub const SCENARIOS: [(&str, &str); 13] = [
    ("baseline", "the bare loop (subtracted from the others)"),
    ("event_ringtel", "info! through registry + ringtel's layer"),
    ("event_ringtel_emit_time", "the same with EventTime::Emit"),
    ("event_noop", "info! through registry + a no-op layer (the floor)"),
    ("event_fmt", "info! through registry + fmt + non_blocking (caller thread only)"),
    ("event_otel", "info! through registry + the OTel bridge + BatchLogProcessor (caller thread only)"),
    ("disabled_ringtel", "a debug! callsite the layer disables"),
    ("disabled_none", "the same callsite with no subscriber"),
    ("span_ringtel", "info_span! new + close through ringtel's layer"),
    ("span_noop", "info_span! new + close through a no-op layer"),
    ("span_otel", "info_span! new + close through tracing-opentelemetry (caller thread only)"),
    ("emit_56", "Telemetry::emit of a 56-byte event with room"),
    ("emit_64", "Telemetry::emit of a 64-byte event with room"),
];

// One loop function per operation; identical bodies would be folded into
// one symbol by the linker and callgrind would see only that one.

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_baseline(n: u64) {
    for i in 0..n {
        black_box(i);
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_event(n: u64) {
    for i in 0..n {
        event(black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_disabled(n: u64) {
    for i in 0..n {
        disabled(black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_span(n: u64) {
    for i in 0..n {
        span(black_box(i));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_emit56(telemetry: &Telemetry<Sized<56>>, n: u64) {
    for i in 0..n {
        let _ = black_box(telemetry.emit(Sized([i as u8; 56])));
    }
}

#[no_mangle]
#[inline(never)]
pub fn ringtel_tct_emit64(telemetry: &Telemetry<Sized<64>>, n: u64) {
    for i in 0..n {
        let _ = black_box(telemetry.emit(Sized([i as u8; 64])));
    }
}

fn collected_function(scenario: &str) -> &'static str {
    match scenario {
        "baseline" => "ringtel_tct_baseline",
        "emit_56" => "ringtel_tct_emit56",
        "emit_64" => "ringtel_tct_emit64",
        s if s.starts_with("event_") => "ringtel_tct_event",
        s if s.starts_with("disabled_") => "ringtel_tct_disabled",
        _ => "ringtel_tct_span",
    }
}

/// A ring big enough for every record of the run, so nothing is dropped
/// whether or not the consumer is scheduled.
fn ringtel(
    n: u64,
    time: ringtel::tracing::EventTime,
    max: LevelFilter,
) -> (Dispatch, ringtel::tracing::TracingGuard) {
    let (layer, guard) = ringtel::tracing::layer()
        .capacity((2 * n as usize + 64).next_power_of_two())
        .backpressure(Backpressure::Drop)
        .max_level(max)
        .event_time(time)
        .exporter(ringtel::exporters::Null::new())
        .start()
        .expect("ringtel starts");
    (Dispatch::new(tracing_subscriber::registry().with(layer)), guard)
}

/// Runs `body` once to warm up (callsite registration, thread index), then
/// the collected loop.
fn under(dispatch: &Dispatch, warm: fn(u64), collected: fn(u64), n: u64) {
    tracing::dispatcher::with_default(dispatch, || {
        warm(0);
        collected(n);
    });
}

fn check(name: &str, guard: ringtel::tracing::TracingGuard, records: u64) {
    let report = guard.close(Duration::from_secs(60)).expect("closes");
    let h = report.health();
    assert_eq!(h.delivered(), records, "{name}: every record delivered, none dropped");
}

fn sized<const N: usize>(n: u64) -> Telemetry<Sized<N>> {
    let telemetry = Telemetry::<Sized<N>>::builder()
        .capacity((n as usize + 64).next_power_of_two())
        .backpressure(Backpressure::Drop)
        .exporter(ringtel::exporters::Null::new())
        .start()
        .expect("ringtel starts");
    assert_eq!(telemetry.emit(Sized([0; N])), Emitted::Queued);
    telemetry
}

fn closed<const N: usize>(telemetry: Telemetry<Sized<N>>, n: u64) {
    let report = telemetry.close(Duration::from_secs(60)).expect("closes");
    assert_eq!(report.health().delivered(), n + 1);
}

/// The child: sets up, warms up outside the collected function, runs it once.
pub fn run_scenario(name: &str) {
    use ringtel::tracing::EventTime;
    // The layer calibrates its clock on a thread of its own; under
    // callgrind that can outlast the warm-up, and the records taken before
    // it is done read the wall clock. Calibrated first, every run counts
    // the same reads.
    ringtel::tracing::calibrate_clock();
    let n: u64 = std::env::var(N_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    match name {
        "baseline" => ringtel_tct_baseline(n),
        "event_ringtel" | "event_ringtel_emit_time" => {
            let time = if name == "event_ringtel" { EventTime::Batch } else { EventTime::Emit };
            let (dispatch, guard) = ringtel(n, time, LevelFilter::TRACE);
            under(&dispatch, event, ringtel_tct_event, n);
            drop(dispatch);
            check(name, guard, n + 1);
        }
        "event_noop" => {
            under(&Dispatch::new(tracing_subscriber::registry().with(NoopLayer)), event, ringtel_tct_event, n)
        }
        "event_fmt" => {
            let (writer, guard) = tracing_appender::non_blocking(std::io::sink());
            let layer = tracing_subscriber::fmt::layer().with_writer(writer);
            under(&Dispatch::new(tracing_subscriber::registry().with(layer)), event, ringtel_tct_event, n);
            drop(guard);
        }
        "event_otel" => {
            let (dispatch, provider) = super::otel_logs();
            under(&dispatch, event, ringtel_tct_event, n);
            drop(dispatch);
            let _ = provider.shutdown();
        }
        "disabled_ringtel" => {
            let (dispatch, guard) = ringtel(n, EventTime::Batch, LevelFilter::INFO);
            under(&dispatch, disabled, ringtel_tct_disabled, n);
            drop(dispatch);
            check(name, guard, 0);
        }
        "disabled_none" => {
            disabled(0);
            ringtel_tct_disabled(n);
        }
        "span_ringtel" => {
            let (dispatch, guard) = ringtel(n, EventTime::Batch, LevelFilter::TRACE);
            under(&dispatch, span, ringtel_tct_span, n);
            drop(dispatch);
            check(name, guard, 2 * (n + 1));
        }
        "span_noop" => {
            under(&Dispatch::new(tracing_subscriber::registry().with(NoopLayer)), span, ringtel_tct_span, n)
        }
        "span_otel" => {
            let (dispatch, provider) = super::otel_spans();
            under(&dispatch, span, ringtel_tct_span, n);
            drop(dispatch);
            let _ = provider.shutdown();
        }
        "emit_56" => {
            let telemetry = sized::<56>(n);
            ringtel_tct_emit56(&telemetry, n);
            closed(telemetry, n);
        }
        "emit_64" => {
            let telemetry = sized::<64>(n);
            ringtel_tct_emit64(&telemetry, n);
            closed(telemetry, n);
        }
        other => panic!("unknown callgrind scenario {other:?}"),
    }
}

/// The parent: runs every scenario under callgrind and prints instructions
/// per operation (and the ratios the targets are about).
pub fn run() {
    let version = match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => panic!("valgrind not found"),
    };
    let exe = std::env::current_exe().expect("the bench binary");
    let n: u64 = std::env::var(N_ENV).ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let only = std::env::var(PARENT_ENV).unwrap_or_default();
    let dir = PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "../target".into()))
        .join("ringtel-bench/tracing-callgrind");
    std::fs::create_dir_all(&dir).expect("profile directory");
    eprintln!("{version}, {n} operations per scenario, profiles in {}", dir.display());
    let mut base = None;
    for (name, what) in SCENARIOS {
        if name != "baseline"
            && !only.is_empty()
            && only != "1"
            && !only.split(',').any(|s| name.starts_with(s))
        {
            continue;
        }
        let out = dir.join(format!("{name}.out"));
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg("--separate-threads=yes")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg(format!("--toggle-collect={}", collected_function(name)))
            .arg(&exe)
            .env(SCENARIO_ENV, name)
            .env(N_ENV, n.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("valgrind runs");
        assert!(status.success(), "callgrind run of {name} failed: {status:?}");
        let text = std::fs::read_to_string(dir.join(format!("{name}.out-01"))).expect("main thread profile");
        let total: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("a total");
        match base {
            None => {
                base = Some(total);
                eprintln!("{name:<26} {:>9.1} per iteration  {what}", total as f64 / n as f64);
            }
            Some(b) => {
                let per_op = (total as f64 - b as f64) / n as f64;
                eprintln!("{name:<26} {per_op:>9.1} per operation  {what}");
            }
        }
    }
}
