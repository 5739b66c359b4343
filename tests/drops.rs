//! Every event ringtel takes is dropped exactly once, never leaked (the
//! crossbeam `drops` test, for a whole telemetry): through `DropOldest`
//! eviction, `Drop`'s refusal of a full ring, the batch buffers reused
//! between exports and shared by several exporters, and the residual a
//! timed-out `close` leaves behind. Each event marks its own slot in a tally
//! when dropped; a slot marked twice is a double drop, a slot never marked a
//! leak.

mod common;

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{wait_until, PATIENCE};
use ringtel::{Backpressure, DropReason, Emitted, Event, ExportError, Exporter, Granularity, Telemetry};

/// Per-event drop marks, for one test (tests in this binary run in parallel).
struct Tally {
    drops: Vec<AtomicU8>,
    created: AtomicU64,
}

impl Tally {
    /// A tally for events `0..events`, living for the rest of the process so
    /// that events need no reference count to reach it.
    fn leak(events: usize) -> &'static Tally {
        Box::leak(Box::new(Tally {
            drops: (0..events).map(|_| AtomicU8::new(0)).collect(),
            created: AtomicU64::new(0),
        }))
    }

    fn event(&'static self, id: usize) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked { id, tally: self, _payload: [id as u64; 3] }
    }

    fn dropped(&self) -> u64 {
        self.drops.iter().map(|d| u64::from(d.load(Ordering::SeqCst))).sum()
    }

    /// Panics naming the first event dropped twice or never dropped.
    fn assert_each_dropped_once(&self) {
        for (id, marks) in self.drops.iter().enumerate() {
            match marks.load(Ordering::SeqCst) {
                1 => {}
                0 => panic!("event {id} was leaked (never dropped)"),
                n => panic!("event {id} was dropped {n} times"),
            }
        }
        assert_eq!(self.created.load(Ordering::SeqCst), self.drops.len() as u64);
    }
}

/// A 40-byte event that marks its tally slot when dropped. Not `Clone`:
/// ringtel must move it, never copy it.
struct Tracked {
    id: usize,
    tally: &'static Tally,
    _payload: [u64; 3],
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.tally.drops[self.id].fetch_add(1, Ordering::SeqCst);
    }
}

impl Event for Tracked {
    fn granularity(&self) -> Granularity {
        Granularity::Rows
    }
}

/// What a [`Gated`] exporter shares with its test: a gate that holds every
/// `export` while closed, and what it saw.
#[derive(Default)]
struct Gate {
    closed: Mutex<bool>,
    opened: Condvar,
    waiting: AtomicUsize,
    exported: AtomicU64,
}

impl Gate {
    fn new(closed: bool) -> Arc<Gate> {
        Arc::new(Gate { closed: Mutex::new(closed), ..Gate::default() })
    }
    fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.opened.notify_all();
    }
}

struct Gated(Arc<Gate>);

impl Exporter<Tracked> for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    fn export(&mut self, batch: &[Tracked]) -> Result<(), ExportError> {
        let mut closed = self.0.closed.lock().unwrap();
        if *closed {
            self.0.waiting.fetch_add(1, Ordering::SeqCst);
            while *closed {
                closed = self.0.opened.wait(closed).unwrap();
            }
            self.0.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        drop(closed);
        // Reading each event: a dropped one would have been marked already.
        for event in batch {
            assert_eq!(event.tally.drops[event.id].load(Ordering::SeqCst), 0, "exported after drop");
        }
        self.0.exported.fetch_add(batch.len() as u64, Ordering::SeqCst);
        Ok(())
    }
}

const PRODUCERS: usize = 4;

/// `PRODUCERS` threads emit `per_producer` events each, with ids from
/// `first_id` on; returns how many were refused at emit.
fn emit_from_threads(
    telemetry: &Telemetry<Tracked>,
    tally: &'static Tally,
    first_id: usize,
    per_producer: usize,
) -> u64 {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                scope.spawn(move || {
                    let mut refused = 0;
                    for i in 0..per_producer {
                        match telemetry.emit(tally.event(first_id + p * per_producer + i)) {
                            Emitted::Queued => {}
                            Emitted::Dropped(_) => refused += 1,
                            Emitted::Filtered => unreachable!("no event is filtered here"),
                        }
                    }
                    refused
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    })
}

