//! Model 2 — close racing emits (C1, C7): every event is delivered or
//! counted exactly once, the exporter is closed exactly once, and concurrent
//! and repeated `close` calls agree.
#![cfg(loom)]

use std::time::Duration;

use loom::sync::Arc;
use loom::thread;
use loom_tests::{ev, start, start_batched, Ev, Log, Recorder};
use ringtel::loom_api::{Ledger, Resolved, NEVER};
use ringtel::{Backpressure, CloseError, DropReason, Emitted, Telemetry};

/// The exporter saw each delivered event once and nothing else twice.
fn assert_exported_once(log: &Log, delivered: u64) {
    assert_eq!(
        log.exported().count_ones() as usize,
        log.events(),
        "C1 violated: an event reached the exporter twice"
    );
    assert!(log.events() as u64 >= delivered, "C1 violated: delivered events the exporter never saw");
}

/// A producer emits one event while the main thread closes. A straggler
/// that read "open" before the close may land in the ring after the
/// consumer's final drain: it must be counted `Closed`, not lost.
fn emit_racing_close() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, Some(Recorder::new(&log)));
        let producer = {
            let telemetry = telemetry.clone();
            thread::spawn(move || telemetry.emit(ev(0)))
        };
        let report = telemetry.close(NEVER).expect("close");
        assert!(report.health().is_conserved(), "C1 violated in the close report: {:?}", report.health());
        assert_eq!(log.closes(), 1, "C7 violated: exporter closes");
        let outcome = producer.join().unwrap();
        assert!(
            matches!(outcome, Emitted::Queued | Emitted::Dropped(DropReason::Closed)),
            "unexpected outcome {outcome:?}"
        );
        let queued = u64::from(outcome.is_queued());
        let health = telemetry.health();
        assert_eq!(health.offered(), 1, "C1 violated: {health:?}");
        assert!(health.is_conserved(), "C1 violated: {health:?}");
        assert_eq!((health.in_flight(), health.queue_len()), (0, 0), "C1 violated: {health:?}");
        assert_eq!(health.accepted(), queued, "C1 violated: {health:?}");
        assert_eq!(health.delivered() + health.dropped(DropReason::Closed), 1, "C1 violated: {health:?}");
        assert_eq!(health.dropped_total(), health.dropped(DropReason::Closed), "C1 violated: {health:?}");
        assert_eq!(health.delivered(), log.events() as u64, "C1 violated: {health:?}");
        assert_exported_once(&log, health.delivered());
        assert_eq!(log.closes(), 1, "C7 violated: exporter closes");
    });
}

/// Two threads close at once; both get the same report, the exporter is
/// closed once, and a later close repeats the report. (Events racing a
/// close are the previous model's subject.)
fn concurrent_closes_agree() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::Drop, Some(Recorder::new(&log)));
        let closer = {
            let telemetry = telemetry.clone();
            thread::spawn(move || telemetry.close(NEVER))
        };
        let mine = telemetry.close(NEVER).expect("close");
        let theirs = closer.join().unwrap().expect("concurrent close");
        assert_eq!(mine, theirs, "C7 violated: concurrent closes disagree");
        assert_eq!(
            telemetry.close(NEVER).expect("repeated close"),
            mine,
            "C7 violated: close is not idempotent"
        );
        let health = mine.health();
        assert_eq!((health.offered(), health.dropped_total()), (0, 0), "C1: {health:?}");
        assert_eq!((log.flushes(), log.closes()), (1, 1), "C7 violated: exporter flush/close counts");
    });
}

/// A close whose deadline has passed races the consumer exporting the one
/// queued event: the event is counted exactly once (delivered, or
/// `ShutdownTimeout` if still in flight), and the exporter is still closed
/// exactly once, by the consumer, when it notices.
fn close_deadline_racing_export() {
    loom::model(|| close_deadline_racing(1, |log| start(1, Backpressure::Drop, Some(Recorder::new(log)))));
}

