//! C7 close and C1 accounting at shutdown: the "close processes every queued
//! event" and "FIFO" scenarios.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{start_stalled, wait_until, Ev, Probe};
use ringtel::{Backpressure, CloseError, ConsumerState, DropReason, Emitted, FlushError, Telemetry};

const CLOSE: Duration = Duration::from_secs(20);

#[test]
fn close_processes_every_queued_event_in_fifo_order() {
    let (probe, control) = Probe::new("probe");
    let telemetry =
        Telemetry::builder().capacity(64).backpressure(Backpressure::Block).exporter(probe).start().unwrap();
    for seq in 0..20 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
    }
    let report = telemetry.close(CLOSE).unwrap();
    assert_eq!(control.received().iter().map(|e| e.seq).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
    let health = report.health();
    assert_eq!((health.offered(), health.delivered(), health.dropped_total()), (20, 20, 0));
    assert_eq!((health.queue_len(), health.in_flight()), (0, 0));
    assert_eq!(control.flushes.load(Ordering::SeqCst), 1);
    assert_eq!(control.closes.load(Ordering::SeqCst), 1);
    assert_eq!(health.consumer(), &ConsumerState::Stopped);
}

#[test]
fn close_is_idempotent_and_concurrent_closes_agree() {
    let (probe, control) = Probe::new("probe");
    let telemetry = Telemetry::builder().exporter(probe).start().unwrap();
    for seq in 0..1000 {
        let _ = telemetry.emit(Ev::row(0, seq));
    }
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4).map(|_| s.spawn(|| telemetry.close(CLOSE))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = outcomes[0].clone().unwrap();
    for outcome in &outcomes {
        assert_eq!(outcome.as_ref().unwrap(), &first);
    }
    assert_eq!(telemetry.close(CLOSE).unwrap(), first);
    assert_eq!(control.closes.load(Ordering::SeqCst), 1, "exporters are closed exactly once");
    assert_eq!(first.health().delivered(), 1000);
}

#[test]
fn emits_after_close_are_dropped_as_closed_and_counted() {
    let (probe, _control) = Probe::new("probe");
    let telemetry = Telemetry::builder().exporter(probe).start().unwrap();
    let _ = telemetry.emit(Ev::row(0, 0));
    telemetry.close(CLOSE).unwrap();
    assert_eq!(telemetry.emit(Ev::row(0, 1)), Emitted::Dropped(DropReason::Closed));
    assert_eq!(telemetry.emit(Ev::lifecycle(0, 2)), Emitted::Dropped(DropReason::Closed));
    let health = telemetry.health();
    assert_eq!((health.offered(), health.delivered(), health.dropped(DropReason::Closed)), (3, 1, 2));
    assert!(health.is_conserved());
}

#[test]
fn dropping_the_last_handle_closes() {
    let (probe, control) = Probe::new("probe");
    let telemetry = Telemetry::builder().close_timeout(CLOSE).exporter(probe).start().unwrap();
    let clones: Vec<_> = (0..3).map(|_| telemetry.clone()).collect();
    for (i, t) in clones.iter().enumerate() {
        let _ = t.emit(Ev::row(i as u32, 0));
    }
    drop(telemetry);
    drop(clones[0].clone());
    assert_eq!(control.closes.load(Ordering::SeqCst), 0, "live handles keep it open");
    drop(clones);
    assert_eq!(control.closes.load(Ordering::SeqCst), 1);
    assert_eq!(control.received_len(), 3);
}

#[test]
fn monitors_and_health_collectors_do_not_keep_the_telemetry_open() {
    let (probe, control) = Probe::new("probe");
    let telemetry = Telemetry::builder().close_timeout(CLOSE).exporter(probe).start().unwrap();
    let monitor = telemetry.monitor();
    let collector = ringtel::prometheus::HealthCollector::for_telemetry(&telemetry);
    assert_eq!(telemetry.emit(Ev::row(0, 0)), Emitted::Queued);
    assert_eq!(monitor.health().consumer(), &ConsumerState::Running);
    drop(telemetry);
    // The drop closed it (synchronously, within close_timeout).
    assert_eq!(
        control.closes.load(Ordering::SeqCst),
        1,
        "the monitor or the collector kept the telemetry open"
    );
    let health = monitor.health();
    assert_eq!(health.consumer(), &ConsumerState::Stopped);
    assert_eq!((health.offered(), health.delivered()), (1, 1), "{health:?}");
    let text = collector.render();
    assert!(text.contains("ringtel_consumer_state{state=\"stopped\"} 1"), "{text}");
}

