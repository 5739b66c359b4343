//! The criterion measures: emit with room, emit when full, filtered emit, and
//! end-to-end throughput with 1 and 2 producers. Every routine is
//! `iter_custom`, so untimed work (draining between chunks, spawning and
//! pinning producer threads) stays out of the numbers, and every sample is
//! also kept in the [`Recorder`] for the ratio table.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput};
use ringtel::{Emitted, Granularity, Telemetry};

use crate::common::{ev, ev_full, pin_current, Hooks, CAPACITY, CONSUMER_CPU, PRODUCER_CPU};
use crate::elspeth::{self, NullElspethExporter, TelemetryManager};
use crate::peers::{
    CrossbeamChannel, Elspeth, Flume, Mode, OtelBatch, Outcome, Peer, RawArrayQueue, Ringtel, Rtrb,
    StdSyncChannel, TracingAppender,
};
use crate::report::Recorder;

/// Emits per timed chunk in "emit with room": an eighth of the capacity, so a
/// chunk always finds room after the untimed drain before it.
const CHUNK: u64 = (CAPACITY / 8) as u64;

/// Run lengths for a full run and for `RINGTEL_BENCH_QUICK=1`.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub quick: bool,
    pub sample_size: usize,
    pub warm_up: Duration,
    pub measurement: Duration,
    pub e2e_sample_size: usize,
    pub e2e_measurement: Duration,
}

impl Timing {
    pub fn new(quick: bool) -> Self {
        if quick {
            Timing {
                quick,
                sample_size: 10,
                warm_up: Duration::from_millis(150),
                measurement: Duration::from_millis(400),
                e2e_sample_size: 10,
                e2e_measurement: Duration::from_millis(800),
            }
        } else {
            Timing {
                quick,
                sample_size: 30,
                warm_up: Duration::from_millis(700),
                measurement: Duration::from_secs(2),
                e2e_sample_size: 15,
                e2e_measurement: Duration::from_secs(4),
            }
        }
    }

    pub fn criterion(&self) -> Criterion {
        Criterion::default()
            .sample_size(self.sample_size)
            .warm_up_time(self.warm_up)
            .measurement_time(self.measurement)
            .nresamples(if self.quick { 5_000 } else { 50_000 })
            .without_plots()
            .configure_from_args()
    }
}

fn group<'a>(c: &'a mut Criterion, name: &str, t: &Timing) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(t.sample_size).warm_up_time(t.warm_up).measurement_time(t.measurement);
    g
}

/// Emit with room: chunks of `CHUNK` emits into a pre-drained queue, one
/// producer (this thread, on `PRODUCER_CPU`), the consumer (on `CONSUMER_CPU`)
/// paused: before each chunk the consumer drains everything (untimed), then
/// the gate in its exporter closes, so during the chunk it takes at most one
/// batch and then waits at the gate. Every peer is paused the same way, so
/// the number is the producer's own cost, including the cache misses of
/// writing slots the consumer freed: no consumer spins against the producer.
pub fn emit_room(c: &mut Criterion, rec: &Recorder, t: &Timing) {
    let mut g = group(c, "emit_room", t);
    room::<Ringtel>(&mut g, rec);
    room::<RawArrayQueue>(&mut g, rec);
    room::<CrossbeamChannel>(&mut g, rec);
    room::<StdSyncChannel>(&mut g, rec);
    room::<Flume>(&mut g, rec);
    room::<Rtrb>(&mut g, rec);
    room::<TracingAppender>(&mut g, rec);
    room::<OtelBatch>(&mut g, rec);
    room::<Elspeth>(&mut g, rec);
    g.finish();
}

fn room<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, rec: &Recorder) {
    let hooks = Hooks::new(Some(CONSUMER_CPU));
    let mut peer = P::start(&hooks, Mode::Drop);
    let mut tx = peer.producer();
    let mut offered = 0u64;
    g.bench_function(P::NAME, |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                hooks.gate.open();
                peer.settle(&hooks, offered);
                hooks.gate.close();
                let start = Instant::now();
                for i in 0..n {
                    black_box(P::try_emit(&mut tx, ev(i)));
                }
                timed += start.elapsed();
                done += n;
                offered += n;
            }
            rec.sample("emit_room", P::NAME, timed, iters);
            timed
        })
    });
    drop(tx);
    peer.finish(&hooks);
}