#[test]
fn drop_oldest_eviction_drops_each_event_once() {
    const PER_PRODUCER: usize = 5_000;
    let tally = Tally::leak(1 + PRODUCERS * PER_PRODUCER);
    let gate = Gate::new(true);
    let telemetry = Telemetry::builder()
        .capacity(16)
        .batch_size(4)
        .backpressure(Backpressure::DropOldest)
        .exporter(Gated(Arc::clone(&gate)))
        .start()
        .unwrap();
    // The consumer parks in its first export; the rest overwrite each other.
    assert_eq!(telemetry.emit(tally.event(0)), Emitted::Queued);
    wait_until("the consumer is parked in export", || gate.waiting.load(Ordering::SeqCst) == 1);
    let refused = emit_from_threads(&telemetry, tally, 1, PER_PRODUCER);
    assert_eq!(refused, 0, "DropOldest never refuses the new event");
    let health = telemetry.health();
    let evicted = health.dropped(DropReason::Overwritten);
    assert!(evicted > 0, "the test must evict: {health:?}");
    // An evicted event is dropped by the producer that evicts it, at once.
    assert!(tally.dropped() >= evicted, "{} dropped, {evicted} evicted", tally.dropped());

    gate.open();
    let report = telemetry.close(PATIENCE).unwrap();
    let health = report.health();
    assert!(health.is_conserved(), "{health:?}");
    assert_eq!(health.delivered() + evicted, tally.created.load(Ordering::SeqCst));
    assert_eq!(gate.exported.load(Ordering::SeqCst), health.delivered());
    drop(telemetry);
    tally.assert_each_dropped_once();
}

#[test]
fn batch_buffers_release_events_once_exported_to_every_exporter() {
    const PER_PRODUCER: usize = 20_000;
    let tally = Tally::leak(PRODUCERS * PER_PRODUCER);
    let (first, second) = (Gate::new(false), Gate::new(false));
    let telemetry = Telemetry::builder()
        .capacity(1024)
        .batch_size(64)
        .backpressure(Backpressure::Block)
        .exporter(Gated(Arc::clone(&first)))
        .exporter(Gated(Arc::clone(&second)))
        .start()
        .unwrap();
    assert_eq!(emit_from_threads(&telemetry, tally, 0, PER_PRODUCER), 0);
    telemetry.flush(PATIENCE).unwrap();
    let total = tally.created.load(Ordering::SeqCst);
    assert_eq!(first.exported.load(Ordering::SeqCst), total);
    assert_eq!(second.exported.load(Ordering::SeqCst), total);
    // Both exporters are done with every batch, so no buffer, pooled or in
    // flight, may still hold an event, while the telemetry is still open.
    wait_until("every exported event is dropped", || tally.dropped() == total);
    telemetry.close(PATIENCE).unwrap();
    drop(telemetry);
    tally.assert_each_dropped_once();
}

#[test]
fn close_residual_and_refused_events_are_dropped_once() {
    const PER_PRODUCER: usize = 2_000;
    let tally = Tally::leak(PRODUCERS * PER_PRODUCER);
    let gate = Gate::new(true);
    let telemetry = Telemetry::builder()
        .capacity(256)
        .batch_size(32)
        .backpressure(Backpressure::Drop)
        .close_timeout(Duration::from_millis(100))
        .exporter(Gated(Arc::clone(&gate)))
        .start()
        .unwrap();
    let refused = emit_from_threads(&telemetry, tally, 0, PER_PRODUCER);
    assert!(refused > 0, "the ring must fill");
    // The exporter hangs through close: what is queued or in its hands is the
    // residual, counted and dropped by ringtel, not by the exporter.
    let health = match telemetry.close(Duration::from_millis(100)) {
        Err(ringtel::CloseError::Timeout { report }) => report.health().clone(),
        other => panic!("close with a hung exporter must time out, got {other:?}"),
    };
    assert!(health.is_conserved(), "{health:?}");
    assert_eq!(health.dropped(DropReason::QueueFull), refused);
    assert!(health.dropped(DropReason::ShutdownTimeout) > 0, "{health:?}");
    assert_eq!(health.delivered(), 0);
    drop(telemetry);
    // The hung worker still holds its batch; once released it must drop it
    // without exporting anything twice or dropping anything again.
    gate.open();
    let total = tally.created.load(Ordering::SeqCst);
    wait_until("the released worker drops its batch", || tally.dropped() == total);
    tally.assert_each_dropped_once();
}
