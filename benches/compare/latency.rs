//! Emit latency percentiles in Drop mode with a slow exporter: one producer
//! (this thread, on `PRODUCER_CPU`) emits flat out and times every single
//! emit with the TSC; the consumer (on `CONSUMER_CPU`) hands batches to an
//! exporter that sleeps `SLOW` per call, so the queue is full most of the time
//! and each drained batch opens a short window of successful pushes.

use std::hint::black_box;
use std::time::Duration;

use crate::common::{ev, Hooks, CONSUMER_CPU};
use crate::peers::{
    CrossbeamChannel, Elspeth, Flume, Mode, OtelBatch, Outcome, Peer, RawArrayQueue, Ringtel, Rtrb,
    StdSyncChannel, TracingAppender,
};
use crate::report::Recorder;
use crate::tsc::{tsc_end, tsc_start, Calibration};

/// How long each export call of the slow exporter takes (a sleep).
pub const SLOW: Duration = Duration::from_micros(200);

/// The percentiles recorded, with their measure names.
pub const PERCENTILES: [(f64, &str); 3] =
    [(0.50, "latency_p50"), (0.99, "latency_p99"), (0.999, "latency_p99.9")];

/// Runs every peer; returns the TSC calibration for the report.
pub fn run(rec: &Recorder, quick: bool) -> Calibration {
    let cal = Calibration::measure();
    let (emits, reps) = if quick { (200_000, 3) } else { (1_000_000, 5) };
    eprintln!(
        "latency: {emits} emits x {reps} runs per peer, slow exporter {SLOW:?}/call; TSC {:.3} GHz, \
         timer overhead {} cycles (subtracted)",
        cal.ghz, cal.overhead_cycles
    );
    peer::<Ringtel>(rec, &cal, emits, reps);
    peer::<RawArrayQueue>(rec, &cal, emits, reps);
    peer::<CrossbeamChannel>(rec, &cal, emits, reps);
    peer::<StdSyncChannel>(rec, &cal, emits, reps);
    peer::<Flume>(rec, &cal, emits, reps);
    peer::<Rtrb>(rec, &cal, emits, reps);
    peer::<TracingAppender>(rec, &cal, emits, reps);
    peer::<OtelBatch>(rec, &cal, emits, reps);
    peer::<Elspeth>(rec, &cal, emits, reps);
    cal
}

fn peer<P: Peer>(rec: &Recorder, cal: &Calibration, emits: usize, reps: usize) {
    let hooks = Hooks::new(Some(CONSUMER_CPU));
    hooks.set_slow(SLOW);
    let mut peer = P::start(&hooks, Mode::Drop);
    let mut tx = peer.producer();
    let mut cycles: Vec<u32> = Vec::with_capacity(emits);
    // Warm-up: fills the queue and reaches the steady full/drain cycle.
    for i in 0..(emits / 4) as u64 {
        black_box(P::try_emit(&mut tx, ev(i)));
    }
    for _ in 0..reps {
        cycles.clear();
        let mut dropped = 0u64;
        let mut known = true;
        for i in 0..emits as u64 {
            let start = tsc_start();
            let outcome = P::try_emit(&mut tx, ev(i));
            let end = tsc_end();
            cycles.push(end.wrapping_sub(start).min(u64::from(u32::MAX)) as u32);
            match outcome {
                Outcome::Queued => {}
                Outcome::Dropped => dropped += 1,
                Outcome::Unknown => known = false,
            }
        }
        cycles.sort_unstable();
        let mut line = format!("  {:<40}", P::NAME);
        for (q, measure) in PERCENTILES {
            let ns = cal.ns(cycles[((q * emits as f64) as usize).min(emits - 1)]);
            rec.value(measure, P::NAME, ns);
            line += &format!(" {}={ns:>8.1}ns", &measure["latency_".len()..]);
        }
        let max = cal.ns(cycles[emits - 1]);
        line += &format!(" max={max:>9.0}ns");
        if known {
            let share = dropped as f64 / emits as f64;
            rec.value("latency_dropped_share", P::NAME, share);
            line += &format!(" dropped={:.1}%", share * 100.0);
        }
        eprintln!("{line}");
    }
    drop(tx);
    peer.finish(&hooks);
}
