//! Model 9 — an exporter's lifecycle state (C9, C14; what `Health` shows):
//! `Closed` and `CloseFailed` are final whatever the consumer writes at the
//! same time, and a reader that sees `Hung` sees the time it got hung.
//!
//! The state is an `atomic::Atomic<Phase>` plus an `AtomicU64`, which loom
//! cannot see inside; under loom the shim's `Atomic` is a loom `AtomicU8`
//! with the same orderings, so the protocol around it is what is checked
//! here (as the ring's model stands in for `ArrayQueue`).
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use ringtel::loom_api::ExporterStatus;
use ringtel::{ExporterState, Timestamp};

/// The worker closes while the consumer marks the exporter removing (or
/// hung): the close must survive, in every interleaving.
fn close_is_final() {
    loom::model(|| {
        let status = Arc::new(ExporterStatus::new());
        let worker = {
            let status = Arc::clone(&status);
            thread::spawn(move || status.set(ExporterState::Closed))
        };
        let consumer = {
            let status = Arc::clone(&status);
            thread::spawn(move || status.set(ExporterState::Removing))
        };
        worker.join().unwrap();
        consumer.join().unwrap();
        let end = status.get();
        assert!(
            matches!(end, ExporterState::Closed),
            "final state lost: a closed exporter shows as {end:?} after a racing consumer write"
        );
    });
}

/// The consumer marks the exporter hung since t = 5 while a reader (`health`
/// on another thread) looks: `Hung` always comes with its own time.
fn hung_comes_with_its_time() {
    loom::model(|| {
        let status = Arc::new(ExporterStatus::new());
        let consumer = {
            let status = Arc::clone(&status);
            thread::spawn(move || status.set(ExporterState::Hung { since: Timestamp::from_nanos(5) }))
        };
        let reader = {
            let status = Arc::clone(&status);
            thread::spawn(move || status.get())
        };
        consumer.join().unwrap();
        match reader.join().unwrap() {
            ExporterState::Hung { since } => {
                assert_eq!(
                    since,
                    Timestamp::from_nanos(5),
                    "hung time torn: a reader saw Hung without its time"
                )
            }
            seen => assert_eq!(seen, ExporterState::Active),
        }
        assert_eq!(status.get(), ExporterState::Hung { since: Timestamp::from_nanos(5) });
    });
}

#[test]
fn exporter_close_is_final() {
    close_is_final();
}

#[test]
fn exporter_hung_comes_with_its_time() {
    hung_comes_with_its_time();
}

#[cfg(ringtel_broken = "exporter_state_check_then_store")]
#[test]
fn twin_exporter_state_check_then_store_is_caught() {
    loom_tests::assert_caught("exporter_state_check_then_store", &["final state lost"], close_is_final);
}

#[cfg(ringtel_broken = "exporter_state_since_after_phase")]
#[test]
fn twin_exporter_state_since_after_phase_is_caught() {
    loom_tests::assert_caught(
        "exporter_state_since_after_phase",
        &["hung time torn"],
        hung_comes_with_its_time,
    );
}
