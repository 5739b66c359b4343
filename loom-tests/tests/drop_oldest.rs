//! Model 5 — DropOldest accounting (C1, C2): every evicted event is counted
//! `Overwritten` exactly once, and every other event is delivered.
#![cfg(loom)]

use loom_tests::{ev, start, Log, Recorder};
use ringtel::loom_api::NEVER;
use ringtel::{Backpressure, DropReason, Emitted};

/// Three events into a ring of one under `DropOldest`, racing the consumer's
/// pops. Each event ends up exported or counted `Overwritten`, never both,
/// never neither; the newest is never evicted.
fn evictions_counted_once() {
    loom::model(|| {
        let log = Log::new();
        let telemetry = start(1, Backpressure::DropOldest, Some(Recorder::new(&log)));
        for id in 0..3 {
            assert_eq!(
                telemetry.emit(ev(id)),
                Emitted::Queued,
                "C2 violated: DropOldest never drops the new event"
            );
        }
        let report = telemetry.close(NEVER).expect("close");
        let health = report.health();
        let exported = log.exported();
        assert_eq!(exported.count_ones() as usize, log.events(), "C1 violated: an event was exported twice");
        assert!(exported & 0b100 != 0, "C2 violated: the newest event was evicted");
        assert_eq!(health.delivered(), u64::from(exported.count_ones()), "C1 violated: {health:?}");
        assert_eq!(
            health.dropped(DropReason::Overwritten),
            3 - u64::from(exported.count_ones()),
            "C1 violated: evictions miscounted: {health:?}"
        );
        assert_eq!(
            health.dropped_total(),
            health.dropped(DropReason::Overwritten),
            "C1 violated: {health:?}"
        );
        assert_eq!((health.offered(), health.accepted()), (3, 3), "C1 violated: {health:?}");
        assert!(health.is_conserved(), "C1 violated: {health:?}");
    });
}

#[test]
fn drop_oldest_evictions_counted_once() {
    evictions_counted_once();
}

#[cfg(ringtel_broken = "drop_oldest_uncounted")]
#[test]
fn twin_drop_oldest_uncounted_is_caught() {
    loom_tests::assert_caught("drop_oldest_uncounted", &["C1 violated"], evictions_counted_once);
}
