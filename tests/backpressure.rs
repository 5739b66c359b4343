//! C2: every backpressure policy, critical events, re-entrancy, including
//! ELSPETH's "drop when full" and "block when full" scenarios.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{start_stalled, wait_until, Ev, Probe, ProbeControl};
use ringtel::{Backpressure, DropReason, Emitted, ExportError, Exporter, Telemetry};

const CLOSE: Duration = Duration::from_secs(20);

/// A telemetry whose consumer is parked inside `export` holding event 0, so
/// the ring's contents are exactly what the test emits next.
fn stalled(capacity: usize, policy: Backpressure) -> (Telemetry<Ev>, Arc<ProbeControl>) {
    start_stalled(
        "probe",
        Telemetry::builder()
            .capacity(capacity)
            .batch_size(1)
            .backpressure(policy)
            .critical_wait(Duration::from_secs(20)),
    )
}

#[test]
fn drop_mode_drops_when_queue_full() {
    let (telemetry, control) = stalled(2, Backpressure::Drop);
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Queued);
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Queued);
    // Did not block: returned at once with the reason.
    assert_eq!(telemetry.emit(Ev::row(0, 3)), Emitted::Dropped(DropReason::QueueFull));
    assert_eq!(telemetry.emit(Ev::row(0, 4)), Emitted::Dropped(DropReason::QueueFull));
    assert_eq!(telemetry.health().dropped(DropReason::QueueFull), 2);
    control.open_gate();
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    assert_eq!((health.offered(), health.delivered(), health.dropped_total()), (5, 3, 2));
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
}

#[test]
fn block_mode_blocks_when_queue_full_and_resumes_when_room_appears() {
    let (telemetry, control) = stalled(1, Backpressure::Block);
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Queued);
    let producer = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.emit(Ev::row(0, 2)))
    };
    wait_until("the producer waits for room", || telemetry.health().blocked_producers() == 1);
    assert!(!producer.is_finished(), "emit should block while the ring is full");
    control.open_gate();
    assert_eq!(producer.join().unwrap(), Emitted::Queued);
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    assert_eq!((health.offered(), health.delivered(), health.dropped_total()), (3, 3, 0));
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 2]);
}

#[test]
fn block_for_drops_after_its_wait() {
    let wait = Duration::from_millis(30);
    let (telemetry, control) = stalled(1, Backpressure::BlockFor(wait));
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Queued);
    let started = Instant::now();
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Dropped(DropReason::QueueFull));
    let waited = started.elapsed();
    assert!(waited >= wait, "gave up after {waited:?}, before its {wait:?}");
    assert!(waited < common::PATIENCE, "waited {waited:?}");
    control.open_gate();
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    assert_eq!((health.delivered(), health.dropped(DropReason::QueueFull)), (2, 1));
}

#[test]
fn drop_oldest_evicts_and_counts_overwritten() {
    let (telemetry, control) = stalled(2, Backpressure::DropOldest);
    for seq in 1..=4 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
    }
    assert_eq!(telemetry.health().dropped(DropReason::Overwritten), 2);
    control.open_gate();
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 3, 4]);
    assert_eq!((health.offered(), health.accepted(), health.delivered()), (5, 5, 3));
    assert_eq!(health.dropped(DropReason::Overwritten), 2);
    assert!(health.is_conserved());
}

#[test]
fn critical_events_wait_for_room_instead_of_dropping() {
    let (telemetry, control) = stalled(1, Backpressure::Drop);
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Queued);
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Dropped(DropReason::QueueFull));
    let producer = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.emit(Ev::lifecycle(0, 3)))
    };
    wait_until("the critical event waits for room", || telemetry.health().blocked_producers() == 1);
    control.open_gate();
    assert_eq!(producer.join().unwrap(), Emitted::Queued);
    telemetry.close(CLOSE).unwrap();
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![0, 1, 3]);
}

