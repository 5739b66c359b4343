//! Model 6 — consumer death (C8): no producer waits forever on a dead
//! consumer, later events count as `ConsumerDead`, `Health` shows the death,
//! and the counts stay conserved.
#![cfg(loom)]

use loom::thread;
use loom_tests::{ev, quiet_injected_panics, start};
use ringtel::loom_api::NEVER;
use ringtel::{Backpressure, CloseError, ConsumerState, DropReason, Emitted};

/// A producer emits two events into a ring of one under `Block` while the
/// consumer is made to panic. If the second emit blocks, the death must
/// wake it; it then returns `Dropped(ConsumerDead)`.
fn blocked_producer_survives_death() {
    quiet_injected_panics();
    loom::model(|| {
        // No exporter: the model needs no worker thread.
        let telemetry = start(1, Backpressure::Block, None);
        let producer = {
            let telemetry = telemetry.clone();
            thread::spawn(move || [telemetry.emit(ev(0)), telemetry.emit(ev(1))])
        };
        telemetry.inject_consumer_panic();
        // A lost wake-up leaves this join waiting forever (loom: deadlock).
        let outcomes = producer.join().unwrap();
        for outcome in outcomes {
            assert!(
                matches!(outcome, Emitted::Queued | Emitted::Dropped(DropReason::ConsumerDead)),
                "C8 violated: {outcome:?}"
            );
        }
        let report = match telemetry.close(NEVER) {
            Err(CloseError::ConsumerDead { report }) => report,
            other => panic!("C8 violated: close after death returned {other:?}"),
        };
        let health = telemetry.health();
        assert!(matches!(health.consumer(), ConsumerState::Dead { .. }), "C8 violated: {health:?}");
        assert!(report.health().is_conserved(), "C1 violated: {:?}", report.health());
        assert!(health.is_conserved(), "C1 violated: {health:?}");
        assert_eq!(health.offered(), 2, "C1 violated: {health:?}");
        assert_eq!(
            health.dropped(DropReason::ExportFailed) + health.dropped(DropReason::ConsumerDead),
            2,
            "C1 violated: {health:?}"
        );
        assert_eq!(telemetry.emit(ev(2)), Emitted::Dropped(DropReason::ConsumerDead), "C8 violated");
    });
}

#[test]
fn death_wakes_blocked_producer() {
    blocked_producer_survives_death();
}

#[cfg(ringtel_broken = "death_no_wake")]
#[test]
fn twin_death_no_wake_is_caught() {
    loom_tests::assert_caught("death_no_wake", &["deadlock"], blocked_producer_survives_death);
}
