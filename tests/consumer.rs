//! C8 start and death, C9 containment basics, C12 heartbeat: the "thread
//! death" and "exporter error does not kill the thread" scenarios.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{close_losing_events, start_stalled, wait_until, Ev, Probe};
use ringtel::{
    Backpressure, CloseError, ConsumerState, DropReason, Emitted, ExportErrorKind, ExporterOptions,
    ExporterState, FlushError, ManualClock, StartError, Telemetry, Timestamp,
};

const LONG: Duration = Duration::from_secs(20);

#[test]
fn start_returns_after_the_consumer_runs_and_has_beaten() {
    let clock = ManualClock::new(Timestamp::from_nanos(1_000));
    let telemetry = Telemetry::<Ev>::builder()
        .clock(clock.clone())
        .consumer_idle(Duration::from_micros(50), Duration::from_millis(1))
        .start()
        .unwrap();
    let health = telemetry.health();
    assert_eq!(health.consumer(), &ConsumerState::Running);
    assert_eq!(health.last_heartbeat(), Some(Timestamp::from_nanos(1_000)));
    // The heartbeat follows the injected clock, not wall time.
    clock.advance(Duration::from_secs(5));
    wait_until("the heartbeat reads the moved clock", || {
        telemetry.health().last_heartbeat() == Some(Timestamp::from_nanos(5_000_001_000))
    });
    telemetry.close(LONG).unwrap();
}

#[test]
fn invalid_configuration_is_a_typed_start_error_naming_the_field() {
    let err = Telemetry::<Ev>::builder().batch_size(0).start().unwrap_err();
    let StartError::InvalidConfig(config_err) = &err else { panic!("{err:?}") };
    assert_eq!(config_err.field(), "batch_size");
    assert_eq!(
        err.to_string(),
        "cannot start telemetry: invalid value 0 for `batch_size`: expected an integer in 1..=1048576"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn exporter_errors_do_not_kill_the_consumer() {
    let (probe, control) = Probe::new("flaky");
    let telemetry = Telemetry::builder().exporter(probe).start().unwrap();
    control.fail.store(true, Ordering::SeqCst);
    for seq in 0..3 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    telemetry.flush(LONG).unwrap();
    let health = telemetry.health();
    assert_eq!(health.dropped(DropReason::ExportFailed), 3);
    assert_eq!(health.consumer(), &ConsumerState::Running);
    let exporter = &health.exporters()[0];
    assert!(exporter.failures() >= 1);
    assert!(exporter.last_error().unwrap().message.contains("probe fails on purpose"));

    control.fail.store(false, Ordering::SeqCst);
    let _ = telemetry.emit(Ev::row(0, 3));
    let report = close_losing_events(&telemetry, LONG);
    let health = report.health();
    assert_eq!((health.delivered(), health.dropped(DropReason::ExportFailed)), (1, 3));
    assert_eq!(health.exporters()[0].consecutive_failures(), 0);
    // The last error is kept after recovery; reading it does not clear it.
    assert!(health.exporters()[0].last_error().is_some());
}

#[test]
fn an_exporter_panic_is_contained_and_counted_and_others_still_receive() {
    let (panicky, panicky_control) = Probe::new("panicky");
    let (steady, steady_control) = Probe::new("steady");
    let telemetry = Telemetry::builder().exporter(panicky).exporter(steady).start().unwrap();
    panicky_control.panic.store(true, Ordering::SeqCst);
    for seq in 0..10 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    // Delivered by one, lost by the other: the close says so.
    let report = close_losing_events(&telemetry, LONG);
    let health = report.health();
    assert_eq!(health.delivered(), 10, "the steady exporter accepted every batch");
    assert_eq!(steady_control.received_len(), 10);
    assert!(health.exporters()[0].panics() >= 1);
    assert_eq!(health.exporters()[0].panics(), health.exporters()[0].failures());
    assert!(health.exporters()[0].last_error().unwrap().message.contains("panics on purpose"));
}

#[test]
fn every_exporter_failing_counts_export_failed() {
    let (a, a_control) = Probe::new("a");
    let (b, b_control) = Probe::new("b");
    a_control.fail.store(true, Ordering::SeqCst);
    b_control.panic.store(true, Ordering::SeqCst);
    let telemetry = Telemetry::builder().exporter(a).exporter(b).start().unwrap();
    for seq in 0..5 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    let health = close_losing_events(&telemetry, LONG).health().clone();
    assert_eq!((health.delivered(), health.dropped(DropReason::ExportFailed)), (0, 5));
    assert!(health.is_conserved());
}

#[test]
fn consumer_death_wakes_blocked_producers_and_later_events_count_consumer_dead() {
    let (telemetry, control) = start_stalled(
        "probe",
        Telemetry::builder().capacity(1).batch_size(1).backpressure(Backpressure::Block),
    );
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Queued);
    let blocked = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || telemetry.emit(Ev::row(1, 0)))
    };
    wait_until("a producer waits for room", || telemetry.health().blocked_producers() == 1);
    // The consumer panics right after the current export returns.
    telemetry.inject_consumer_panic();
    control.open_gate();
    assert_eq!(blocked.join().unwrap(), Emitted::Dropped(DropReason::ConsumerDead));
    wait_until("health reports the death", || {
        matches!(telemetry.health().consumer(), ConsumerState::Dead { .. })
    });
    let ConsumerState::Dead { message } = telemetry.health().consumer().clone() else { unreachable!() };
    assert!(message.contains("injected consumer panic"), "{message}");
    assert_eq!(telemetry.emit(Ev::row(0, 2)), Emitted::Dropped(DropReason::ConsumerDead));
    assert_eq!(telemetry.flush(LONG), Err(FlushError::ConsumerDead));

    let err = telemetry.close(Duration::from_millis(500)).unwrap_err();
    let CloseError::ConsumerDead { report } = &err else { panic!("{err:?}") };
    let health = report.health();
    // 0 delivered; 1 left in the ring, (1,0) and 2 refused: all ConsumerDead.
    assert_eq!(health.offered(), 4);
    assert_eq!(health.delivered(), 1);
    assert_eq!(health.dropped(DropReason::ConsumerDead), 3);
    assert!(health.is_conserved());
    // The dying consumer asks its workers to close without waiting for
    // them (its death is reported at once), so the close comes a moment later.
    wait_until("the dying consumer still closes its exporters", || {
        control.closes.load(Ordering::SeqCst) >= 1
    });
    assert_eq!(control.closes.load(Ordering::SeqCst), 1, "closed exactly once");
}