/// As [`close_deadline_racing_export`], with two queued events that the
/// consumer may take as one hand-off of two batches (a ring of 2, batches
/// of 1): the close can finish the ledger between the two batches'
/// resolutions. Each event is counted exactly once.
fn close_deadline_racing_a_parcel() {
    loom::model(|| {
        close_deadline_racing(2, |log| start_batched(2, 1, Backpressure::Drop, Some(Recorder::new(log))))
    });
}

/// One interleaving of the two models above: `queued` events queued, then
/// a close with a deadline already passed.
fn close_deadline_racing(queued: u32, start: impl Fn(&Arc<Log>) -> Telemetry<Ev>) {
    let log = Log::new();
    let telemetry = start(&log);
    for seq in 0..queued {
        assert_eq!(telemetry.emit(ev(seq)), Emitted::Queued);
    }
    let report = match telemetry.close(Duration::ZERO) {
        Ok(report) | Err(CloseError::Timeout { report }) => report,
        Err(other) => panic!("unexpected close error {other}"),
    };
    assert!(report.health().is_conserved(), "C1 violated in the close report: {:?}", report.health());
    log.wait_dropped();
    let health = telemetry.health();
    assert!(health.is_conserved(), "C1 violated: {health:?}");
    assert_eq!(health.offered(), u64::from(queued), "C1 violated: {health:?}");
    assert_eq!(
        health.delivered() + health.dropped(DropReason::ShutdownTimeout),
        u64::from(queued),
        "C1 violated: {health:?}"
    );
    assert_eq!(health.in_flight(), 0, "C1 violated: {health:?}");
    assert_exported_once(&log, health.delivered());
    assert_eq!(log.closes(), 1, "C7 violated: exporter closes");
}

/// The ledger alone: the consumer takes and resolves a batch while a
/// timed-out close finishes the ledger. Exactly one of them counts it.
fn ledger_resolve_racing_finish() {
    loom::model(|| {
        let ledger = Arc::new(Ledger::new());
        let consumer = {
            let ledger = Arc::clone(&ledger);
            thread::spawn(move || ledger.take(1).then(|| ledger.resolve(1, true)))
        };
        let resolved_by_close = ledger.finish_timed_out();
        let by_consumer = consumer.join().unwrap();
        let c = ledger.counts();
        assert_eq!(c.taken, 1);
        assert_eq!(
            c.delivered + c.shutdown_timeout,
            1,
            "C1 violated: a batch resolved by both the consumer and the close: {c:?}"
        );
        match by_consumer {
            Some(Resolved::Counted) => assert_eq!((c.delivered, resolved_by_close), (1, 0), "{c:?}"),
            Some(Resolved::AlreadyFinished) | None => assert_eq!(c.shutdown_timeout, 1, "{c:?}"),
        }
    });
}

#[test]
fn close_racing_emit() {
    emit_racing_close();
}

#[test]
fn close_concurrent_and_repeated() {
    concurrent_closes_agree();
}

#[test]
fn close_timeout_racing_export() {
    close_deadline_racing_export();
}

#[test]
fn close_timeout_racing_a_parcel() {
    close_deadline_racing_a_parcel();
}

#[test]
fn close_ledger_exactly_once() {
    ledger_resolve_racing_finish();
}

#[cfg(ringtel_broken = "close_skip_residual")]
#[test]
fn twin_close_skip_residual_is_caught() {
    loom_tests::assert_caught("close_skip_residual", &["C1 violated"], emit_racing_close);
}

#[cfg(ringtel_broken = "ledger_double_resolve")]
#[test]
fn twin_ledger_double_resolve_is_caught() {
    loom_tests::assert_caught("ledger_double_resolve", &["C1 violated"], ledger_resolve_racing_finish);
}

#[cfg(ringtel_broken = "ledger_double_resolve")]
#[test]
fn twin_ledger_double_resolve_is_caught_end_to_end() {
    loom_tests::assert_caught("ledger_double_resolve", &["C1 violated"], close_deadline_racing_export);
}

#[cfg(ringtel_broken = "ledger_double_resolve")]
#[test]
fn twin_ledger_double_resolve_is_caught_with_a_parcel() {
    loom_tests::assert_caught("ledger_double_resolve", &["C1 violated"], close_deadline_racing_a_parcel);
}
