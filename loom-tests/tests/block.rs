//! Model 4 — Block wake-up (C2, C7): a producer blocked on a full ring is
//! woken when the consumer makes room (no lost wake-up), and `close` wakes
//! every blocked producer.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use loom_tests::{close_in_time, ev, start, Log, Recorder};
use ringtel::loom_api::{BlockOutcome, BlockingRing, NEVER};
use ringtel::{Backpressure, DropReason, Emitted};

/// The protocol alone: a producer pushes two events into a ring of one
/// while the consumer pops two. A lost wake-up leaves the producer asleep
/// while the consumer waits for its second event: loom reports a deadlock.
fn waiters_protocol() {
    loom::model(|| {
        let ring = Arc::new(BlockingRing::new(1));
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || [ring.push_blocking(0), ring.push_blocking(1)])
        };
        let mut popped = Vec::new();
        while popped.len() < 2 {
            match ring.pop() {
                Some(event) => popped.push(event),
                None => thread::yield_now(),
            }
        }
        let outcomes = producer.join().unwrap();
        assert_eq!(outcomes, [BlockOutcome::Pushed; 2], "C2 violated");
        assert_eq!(popped, [0, 1], "C2/C5 violated: events lost or reordered");
        assert_eq!((ring.len(), ring.waiting()), (0, 0));
    });
}

/// End to end: the main thread emits two events into a ring of one under
/// `Block` while the consumer drains. Both are queued, none is lost.
fn blocked_emit_is_woken() {
    loom::model(|| {
        // No exporter: the consumer still takes every batch (counted
        // `ExportFailed`), and the model saves a worker thread.
        let telemetry = start(1, Backpressure::Block, None);
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued, "C2 violated");
        assert_eq!(telemetry.emit(ev(1)), Emitted::Queued, "C2 violated");
        let report = close_in_time(&telemetry);
        let health = report.health();
        assert_eq!((health.offered(), health.accepted()), (2, 2), "C1 violated: {health:?}");
        assert_eq!(health.dropped(DropReason::ExportFailed), 2, "C1 violated: {health:?}");
        assert_eq!(health.dropped_total(), 2, "C1 violated: {health:?}");
        assert_eq!(health.blocked_producers(), 0);
    });
}

/// `close` wakes a producer blocked on a ring that cannot drain: the only
/// exporter hangs in `export` until its gate opens, which happens only after
/// the producer's emits return. `e0` goes to the hung exporter and `e1`
/// fills the ring before the closer starts, so `e2` blocks (or meets a
/// closed admission) racing the close. Without the wake-up the producer
/// sleeps forever while the consumer waits for the exporter.
fn close_wakes_blocked_producer() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Block, Some(Recorder::gated(&log)));
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued, "C2 violated");
        assert_eq!(telemetry.emit(ev(1)), Emitted::Queued, "C2 violated");
        let closer = {
            let telemetry = telemetry.clone();
            thread::spawn(move || telemetry.close(NEVER))
        };
        let blocked = telemetry.emit(ev(2));
        assert!(matches!(blocked, Emitted::Dropped(DropReason::Closed)), "C7 violated: {blocked:?}");
        log.open_gate();
        let report = closer.join().unwrap().expect("close");
        let health = report.health();
        assert!(health.is_conserved(), "C1 violated: {health:?}");
        assert_eq!(
            (health.offered(), health.accepted(), health.delivered()),
            (3, 2, 2),
            "C1 violated: {health:?}"
        );
        assert_eq!(health.dropped(DropReason::Closed), 1, "C1 violated: {health:?}");
        assert_eq!((log.closes(), health.blocked_producers()), (1, 0));
    });
}

#[test]
fn block_waiters_protocol() {
    waiters_protocol();
}

#[test]
fn block_woken_by_consumer() {
    blocked_emit_is_woken();
}

#[test]
fn block_woken_by_close() {
    close_wakes_blocked_producer();
}

// A lost wake-up shows as loom's deadlock (every thread asleep) or, when the
// consumer keeps polling an empty ring, as its branch limit.
#[cfg(ringtel_broken = "block_register_late")]
#[test]
fn twin_block_register_late_is_caught() {
    loom_tests::assert_caught(
        "block_register_late",
        &["deadlock", "maximum number of branches"],
        waiters_protocol,
    );
}

#[cfg(ringtel_broken = "block_register_late")]
#[test]
fn twin_block_register_late_is_caught_end_to_end() {
    loom_tests::assert_caught(
        "block_register_late",
        &["deadlock", "maximum number of branches"],
        blocked_emit_is_woken,
    );
}

#[cfg(ringtel_broken = "close_no_wake")]
#[test]
fn twin_close_no_wake_is_caught() {
    loom_tests::assert_caught(
        "close_no_wake",
        &["deadlock", "maximum number of branches"],
        close_wakes_blocked_producer,
    );
}
