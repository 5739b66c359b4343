//! Quick emit-cost benches: ringtel's emit beside a raw `ArrayQueue` push
//! (the floor) in the same run. The full peer comparison is `benches/compare.rs`.
//!
//! Each measurement emits chunks of `CHUNK` events while a consumer drains
//! concurrently (ringtel's own consumer; a popping thread for the raw queue),
//! and waits, untimed, for the ring to empty between chunks so every timed
//! emit finds room.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_queue::ArrayQueue;
use ringtel::{Backpressure, ExportError, Exporter, Granularity, Telemetry};

const CAPACITY: usize = 65_536;
const CHUNK: u64 = 4_096;

/// A 64-byte event, the size ringtel's `PipelineEvent` is held to.
#[derive(Clone, Copy)]
#[allow(dead_code)]
struct Ev64 {
    words: [u64; 7],
    granularity: Granularity,
}

impl ringtel::Event for Ev64 {
    fn granularity(&self) -> Granularity {
        self.granularity
    }
}

fn ev(i: u64, granularity: Granularity) -> Ev64 {
    Ev64 { words: [i; 7], granularity }
}

struct Discard;
impl Exporter<Ev64> for Discard {
    fn name(&self) -> &str {
        "discard"
    }
    fn export(&mut self, batch: &[Ev64]) -> Result<(), ExportError> {
        black_box(batch);
        Ok(())
    }
}

fn wait_empty(mut is_empty: impl FnMut() -> bool) {
    while !is_empty() {
        std::hint::spin_loop();
    }
}

fn emit(c: &mut Criterion) {
    let mut group = c.benchmark_group("emit");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));

    // The floor: ArrayQueue::push with a concurrent popper.
    let queue = Arc::new(ArrayQueue::<Ev64>::new(CAPACITY));
    let stop = Arc::new(AtomicBool::new(false));
    let popper = {
        let (queue, stop) = (Arc::clone(&queue), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                while let Some(e) = queue.pop() {
                    black_box(e);
                }
                std::thread::yield_now();
            }
        })
    };
    group.bench_function("raw ArrayQueue::push", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let start = Instant::now();
                for i in 0..n {
                    let _ = black_box(queue.push(ev(i, Granularity::Rows)));
                }
                timed += start.elapsed();
                done += n;
                wait_empty(|| queue.is_empty());
            }
            timed
        })
    });
    stop.store(true, Ordering::Relaxed);
    popper.join().unwrap();

    let telemetry = Telemetry::builder()
        .capacity(CAPACITY)
        .backpressure(Backpressure::Drop)
        .granularity(Granularity::Rows)
        .exporter(Discard)
        .start()
        .unwrap();
    group.bench_function("ringtel emit (room)", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let n = CHUNK.min(iters - done);
                let start = Instant::now();
                for i in 0..n {
                    let _ = black_box(telemetry.emit(ev(i, Granularity::Rows)));
                }
                timed += start.elapsed();
                done += n;
                wait_empty(|| telemetry.health().queue_len() == 0);
            }
            timed
        })
    });
    group.bench_function("ringtel emit (filtered)", |b| {
        b.iter(|| telemetry.emit(black_box(ev(1, Granularity::Full))))
    });
    let _ = telemetry.close(Duration::from_secs(10));

    // Drop path: a full ring (no consumer progress), against a failing push.
    let full = ArrayQueue::<Ev64>::new(16);
    while full.push(ev(0, Granularity::Rows)).is_ok() {}
    group.bench_function("raw ArrayQueue::push (full)", |b| {
        b.iter(|| black_box(full.push(black_box(ev(1, Granularity::Rows))).is_err()))
    });
    let stalled = Telemetry::builder()
        .capacity(16)
        .backpressure(Backpressure::Drop)
        // Slow is not hung until export_timeout: the consumer keeps waiting
        // for the stalled exporter, so the ring stays full.
        .export_timeout(Duration::from_secs(3600))
        .exporter(Stall)
        .start()
        .unwrap();
    for i in 0..64 {
        let _ = stalled.emit(ev(i, Granularity::Rows));
    }
    group.bench_function("ringtel emit (full, Drop)", |b| {
        b.iter(|| stalled.emit(black_box(ev(1, Granularity::Rows))))
    });
    group.finish();
    let _ = stalled.close(Duration::from_millis(10));
}

/// Blocks its first export forever (until the process exits), so the ring
/// stays full for the drop-path measurement.
struct Stall;
impl Exporter<Ev64> for Stall {
    fn name(&self) -> &str {
        "stall"
    }
    fn export(&mut self, _: &[Ev64]) -> Result<(), ExportError> {
        loop {
            std::thread::park();
        }
    }
}

criterion_group!(benches, emit);
criterion_main!(benches);