/// Emit when full: the consumer is held inside its exporter and the queue is
/// filled; every timed emit is refused (ringtel: `Dropped(QueueFull)`).
pub fn emit_full(c: &mut Criterion, rec: &Recorder, t: &Timing) {
    let mut g = group(c, "emit_full", t);
    full::<Ringtel>(&mut g, rec);
    full::<RawArrayQueue>(&mut g, rec);
    full::<CrossbeamChannel>(&mut g, rec);
    full::<StdSyncChannel>(&mut g, rec);
    full::<Flume>(&mut g, rec);
    full::<Rtrb>(&mut g, rec);
    full::<TracingAppender>(&mut g, rec);
    full::<OtelBatch>(&mut g, rec);
    full::<Elspeth>(&mut g, rec);
    g.finish();
}

/// Name of the raw floor in the drop-path measure.
pub const RAW_FULL: &str = "raw ArrayQueue::push (full)";

fn full<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, rec: &Recorder) {
    let hooks = Hooks::new(Some(CONSUMER_CPU));
    let mut peer = P::start(&hooks, Mode::Drop);
    let mut tx = peer.producer();
    hooks.gate.close();
    // Feed the consumer until it is held at the gate with its first batch.
    let mut i = 0u64;
    while hooks.gate.blocked.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        let _ = P::try_emit(&mut tx, ev(i));
        i += 1;
        if i % 256 == 0 {
            // Every consumer wakes by itself (timer or blocking receive).
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    // Then fill the queue past its capacity.
    for i in 0..(CAPACITY + 8 * crate::common::batch()) as u64 {
        let _ = P::try_emit(&mut tx, ev(i));
    }
    let probe = P::try_emit(&mut tx, ev(0));
    assert_ne!(probe, Outcome::Queued, "{}: the queue should be full", P::NAME);
    let name = if P::NAME == RawArrayQueue::NAME { RAW_FULL } else { P::NAME };
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                black_box(P::try_emit(&mut tx, ev(i)));
            }
            let timed = start.elapsed();
            rec.sample("emit_full", name, timed, iters);
            timed
        })
    });
    drop(tx);
    peer.finish(&hooks);
}

/// Filtered emit: an event above the granularity setting.
pub fn emit_filtered(c: &mut Criterion, rec: &Recorder, t: &Timing) {
    let mut g = group(c, "emit_filtered", t);

    let hooks = Hooks::new(Some(CONSUMER_CPU));
    let peer = Ringtel::start(&hooks, Mode::Drop);
    let telemetry: &Telemetry<_> = peer.telemetry();
    assert_eq!(telemetry.emit(ev_full(0)), Emitted::Filtered);
    g.bench_function(Ringtel::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let _ = black_box(telemetry.emit(ev_full(i)));
            }
            let timed = start.elapsed();
            rec.sample("emit_filtered", Ringtel::NAME, timed, iters);
            timed
        })
    });
    peer.finish(&hooks);

    let hooks = Hooks::new(Some(CONSUMER_CPU));
    let manager = TelemetryManager::new(
        Granularity::Rows,
        elspeth::Mode::Drop,
        CAPACITY,
        vec![Box::new(NullElspethExporter(hooks.core()))],
        Some(CONSUMER_CPU),
    );
    g.bench_function(Elspeth::NAME, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                black_box(manager.handle_event(ev_full(i)));
            }
            let timed = start.elapsed();
            rec.sample("emit_filtered", Elspeth::NAME, timed, iters);
            timed
        })
    });
    manager.close();

    // The floor C1 sets: a filtered event must be counted, and the cheapest
    // count is one thread-owned relaxed load + store (no lock prefix). In a
    // loop each increment waits for the previous store to forward: this is
    // that chain alone, after the same granularity test, with no control
    // word, no thread-local slot lookup and no shared state.
    const FLOOR: &str = "owned counter increment (C1 floor)";
    let counter = crossbeam_utils::CachePadded::new(AtomicU64::new(0));
    g.bench_function(FLOOR, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for i in 0..iters {
                let filtered = !Granularity::Rows.admits(ev_full(i).granularity);
                if filtered {
                    counter.store(counter.load(Relaxed) + 1, Relaxed);
                }
                black_box(filtered);
            }
            let timed = start.elapsed();
            rec.sample("emit_filtered", FLOOR, timed, iters);
            timed
        })
    });
    black_box(counter.load(Relaxed));

    // What a `tracing` user pays for a disabled event: the level filter.
    const TRACING: &str = "tracing::trace! (level off)";
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::with_default(subscriber, || {
        g.bench_function(TRACING, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    let e = black_box(ev_full(i));
                    tracing::trace!(run = e.words[0], row = e.words[1], token = e.words[2], "row");
                }
                let timed = start.elapsed();
                rec.sample("emit_filtered", TRACING, timed, iters);
                timed
            })
        });
    });
    g.finish();
}