#[test]
fn a_worker_spawn_failure_after_add_exporter_shows_in_health() {
    let telemetry = Telemetry::<Ev>::builder().start().unwrap();
    telemetry.inject_worker_spawn_failure();
    let (probe, control) = Probe::new("unspawnable");
    let id = telemetry.add_exporter(probe, ExporterOptions::default()).expect("valid options: Ok");
    telemetry.flush(LONG).expect("the change is applied by the time a flush completes");
    let health = telemetry.health();
    let exporter =
        health.exporters().iter().find(|e| e.id() == id).expect("the failed exporter shows in Health");
    assert_eq!(exporter.name(), "unspawnable");
    assert_eq!(exporter.state(), ExporterState::Closed, "its unrun worker closed it");
    let last = exporter.last_error().expect("the spawn failure is its last error");
    assert_eq!(last.kind, ExportErrorKind::Io);
    assert!(last.message.contains("cannot spawn its worker thread"), "{}", last.message);
    assert!(health.to_string().contains("cannot spawn its worker thread"), "{health}");
    assert_eq!(control.closes.load(Ordering::SeqCst), 1, "closed exactly once");
    assert_eq!(control.exports.load(Ordering::SeqCst), 0);

    // Removing it takes it out of Health; nothing is closed twice.
    telemetry.remove_exporter(id).unwrap();
    telemetry.flush(LONG).unwrap();
    assert!(telemetry.health().exporters().is_empty());
    assert!(telemetry.close(LONG).is_ok());
    assert_eq!(control.closes.load(Ordering::SeqCst), 1);
}

#[test]
fn a_close_that_lost_accepted_events_is_an_error_naming_who_lost_them() {
    let (flaky, control) = Probe::new("flaky");
    let (steady, _steady_control) = Probe::new("steady");
    let telemetry = Telemetry::builder().batch_size(1).exporter(flaky).exporter(steady).start().unwrap();
    control.fail.store(true, Ordering::SeqCst);
    for seq in 0..3 {
        let _ = telemetry.emit(Ev::row(0, seq));
        telemetry.flush(LONG).unwrap();
    }
    let err = telemetry.close(LONG).unwrap_err();
    let CloseError::EventsLost { report } = &err else { panic!("{err:?}") };
    // `steady` delivered them all, so nothing counts ExportFailed; `flaky`
    // lost three batches, and the error says so.
    assert_eq!((report.health().delivered(), report.health().dropped_total()), (3, 0));
    assert_eq!(
        err.to_string(),
        "closed, but accepted events were lost: exporter \"flaky\" (#0) had 3 failed batches \
         (last error: transport error: probe fails on purpose)"
    );
    assert_eq!(err.report(), Some(report));
    assert_eq!(telemetry.close(LONG).unwrap_err(), err, "idempotent");
}

#[test]
fn a_close_without_an_exporter_says_the_events_found_none() {
    let telemetry = Telemetry::builder().start().unwrap();
    let _ = telemetry.emit(Ev::row(0, 0));
    let err = telemetry.close(LONG).unwrap_err();
    assert_eq!(
        err.to_string(),
        "closed, but accepted events were lost: 1 event found no exporter (export_failed)"
    );
    // Nothing accepted, nothing lost: a clean close.
    let telemetry = Telemetry::<Ev>::builder().start().unwrap();
    assert!(telemetry.close(LONG).is_ok());
}