#[test]
fn a_hung_exporter_makes_close_time_out_on_time_and_nothing_is_counted_twice() {
    let (telemetry, control) = start_stalled(
        "hung",
        Telemetry::builder().capacity(4).batch_size(1).backpressure(Backpressure::Block),
    );
    for seq in 1..=4 {
        assert_eq!(telemetry.emit(Ev::row(0, seq)), Emitted::Queued);
    }
    // Two producers block on the full ring; close must wake them.
    let producers: Vec<_> = (0..2)
        .map(|p| {
            let telemetry = telemetry.clone();
            std::thread::spawn(move || telemetry.emit(Ev::row(1 + p, 0)))
        })
        .collect();
    wait_until("both producers wait", || telemetry.health().blocked_producers() == 2);

    let timeout = Duration::from_millis(100);
    let started = Instant::now();
    let err = telemetry.close(timeout).unwrap_err();
    let took = started.elapsed();
    assert!(took >= timeout && took < timeout + Duration::from_secs(5), "close took {took:?}");
    for producer in producers {
        assert_eq!(producer.join().unwrap(), Emitted::Dropped(DropReason::Closed));
    }
    let CloseError::Timeout { report } = &err else { panic!("expected a timeout, got {err:?}") };
    let health = report.health();
    // Event 0 was in flight, 1..=4 were queued: all five are ShutdownTimeout.
    assert_eq!(health.dropped(DropReason::ShutdownTimeout), 5);
    assert_eq!(health.dropped(DropReason::Closed), 2);
    assert_eq!((health.offered(), health.delivered()), (7, 0));
    assert!(health.is_conserved());
    assert!(err.to_string().contains("timed out"));

    // The exporter returns late: its batch must not be counted again.
    control.open_gate();
    wait_until("the abandoned consumer stops", || telemetry.health().consumer() == &ConsumerState::Stopped);
    wait_until("the exporter is closed once", || control.closes.load(Ordering::SeqCst) == 1);
    let after = telemetry.health();
    assert_eq!(after.delivered(), 0);
    assert_eq!(after.dropped_total(), health.dropped_total());
    assert_eq!(after.offered(), health.offered());
    assert_eq!(telemetry.close(CLOSE).unwrap_err(), err, "a second close returns the same outcome");
}

#[test]
fn after_a_close_timed_out_on_a_hung_exporter_flush_fails_closed_at_once() {
    // The consumer is stuck inside the export (not yet declared hung), so no
    // flush round can run until the exporter returns.
    let builder = Telemetry::builder().export_timeout(Duration::from_secs(600));
    let (telemetry, control) = start_stalled("hung", builder);
    let waiting = {
        let telemetry = telemetry.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (telemetry.flush(CLOSE), started.elapsed())
        })
    };
    let err = telemetry.close(Duration::from_millis(100)).unwrap_err();
    assert!(matches!(err, CloseError::Timeout { .. }), "{err:?}");

    // A flush after the timed-out close: `Closed` at once, not its deadline.
    let started = Instant::now();
    assert_eq!(telemetry.flush(CLOSE), Err(FlushError::Closed));
    assert!(started.elapsed() < CLOSE / 4, "flush took {:?}", started.elapsed());
    // A flush that was waiting (or started just then) is woken the same way.
    let (outcome, took) = waiting.join().unwrap();
    assert_eq!(outcome, Err(FlushError::Closed));
    assert!(took < CLOSE / 4, "the waiting flush took {took:?}");

    control.open_gate();
    wait_until("the abandoned consumer stops", || telemetry.health().consumer() == &ConsumerState::Stopped);
    assert_eq!(telemetry.flush(CLOSE), Err(FlushError::Closed));
}
