//! The `close`, `memory` and `latency` parts (see `scale.rs`).

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use ringtel::{Backpressure, Emitted, Telemetry};
use serde_json::{json, Value};

use crate::common::{
    channel_consumer, ev, pin_current, polling_consumer, Ev64, Hooks, PollControl, CONSUMER_CPU, PRODUCER_CPU,
};
use crate::throughput::{median_range, Null};
use crate::tsc::{tsc_end, tsc_start, Calibration};

/// Events queued before the timed close.
const FULL: usize = 65_536;

/// `close` with a full ring against draining a full crossbeam-channel.
pub fn close(quick: bool) -> Value {
    let reps = if quick { 3 } else { 7 };
    let (mut ringtel, mut crossbeam, mut queued) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        // ringtel: the consumer sleeps a second between looks, so the ring
        // fills while it sleeps; `close` wakes it, drains every event to
        // the exporter and joins its threads.
        // A consumer that woke during the fill took some events: such a
        // ring is not full, so it is closed untimed and the fill retried.
        let (t, accepted) = loop {
            let hooks = Hooks::new(None);
            let t = Telemetry::builder()
                .capacity(FULL)
                .backpressure(Backpressure::Drop)
                .consumer_idle(Duration::from_secs(1), Duration::from_secs(1))
                .exporter(Null(hooks.core()))
                .start()
                .expect("ringtel starts");
            let accepted = (0..FULL as u64).filter(|&i| t.emit(ev(i)) == Emitted::Queued).count();
            let len = t.health().queue_len();
            queued.push(len);
            if len == FULL {
                break (t, accepted);
            }
            let _ = t.close(Duration::from_secs(30));
        };
        let t0 = Instant::now();
        let report = t.close(Duration::from_secs(30)).expect("closes in time");
        ringtel.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(report.health().delivered(), accepted as u64, "close delivered every queued event");

        // crossbeam-channel: the consumer starts when the timer does; the
        // close is waking it, dropping the sender and joining the drained
        // consumer.
        let hooks = Hooks::new(None);
        let (tx, rx) = crossbeam_channel::bounded(FULL);
        for i in 0..FULL as u64 {
            tx.try_send(ev(i)).expect("room");
        }
        let go = Arc::new(Barrier::new(2));
        let (core, wait) = (hooks.core(), Arc::clone(&go));
        let consumer = std::thread::spawn(move || {
            wait.wait();
            channel_consumer(|| rx.recv().ok(), || rx.try_recv().ok(), &core, None);
        });
        // The timer starts before the release: released first, the
        // consumer could drain everything before this thread read the clock.
        let t0 = Instant::now();
        go.wait();
        drop(tx);
        consumer.join().unwrap();
        crossbeam.push(t0.elapsed().as_secs_f64() * 1e3);
        assert_eq!(hooks.tally.delivered(), FULL as u64);
    }
    let (r, r_lo, r_hi) = median_range(&ringtel);
    let (c, c_lo, c_hi) = median_range(&crossbeam);
    eprintln!(
        "close with {FULL} queued ({reps} runs; queued after each fill, the partial ones retried: {queued:?}), load {}:\n  \
         ringtel close {r:.2} ms [{r_lo:.2}-{r_hi:.2}]; crossbeam-channel drop + drain {c:.2} ms [{c_lo:.2}-{c_hi:.2}]",
        crate::loadavg()
    );
    json!({ "queued": queued, "ringtel_ms": ringtel, "crossbeam_ms": crossbeam,
            "median_ms": { "ringtel": r, "crossbeam-channel": c } })
}

/// Resident set size now, in bytes (`VmRSS` in `/proc/self/status`).
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Heap and resident bytes a structure adds: after it is built, and after
/// it was filled to its capacity once.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    heap_built: usize,
    rss_built: usize,
    heap_filled: usize,
    rss_filled: usize,
}

