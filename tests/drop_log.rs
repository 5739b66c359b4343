//! C4: exactly one warning per crossing of a multiple of `drop_log_interval`,
//! with the exact count, under concurrent producers (ELSPETH's version races).

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::{start_stalled, wait_until, Ev, Probe, ProbeControl};
use ringtel::{Backpressure, DropReason, Emitted, Telemetry};
use tracing::field::{Field, Visit};
use tracing::subscriber::Subscriber;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Warning {
    since: u64,
    mark: u64,
    total: u64,
}

#[derive(Default)]
struct Capture(Arc<Mutex<Vec<Warning>>>);

struct Fields(Warning);

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "dropped_since_last_warning" => self.0.since = value,
            "dropped_mark" => self.0.mark = value,
            "dropped_total" => self.0.total = value,
            _ => {}
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "ringtel" && *event.metadata().level() == tracing::Level::WARN {
            let mut fields = Fields(Warning::default());
            event.record(&mut fields);
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

/// One global subscriber for this test binary (producers run on many threads).
fn warnings() -> &'static Arc<Mutex<Vec<Warning>>> {
    static WARNINGS: OnceLock<Arc<Mutex<Vec<Warning>>>> = OnceLock::new();
    WARNINGS.get_or_init(|| {
        let store = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::registry().with(Capture(Arc::clone(&store)));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        store
    })
}

/// A `Drop`-mode telemetry warning every `interval` drops, with its consumer
/// parked in export and its one-event ring full: every further emit drops.
fn stalled_full_ring(interval: u64) -> (Telemetry<Ev>, Arc<ProbeControl>) {
    let (telemetry, control) = start_stalled(
        "probe",
        Telemetry::builder()
            .capacity(1)
            .batch_size(1)
            .backpressure(Backpressure::Drop)
            .drop_log_interval(interval),
    );
    assert_eq!(telemetry.emit(Ev::row(9, 1)), Emitted::Queued, "fills the ring");
    (telemetry, control)
}

/// Tests in this binary share the global warning store; run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[test]
fn concurrent_drops_warn_exactly_once_per_interval_crossing() {
    let _serial = SERIAL.lock().unwrap();
    let store = warnings();
    store.lock().unwrap().clear();
    let interval = 100;
    let (telemetry, control) = stalled_full_ring(interval);
    let producers = 4;
    let per_producer = 2_500u64;
    std::thread::scope(|s| {
        for p in 0..producers {
            let telemetry = &telemetry;
            s.spawn(move || {
                for seq in 0..per_producer {
                    assert_eq!(telemetry.emit(Ev::row(p, seq)), Emitted::Dropped(DropReason::QueueFull));
                }
            });
        }
    });
    let dropped = u64::from(producers) * per_producer;
    // Producers publish their drops in blocks of up to 64; `health` sweeps
    // what is left (so does the consumer, but it is parked in export).
    let _ = telemetry.health();
    let mut seen = store.lock().unwrap().clone();
    seen.sort_by_key(|w| w.mark);
    assert_eq!(seen.len() as u64, dropped / interval, "one warning per crossing, no duplicate, no miss");
    for (i, w) in seen.iter().enumerate() {
        assert_eq!(w.mark, (i as u64 + 1) * interval);
        assert_eq!(w.since, interval);
        assert!(
            (w.mark..w.mark + 64).contains(&w.total),
            "the total after the publishing block: at most one block past the mark: {w:?}"
        );
    }
    control.open_gate();
    let health = telemetry.close(Duration::from_secs(20)).unwrap().health().clone();
    assert_eq!(health.dropped(DropReason::QueueFull), dropped);
}

#[test]
fn batch_drops_that_jump_several_marks_warn_once_with_the_span() {
    let _serial = SERIAL.lock().unwrap();
    let store = warnings();
    store.lock().unwrap().clear();
    let (probe, control) = Probe::new("failing");
    control.fail.store(true, Ordering::SeqCst);
    control.close_gate();
    let telemetry = Telemetry::builder()
        .capacity(64)
        .batch_size(64)
        .drop_log_interval(10)
        .exporter(probe)
        .start()
        .unwrap();
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("the consumer is parked in export", || control.blocked.load(Ordering::SeqCst) == 1);
    for seq in 1..=25 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    control.open_gate();
    telemetry.flush(Duration::from_secs(20)).unwrap();
    // Batch 1 (1 event) fails: total 1. Batch 2 (25 events) fails: total 26,
    // crossing 10 and 20 at once: one warning spanning both marks.
    let seen = store.lock().unwrap().clone();
    assert_eq!(seen, vec![Warning { since: 20, mark: 20, total: 26 }]);
    let _ = telemetry.close(Duration::from_secs(20));
}

#[test]
fn drops_below_a_block_on_several_threads_are_warned_by_the_consumer_sweep() {
    let _serial = SERIAL.lock().unwrap();
    let store = warnings();
    store.lock().unwrap().clear();
    let (telemetry, control) = stalled_full_ring(10);
    // Two threads drop 5 each: neither completes a block of 8 (the largest
    // power of two <= min(interval, 512)), so no producer publishes; the
    // total crosses 10. Both threads stay alive until both have dropped, so
    // they hold two different counter slots (an exited thread's slot is
    // reused).
    let both_dropped = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        for p in 0..2 {
            let (telemetry, both_dropped) = (&telemetry, &both_dropped);
            s.spawn(move || {
                for seq in 0..5 {
                    assert_eq!(telemetry.emit(Ev::row(p, seq)), Emitted::Dropped(DropReason::QueueFull));
                }
                both_dropped.wait();
            });
        }
    });
    assert_eq!(*store.lock().unwrap(), vec![], "no producer completed a block");
    // The consumer publishes the rest after its next step, without anyone
    // calling `health`.
    control.open_gate();
    wait_until("the consumer's sweep warns", || !store.lock().unwrap().is_empty());
    assert_eq!(*store.lock().unwrap(), vec![Warning { since: 10, mark: 10, total: 10 }]);
    let _ = telemetry.close(Duration::from_secs(20));
    assert_eq!(store.lock().unwrap().len(), 1, "close publishes nothing twice");
}
