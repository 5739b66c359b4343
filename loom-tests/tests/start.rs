//! Model 8 — start handshake (C8): `start` returns only after the consumer
//! thread has run (its first heartbeat is visible to the caller).
#![cfg(loom)]

use loom_tests::start;
use ringtel::loom_api::NEVER;
use ringtel::{Backpressure, ConsumerState};

fn start_returns_after_consumer_runs() {
    loom::model(|| {
        let telemetry = start(1, Backpressure::Drop, None);
        // The heartbeat is a relaxed store by the consumer before it reports
        // running; only the handshake's mutex makes it visible here.
        let health = telemetry.health();
        assert!(health.last_heartbeat().is_some(), "C8 violated: start returned before the consumer ran");
        assert_eq!(health.consumer(), &ConsumerState::Running);
        let report = telemetry.close(NEVER).expect("close");
        assert_eq!(report.health().consumer(), &ConsumerState::Stopped);
        assert_eq!(report.health().offered(), 0);
    });
}

#[test]
fn start_handshake() {
    start_returns_after_consumer_runs();
}

#[cfg(ringtel_broken = "start_no_handshake")]
#[test]
fn twin_start_no_handshake_is_caught() {
    loom_tests::assert_caught("start_no_handshake", &["C8 violated"], start_returns_after_consumer_runs);
}