/// End-to-end: `producers` threads (producer k on CPU k) emit with each
/// peer's blocking emit, the consumer (on `CONSUMER_CPU`) drains concurrently
/// to the no-op exporter; the clock stops when the last event was exported.
pub fn end_to_end(c: &mut Criterion, rec: &Recorder, t: &Timing, producers: usize) {
    let measure = if producers == 1 { "e2e_1p" } else { "e2e_2p" };
    let mut g = c.benchmark_group(measure);
    g.sample_size(t.e2e_sample_size)
        .warm_up_time(t.warm_up)
        .measurement_time(t.e2e_measurement)
        .throughput(Throughput::Elements(1));
    e2e::<Ringtel>(&mut g, rec, measure, producers);
    e2e::<RawArrayQueue>(&mut g, rec, measure, producers);
    e2e::<CrossbeamChannel>(&mut g, rec, measure, producers);
    e2e::<StdSyncChannel>(&mut g, rec, measure, producers);
    e2e::<Flume>(&mut g, rec, measure, producers);
    e2e::<Rtrb>(&mut g, rec, measure, producers);
    e2e::<TracingAppender>(&mut g, rec, measure, producers);
    e2e::<Elspeth>(&mut g, rec, measure, producers);
    // OpenTelemetry's BatchLogProcessor has no blocking mode: it drops when
    // full, so it has no end-to-end number in this sense.
    let _ = OtelBatch::BLOCKING;
    g.finish();
}

fn e2e<P: Peer>(g: &mut BenchmarkGroup<'_, WallTime>, rec: &Recorder, measure: &'static str, producers: usize)
where
    P::Tx: Send,
{
    if !P::BLOCKING || (producers > 1 && !P::MULTI_PRODUCER) {
        return;
    }
    let hooks = Hooks::new(Some(CONSUMER_CPU));
    let mut peer = P::start(&hooks, Mode::Block);
    let mut txs: Vec<P::Tx> = (0..producers).map(|_| peer.producer()).collect();
    g.bench_function(P::NAME, |b| {
        b.iter_custom(|iters| {
            let per = iters.div_ceil(producers as u64).max(1);
            let total = per * producers as u64;
            let base = hooks.tally.delivered();
            let barrier = Barrier::new(producers + 1);
            let elapsed = std::thread::scope(|s| {
                for (k, tx) in txs.iter_mut().enumerate() {
                    let barrier = &barrier;
                    std::thread::Builder::new()
                        .name(format!("producer-{k}"))
                        .spawn_scoped(s, move || {
                            pin_current(PRODUCER_CPU + k);
                            barrier.wait();
                            for i in 0..per {
                                P::emit_blocking(tx, ev(i));
                            }
                        })
                        .expect("spawn producer");
                }
                barrier.wait();
                let start = Instant::now();
                hooks.tally.wait_for(base + total);
                start.elapsed()
            });
            rec.sample(measure, P::NAME, elapsed, total);
            elapsed.mul_f64(iters as f64 / total as f64)
        })
    });
    drop(txs);
    peer.finish(&hooks);
}