fn measure<T>(build: impl FnOnce() -> T, fill: impl FnOnce(&T)) -> Footprint {
    let (heap0, rss0) = (crate::live_heap(), rss());
    let built = build();
    let (heap1, rss1) = (crate::live_heap(), rss());
    fill(&built);
    let (heap2, rss2) = (crate::live_heap(), rss());
    drop(black_box(built));
    let delta = |a: usize, b: usize| b.saturating_sub(a);
    Footprint {
        heap_built: delta(heap0, heap1),
        rss_built: delta(rss0, rss1),
        heap_filled: delta(heap0, heap2),
        rss_filled: delta(rss0, rss2),
    }
}

/// Set in a child process to measure one structure's memory alone.
pub const MEMORY_CHILD_ENV: &str = "RINGTEL_SCALE_MEMORY_CHILD";

/// The child: builds one structure (`ringtel:<capacity>` or
/// `crossbeam:<capacity>`) in a fresh process, so that no memory freed by an
/// earlier measure is reused, and prints its footprint as JSON.
pub fn memory_child(spec: &str) {
    let (which, capacity) = spec.split_once(':').expect("<peer>:<capacity>");
    let capacity: usize = capacity.parse().expect("capacity");
    let footprint = if which == "ringtel" {
        let hooks = Hooks::new(None);
        measure(
            || {
                Telemetry::builder()
                    .capacity(capacity)
                    .backpressure(Backpressure::Drop)
                    .consumer_idle(Duration::from_secs(1), Duration::from_secs(1))
                    .exporter(Null(hooks.core()))
                    .start()
                    .expect("ringtel starts")
            },
            |t: &Telemetry<Ev64>| {
                for i in 0..capacity as u64 {
                    let _ = t.emit(ev(i));
                }
            },
        )
    } else {
        measure(
            || crossbeam_channel::bounded::<Ev64>(capacity),
            |(tx, _rx): &(crossbeam_channel::Sender<Ev64>, crossbeam_channel::Receiver<Ev64>)| {
                for i in 0..capacity as u64 {
                    let _ = tx.try_send(ev(i));
                }
            },
        )
    };
    println!(
        "{}",
        json!({ "heap_built": footprint.heap_built, "rss_built": footprint.rss_built,
                "heap_filled": footprint.heap_filled, "rss_filled": footprint.rss_filled })
    );
}

/// Memory for three capacities: ringtel (started, one null exporter, Drop)
/// against crossbeam-channel bounded at the same capacity, same 64-byte
/// event, each measured in a process of its own.
pub fn memory() -> Value {
    let mut out = Vec::new();
    let mib = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN) / (1 << 20) as f64;
    let exe = std::env::current_exe().expect("the bench binary");
    let child = |spec: String| -> Value {
        let output = std::process::Command::new(&exe)
            .env(MEMORY_CHILD_ENV, &spec)
            .stderr(std::process::Stdio::null())
            .output()
            .expect("memory child runs");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|e| json!({ "error": e.to_string() }))
    };
    eprintln!("memory (64-byte events, one process per cell; heap: counting allocator, RSS: VmRSS):");
    eprintln!(
        "  {:>9} {:>34} {:>34}",
        "capacity", "ringtel heap / RSS MiB (filled)", "crossbeam heap / RSS MiB (filled)"
    );
    for capacity in [4_096usize, 65_536, 1_048_576] {
        let ringtel = child(format!("ringtel:{capacity}"));
        let crossbeam = child(format!("crossbeam:{capacity}"));
        let cell = |v: &Value| {
            format!(
                "{:.2} / {:.2} ({:.2} / {:.2})",
                mib(v, "heap_built"),
                mib(v, "rss_built"),
                mib(v, "heap_filled"),
                mib(v, "rss_filled")
            )
        };
        eprintln!("  {capacity:>9} {:>34} {:>34}", cell(&ringtel), cell(&crossbeam));
        out.push(json!({ "capacity": capacity, "ringtel": ringtel, "crossbeam-channel": crossbeam }));
    }
    Value::Array(out)
}

/// The slow exporter's sleep per call.
const SLOW: Duration = Duration::from_micros(200);