#[test]
fn critical_wait_bounds_the_wait() {
    let (probe, control) = Probe::new("probe");
    let wait = Duration::from_millis(20);
    let telemetry = Telemetry::builder()
        .capacity(1)
        .batch_size(1)
        .backpressure(Backpressure::Drop)
        .critical_wait(wait)
        .exporter(probe)
        .start()
        .unwrap();
    control.close_gate();
    let _ = telemetry.emit(Ev::row(0, 0));
    wait_until("the consumer holds event 0", || control.blocked.load(Ordering::SeqCst) == 1);
    let _ = telemetry.emit(Ev::row(0, 1));
    let started = Instant::now();
    assert_eq!(telemetry.emit(Ev::lifecycle(0, 2)), Emitted::Dropped(DropReason::QueueFull));
    assert!(started.elapsed() >= wait);
    control.open_gate();
    assert!(telemetry.close(CLOSE).unwrap().health().is_conserved());
}

#[test]
fn drop_oldest_rescues_an_evicted_critical_event() {
    let (telemetry, control) = stalled(2, Backpressure::DropOldest);
    assert_eq!(telemetry.emit(Ev::lifecycle(0, 1)), Emitted::Queued);
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Queued);
    // Evicts the lifecycle event, which must be put back, not dropped.
    let producer = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.emit(Ev::row(0, 3)))
    };
    wait_until("the evicted critical event waits for room", || telemetry.health().blocked_producers() == 1);
    control.open_gate();
    assert_eq!(producer.join().unwrap(), Emitted::Queued);
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    let seqs: Vec<u64> = control.received().iter().map(|e| e.seq).collect();
    assert!(seqs.contains(&1), "the lifecycle event was lost: {seqs:?}");
    assert_eq!(health.dropped(DropReason::Overwritten), 0);
    assert_eq!(health.delivered(), 4);
}

/// An exporter that emits into its own telemetry with `Block` on every export.
struct Echo {
    telemetry: Arc<Mutex<Option<Telemetry<Ev>>>>,
    outcomes: Arc<Mutex<Vec<Emitted>>>,
}

impl Exporter<Ev> for Echo {
    fn name(&self) -> &str {
        "echo"
    }
    fn export(&mut self, batch: &[Ev]) -> Result<(), ExportError> {
        if let Some(telemetry) = self.telemetry.lock().unwrap().as_ref() {
            for e in batch.iter().filter(|e| e.producer == 0) {
                for k in 0..4 {
                    let outcome = telemetry.emit(Ev::row(1, e.seq * 4 + k));
                    self.outcomes.lock().unwrap().push(outcome);
                }
            }
        }
        Ok(())
    }
}

#[test]
fn an_exporter_emitting_into_its_own_blocking_telemetry_does_not_deadlock() {
    let slot = Arc::new(Mutex::new(None));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let telemetry = Telemetry::builder()
        .capacity(2)
        .backpressure(Backpressure::Block)
        .exporter(Echo { telemetry: Arc::clone(&slot), outcomes: Arc::clone(&outcomes) })
        .start()
        .unwrap();
    *slot.lock().unwrap() = Some(telemetry.clone());
    for seq in 0..50 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    wait_until("the echo exporter emitted for every event", || outcomes.lock().unwrap().len() == 200);
    drop(slot.lock().unwrap().take());
    let health = telemetry.close(CLOSE).unwrap().health().clone();
    let outcomes = outcomes.lock().unwrap();
    // On the consumer thread Block degrades to Drop: some of the 4-event
    // echoes cannot fit in a 2-slot ring, and they are counted, not waited for.
    let dropped = outcomes.iter().filter(|o| **o == Emitted::Dropped(DropReason::QueueFull)).count() as u64;
    assert!(dropped > 0);
    assert_eq!(health.dropped(DropReason::QueueFull), dropped);
    assert_eq!(health.offered(), 250);
    assert!(health.is_conserved());
}
