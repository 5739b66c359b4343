//! Model 3 — flush racing emits (C6): every event accepted before `flush`
//! is handed to the exporter, and the exporter's own flush has run, before
//! `flush` returns `Ok`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use loom_tests::{ev, start, start_batched, Log, Recorder};
use ringtel::loom_api::NEVER;
use ringtel::{Backpressure, Emitted};

/// After `flush` returned `Ok`, the exporter has the event `id` and has flushed.
fn assert_flushed(log: &Log, id: u32) {
    // Relaxed loads in `Log`: only the flush handshake orders the worker's
    // writes before this read.
    assert!(
        log.exported() & (1 << id) != 0,
        "C6 violated: event {id} accepted before flush was not exported"
    );
    assert!(log.flushes() >= 1, "C6 violated: the exporter's flush did not run before flush returned");
}

/// One event, then `flush`, racing the consumer wherever it is in its loop.
fn flush_after_emit() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, Some(Recorder::new(&log)));
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued);
        telemetry.flush(NEVER).expect("flush");
        assert_flushed(&log, 0);
        let report = telemetry.close(NEVER).expect("close");
        let health = report.health();
        assert_eq!((health.offered(), health.delivered(), health.dropped_total()), (1, 1, 0), "{health:?}");
        assert!(health.is_conserved(), "C1 violated: {health:?}");
    });
}

/// Two events in batches of one, then `flush`: the flush's drain takes two
/// batches, each handed to the worker and awaited in turn. `flush` returns
/// `Ok` only after both were exported, and each batch is resolved once, as
/// delivered.
fn flush_after_two_batches() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start_batched(2, 1, Backpressure::Drop, Some(Recorder::new(&log)));
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued);
        assert_eq!(telemetry.emit(ev(1)), Emitted::Queued);
        if let Err(err) = telemetry.flush(NEVER) {
            panic!("C6 violated: flush of two healthy batches failed: {err:?}");
        }
        assert_flushed(&log, 0);
        assert_flushed(&log, 1);
        let report = telemetry.close(NEVER).expect("close");
        let health = report.health();
        assert_eq!(
            (health.offered(), health.delivered(), health.dropped_total()),
            (2, 2, 0),
            "C1 violated: a batch was not delivered: {health:?}"
        );
        assert!(health.is_conserved(), "C1 violated: {health:?}");
    });
}

/// Two callers flush at once, each after its own emit; the consumer may
/// cover both requests with one round or take them one at a time. Each
/// `flush` returns `Ok` (no caller is left waiting on a merged round) only
/// after its own event was exported.
fn concurrent_flushes() {
    // Four loom threads (two callers, the consumer, the exporter's worker):
    // at the suite's bound of 2 this does not finish in 6 minutes, so this
    // model alone runs at preemption bound 1.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(1);
    builder.check(|| {
        let log = Log::new();
        let telemetry = start(2, Backpressure::Drop, Some(Recorder::new(&log)));
        let other = {
            let telemetry = telemetry.clone();
            let log = Arc::clone(&log);
            thread::spawn(move || {
                assert_eq!(telemetry.emit(ev(1)), Emitted::Queued);
                telemetry.flush(NEVER).expect("C6 violated: a concurrent flush failed");
                assert_flushed(&log, 1);
            })
        };
        assert_eq!(telemetry.emit(ev(0)), Emitted::Queued);
        telemetry.flush(NEVER).expect("C6 violated: a concurrent flush failed");
        assert_flushed(&log, 0);
        other.join().unwrap();
        let report = telemetry.close(NEVER).expect("close");
        let health = report.health();
        assert_eq!((health.offered(), health.delivered()), (2, 2), "C1 violated: {health:?}");
    });
}

#[test]
fn flush_concurrent_callers() {
    concurrent_flushes();
}

#[test]
fn flush_covers_prior_emit() {
    flush_after_emit();
}

#[test]
fn flush_covers_two_batches() {
    flush_after_two_batches();
}

/// The consumer waits for the exporter's worker on a doorbell that the
/// worker rings after each job; the ring notifies only a sleeping consumer.
#[cfg(ringtel_broken = "doorbell_check_then_ring")]
#[test]
fn twin_doorbell_check_then_ring_is_caught() {
    loom_tests::assert_caught("doorbell_check_then_ring", &["deadlock"], flush_after_emit);
}

/// The consumer hands each job to the exporter's worker, which waits for
/// jobs; the hand-off notifies only a waiting worker.
#[cfg(ringtel_broken = "worker_check_then_hand")]
#[test]
fn twin_worker_check_then_hand_is_caught() {
    loom_tests::assert_caught("worker_check_then_hand", &["deadlock"], flush_after_emit);
}

#[cfg(ringtel_broken = "flush_notify_one")]
#[test]
fn twin_flush_notify_one_is_caught() {
    loom_tests::assert_caught(
        "flush_notify_one",
        &["deadlock", "maximum number of branches"],
        concurrent_flushes,
    );
}

#[cfg(ringtel_broken = "flush_relaxed_request")]
#[test]
fn twin_flush_relaxed_request_is_caught() {
    loom_tests::assert_caught("flush_relaxed_request", &["C6 violated"], flush_after_emit);
}

#[cfg(ringtel_broken = "flush_target_after_drain")]
#[test]
fn twin_flush_target_after_drain_is_caught() {
    loom_tests::assert_caught("flush_target_after_drain", &["C6 violated"], flush_after_emit);
}