/// Emit latency percentiles in Drop mode with a slow exporter: this thread
/// (pinned to CPU 0) emits flat out and times every emit with the TSC; the
/// exporter's thread is pinned to CPU 1 (ringtel's consumer is not pinned).
pub fn latency(quick: bool) -> Value {
    let cal = Calibration::measure();
    let (emits, reps) = if quick { (200_000, 3) } else { (1_000_000, 5) };
    let load_before = crate::loadavg();
    eprintln!(
        "latency: Drop mode, exporter sleeps {SLOW:?} per call, {emits} emits x {reps} runs, TSC {:.3} GHz, load {load_before}",
        cal.ghz
    );
    let mut out = serde_json::Map::new();
    // As in compare.rs: this thread on CPU 0, each exporter's thread on CPU 1.
    pin_current(PRODUCER_CPU);
    for name in ["ringtel", "raw ArrayQueue", "crossbeam-channel"] {
        let hooks = Hooks::new(Some(CONSUMER_CPU));
        hooks.set_slow(SLOW);
        let runs = match name {
            "ringtel" => {
                let t = Telemetry::builder()
                    .backpressure(Backpressure::Drop)
                    .exporter(Null(hooks.core()))
                    .start()
                    .expect("ringtel starts");
                let runs = timed(&cal, emits, reps, |e| t.emit(e) == Emitted::Queued);
                hooks.set_slow(Duration::ZERO);
                let _ = t.close(Duration::from_secs(60));
                runs
            }
            "raw ArrayQueue" => {
                let queue = Arc::new(ArrayQueue::new(ringtel::DEFAULT_CAPACITY));
                let control = Arc::new(PollControl::default());
                let (q, c, core) = (Arc::clone(&queue), Arc::clone(&control), hooks.core());
                let consumer = std::thread::spawn(move || polling_consumer(|| q.pop(), &c, &core, None));
                let runs = timed(&cal, emits, reps, |e| queue.push(e).is_ok());
                hooks.set_slow(Duration::ZERO);
                control.stop.store(true, std::sync::atomic::Ordering::Release);
                control.doorbell.ring();
                consumer.join().unwrap();
                runs
            }
            _ => {
                let (tx, rx) = crossbeam_channel::bounded(ringtel::DEFAULT_CAPACITY);
                let core = hooks.core();
                let consumer = std::thread::spawn(move || {
                    channel_consumer(|| rx.recv().ok(), || rx.try_recv().ok(), &core, None)
                });
                let runs = timed(&cal, emits, reps, |e| tx.try_send(e).is_ok());
                hooks.set_slow(Duration::ZERO);
                drop(tx);
                consumer.join().unwrap();
                runs
            }
        };
        let p999: Vec<f64> = runs.iter().map(|r| r[2]).collect();
        let (med, lo, hi) = median_range(&p999);
        eprintln!("  {name:<20} p99.9 median {med:.1} ns [{lo:.1}-{hi:.1}] (runs: p50, p99, p99.9, queued share: {runs:.3?})");
        out.insert(name.into(), json!({ "runs_p50_p99_p999_queued": runs, "p999_median_ns": med }));
    }
    let load_after = crate::loadavg();
    eprintln!("  load after: {load_after}");
    out.insert("load_before".into(), json!(load_before));
    out.insert("load_after".into(), json!(load_after));
    out.insert("slow_exporter_us".into(), json!(SLOW.as_micros() as u64));
    Value::Object(out)
}

/// `reps` runs of `emits` timed emits after a warm-up; each run's p50, p99,
/// p99.9 (ns) and the share of emits that queued.
fn timed(cal: &Calibration, emits: usize, reps: usize, mut emit: impl FnMut(Ev64) -> bool) -> Vec<[f64; 4]> {
    for i in 0..(emits / 4) as u64 {
        black_box(emit(ev(i)));
    }
    let mut cycles: Vec<u32> = Vec::with_capacity(emits);
    (0..reps)
        .map(|_| {
            cycles.clear();
            let mut queued = 0u64;
            for i in 0..emits as u64 {
                let start = tsc_start();
                let ok = emit(ev(i));
                let end = tsc_end();
                cycles.push(end.wrapping_sub(start).min(u64::from(u32::MAX)) as u32);
                queued += u64::from(ok);
            }
            cycles.sort_unstable();
            let at = |q: f64| cal.ns(cycles[((q * emits as f64) as usize).min(emits - 1)]);
            [at(0.50), at(0.99), at(0.999), queued as f64 / emits as f64]
        })
        .collect()
}
